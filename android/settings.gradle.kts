pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "tellus-android"
// core: the generated bindings, JNA and the native library for each ABI.
// presentation: plain Kotlin/JVM state holders (tested on the JVM by tests/android/run.sh).
// bindings-jvm: the same bindings generated for the plain JVM, compile-only for presentation.
// app: the thin Compose/service/WorkManager shell.
include(":core", ":bindings-jvm", ":presentation", ":app")
