plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

// The model and its card come from edge-age's export/ folder (default: the reference int8 model, the
// compact mobilenetv2_age; -PedgeAgeModelDir=../../export/simplecnn builds the seed's SimpleCNN instead).
val modelDir: String = (project.findProperty("edgeAgeModelDir") as String?) ?: "../../export/mobilenetv2_age"

val copyModel by tasks.registering(Copy::class) {
    description = "Copies the int8 .tflite and its model card from edge-age's export/ into the app's assets."
    from(modelDir) {
        include("*_int8.tflite", "*.json")
    }
    into("src/main/assets")
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
