package dev.edgeage.demo.core

import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.max
import kotlin.math.sin

/**
 * One detection pass (edge_age.data.faces.Pass): the photo as is, extended ([pad]), turned ([angle]) or cut in two
 * ([halves]), given to the BlazeFace [network] of that name (BlazeFace.NETWORKS).
 */
data class Pass(val pad: Boolean = false, val angle: Double = 0.0, val halves: Boolean = false, val network: String = "full")

/** A view to render for the detector: [width] x [height] pixels of the photo seen through [view]. */
data class ViewSpec(val width: Int, val height: Int, val view: View) {
    /** The photo -> view map (the inverse of [View.back]) as a row-major 2 x 3 matrix, for the app's renderer. */
    fun forward(): DoubleArray {
        val b = view.back
        val det = b[0] * b[4] - b[1] * b[3]
        val a11 = b[4] / det
        val a12 = -b[1] / det
        val a21 = -b[3] / det
        val a22 = b[0] / det
        return doubleArrayOf(a11, a12, -a11 * b[2] - a12 * b[5], a21, a22, -a21 * b[2] - a22 * b[5])
    }
}

/**
 * BlazeFace's cascade as edge_age.data.faces runs it: the passes in order, each tried only when the ones before
 * found nothing, every view made from the photo downscaled to [WORKING_SIDE]. The geometry follows OpenCV's
 * (resize, getRotationMatrix2D, invertAffineTransform) so that a detection maps back to the photo as in Python.
 */
object Cascade {
    const val WORKING_SIDE = 2 * BlazeFace.SIDE // faces.WORKING_SIDE["blazeface"]
    const val PAD = 0.5 // faces.DetectConfig.pad: the extended canvas grows by this x the longest side per side
    const val HALF_WINDOW = 0.6 // faces.HALF_WINDOW
    const val HALF_MIN_ASPECT = 1.2 // faces.HALF_MIN_ASPECT: no halves for a photo closer to square
    val PASSES = listOf(Pass(), Pass(halves = true), Pass(pad = true, network = "short"), Pass(angle = -25.0, network = "short"),
                        Pass(angle = 25.0, network = "short"))

    /** The views of [pass] for a photo of [width] x [height]. */
    fun views(width: Int, height: Int, pass: Pass): List<ViewSpec> {
        require(listOf(pass.pad, pass.angle != 0.0, pass.halves).count { it } <= 1) { "a pass does one thing: $pass" }
        val scale = minOf(1.0, WORKING_SIDE.toDouble() / max(width, height))
        val w = if (scale < 1) Math.rint(width * scale).toInt() else width
        val h = if (scale < 1) Math.rint(height * scale).toInt() else height
        val inv = 1.0 / scale
        if (pass.halves) {
            if (max(w, h) < HALF_MIN_ASPECT * minOf(w, h)) return emptyList()
            return if (w >= h) {
                val n = (HALF_WINDOW * w).toInt()
                listOf(0, w - n).map { x0 -> ViewSpec(n, h, View(doubleArrayOf(inv, 0.0, x0 * inv, 0.0, inv, 0.0), 0.0)) }
            } else {
                val n = (HALF_WINDOW * h).toInt()
                listOf(0, h - n).map { y0 -> ViewSpec(w, n, View(doubleArrayOf(inv, 0.0, 0.0, 0.0, inv, y0 * inv), 0.0)) }
            }
        }
        if (pass.pad) {
            val p = Math.rint(PAD * max(w, h)).toInt()
            return listOf(ViewSpec(w + 2 * p, h + 2 * p, View(doubleArrayOf(inv, 0.0, inv * -p, 0.0, inv, inv * -p), 0.0)))
        }
        if (pass.angle == 0.0) return listOf(ViewSpec(w, h, View(doubleArrayOf(inv, 0.0, 0.0, 0.0, inv, 0.0), 0.0)))
        // getRotationMatrix2D((w / 2, h / 2), angle, 1), its canvas grown so that no corner is cut, then inverted.
        val rad = pass.angle * (Math.PI / 180)
        val alpha = cos(rad)
        val beta = sin(rad)
        val cx = w / 2.0
        val cy = h / 2.0
        val nw = (h * abs(beta) + w * abs(alpha)).toInt()
        val nh = (h * abs(alpha) + w * abs(beta)).toInt()
        val m = doubleArrayOf(alpha, beta, (1 - alpha) * cx - beta * cy + (nw / 2.0 - w / 2.0),
                              -beta, alpha, beta * cx + (1 - alpha) * cy + (nh / 2.0 - h / 2.0))
        var d = m[0] * m[4] - m[1] * m[3]
        d = if (d != 0.0) 1.0 / d else 0.0
        val a11 = m[4] * d
        val a22 = m[0] * d
        val a12 = -m[1] * d
        val a21 = -m[3] * d
        val b1 = -a11 * m[2] - a12 * m[5]
        val b2 = -a21 * m[2] - a22 * m[5]
        return listOf(ViewSpec(nw, nh, View(doubleArrayOf(inv * a11, inv * a12, inv * b1, inv * a21, inv * a22, inv * b2), pass.angle)))
    }

    /** One detection per face where the halves' windows overlap (faces._distinct): largest first. */
    fun distinct(found: List<FaceDetection>): List<FaceDetection> {
        val kept = ArrayList<FaceDetection>()
        for (d in found.sortedByDescending { it.box!!.w * it.box.h }) {
            val cx = d.box!!.x + d.box.w / 2
            val cy = d.box.y + d.box.h / 2
            val same = kept.any { k -> abs(cx - (k.box!!.x + k.box.w / 2)) < k.box.w / 2 && abs(cy - (k.box.y + k.box.h / 2)) < k.box.h / 2 }
            if (!same) kept.add(d)
        }
        return kept
    }
}
