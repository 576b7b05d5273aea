package dev.edgeage.demo.core

import com.google.gson.JsonObject
import com.google.gson.JsonParser

/** The preprocessing spec, read from the model card that `edge-age export` writes beside the model. */
data class PreprocessSpec(
    val size: Int,
    val colorOrder: String,
    val mean: FloatArray,
    val std: FloatArray,
    val framing: Framing,
    val interpolation: String,
    /** The model file normalises inside: it takes the pixel values (int8 files: pixel - 128). */
    val inputPixels: Boolean = false,
)

/** Scale and zero-point of an int8 tensor: real = (q - zeroPoint) * scale. */
data class QuantParams(val scale: Float, val zeroPoint: Int)

/** The element types a model's age output comes in: int8 (a quantized last layer) or float32 (a float tail,
 *  e.g. the distribution head's expectation, which the int8 reference file ends with). */
enum class OutputType(val bytes: Int) { INT8(1), FLOAT32(4) }

/**
 * What the app needs from `NAME.json`: the spec and the int8 file's input/output quantization.
 * Nothing here is hard-coded: a retrained or re-exported model brings its own card.
 */
data class ModelCard(
    val name: String,
    val modelFile: String,
    val spec: PreprocessSpec,
    val input: QuantParams,
    val output: QuantParams,
    /** How the file's age output is stored (read it with [Preprocessor.age]). */
    val outputType: OutputType = OutputType.INT8,
    /** The file's golden outputs for the start-up check ([GoldenCheck]); null in cards made before them. */
    val golden: Golden? = null,
    /** Per-face 80% intervals ([IntervalBands]); null in cards made before them. */
    val interval: IntervalBands? = null,
    /** The file averages each face with its mirror image inside (`export --flip-average`): nothing to add. */
    val flipAverage: Boolean = false,
) {
    companion object {
        /** Parse a card; [format] picks the file entry (the int8 TFLite by default). */
        fun parse(json: String, format: String = "tflite_int8"): ModelCard {
            val root = JsonParser.parseString(json).asJsonObject
            val pre = root.getAsJsonObject("preprocess")
            val spec = PreprocessSpec(
                size = pre.get("size").asInt,
                colorOrder = pre.get("color_order").asString,
                mean = floats(pre, "mean"),
                std = floats(pre, "std"),
                framing = framing(pre),
                interpolation = pre.get("interpolation").asString,
                inputPixels = pre.has("input_pixels") && pre.get("input_pixels").asBoolean,
            )
            val files = root.getAsJsonObject("files")
            require(files.has(format)) { "model card has no '$format' file (has ${files.keySet()})" }
            val entry = files.getAsJsonObject(format)
            return ModelCard(
                name = root.get("name").asString,
                modelFile = entry.get("file").asString,
                spec = spec,
                input = quant(entry.getAsJsonObject("input")),
                output = quant(entry.getAsJsonObject("output")),
                outputType = outputType(entry.getAsJsonObject("output")),
                golden = entry.getAsJsonObject("golden")?.let { g ->
                    val tol = g.get("tolerance").asFloat
                    Golden(g.get("n").asInt, g.get("seed").asLong, floatsOf(g, "ages"), floatsOf(g, "ages_safe"), tol,
                           g.get("tolerance_safe")?.asFloat ?: tol)
                },
                interval = entry.getAsJsonObject("interval")?.let { iv ->
                    val bands = iv.getAsJsonArray("bands").map { it.asJsonObject }
                    val scale = iv.get("scale")?.takeIf { it.isJsonArray }?.asJsonArray?.map { it.asJsonArray } ?: emptyList()
                    IntervalBands(iv.get("level").asFloat, bands.map { it.get("from").asInt }.toIntArray(),
                                  bands.map { it.getAsJsonArray("err")[0].asFloat }.toFloatArray(),
                                  bands.map { it.getAsJsonArray("err")[1].asFloat }.toFloatArray(),
                                  scale.map { it[0].asDouble }.toDoubleArray(), scale.map { it[1].asDouble }.toDoubleArray())
                },
                flipAverage = root.has("flip_average") && root.get("flip_average").asBoolean,
            )
        }

        /** The card's framing; a card written before framings had a margin around a centred box. */
        private fun framing(pre: JsonObject): Framing {
            if (!pre.has("framing")) return Framing(boxScale = 1 + 2 * pre.get("face_margin").asDouble, detector = "haar")
            return framingOf(pre.getAsJsonObject("framing"))
        }

        /** A framing as edge_age.data.framing.Framing.to_dict writes it (no detector named: fitted on Haar boxes). */
        fun framingOf(f: JsonObject): Framing {
            fun d(key: String) = f.get(key).asDouble
            return Framing(d("box_dx"), d("box_dy"), d("box_scale"), d("eye_dx"), d("eye_dy"), d("eye_scale"), d("eye_angle"),
                           f.get("detector")?.asString ?: "haar")
        }

        private fun floats(o: JsonObject, key: String): FloatArray =
            o.getAsJsonArray(key).map { it.asDouble.toFloat() }.toFloatArray()  // as numpy: decimal -> double -> float32

        private fun floatsOf(o: JsonObject, key: String): FloatArray =
            o.getAsJsonArray(key).map { it.asFloat }.toFloatArray()

        private fun outputType(o: JsonObject): OutputType = when (val dtype = o.get("dtype")?.asString ?: "int8") {
            "int8" -> OutputType.INT8
            "float32" -> OutputType.FLOAT32
            else -> throw IllegalArgumentException("model card: output dtype '$dtype' is not supported (int8, float32)")
        }

        private fun quant(o: JsonObject): QuantParams =
            QuantParams(o.get("scale").asDouble.toFloat(), o.get("zero_point").asInt)
    }
}
