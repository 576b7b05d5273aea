package dev.edgeage.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class ModelCardTest {
    private val json = """
        {"name": "simplecnn",
         "preprocess": {"size": 128, "color_order": "RGB", "layout": "NCHW",
                        "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                        "interpolation": "bilinear_exact", "face_margin": 0.4, "denoise": false, "deblur": false},
         "files": {"tflite_int8": {"file": "simplecnn_int8.tflite",
                                   "input": {"shape": [1, 128, 128, 3], "dtype": "int8", "scale": 0.0186, "zero_point": -14},
                                   "output": {"shape": [1, 1], "dtype": "int8", "scale": 0.45, "zero_point": -128}}}}
    """.trimIndent()

    @Test
    fun readsSpecAndQuantizationFromTheCard() {
        val card = ModelCard.parse(json)
        assertEquals("simplecnn_int8.tflite", card.modelFile)
        assertEquals(128, card.spec.size)
        assertEquals(Framing(boxScale = 1.8, detector = "haar"), card.spec.framing) // an older card: face_margin 0.4 -> side 1.8 x box, Haar's
        assertEquals(123.675f, card.spec.mean[0], 0f)
        assertEquals(QuantParams(0.0186f, -14), card.input)
        assertEquals(-128, card.output.zeroPoint)
        assertEquals(OutputType.INT8, card.outputType)
    }

    @Test
    fun readsAFloatOutputAndRefusesAnUnknownOne() {
        // The int8 reference file ends in float: its card says so, and the app must read 4 bytes, not 1.
        val float = json.replace("\"output\": {\"shape\": [1, 1], \"dtype\": \"int8\"", "\"output\": {\"shape\": [1, 1], \"dtype\": \"float32\"")
        assertEquals(OutputType.FLOAT32, ModelCard.parse(float).outputType)
        val odd = json.replace("\"output\": {\"shape\": [1, 1], \"dtype\": \"int8\"", "\"output\": {\"shape\": [1, 1], \"dtype\": \"uint8\"")
        val e = assertThrows(IllegalArgumentException::class.java) { ModelCard.parse(odd) }
        assertEquals(true, e.message!!.contains("uint8"))
    }

    @Test
    fun readsTheFraming() {
        val framed = json.replace("\"face_margin\": 0.4", "\"framing\": {\"box_dx\": 0.01, \"box_dy\": 0.08, " +
            "\"box_scale\": 1.0, \"eye_dx\": 0.0, \"eye_dy\": 0.5, \"eye_scale\": 2.5, \"eye_angle\": -0.3, \"fitted_on\": \"x\"}")
        // A framing that names no detector was fitted on Haar boxes (as Python's Framing.from_dict reads it).
        assertEquals(Framing(0.01, 0.08, 1.0, 0.0, 0.5, 2.5, -0.3, "haar"), ModelCard.parse(framed).spec.framing)
        val blaze = framed.replace("\"fitted_on\": \"x\"", "\"fitted_on\": \"x\", \"detector\": \"blazeface\"")
        assertEquals("blazeface", ModelCard.parse(blaze).spec.framing.detector)
    }

    @Test
    fun readsWhetherTheFileTakesPixels() {
        assertEquals(false, ModelCard.parse(json).spec.inputPixels)  // cards written before pixel-input files
        val pixels = json.replace("\"face_margin\": 0.4", "\"face_margin\": 0.4, \"input_pixels\": true")
        assertEquals(true, ModelCard.parse(pixels).spec.inputPixels)
    }

    @Test
    fun readsWhetherTheFileAveragesWithTheMirrorImage() {
        assertEquals(false, ModelCard.parse(json).flipAverage)  // cards written before export --flip-average
        assertEquals(true, ModelCard.parse(json.replace("{\"name\": \"simplecnn\",", "{\"name\": \"simplecnn\", \"flip_average\": true,")).flipAverage)
    }

    @Test
    fun missingFormatIsAClearError() {
        val e = assertThrows(IllegalArgumentException::class.java) { ModelCard.parse(json, "onnx_int8") }
        assertEquals(true, e.message!!.contains("onnx_int8"))
    }
}
