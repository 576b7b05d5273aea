package dev.edgeage.demo.core

import kotlin.math.exp
import kotlin.math.hypot
import kotlin.math.max
import kotlin.math.min

/** Where an image lies in the detector's input: input = image x [scale] + ([px], [py]). */
data class Letterbox(val scale: Double, val px: Int, val py: Int) {
    companion object {
        fun of(width: Int, height: Int): Letterbox {
            val s = BlazeFace.SIDE.toDouble() / max(height, width).toDouble()
            val nw = max(1, Math.rint(width * s).toInt()) // Python's round: half to even
            val nh = max(1, Math.rint(height * s).toInt())
            return Letterbox(s, (BlazeFace.SIDE - nw) / 2, (BlazeFace.SIDE - nh) / 2)
        }
    }
}

/** One face from the network, in the pixels of the image it was given: box corners, six points, score. */
data class BlazeDetection(val x1: Double, val y1: Double, val x2: Double, val y2: Double, val points: DoubleArray, val score: Double)

/**
 * A view of the photo that one detection pass ran on (the photo itself, extended, or turned): [back] maps the
 * view's pixels to the photo's (x' = b0 x + b1 y + b2, y' = b3 x + b4 y + b5), [angle] is the view's turn.
 */
data class View(val back: DoubleArray, val angle: Double) {
    fun toPhotoX(x: Double, y: Double) = back[0] * x + back[1] * y + back[2]
    fun toPhotoY(x: Double, y: Double) = back[3] * x + back[4] * y + back[5]
}

/**
 * BlazeFace full-range's decoding as edge_age/data/blazeface.py does it, operation for operation in doubles, so that
 * the same network outputs give the same detections (to the last bits of exp, which the JVM and numpy may round
 * differently), the same framing and the same crop bytes (golden-tested):
 * sigmoid scores, one 48 x 48 grid of fixed-size anchors, score-weighted NMS with sums taken one term at a time.
 */
object BlazeFace {
    const val SIDE = 192
    const val GRID = 48
    const val FILE = "blazeface_full_range.tflite" // edge_age/detector/, copied into the app's assets
    private const val RAW_SCORE_LIMIT = 80.0
    const val MIN_SCORE = 0.5 // blazeface.BlazeConfig
    const val NMS_IOU = 0.3
    const val MIN_SIZE = 24.0 // faces.DetectConfig.min_size: smallest face side in the view's pixels

    fun decode(raw: FloatArray, logits: FloatArray, box: Letterbox, minScore: Double = MIN_SCORE, nmsIou: Double = NMS_IOU): List<BlazeDetection> {
        require(raw.size == GRID * GRID * 16 && logits.size == GRID * GRID) { "BlazeFace outputs of unexpected size" }
        val found = ArrayList<BlazeDetection>()
        for (k in 0 until GRID * GRID) {
            val score = 1.0 / (1.0 + exp(-logits[k].toDouble().coerceIn(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
            if (!(score > minScore)) continue
            val ax = ((k % GRID) + 0.5) / GRID
            val ay = ((k / GRID) + 0.5) / GRID
            fun p(i: Int) = raw[k * 16 + i].toDouble() / SIDE
            val cx = p(0) + ax
            val cy = p(1) + ay
            val w = p(2)
            val h = p(3)
            fun ix(v: Double) = (v * SIDE - box.px) / box.scale
            fun iy(v: Double) = (v * SIDE - box.py) / box.scale
            val pts = DoubleArray(12) { i -> if (i % 2 == 0) ix(p(4 + i) + ax) else iy(p(4 + i) + ay) }
            val d = BlazeDetection(ix(cx - w / 2), iy(cy - h / 2), ix(cx + w / 2), iy(cy + h / 2), pts, score)
            if (d.x2 > d.x1 && d.y2 > d.y1) found.add(d)
        }
        return weightedNms(found, nmsIou)
    }

    private fun weightedNms(found: List<BlazeDetection>, iou: Double): List<BlazeDetection> {
        var order = found.sortedByDescending { it.score } // stable, as numpy's argsort(kind="stable")
        val out = ArrayList<BlazeDetection>()
        while (order.isNotEmpty()) {
            val top = order[0]
            val topArea = (top.x2 - top.x1) * (top.y2 - top.y1)
            val near = order.map { b ->
                val inter = max(min(top.x2, b.x2) - max(top.x1, b.x1), 0.0) * max(min(top.y2, b.y2) - max(top.y1, b.y1), 0.0)
                val union = topArea + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
                inter / max(union, 1e-9) > iou
            }
            val acc = DoubleArray(16)
            var wsum = 0.0
            for ((i, b) in order.withIndex()) {
                if (!near[i]) continue
                val v = doubleArrayOf(b.x1, b.y1, b.x2, b.y2) + b.points
                for (j in 0 until 16) acc[j] += v[j] * b.score
                wsum += b.score
            }
            for (j in 0 until 16) acc[j] /= wsum
            out.add(BlazeDetection(acc[0], acc[1], acc[2], acc[3], acc.copyOfRange(4, 16), top.score))
            order = order.filterIndexed { i, _ -> !near[i] }
        }
        return out
    }

    /**
     * One pass's faces in the photo, largest first (as edge_age.data.faces): a box turned with the view, and the eyes
     * (points 0 and 1). Faces narrower than [minSize] view pixels are dropped.
     */
    fun inPhoto(found: List<BlazeDetection>, view: View, minSize: Double = MIN_SIZE): List<FaceDetection> {
        val sx = hypot(view.back[0], view.back[3])
        return found.filter { min(it.x2 - it.x1, it.y2 - it.y1) >= minSize }.map { d ->
            val w = d.x2 - d.x1
            val h = d.y2 - d.y1
            val cx = view.toPhotoX(d.x1 + w / 2, d.y1 + h / 2)
            val cy = view.toPhotoY(d.x1 + w / 2, d.y1 + h / 2)
            val pw = w * sx
            val ph = h * sx
            val p = d.points
            FaceDetection(
                FaceBox(cx - pw / 2, cy - ph / 2, pw, ph), view.angle,
                Eyes(view.toPhotoX(p[0], p[1]), view.toPhotoY(p[0], p[1]), view.toPhotoX(p[2], p[3]), view.toPhotoY(p[2], p[3])),
            )
        }.sortedByDescending { it.box!!.w * it.box.h }
    }
}
