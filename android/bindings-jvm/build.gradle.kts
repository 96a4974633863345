// The uniffi bindings generated without `android = true`, for compiling :presentation on
// the plain JVM. Never packaged into the app (which gets the Android flavour from :core).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

sourceSets.main {
    kotlin.srcDir(project(":core").layout.buildDirectory.dir("generated/uniffi/jvm"))
}
tasks.named("compileKotlin") { dependsOn(":core:generateJvmBindings") }

dependencies {
    implementation(libs.jna)
    implementation(libs.kotlinx.coroutines.core)
}
