package dev.edgeage.demo

import android.graphics.Bitmap
import android.graphics.PointF
import android.media.FaceDetector
import dev.edgeage.demo.core.FaceBox

/**
 * Dependency-free face detection with Android's own android.media.FaceDetector (ML Kit's face
 * detection is the drop-in upgrade). It reports eye midpoints and eye distance; the box below is
 * sized like OpenCV's Haar box that `--detect-faces` crops from in Python, so the same face margin
 * from the model card gives a comparable crop.
 */
object FaceFinder {
    fun find(bitmap: Bitmap, maxFaces: Int = 5): List<FaceBox> {
        // FaceDetector needs RGB_565 and an even width.
        val w = bitmap.width - bitmap.width % 2
        val rgb565 = Bitmap.createBitmap(bitmap, 0, 0, w, bitmap.height).copy(Bitmap.Config.RGB_565, false)
        val faces = arrayOfNulls<FaceDetector.Face>(maxFaces)
        val n = FaceDetector(w, rgb565.height, maxFaces).findFaces(rgb565, faces)
        val mid = PointF()
        return (0 until n).mapNotNull { faces[it] }.map { f ->
            f.getMidPoint(mid)
            val side = (f.eyesDistance() * 2.2f).toInt()
            FaceBox((mid.x - side / 2f).toInt(), (mid.y - side * 0.4f).toInt(), side, side)
        }.sortedByDescending { it.w * it.h }
    }
}
