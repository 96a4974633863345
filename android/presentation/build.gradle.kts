// Plain Kotlin/JVM: the state holders of the screens, over the bindings and coroutines,
// with no android.* import, so the same sources compile and are tested on the JVM
// against the real library by tests/android/run.sh (kotlinc, outside Gradle).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // Compiled against the JVM flavour of the bindings; in the app the Android flavour
    // from :core provides the same classes (same generator, same library, same API).
    compileOnly(project(":bindings-jvm"))
    api(libs.kotlinx.coroutines.core)
}
