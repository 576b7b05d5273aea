package dev.edgeage.demo.core

import java.io.File
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test

/** The start-up check: Python's golden inputs byte for byte, and the choice between the two interpreters. */
class GoldenCheckTest {
    private val golden = Golden(n = 4, seed = 0, ages = floatArrayOf(20f, 35f, 60f, 80f),
                                agesSafe = floatArrayOf(21f, 34f, 61f, 79f), tolerance = 0.5f)
    private val collapsed = { FloatArray(4) { 23f } }

    @Test
    fun inputsMatchPythonByteForByte() {
        val dir = System.getenv("EDGE_AGE_GOLDEN_DIR")?.let(::File)
        if (System.getProperty("edge_age.require_golden") == "true") {
            assertTrue("golden_inputs.rgb missing in EDGE_AGE_GOLDEN_DIR", dir != null && File(dir, "golden_inputs.rgb").isFile)
        }
        assumeTrue(dir != null && File(dir, "golden_inputs.rgb").isFile)
        val card = ModelCard.parse(File(dir, "card.json").readText())
        val python = File(dir, "golden_inputs.rgb").readBytes()
        val kotlin = GoldenCheck.inputs(card.spec.size).flatMap { it.data.toList() }.toByteArray()
        assertEquals(python.size, kotlin.size)
        assertEquals("bytes differing from Python's golden inputs", 0, python.indices.count { python[it] != kotlin[it] })
        // The app feeds them through the same Preprocessor as camera faces: at the model's size that is pixel - 128.
        if (card.spec.inputPixels && card.input == QuantParams(1f, -128)) {
            val fed = GoldenCheck.inputs(card.spec.size).flatMap { Preprocessor.inputTensor(it, null, card).toList() }
            assertEquals(0, python.indices.count { fed[it].toInt() != (python[it].toInt() and 0xFF) - 128 })
        }
    }

    @Test
    fun theReferenceCardCarriesGoldenOutputs() {
        val dir = System.getenv("EDGE_AGE_GOLDEN_DIR")?.let(::File)
        assumeTrue(dir != null && File(dir, "card.json").isFile)
        val g = ModelCard.parse(File(dir, "card.json").readText()).golden
        assertNotNull("the card has no golden outputs", g)
        assertEquals(g!!.n, g.ages.size)
        assertEquals(g.n, g.agesSafe.size)
        assertTrue(g.ages.maxOrNull()!! - g.ages.minOrNull()!! > 10f)  // spread: a collapse cannot pass
    }

    @Test
    fun aFaithfulRuntimeKeepsTheDefaultInterpreter() {
        assertEquals(Choice.DEFAULT, GoldenCheck.choose(golden, { golden.ages.copyOf() }, { error("not needed") }))
        // one input off by a lot is not a fault of the whole path (median)
        val oneOff = golden.ages.copyOf().also { it[2] = 99f }
        assertEquals(Choice.DEFAULT, GoldenCheck.choose(golden, { oneOff }, { error("not needed") }))
    }

    @Test
    fun aCollapsedDefaultPathFallsBackToTheSafeOne() {
        assertEquals(Choice.SAFE, GoldenCheck.choose(golden, collapsed, { golden.agesSafe.copyOf() }))
    }

    @Test
    fun wrongOnBothPathsIsRefused() {
        assertEquals(Choice.REFUSE, GoldenCheck.choose(golden, collapsed, collapsed))
    }

    @Test
    fun withXnnpackOffTheInterpreterIsJudgedByTheSafeAges() {
        // the safe ages differ from XNNPACK's by rounding: judged against `ages`, a faithful phone would fail
        val safeGolden = golden.copy(agesSafe = floatArrayOf(25f, 30f, 65f, 75f))
        assertEquals(Choice.DEFAULT, GoldenCheck.choose(safeGolden, { safeGolden.agesSafe.copyOf() },
                                                        { error("no further fallback") }, defaultIsSafe = true))
        assertEquals(Choice.REFUSE, GoldenCheck.choose(safeGolden, collapsed, { error("no further fallback") },
                                                       defaultIsSafe = true))
    }

    @Test
    fun inputsAreDeterministicAndDiffer() {
        val a = GoldenCheck.inputs(32)
        val b = GoldenCheck.inputs(32)
        assertEquals(8, a.size)
        for (i in a.indices) assertArrayEquals(a[i].data, b[i].data)
        assertTrue(!a[0].data.contentEquals(a[1].data))
    }
}
