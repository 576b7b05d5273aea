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
 * same bytes. Cases with a `detector` entry start earlier, from BlazeFace's raw outputs on the pass's view: the Kotlin
 * decode must find Python's face (box and eyes) and its crop must give the same bytes. Cases are generated at test time (UTKFace images are never committed). Set
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
        val detectorPasses = mutableSetOf<String>()
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
            val detector = c.get("detector")?.takeIf { !it.isJsonNull }?.asJsonObject
            val caseCard = c.get("framing")?.takeIf { !it.isJsonNull }?.asJsonObject?.let {
                card.copy(spec = card.spec.copy(framing = ModelCard.framingOf(it)))
            } ?: card
            val got = if (detector == null) Preprocessor.inputTensor(img, face, caseCard) else {
                // From the detector's raw outputs on the pass's view: decode, map to the photo, frame, crop.
                assertKotlinMakesTheView(caseFile.name, img.width, img.height, detector)
                val found = detectionsFrom(dir, detector)
                val want = c.getAsJsonArray("detections").map { d -> d.asJsonArray.map { it.asDouble } }
                assertEquals("${caseFile.name}: faces decoded", want.size, found.size)
                for ((w, f) in want.zip(found)) {
                    assertSameDetection(caseFile.name, FaceDetection(FaceBox(w[0], w[1], w[2], w[3]), f.angle, Eyes(w[4], w[5], w[6], w[7])), f)
                }
                assertSameDetection(caseFile.name, face!!, found[0])
                detectorPasses.add(detector.getAsJsonObject("pass").toString())
                Preprocessor.inputTensor(img, found[0], caseCard)
            }
            assertEquals("${caseFile.name}: tensor length", expected.size, got.size)
            val diffs = expected.indices.count { expected[it] != got[it] }
            assertEquals("${caseFile.name} (${c.get("what").asString}): bytes differing from Python", 0, diffs)
        }
        // Every pass of the cascade was decoded from raw outputs at least once (the synthetic cases need no data).
        assertEquals("passes covered by detector cases", Cascade.PASSES.size, detectorPasses.size)
        assertSameCascade(JsonParser.parseString(File(dir, "cascade.json").readText()).asJsonObject)
    }

    /** The app's cascade constants are Python's (edge_age.data.faces, edge_age.data.blazeface). */
    private fun assertSameCascade(c: com.google.gson.JsonObject) {
        assertEquals(c.get("working_side").asInt, Cascade.WORKING_SIDE)
        assertEquals(c.get("half_window").asDouble, Cascade.HALF_WINDOW, 0.0)
        assertEquals(c.get("half_min_aspect").asDouble, Cascade.HALF_MIN_ASPECT, 0.0)
        assertEquals(c.get("pad").asDouble, Cascade.PAD, 0.0)
        assertEquals(c.get("side").asInt, BlazeFace.SIDE)
        val networks = c.getAsJsonArray("networks").map { it.asJsonObject }.map { n ->
            Network(n.get("name").asString, n.get("file").asString, n.get("side").asInt,
                    n.getAsJsonArray("layers").map { l -> l.asJsonArray[0].asInt to l.asJsonArray[1].asInt })
        }
        assertEquals(networks, BlazeFace.NETWORKS.values.toList())
        assertEquals(c.get("min_size").asDouble, BlazeFace.MIN_SIZE, 0.0)
        assertEquals(c.get("min_score").asDouble, BlazeFace.MIN_SCORE, 0.0)
        assertEquals(c.get("nms_iou").asDouble, BlazeFace.NMS_IOU, 0.0)
        val passes = c.getAsJsonArray("passes").map { passOf(it.asJsonObject) }
        assertEquals(passes, Cascade.PASSES)
    }

    private fun passOf(p: com.google.gson.JsonObject) =
        Pass(p.get("pad").asBoolean, p.get("angle").asDouble, p.get("halves").asBoolean, p.get("network").asString)

    private fun floatsFile(f: File): FloatArray {
        val buf = java.nio.ByteBuffer.wrap(f.readBytes()).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        return FloatArray(buf.remaining()).also { buf.get(it) }
    }

    private fun detectionsFrom(dir: File, d: com.google.gson.JsonObject): List<FaceDetection> {
        val lb = d.getAsJsonArray("letterbox")
        val box = Letterbox(lb[0].asDouble, lb[1].asInt, lb[2].asInt)
        val w = d.getAsJsonArray("view_size")
        val net = BlazeFace.NETWORKS.getValue(passOf(d.getAsJsonObject("pass")).network)
        assertEquals("letterbox of the view", box, Letterbox.of(w[0].asInt, w[1].asInt, net.side))
        val found = BlazeFace.decode(floatsFile(File(dir, d.get("raw").asString)), floatsFile(File(dir, d.get("logits").asString)), box, net)
        val view = View(d.getAsJsonArray("back").map { it.asDouble }.toDoubleArray(), d.get("angle").asDouble)
        return BlazeFace.inPhoto(found, view, d.get("min_size").asDouble)
    }

    /** The pass's view as Cascade.views makes it for this photo: the same size, and the same map back to within rounding. */
    private fun assertKotlinMakesTheView(name: String, width: Int, height: Int, d: com.google.gson.JsonObject) {
        val pass = passOf(d.getAsJsonObject("pass"))
        val size = d.getAsJsonArray("view_size").map { it.asInt }
        val back = d.getAsJsonArray("back").map { it.asDouble }
        val match = Cascade.views(width, height, pass).any { v ->
            v.width == size[0] && v.height == size[1] && back.indices.all { Math.abs(v.view.back[it] - back[it]) <= 1e-9 * (1 + Math.abs(back[it])) }
        }
        assertTrue("$name: Kotlin makes no view like Python's for pass $pass (size $size, back $back)", match)
    }

    /** The same box and eyes as Python's, to within rounding of the last bits (the sigmoid's exp may differ by an ulp). */
    private fun assertSameDetection(name: String, want: FaceDetection, got: FaceDetection) {
        val a = doubleArrayOf(want.box!!.x, want.box.y, want.box.w, want.box.h, want.eyes!!.lx, want.eyes.ly, want.eyes.rx, want.eyes.ry)
        val b = doubleArrayOf(got.box!!.x, got.box.y, got.box.w, got.box.h, got.eyes!!.lx, got.eyes.ly, got.eyes.rx, got.eyes.ry)
        for (i in a.indices) assertEquals("$name: detection value $i", a[i], b[i], 1e-9 * (1 + Math.abs(a[i])))
        assertEquals("$name: the pass's angle", want.angle, got.angle, 0.0)
    }
}
