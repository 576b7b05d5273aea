package dev.edgeage.demo.core

import com.google.gson.JsonParser
import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assume.assumeTrue
import org.junit.Test

/** The per-face interval the app shows is the one Python computes from the same card. */
class AgeIntervalTest {
    @Test
    fun intervalsMatchPython() {
        val dir = System.getenv("EDGE_AGE_GOLDEN_DIR")?.let(::File)
        assumeTrue(dir != null && File(dir, "intervals.json").isFile)
        val card = ModelCard.parse(File(dir, "card.json").readText())
        val bands = card.interval
        assertNotNull("the reference card has no intervals", bands)
        val want = JsonParser.parseString(File(dir, "intervals.json").readText()).asJsonObject
        val ages = want.getAsJsonArray("ages").map { it.asFloat }
        val low = want.getAsJsonArray("low").map { it.asFloat }
        val high = want.getAsJsonArray("high").map { it.asFloat }
        for (i in ages.indices) {
            val got = bands!!.of(ages[i])
            assertEquals("low of ${ages[i]}", low[i], got[0], 1e-3f)
            assertEquals("high of ${ages[i]}", high[i], got[1], 1e-3f)
        }
    }
}
