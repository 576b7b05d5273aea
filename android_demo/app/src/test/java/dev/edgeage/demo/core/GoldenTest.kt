package dev.edgeage.demo.core

import com.google.gson.JsonParser
import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test

/**
 * Byte-identity with Python: `tools/make_golden.py` (edge_age.runtime) writes source pixels, an optional
 * detection (box, turned pass, eyes; real faces in scenes at several scales and angles), the model card and the int8 tensor Python feeds the model; the Kotlin core must produce the
 * same bytes. Cases are generated at test time (UTKFace images are never committed). Set
 * EDGE_AGE_GOLDEN_DIR to the folder; with -Dedge_age.require_golden=true a missing folder fails.
 */
class GoldenTest {
    @Test
    fun kotlinTensorsMatchPythonByteForByte() {
        val dir = System.getenv("EDGE_AGE_GOLDEN_DIR")?.let(::File)
        if (System.getProperty("edge_age.require_golden") == "true") {
            assertTrue("EDGE_AGE_GOLDEN_DIR must point at generated golden cases", dir?.isDirectory == true)
        }
        assumeTrue(dir?.isDirectory == true)
        val card = ModelCard.parse(File(dir, "card.json").readText())
        val cases = dir!!.listFiles { f -> f.name.startsWith("case") && f.name.endsWith(".json") }!!.sortedBy { it.name }
        assertTrue("no golden cases in $dir", cases.isNotEmpty())
        for (caseFile in cases) {
            val c = JsonParser.parseString(caseFile.readText()).asJsonObject
            val img = RgbImage(c.get("width").asInt, c.get("height").asInt, File(dir, c.get("rgb").asString).readBytes())
            val face = c.get("face")?.takeIf { !it.isJsonNull }?.asJsonObject?.let { f ->
                val box = f.get("box")?.takeIf { !it.isJsonNull }?.asJsonArray?.let {
                    FaceBox(it[0].asDouble, it[1].asDouble, it[2].asDouble, it[3].asDouble)
                }
                val eyes = f.get("eyes")?.takeIf { !it.isJsonNull }?.asJsonArray?.let {
                    val l = it[0].asJsonArray
                    val r = it[1].asJsonArray
                    Eyes(l[0].asDouble, l[1].asDouble, r[0].asDouble, r[1].asDouble)
                }
                FaceDetection(box, f.get("angle").asDouble, eyes)
            }
            val expected = File(dir, c.get("tensor").asString).readBytes()
            val got = Preprocessor.inputTensor(img, face, card)
            assertEquals("${caseFile.name}: tensor length", expected.size, got.size)
            val diffs = expected.indices.count { expected[it] != got[it] }
            assertEquals("${caseFile.name} (${c.get("what").asString}): bytes differing from Python", 0, diffs)
        }
    }
}
