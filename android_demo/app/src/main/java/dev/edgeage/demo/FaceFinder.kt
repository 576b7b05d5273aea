package dev.edgeage.demo

import android.graphics.Bitmap
import android.graphics.PointF
import android.media.FaceDetector
import dev.edgeage.demo.core.Eyes
import dev.edgeage.demo.core.FaceDetection

/**
 * Dependency-free face detection with Android's own android.media.FaceDetector (ML Kit's face
 * detection is the drop-in upgrade). It reports the eye midpoint and eye distance, which the model
 * card's eye framing maps to the training crop (Framer); no box or margin is guessed here.
 */
object FaceFinder {
    fun find(bitmap: Bitmap, maxFaces: Int = 5): List<FaceDetection> {
        // FaceDetector needs RGB_565 and an even width.
        val w = bitmap.width - bitmap.width % 2
        val rgb565 = Bitmap.createBitmap(bitmap, 0, 0, w, bitmap.height).copy(Bitmap.Config.RGB_565, false)
        val faces = arrayOfNulls<FaceDetector.Face>(maxFaces)
        val n = FaceDetector(w, rgb565.height, maxFaces).findFaces(rgb565, faces)
        val mid = PointF()
        return (0 until n).mapNotNull { faces[it] }.map { f ->
            f.getMidPoint(mid)
            FaceDetection(box = null, eyes = Eyes.fromMidpoint(mid.x.toDouble(), mid.y.toDouble(), f.eyesDistance().toDouble()))
        }.sortedByDescending { it.eyes!!.rx - it.eyes!!.lx }
    }
}
