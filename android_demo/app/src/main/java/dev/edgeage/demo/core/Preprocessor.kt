package dev.edgeage.demo.core

import kotlin.math.floor
import kotlin.math.round

/** An 8-bit RGB image, row-major, 3 bytes per pixel (no android.* types, so it is testable anywhere). */
class RgbImage(val width: Int, val height: Int, val data: ByteArray) {
    init {
        require(width > 0 && height > 0 && data.size == width * height * 3) { "RGB buffer does not match ${width}x$height" }
    }

    fun at(x: Int, y: Int, c: Int): Int = data[(y * width + x) * 3 + c].toInt() and 0xFF

    companion object {
        /** From Android's Bitmap.getPixels() ARGB ints. */
        fun fromArgb(pixels: IntArray, width: Int, height: Int): RgbImage {
            val out = ByteArray(width * height * 3)
            for (i in pixels.indices) {
                val p = pixels[i]
                out[i * 3] = (p shr 16).toByte()
                out[i * 3 + 1] = (p shr 8).toByte()
                out[i * 3 + 2] = p.toByte()
            }
            return RgbImage(width, height, out)
        }
    }
}

/** A face box in image pixels (as the detector gives it; pixel i covers [i, i+1)). */
data class FaceBox(val x: Double, val y: Double, val w: Double, val h: Double)

/**
 * Image -> model input, exactly as edge_age.data.preprocess does it in Python:
 * square crop (framed from the detection, [Framer]) -> bilinear resize (OpenCV INTER_LINEAR_EXACT arithmetic) -> (x - mean) / std in float32
 * -> int8 with the model's scale and zero-point (files that normalise inside take pixel - 128). The golden test
 * checks the bytes against Python.
 */
object Preprocessor {
    /** Central square crop, as `center_square` (aligned face chips are square already). */
    fun centerSquare(img: RgbImage): RgbImage {
        val s = minOf(img.width, img.height)
        return crop(img, (img.width - s) / 2, (img.height - s) / 2, s)
    }

    /** Square [side] crop at (x0, y0); pixels outside the image repeat the nearest edge pixel. */
    fun crop(img: RgbImage, x0: Int, y0: Int, side: Int): RgbImage {
        val out = ByteArray(side * side * 3)
        for (y in 0 until side) {
            val sy = (y0 + y).coerceIn(0, img.height - 1)
            for (x in 0 until side) {
                val sx = (x0 + x).coerceIn(0, img.width - 1)
                val src = (sy * img.width + sx) * 3
                val dst = (y * side + x) * 3
                out[dst] = img.data[src]
                out[dst + 1] = img.data[src + 1]
                out[dst + 2] = img.data[src + 2]
            }
        }
        return RgbImage(side, side, out)
    }

    /**
     * Bilinear resize with OpenCV's INTER_LINEAR_EXACT fixed-point arithmetic: coefficients rounded
     * to 1/256, a horizontal pass kept exact (8 fraction bits), a vertical pass with 16 fraction bits
     * and one round-half-up at the end. Borders clamp to the edge pixel.
     */
    fun resizeBilinearExact(img: RgbImage, dw: Int, dh: Int): RgbImage {
        val (xo, xc) = coefficients(dw, img.width)
        val (yo, yc) = coefficients(dh, img.height)
        val out = ByteArray(dw * dh * 3)
        val rowA = IntArray(dw * 3)
        val rowB = IntArray(dw * 3)
        for (dy in 0 until dh) {
            val y0 = yo[dy]
            val y1 = minOf(y0 + 1, img.height - 1)
            horizontal(img, y0, xo, xc, rowA)
            horizontal(img, y1, xo, xc, rowB)
            val b1 = yc[dy].toLong()
            val b0 = 256L - b1
            for (i in 0 until dw * 3) {
                val v = (rowA[i] * b0 + rowB[i] * b1 + 32768L) shr 16
                out[dy * dw * 3 + i] = v.coerceIn(0L, 255L).toByte()
            }
        }
        return RgbImage(dw, dh, out)
    }

