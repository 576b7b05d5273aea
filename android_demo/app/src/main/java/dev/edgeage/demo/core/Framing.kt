package dev.edgeage.demo.core

import kotlin.math.cos
import kotlin.math.floor
import kotlin.math.sin
import kotlin.math.sqrt

/**
 * The model card's face framing (edge_age.data.framing.Framing): how a detection maps to the square
 * crop that matches the chips the model was trained on. Fitted from data by `edge-age data framing`.
 */
data class Framing(
    val boxDx: Double = 0.0,
    val boxDy: Double = 0.0,
    val boxScale: Double = 1.0,
    val eyeDx: Double = 0.0,
    val eyeDy: Double = 0.0,
    val eyeScale: Double = 0.0,
    val eyeAngle: Double = 0.0,
    /** Whose boxes and eyes the rules were fitted on: the app detects with it (BlazeFace is the one it runs). */
    val detector: String = "mtcnn",
)

/** Image-left and image-right eye centres in image pixels. */
data class Eyes(val lx: Double, val ly: Double, val rx: Double, val ry: Double)

/**
 * One face as a detector reports it: a box (pixel i covers [i, i+1)) found in the image turned by
 * [angle] degrees (clockwise on screen), and the eyes where known.
 */
data class FaceDetection(val box: FaceBox?, val angle: Double = 0.0, val eyes: Eyes? = null) {
    init {
        require(box != null || eyes != null) { "a detection needs a box or eye points" }
    }
}

/** A square in image pixels: centre, side and the unit vector (cos, sin) of its x axis. */
data class Square(val cx: Double, val cy: Double, val side: Double, val cos: Double = 1.0, val sin: Double = 0.0)

/**
 * The same arithmetic as edge_age/data/framing.py, operation for operation, so that the crop is
 * byte-identical: IEEE double +, -, *, /, floor and sqrt decide every source pixel and weight.
 */
object Framer {
    private fun rotate(c: Double, s: Double, degrees: Double): Pair<Double, Double> {
        if (degrees == 0.0) return c to s
        val rc = cos(Math.toRadians(degrees))
        val rs = sin(Math.toRadians(degrees))
        return (c * rc - s * rs) to (s * rc + c * rs)
    }

    fun boxSquare(box: FaceBox, angle: Double, f: Framing): Square {
        val side = (box.w + box.h) / 2
        val (c, s) = rotate(1.0, 0.0, angle)
        val bx = box.x + box.w / 2
        val by = box.y + box.h / 2
        val dx = f.boxDx * side
        val dy = f.boxDy * side
        return Square(bx + dx * c - dy * s, by + dx * s + dy * c, f.boxScale * side, c, s)
    }

    fun eyeSquare(e: Eyes, f: Framing): Square {
        val vx = e.rx - e.lx
        val vy = e.ry - e.ly
        val d = sqrt(vx * vx + vy * vy)
        require(d > 0) { "eye points coincide" }
        val (c, s) = rotate(vx / d, vy / d, f.eyeAngle)
        val mx = (e.lx + e.rx) / 2
        val my = (e.ly + e.ry) / 2
        val dx = f.eyeDx * d
        val dy = f.eyeDy * d
        return Square(mx + dx * c - dy * s, my + dx * s + dy * c, f.eyeScale * d, c, s)
    }

    /** The eye rule where eyes are known and the card fitted it, else the box rule. */
    fun frame(det: FaceDetection, f: Framing): Square =
        if (det.eyes != null && (f.eyeScale > 0 || det.box == null)) {
            require(f.eyeScale > 0) { "the model card has no eye framing; give a box" }
            eyeSquare(det.eyes, f)
        } else {
            boxSquare(det.box!!, det.angle, f)
        }

    /** Sample [sq] into out x out with 1/256 bilinear weights; outside pixels repeat the nearest edge. */
    fun warp(img: RgbImage, sq: Square, out: Int): RgbImage {
        val t = DoubleArray(out) { ((it + 0.5) / out - 0.5) * sq.side }
        val dst = ByteArray(out * out * 3)
        for (v in 0 until out) {
            val b = t[v]
            for (u in 0 until out) {
                val a = t[u]
                val sx = sq.cx + a * sq.cos - b * sq.sin - 0.5
                val sy = sq.cy + a * sq.sin + b * sq.cos - 0.5
                var x0 = floor(sx)
                var wx = floor((sx - x0) * 256 + 0.5).toLong()
                if (wx == 256L) { x0 += 1; wx = 0 }
                var y0 = floor(sy)
                var wy = floor((sy - y0) * 256 + 0.5).toLong()
                if (wy == 256L) { y0 += 1; wy = 0 }
                val xa = clampIndex(x0, img.width)
                val xb = clampIndex(x0 + 1, img.width)
                val ya = clampIndex(y0, img.height)
                val yb = clampIndex(y0 + 1, img.height)
                for (c in 0 until 3) {
                    val top = img.at(xa, ya, c) * (256 - wx) + img.at(xb, ya, c) * wx
                    val bottom = img.at(xa, yb, c) * (256 - wx) + img.at(xb, yb, c) * wx
                    dst[(v * out + u) * 3 + c] = ((top * (256 - wy) + bottom * wy + 32768) shr 16).toByte()
                }
            }
        }
        return RgbImage(out, out, dst)
    }

    private fun clampIndex(i: Double, n: Int): Int = i.coerceIn(0.0, (n - 1).toDouble()).toInt()

    /**
     * The upright crop of one detected face, sampled straight at the model's side (as Python does for cards whose
     * chips were resized with bilinear_exact, the only interpolation the app implements): its cost grows with the
     * model's input, not the face.
     */
    fun crop(img: RgbImage, det: FaceDetection, f: Framing, size: Int): RgbImage = warp(img, frame(det, f), size)
}
