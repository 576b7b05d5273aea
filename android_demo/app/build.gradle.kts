plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

// The model the app embeds, with its card. -PedgeAgeModelDir=DIR (relative to this app/ folder) names any export
// folder; without it: your own export runs/export/mobilenetv2_age (where `edge-age export` and scripts/run.sh
// write) when it holds an int8 .tflite, else the reference committed under export/mobilenetv2_age.
// -PedgeAgeModelDir=../../export/simplecnn builds the seed's SimpleCNN instead.
val edgeAgeRoot: File = rootProject.projectDir.parentFile // android_demo/.. : the edge-age checkout
val userExport: File = edgeAgeRoot.resolve("runs/export/mobilenetv2_age")
val modelChoice: Pair<File, String> =
    (findProperty("edgeAgeModelDir") as String?)?.let { file(it) to "named by -PedgeAgeModelDir" }
        ?: userExport.takeIf { dir -> dir.listFiles()?.any { it.name.endsWith("_int8.tflite") } == true }
            ?.let { it to "your export" }
        ?: (edgeAgeRoot.resolve("export/mobilenetv2_age") to
            "the committed reference; export your own model to runs/export/mobilenetv2_age to embed it")

val copyModel by tasks.registering(Sync::class) {
    description = "Copies the int8 .tflite and its model card (your export under runs/export/ when present, " +
        "else the committed export/) and the BlazeFace detector into the app's assets, replacing what an earlier build put there."
    val (dir, why) = modelChoice // locals: the task actions below capture these, not the build script
    val assets = file("src/main/assets")
    inputs.property("modelDir", dir.absolutePath)
    from(dir) {
        include("*_int8.tflite", "*.json")
    }
    // The face detector the app runs (FaceFinder): the same files as Python's BlazeFace, and its framing fit for cards
    // framed on another detector's boxes (AgeEstimator), under assets/detector/ (the card stays the only top-level .json).
    from(edgeAgeRoot.resolve("edge_age/detector")) {
        include("blazeface_full_range.tflite", "blazeface_short_range.tflite")
        into("detector")
    }
    from(edgeAgeRoot.resolve("edge_age/reference")) {
        include("framing_blazeface.json")
        into("detector")
    }
    into(assets) // generated (git-ignored): only this model's files stay, so the app finds its card
    doFirst {
        if (dir.listFiles()?.any { it.name.endsWith("_int8.tflite") } != true) {
            throw GradleException("copyModel: no *_int8.tflite in $dir (run `edge-age export ... --int8` " +
                "or pass -PedgeAgeModelDir=DIR)")
        }
    }
    doLast {
        logger.lifecycle("copyModel: embedded ${assets.list()?.sorted()} from $dir ($why)")
    }
}

android {
    namespace = "dev.edgeage.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgeage.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }
    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    androidResources {
        noCompress += "tflite" // memory-map the model straight from the APK
    }
}

tasks.named("preBuild") { dependsOn(copyModel) }

dependencies {
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.appcompat)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.material)
    implementation(libs.androidx.constraintlayout)
    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)
    implementation(libs.litert)
    implementation(libs.gson)
    testImplementation(libs.junit)
}
