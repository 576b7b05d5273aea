package dev.edgeage.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.CheckBox
import android.widget.ImageView
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import dev.edgeage.demo.core.Choice
import java.util.concurrent.Executors

/** Camera preview with live ages, or a photo from the gallery; shows age per face and inference ms. */
class MainActivity : AppCompatActivity() {
    private lateinit var result: TextView
    private lateinit var photo: ImageView
    private lateinit var previewView: PreviewView
    private var estimator: AgeEstimator? = null
    private var finder: FaceFinder? = null
    private var threads = 2
    private var xnnpack = true
    private val analysisExecutor = Executors.newSingleThreadExecutor()

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri == null) return@registerForActivityResult
        val bitmap = if (Build.VERSION.SDK_INT >= 28) {
            ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { d, _, _ ->
                d.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            }
        } else {
            @Suppress("DEPRECATION") MediaStore.Images.Media.getBitmap(contentResolver, uri)
        }.copy(Bitmap.Config.ARGB_8888, false)
        photo.setImageBitmap(bitmap)
        photo.visibility = View.VISIBLE
        previewView.visibility = View.GONE
        show(bitmap)
    }

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera()
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        result = findViewById(R.id.result)
        photo = findViewById(R.id.photo)
        previewView = findViewById(R.id.preview)
        findViewById<Button>(R.id.pick).setOnClickListener {
            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        val spinner = findViewById<Spinner>(R.id.threads)
        spinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, listOf(1, 2, 4))
        spinner.setSelection(1)
        spinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(p: AdapterView<*>?, v: View?, pos: Int, id: Long) {
                threads = listOf(1, 2, 4)[pos]
                rebuild()
            }
            override fun onNothingSelected(p: AdapterView<*>?) = Unit
        }
        findViewById<CheckBox>(R.id.xnnpack).setOnCheckedChangeListener { _, checked ->
            xnnpack = checked
            rebuild()
        }
        rebuild()
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askCamera.launch(Manifest.permission.CAMERA)
        }
    }

    @Synchronized
    private fun rebuild() {
        estimator?.close()
        finder?.close()
        finder = null
        estimator = try {
            finder = FaceFinder(this, threads)
            // the mean of each face's and its mirror image's estimate: test MAE 4.855 -> 4.751 for the reference,
            // for a second pass of well under a millisecond beside the face detector's tens (benchmarks/photo_path.md)
            AgeEstimator(this, threads, xnnpack, flipAverage = true)
        } catch (e: IllegalStateException) {  // the start-up self-check refused the model on this phone
            result.text = e.message
            null
        } catch (e: java.io.IOException) {  // a model, card or detector file missing from the assets
            result.text = e.message
            null
        }
    }

    @Synchronized
    private fun estimateAll(bitmap: Bitmap): List<AgeResult> {
        val est = estimator ?: return emptyList()
        val faces = finder ?: return emptyList()
        return faces.find(bitmap).map { est.estimate(bitmap, it) }
    }

    private fun show(bitmap: Bitmap) {
        val results = estimateAll(bitmap)
        result.text = if (results.isEmpty()) getString(R.string.no_face) else results.joinToString("\n") {
            val range = estimator?.card?.interval?.of(it.age)?.let { iv -> "  [%.0f-%.0f]".format(iv[0], iv[1]) } ?: ""
            "age %.0f%s  (%.1f ms, %d thr%s)".format(it.age, range, it.inferenceMs, threads, when {
                estimator?.choice == Choice.SAFE -> ", XNNPACK off: it failed the self-check"
                xnnpack -> ", XNNPACK"
                else -> ""
            })
        }
        estimator?.framingNote?.let { result.append("\n($it)") }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisExecutor) { image ->
                val bitmap = upright(image.toBitmap(), image.imageInfo.rotationDegrees)
                image.close()
                val results = estimateAll(bitmap)
                runOnUiThread {
                    if (photo.visibility != View.VISIBLE) {
                        result.text = if (results.isEmpty()) getString(R.string.no_face) else results.joinToString("\n") {
                            "age %.0f  (%.1f ms)".format(it.age, it.inferenceMs)
                        }
                    }
                }
            }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    /** Camera frames arrive in sensor orientation; the face detector needs them upright. */
    private fun upright(bitmap: Bitmap, degrees: Int): Bitmap {
        if (degrees == 0) return bitmap
        val m = android.graphics.Matrix().apply { postRotate(degrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, m, true)
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisExecutor.shutdown()
        estimator?.close()
        finder?.close()
    }
}
