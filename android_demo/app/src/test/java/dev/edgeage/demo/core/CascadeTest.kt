package dev.edgeage.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

/** The cascade's views (golden cases cover the landscape photos Python makes; these the rest of the geometry). */
class CascadeTest {
    @Test
    fun aPortraitPhotoIsCutAlongItsLongerSide() {
        val v = Cascade.views(480, 640, Pass(halves = true))
        assertEquals(2, v.size)
        // 480 x 640 -> 288 x 384 at the working side; windows of int(0.6 x 384) = 230 rows, at 0 and 384 - 230.
        assertEquals(listOf(288 to 230, 288 to 230), v.map { it.width to it.height })
        assertEquals(154 / 0.6, v[1].view.back[5], 1e-12)
        assertEquals(0.0, v[1].view.back[2], 0.0)
    }

    @Test
    fun aSmallPhotoIsNotScaledAndTheTightChipPassExtendsIt() {
        val v = Cascade.views(200, 200, Pass(pad = true)).single()
        assertEquals(400 to 400, v.width to v.height) // 100 px of replicated edge per side
        assertEquals(-100.0, v.view.back[2], 0.0)
        assertEquals(1.0, v.view.back[0], 0.0)
    }

    @Test
    fun forwardUndoesBack() {
        for (pass in Cascade.PASSES) for (v in Cascade.views(1280, 720, pass)) {
            val f = v.forward()
            val b = v.view.back
            for ((x, y) in listOf(0.0 to 0.0, 100.5 to 37.25, v.width - 1.0 to v.height - 1.0)) {
                val px = b[0] * x + b[1] * y + b[2]
                val py = b[3] * x + b[4] * y + b[5]
                assertEquals(x, f[0] * px + f[1] * py + f[2], 1e-9)
                assertEquals(y, f[3] * px + f[4] * py + f[5], 1e-9)
            }
        }
    }

    @Test
    fun aFaceSeenInBothWindowsIsKeptOnce() {
        val a = FaceDetection(FaceBox(100.0, 100.0, 80.0, 80.0))
        val b = FaceDetection(FaceBox(104.0, 98.0, 76.0, 78.0)) // the same face from the other window
        val c = FaceDetection(FaceBox(400.0, 100.0, 60.0, 60.0))
        assertEquals(listOf(a, c), Cascade.distinct(listOf(b, c, a)))
    }
}
