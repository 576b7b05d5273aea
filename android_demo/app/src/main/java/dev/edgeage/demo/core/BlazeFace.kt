package dev.edgeage.demo.core

import kotlin.math.exp
import kotlin.math.hypot
import kotlin.math.max
import kotlin.math.min

/** Where an image lies in the detector's input: input = image x [scale] + ([px], [py]). */
data class Letterbox(val scale: Double, val px: Int, val py: Int) {
    companion object {
        fun of(width: Int, height: Int, side: Int = BlazeFace.SIDE): Letterbox {
            val s = side.toDouble() / max(height, width).toDouble()
            val nw = max(1, Math.rint(width * s).toInt()) // Python's round: half to even
            val nh = max(1, Math.rint(height * s).toInt())
            return Letterbox(s, (side - nw) / 2, (side - nh) / 2)
        }
    }
}

/**
 * One BlazeFace network (edge_age.data.blazeface.Network): its file, input side and anchor layers (grid, anchors a
 * cell); the anchors run row by row, each cell's together, as MediaPipe's SSD anchors.
 */
data class Network(val name: String, val file: String, val side: Int, val layers: List<Pair<Int, Int>>) {
    val count = layers.sumOf { (grid, perCell) -> grid * grid * perCell }
    private val centres: DoubleArray by lazy {
        val out = DoubleArray(2 * count)
        var k = 0
        for ((grid, perCell) in layers) {
            for (row in 0 until grid) for (col in 0 until grid) repeat(perCell) {
                out[2 * k] = (col + 0.5) / grid
                out[2 * k + 1] = (row + 0.5) / grid
                k++
            }
        }
        out
    }

    fun anchorX(k: Int) = centres[2 * k]
    fun anchorY(k: Int) = centres[2 * k + 1]
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
 * BlazeFace's decoding as edge_age/data/blazeface.py does it, operation for operation in doubles, so that the same
 * network outputs give the same detections (to the last bits of exp, which the JVM and numpy may round differently),
 * the same framing and the same crop bytes (golden-tested): sigmoid scores, the network's fixed-size anchors,
 * score-weighted NMS with sums taken one term at a time. Two networks: full-range (192 px, one 48 x 48 grid) and
 * short-range (128 px, 16 x 16 x 2 and 8 x 8 x 6 anchors), which the cascade's fallback passes run.
 */
object BlazeFace {
    // edge_age/detector/, copied into the app's assets
    val FULL = Network("full", "blazeface_full_range.tflite", 192, listOf(48 to 1))
    val SHORT = Network("short", "blazeface_short_range.tflite", 128, listOf(16 to 2, 8 to 6))
    val NETWORKS = listOf(FULL, SHORT).associateBy { it.name }
    const val SIDE = 192 // FULL.side: the cascade's working side follows the larger input
    private const val RAW_SCORE_LIMIT = 80.0
    const val MIN_SCORE = 0.5 // blazeface.BlazeConfig
    const val NMS_IOU = 0.3
    const val MIN_SIZE = 24.0 // faces.DetectConfig.min_size: smallest face side in the view's pixels

    fun decode(raw: FloatArray, logits: FloatArray, box: Letterbox, net: Network = FULL, minScore: Double = MIN_SCORE,
               nmsIou: Double = NMS_IOU): List<BlazeDetection> {
        require(raw.size == net.count * 16 && logits.size == net.count) { "BlazeFace ${net.name} outputs of unexpected size" }
        val side = net.side
        val found = ArrayList<BlazeDetection>()
        for (k in 0 until net.count) {
            val score = 1.0 / (1.0 + exp(-logits[k].toDouble().coerceIn(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
            if (!(score > minScore)) continue
            val ax = net.anchorX(k)
            val ay = net.anchorY(k)
            fun p(i: Int) = raw[k * 16 + i].toDouble() / side
            val cx = p(0) + ax
            val cy = p(1) + ay
            val w = p(2)
            val h = p(3)
            fun ix(v: Double) = (v * side - box.px) / box.scale
            fun iy(v: Double) = (v * side - box.py) / box.scale
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
