package dev.edgeage.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class PreprocessorTest {
    private val spec = PreprocessSpec(
        size = 4, colorOrder = "RGB", mean = floatArrayOf(10f, 20f, 30f), std = floatArrayOf(2f, 4f, 5f),
        framing = Framing(boxScale = 2.0), interpolation = "bilinear_exact",
    )

    private fun image(w: Int, h: Int, f: (Int, Int, Int) -> Int): RgbImage {
        val d = ByteArray(w * h * 3)
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) d[(y * w + x) * 3 + c] = f(x, y, c).toByte()
        return RgbImage(w, h, d)
    }

    @Test
    fun resizeToSameSizeIsIdentity() {
        val img = image(7, 5) { x, y, c -> (x * 31 + y * 17 + c * 7) and 0xFF }
        assertArrayEquals(img.data, Preprocessor.resizeBilinearExact(img, 7, 5).data)
    }

    @Test
    fun constantImageStaysConstantAtAnyScale() {
        val img = image(13, 9) { _, _, c -> 50 + c * 60 }
        for ((w, h) in listOf(4 to 4, 20 to 31, 128 to 128)) {
            val out = Preprocessor.resizeBilinearExact(img, w, h)
            for (i in out.data.indices) assertEquals(50 + (i % 3) * 60, out.data[i].toInt() and 0xFF)
        }
    }

    @Test
    fun halfwayDownscaleAveragesNeighbours() {
        // 4 -> 2 columns: destination pixel 0 samples source x = 0.5, i.e. the mean of columns 0 and 1.
        val img = image(4, 1) { x, _, _ -> intArrayOf(0, 100, 200, 255)[x] }
        val out = Preprocessor.resizeBilinearExact(img, 2, 1)
        assertEquals(50, out.at(0, 0, 0))
        assertEquals(228, out.at(1, 0, 0)) // (200 + 255) / 2 = 227.5, rounded half up
    }

    @Test
    fun cropReplicatesEdgesOutsideTheImage() {
        val img = image(3, 3) { x, y, _ -> y * 3 + x }
        val c = Preprocessor.crop(img, -1, -1, 5)
        assertEquals(0, c.at(0, 0, 0))
        assertEquals(8, c.at(4, 4, 0))
        assertEquals(4, c.at(2, 2, 0))
    }

    @Test
    fun boxFramingScalesAndShiftsTheBox() {
        val img = image(100, 100) { x, y, _ -> if (x < 50) x else y }
        val c = Framer.crop(img, FaceDetection(FaceBox(40.0, 40.0, 20.0, 20.0)), Framing(boxScale = 2.0, boxDx = 0.25), 40)
        assertEquals(40, c.width) // sampled at the model's side: here side 20 x 2, one pixel per source pixel
        assertEquals(35, c.at(0, 0, 0)) // centre 50 + 0.25 x 20 = 55, left edge 35
        assertEquals(49, c.at(14, 0, 0))
    }

    @Test
    fun eyeFramingLevelsTheEyes() {
        // Eyes 20 px apart on a line turned 90 degrees (left eye above the right): the crop turns with them.
        val img = image(100, 100) { x, y, _ -> if (y < 50) 200 else x }
        val f = Framing(eyeScale = 2.0)
        val sq = Framer.eyeSquare(Eyes(50.0, 40.0, 50.0, 60.0), f)
        assertEquals(40.0, sq.side, 0.0)
        assertEquals(0.0, sq.cos, 1e-12)
        assertEquals(1.0, sq.sin, 1e-12)
        val c = Framer.crop(img, FaceDetection(null, eyes = Eyes(50.0, 40.0, 50.0, 60.0)), f, 40)
        // The crop's x axis runs down the image: its left column lies above y = 50, its right one below.
        assertEquals(200, c.at(0, 20, 0))
        assertEquals(69, c.at(39, 0, 0)) // image x = 50 + 19.5 - 0.5 for the top row's right end
    }

    @Test
    fun eyesAloneNeedAnEyeFraming() {
        assertThrows(IllegalArgumentException::class.java) {
            Framer.frame(FaceDetection(null, eyes = Eyes(0.0, 0.0, 10.0, 0.0)), Framing())
        }
    }

    @Test
    fun quantizeFollowsTheFormula() {
        val face = image(1, 1) { _, _, c -> intArrayOf(40, 40, 255)[c] }
        val q = Preprocessor.quantize(face, spec, QuantParams(scale = 0.5f, zeroPoint = -3))
        // (40-10)/2 = 15 -> 30 - 3 = 27;  (40-20)/4 = 5 -> 10 - 3 = 7;  (255-30)/5 = 45 -> 90 - 3 = 87
        assertArrayEquals(byteArrayOf(27, 7, 87), q)
        val sat = Preprocessor.quantize(face, spec, QuantParams(scale = 0.01f, zeroPoint = 0))
        assertArrayEquals(byteArrayOf(127, 127, 127), sat)
    }

    @Test
    fun pixelInputFilesTakePixelMinus128() {
        val face = image(2, 1) { x, _, c -> if (x == 0) 0 else 200 + c }
        val q = Preprocessor.quantize(face, spec.copy(inputPixels = true), QuantParams(scale = 1.0f, zeroPoint = -128))
        assertArrayEquals(byteArrayOf(-128, -128, -128, 72, 73, 74), q)
    }

    @Test
    fun dequantizeOutput() {
        assertEquals(37.5f, Preprocessor.dequantize(25, QuantParams(0.5f, -50)), 1e-6f)
    }

    @Test
    fun readsTheAgeAsTheCardSaysItIsStored() {
        fun card(type: OutputType) = ModelCard("m", "m.tflite", spec, QuantParams(1f, -128), QuantParams(0.5f, -50), type)
        val int8 = java.nio.ByteBuffer.allocateDirect(OutputType.INT8.bytes).order(java.nio.ByteOrder.nativeOrder())
        int8.put(0, 25)
        assertEquals(37.5f, Preprocessor.age(int8, card(OutputType.INT8)), 1e-6f)
        val f32 = java.nio.ByteBuffer.allocateDirect(OutputType.FLOAT32.bytes).order(java.nio.ByteOrder.nativeOrder())
        f32.putFloat(0, 41.25f)
        assertEquals(41.25f, Preprocessor.age(f32, card(OutputType.FLOAT32)), 0f)
    }

    @Test
    fun mirroredTensorIsTheTensorOfTheMirrorImage() {
        val card = ModelCard("m", "m.tflite", spec, QuantParams(0.5f, -3), QuantParams(0.5f, -50), OutputType.FLOAT32)
        val img = image(4, 4) { x, y, c -> (x * 53 + y * 29 + c * 71) and 0xFF }
        val mirrored = image(4, 4) { x, y, c -> (((3 - x) * 53 + y * 29 + c * 71) and 0xFF) }
        val tensor = Preprocessor.inputTensor(img, null, card)
        assertArrayEquals(Preprocessor.inputTensor(mirrored, null, card), Preprocessor.mirror(tensor, 4))
        assertArrayEquals(tensor, Preprocessor.mirror(Preprocessor.mirror(tensor, 4), 4))
        assertThrows(IllegalArgumentException::class.java) { Preprocessor.mirror(tensor, 3) }
    }

    @Test
    fun unsupportedInterpolationIsRefused() {
        val img = image(8, 8) { _, _, _ -> 1 }
        assertThrows(IllegalArgumentException::class.java) { Preprocessor.prepare(img, spec.copy(interpolation = "area")) }
    }

    @Test
    fun argbPixelsBecomeRgbBytes() {
        val img = RgbImage.fromArgb(intArrayOf(0xFF102030.toInt(), 0x80FFFEFD.toInt()), 2, 1)
        assertArrayEquals(byteArrayOf(0x10, 0x20, 0x30, 0xFF.toByte(), 0xFE.toByte(), 0xFD.toByte()), img.data)
    }
}