    private fun horizontal(img: RgbImage, y: Int, xo: IntArray, xc: IntArray, row: IntArray) {
        for (dx in xo.indices) {
            val x0 = xo[dx]
            val x1 = minOf(x0 + 1, img.width - 1)
            val a1 = xc[dx]
            val a0 = 256 - a1
            for (c in 0 until 3) row[dx * 3 + c] = img.at(x0, y, c) * a0 + img.at(x1, y, c) * a1
        }
    }

    /** Source offset and second-tap weight (in 1/256) for every destination index. */
    private fun coefficients(dst: Int, src: Int): Pair<IntArray, IntArray> {
        val scale = 1.0 / (dst.toDouble() / src.toDouble())
        val ofs = IntArray(dst)
        val c1 = IntArray(dst)
        for (d in 0 until dst) {
            val f = scale * (d + 0.5) - 0.5
            val i = floor(f).toInt()
            if (i >= 0 && src > 1) {
                if (i < src - 1) {
                    ofs[d] = i
                    c1[d] = round((f - i) * 256).toInt()
                } else {
                    ofs[d] = src - 1
                }
            }
        }
        return ofs to c1
    }

    /** Crop (already square) -> `size x size` RGB, in the spec's interpolation. */
    fun prepare(crop: RgbImage, spec: PreprocessSpec): RgbImage {
        require(spec.interpolation == "bilinear_exact") {
            "interpolation '${spec.interpolation}' is not implemented on device; export with bilinear_exact"
        }
        require(spec.colorOrder == "RGB") { "colour order '${spec.colorOrder}' is not supported" }
        return resizeBilinearExact(crop, spec.size, spec.size)
    }

    /**
     * Prepared face -> int8 NHWC tensor bytes: q = round-half-even(x / scale) + zeroPoint, where x is the pixel
     * for files that normalise inside (their scale 1 and zero point -128 make it pixel - 128), else (pixel - mean) / std.
     */
    fun quantize(face: RgbImage, spec: PreprocessSpec, q: QuantParams): ByteArray {
        val out = ByteArray(face.width * face.height * 3)
        for (i in out.indices) {
            val c = i % 3
            val pixel = (face.data[i].toInt() and 0xFF).toFloat()
            val x = if (spec.inputPixels) pixel else (pixel - spec.mean[c]) / spec.std[c]
            val v = round((x / q.scale).toDouble()) + q.zeroPoint
            out[i] = v.coerceIn(-128.0, 127.0).toInt().toByte()
        }
        return out
    }

    /** The whole path for one face: the bytes the app hands to the LiteRT interpreter. */
    fun inputTensor(image: RgbImage, face: FaceDetection?, card: ModelCard): ByteArray {
        val crop = if (face == null) centerSquare(image) else Framer.crop(image, face, card.spec.framing, card.spec.size)
        return quantize(prepare(crop, card.spec), card.spec, card.input)
    }

    /**
     * The input of the face's mirror image (left-right) from the face's input [tensor] (`size x size x 3`): every
     * byte is one pixel's own, so this is what preparing the mirrored crop gives. The app's flip average scores
     * both, as `edge-age predict --flip-average` does with the prepared face.
     */
    fun mirror(tensor: ByteArray, size: Int): ByteArray {
        require(tensor.size == size * size * 3) { "tensor of ${tensor.size} bytes is not ${size}x${size}x3" }
        val out = ByteArray(tensor.size)
        for (y in 0 until size) for (x in 0 until size) {
            System.arraycopy(tensor, (y * size + x) * 3, out, (y * size + size - 1 - x) * 3, 3)
        }
        return out
    }

    /** int8 model output -> age in years. */
    fun dequantize(q: Byte, p: QuantParams): Float = (q.toInt() - p.zeroPoint) * p.scale

    /** The age in the interpreter's output buffer ([OutputType.bytes] long, native order), as the card says it
     *  is stored: the int8 reference file ends in float (its distribution head), SimpleCNN's in int8. */
    fun age(output: java.nio.ByteBuffer, card: ModelCard): Float = when (card.outputType) {
        OutputType.INT8 -> dequantize(output.get(0), card.output)
        OutputType.FLOAT32 -> output.getFloat(0)
    }
}
