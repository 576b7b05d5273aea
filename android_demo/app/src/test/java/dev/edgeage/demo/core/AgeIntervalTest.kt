package dev.edgeage.demo.core

import com.google.gson.JsonParser
import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test

/** The per-face interval the app shows is the one Python computes from the same card. */
class AgeIntervalTest {
    @Test
    fun intervalsMatchPython() {
        val dir = System.getenv("EDGE_AGE_GOLDEN_DIR")?.let(::File)
        if (System.getProperty("edge_age.require_golden") == "true") {
            assertTrue("intervals.json missing in EDGE_AGE_GOLDEN_DIR", dir != null && File(dir, "intervals.json").isFile)
        }
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

    @Test
    fun bandsThatDoNotStartAtZeroOrDoNotRiseAreRefused() {
        val err = floatArrayOf(-1f, -2f)
        assertThrows(IllegalArgumentException::class.java) { IntervalBands(0.8f, intArrayOf(5, 20), err, err) }
        assertThrows(IllegalArgumentException::class.java) { IntervalBands(0.8f, intArrayOf(0, 0), err, err) }
        val ok = IntervalBands(0.8f, intArrayOf(0, 30), floatArrayOf(-1f, -10f), floatArrayOf(1f, 10f))
        assertEquals(2f, ok.of(10f)[1] - ok.of(10f)[0], 1e-6f)
        assertEquals(20f, ok.of(40f)[1] - ok.of(40f)[0], 1e-6f)
        assertThrows(IllegalArgumentException::class.java) {
            IntervalBands(0.8f, intArrayOf(0), floatArrayOf(-1f), floatArrayOf(1f), doubleArrayOf(10.0, 5.0), doubleArrayOf(1.0, 2.0))
        }
        assertThrows(IllegalArgumentException::class.java) {
            IntervalBands(0.8f, intArrayOf(0), floatArrayOf(-1f), floatArrayOf(1f), doubleArrayOf(5.0), doubleArrayOf(0.0))
        }
    }

    @Test
    fun aScaledCardWidensWithTheEstimateBetweenItsPoints() {
        // normalised errors [-1, 1] scaled by 1 year at 0 and 5 years at 40: a width of 2 x the scale (10: 2 years)
        val scaled = IntervalBands(0.8f, intArrayOf(0), floatArrayOf(-1f), floatArrayOf(1f),
                                   doubleArrayOf(0.0, 40.0), doubleArrayOf(1.0, 5.0))
        assertEquals(4f, scaled.of(10f)[1] - scaled.of(10f)[0], 1e-5f)
        assertEquals(6f, scaled.of(20f)[1] - scaled.of(20f)[0], 1e-5f)
        assertEquals(10f, scaled.of(90f)[1] - scaled.of(90f)[0], 1e-5f)  // flat beyond the last point
        assertEquals(0f, scaled.of(0.5f)[0], 0f)  // never below 0
    }
}
