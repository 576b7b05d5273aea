package dev.edgeage.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapShader
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Matrix
import android.graphics.Paint
import android.graphics.Shader
import dev.edgeage.demo.core.BlazeFace
import dev.edgeage.demo.core.Cascade
import dev.edgeage.demo.core.FaceDetection
import dev.edgeage.demo.core.Letterbox
import dev.edgeage.demo.core.Network
import dev.edgeage.demo.core.ViewSpec
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.channels.FileChannel
import org.tensorflow.lite.Interpreter

/**
 * The detector Python uses for BlazeFace cards, on the phone: the same files (edge_age/detector/, copied into the
 * assets by the build: full-range, and short-range for the fallback passes) through LiteRT, pass after pass as
 * Python's cascade ([Cascade]), each pass on its network ([Pass.network]), each pass's outputs decoded
 * and mapped to the photo by the JVM-tested core ([BlazeFace]; golden-tested against Python from the raw outputs
 * to the model's input bytes). Each view is drawn with Android's bilinear filter where Python resizes with
 * OpenCV's area filter, so the network's outputs can differ slightly for the same photo; what follows them is
 * the same arithmetic.
 */
class FaceFinder(context: Context, threads: Int) : AutoCloseable {
    private val runners: Map<String, Runner> = LinkedHashMap<String, Runner>().also { made ->
        try {
            for ((name, net) in BlazeFace.NETWORKS) made[name] = Runner(context, net, threads)
        } catch (e: Throwable) {
            made.values.forEach { it.close() } // the first network's interpreter when the second fails to load
            throw e
        }
    }

    /** All faces of the first pass that finds any, largest first (edge_age.data.faces.detect_faces). */
    fun find(photo: Bitmap): List<FaceDetection> {
        val (small, inv) = working(photo)
        for (pass in Cascade.PASSES) {
            val runner = runners.getValue(pass.network)
            val found = Cascade.views(photo.width, photo.height, pass).flatMap { runner.detect(small, inv, it) }
            val faces = if (pass.halves) Cascade.distinct(found) else found.sortedByDescending { it.box!!.w * it.box.h }
            if (faces.isNotEmpty()) return faces
        }
        return emptyList()
    }

    /**
     * The photo at the cascade's working side, as Python downscales it first (OpenCV's area filter there): halved
     * with filtering while more than twice too large, then scaled to the size Python's resize gives; and the factor
     * from its pixels to the photo's.
     */
    private fun working(photo: Bitmap): Pair<Bitmap, Double> {
        val scale = minOf(1.0, Cascade.WORKING_SIDE.toDouble() / maxOf(photo.width, photo.height))
        if (scale >= 1.0) return photo to 1.0
        var b = photo
        while (maxOf(b.width, b.height) > 2 * Cascade.WORKING_SIDE) b = Bitmap.createScaledBitmap(b, b.width / 2, b.height / 2, true)
        val w = Math.rint(photo.width * scale).toInt()
        val h = Math.rint(photo.height * scale).toInt()
        return Bitmap.createScaledBitmap(b, w, h, true) to 1.0 / scale
    }

    override fun close() = runners.values.forEach { runCatching { it.close() } } // each one, whatever the others do

    /** One network's interpreter and buffers: a view drawn into its letterboxed input, run, decoded, mapped back. */
    private class Runner(context: Context, private val net: Network, threads: Int) : AutoCloseable {
        private val interpreter: Interpreter
        private val input = ByteBuffer.allocateDirect(net.side * net.side * 3 * 4).order(ByteOrder.nativeOrder())
        private val raw = Array(1) { Array(net.count) { FloatArray(16) } }
        private val logits = Array(1) { Array(net.count) { FloatArray(1) } }
        private val rawIndex: Int
        private val scoreIndex: Int
        private val canvasBitmap = Bitmap.createBitmap(net.side, net.side, Bitmap.Config.ARGB_8888)
        private val pixels = IntArray(net.side * net.side)

        init {
            val file = "detector/${net.file}"
            val model = context.assets.openFd(file).use { fd ->
                FileInputStream(fd.fileDescriptor).channel.use { it.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength) }
            }
            interpreter = Interpreter(model, Interpreter.Options().setNumThreads(threads))
            val outputs = (0 until interpreter.outputTensorCount).map { interpreter.getOutputTensor(it).shape().last() }
            rawIndex = outputs.indexOf(16)
            scoreIndex = outputs.indexOf(1)
            check(rawIndex >= 0 && scoreIndex >= 0) { "$file: outputs $outputs are not BlazeFace's" }
        }

        fun detect(small: Bitmap, inv: Double, v: ViewSpec): List<FaceDetection> {
            val box = Letterbox.of(v.width, v.height, net.side)
            val f = v.forward()
            val s = box.scale
            // working image -> photo (x inv) -> view -> letterboxed input in one matrix; the clamped shader repeats edge
            // pixels as Python's extended and turned views do (BORDER_REPLICATE); outside the letterbox stays black.
            val m = Matrix().apply {
                setValues(floatArrayOf((f[0] * s * inv).toFloat(), (f[1] * s * inv).toFloat(), (f[2] * s + box.px).toFloat(),
                                       (f[3] * s * inv).toFloat(), (f[4] * s * inv).toFloat(), (f[5] * s + box.py).toFloat(), 0f, 0f, 1f))
            }
            val paint = Paint(Paint.FILTER_BITMAP_FLAG).apply {
                shader = BitmapShader(small, Shader.TileMode.CLAMP, Shader.TileMode.CLAMP).apply { setLocalMatrix(m) }
            }
            val nw = maxOf(1, Math.rint(v.width * s).toInt())
            val nh = maxOf(1, Math.rint(v.height * s).toInt())
            Canvas(canvasBitmap).apply {
                drawColor(Color.BLACK)
                drawRect(box.px.toFloat(), box.py.toFloat(), (box.px + nw).toFloat(), (box.py + nh).toFloat(), paint)
            }
            canvasBitmap.getPixels(pixels, 0, net.side, 0, 0, net.side, net.side)
            input.rewind()
            for (p in pixels) {
                input.putFloat(((p shr 16) and 0xFF) / 127.5f - 1f)
                input.putFloat(((p shr 8) and 0xFF) / 127.5f - 1f)
                input.putFloat((p and 0xFF) / 127.5f - 1f)
            }
            input.rewind()
            interpreter.runForMultipleInputsOutputs(arrayOf(input), mapOf(rawIndex to raw, scoreIndex to logits))
            val flatRaw = FloatArray(raw[0].size * 16).also { out -> raw[0].forEachIndexed { i, r -> r.copyInto(out, i * 16) } }
            val flatLogits = FloatArray(logits[0].size) { logits[0][it][0] }
            return BlazeFace.inPhoto(BlazeFace.decode(flatRaw, flatLogits, box, net), v.view)
        }

        override fun close() = interpreter.close()
    }

    companion object {
        /** BlazeFace's framing fit, copied into the assets' detector/ by the build beside the networks' files. */
        const val FIT = "detector/framing_blazeface.json"
    }
}
