package dev.edgeage.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.SystemClock
import com.google.gson.JsonParser
import dev.edgeage.demo.core.Choice
import dev.edgeage.demo.core.FaceDetection
import dev.edgeage.demo.core.Golden
import dev.edgeage.demo.core.GoldenCheck
import dev.edgeage.demo.core.ModelCard
import dev.edgeage.demo.core.Preprocessor
import dev.edgeage.demo.core.RgbImage
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import org.tensorflow.lite.Interpreter

/** One face's age and how long the interpreter took for it (both passes with the flip average). */
data class AgeResult(val face: FaceDetection?, val age: Float, val inferenceMs: Double)

/**
 * The LiteRT interpreter around the exported int8 model. Everything about the input -- size,
 * normalisation, int8 scale and zero-point -- comes from the model card in assets/, and the tensor
 * is built by the JVM-tested [Preprocessor], so the app feeds the model what training fed it.
 * [flipAverage]: each age is the mean of the face's and its mirror image's (two passes), as `predict --flip-average`;
 * nothing is added for a file that does this inside (its card's `flip_average`). MainActivity turns it on.
 */
class AgeEstimator(
    context: Context, threads: Int, useXnnpack: Boolean, private val flipAverage: Boolean = false,
) : AutoCloseable {
    val card: ModelCard
    /** Why the crops may differ from the training crops (a card framed for another detector), or null. */
    val framingNote: String?
    /** What the start-up check decided: the interpreter asked for, or the one without XNNPACK. */
    val choice: Choice
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val cardName = context.assets.list("")!!.first { it.endsWith(".json") }
        val parsed = ModelCard.parse(context.assets.open(cardName).bufferedReader().readText())
        // The app detects with BlazeFace (FaceFinder): a card framed on another detector's boxes gets BlazeFace's own
        // fit (edge_age/reference/framing_blazeface.json), as `edge-age predict --framing blazeface` would.
        val detector = parsed.spec.framing.detector
        card = if (detector == "blazeface") parsed else parsed.copy(spec = parsed.spec.copy(framing = ModelCard.framingOf(
            JsonParser.parseString(context.assets.open(FaceFinder.FIT).bufferedReader().readText()).asJsonObject.getAsJsonObject("framing"))))
        framingNote = if (detector == "blazeface") null else
            "the card is framed for $detector; BlazeFace's own framing is used, the model was trained on $detector crops"
        input = ByteBuffer.allocateDirect(card.spec.size * card.spec.size * 3).order(ByteOrder.nativeOrder())
        output = ByteBuffer.allocateDirect(card.outputType.bytes).order(ByteOrder.nativeOrder())
        val model = mapAsset(context, card.modelFile)
        fun open(xnnpack: Boolean) = Interpreter(model, Interpreter.Options().setNumThreads(threads).setUseXNNPACK(xnnpack))
        var chosen = open(useXnnpack)
        val golden = card.golden
        choice = if (golden == null) Choice.DEFAULT else GoldenCheck.choose(
            golden, { goldenAges(chosen, golden) }, { chosen.close(); chosen = open(false); goldenAges(chosen, golden) },
            defaultIsSafe = !useXnnpack)
        check(choice != Choice.REFUSE) {
            "this phone's interpreter does not reproduce the model's golden outputs, with or without XNNPACK: " +
                "its ages would be wrong"
        }
        interpreter = chosen
    }

    /** Ages of the card's golden faces (each already the model's input size: crop and resize are identity). */
    private fun goldenAges(interp: Interpreter, golden: Golden): FloatArray =
        GoldenCheck.inputs(card.spec.size, golden.n, golden.seed).map { img ->
            input.rewind()
            input.put(Preprocessor.inputTensor(img, null, card))
            input.rewind()
            output.rewind()
            interp.run(input, output)
            Preprocessor.age(output, card)
        }.toFloatArray()

    fun estimate(bitmap: Bitmap, face: FaceDetection?): AgeResult {
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val tensor = Preprocessor.inputTensor(RgbImage.fromArgb(pixels, bitmap.width, bitmap.height), face, card)
        val t0 = SystemClock.elapsedRealtimeNanos()
        var age = run(tensor)
        if (flipAverage && !card.flipAverage) age = (age + run(Preprocessor.mirror(tensor, card.spec.size))) / 2
        val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        return AgeResult(face, age, ms)
    }

    private fun run(tensor: ByteArray): Float {
        input.rewind()
        input.put(tensor)
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
        return Preprocessor.age(output, card)
    }

    override fun close() = interpreter.close()

    private fun mapAsset(context: Context, name: String): MappedByteBuffer {
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { ch ->
                return ch.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
    }
}
