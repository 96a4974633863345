// The core as an Android library: the uniffi Kotlin bindings generated during the build
// (android = true; never committed), JNA as an AAR, and libtellus_ffi.so for each ABI
// built by cargo-ndk with 16 KB page alignment.
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val repoRoot: File = rootDir.parentFile
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
val rustTargets = mapOf(
    "arm64-v8a" to "AARCH64_LINUX_ANDROID",
    "armeabi-v7a" to "ARMV7_LINUX_ANDROIDEABI",
    "x86_64" to "X86_64_LINUX_ANDROID",
)
val cargoTargetDir: String = System.getenv("CARGO_TARGET_DIR") ?: "$repoRoot/target"
val generatedBindings = layout.buildDirectory.dir("generated/uniffi/android")
val generatedJvmBindings = layout.buildDirectory.dir("generated/uniffi/jvm")
val jniLibsOut = layout.buildDirectory.dir("generated/jniLibs")

android {
    namespace = "org.tellus.core"
    compileSdk = 35
    ndkVersion = "27.2.12479018" // r27+: 16 KB page-size aware toolchain
    defaultConfig {
        minSdk = 26
        ndk { abiFilters += abis }
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].apply {
        kotlin.srcDir(generatedBindings)
        jniLibs.srcDir(jniLibsOut)
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

/** The host build of the library: uniffi reads the interface from its metadata. */
val buildHostLibrary by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("cargo", "build", "--locked", "--release", "-p", "tellus-ffi", "-p", "uniffi-bindgen")
}

fun generate(task: Exec, out: Provider<Directory>, config: String?) {
    task.dependsOn(buildHostLibrary)
    task.workingDir = repoRoot
    task.outputs.dir(out)
    task.inputs.files(fileTree("$repoRoot/bindings/ffi/src"), fileTree("$repoRoot/core/src"))
    val args = mutableListOf(
        "$cargoTargetDir/release/uniffi-bindgen", "generate",
        "$cargoTargetDir/release/libtellus_ffi.so",
        "--language", "kotlin", "--out-dir", out.get().asFile.path, "--no-format",
    )
    if (config != null) args += listOf("--config", config)
    task.commandLine(args)
    task.doFirst { delete(out) }
}

val generateBindings by tasks.registering(Exec::class) {
    generate(this, generatedBindings, "${projectDir}/uniffi-android.toml")
}

val generateJvmBindings by tasks.registering(Exec::class) {
    generate(this, generatedJvmBindings, null)
}

/**
 * libtellus_ffi.so for every ABI (cargo install cargo-ndk; rustup target add
 * aarch64-linux-android armv7-linux-androideabi x86_64-linux-android). 16 KB pages:
 * linked with max-page-size=16384, and AGP 8.5.1+ stores them uncompressed and aligned.
 */
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    inputs.files(fileTree("$repoRoot/core/src"), fileTree("$repoRoot/bindings/ffi/src"), "$repoRoot/Cargo.lock")
    outputs.dir(jniLibsOut)
    val args = mutableListOf("cargo", "ndk", "--platform", "26", "-o", jniLibsOut.get().asFile.path)
    abis.forEach { args += listOf("-t", it) }
    args += listOf("build", "--locked", "--release", "-p", "tellus-ffi")
    commandLine(args)
    rustTargets.values.forEach {
        environment("CARGO_TARGET_${it}_RUSTFLAGS", "-C link-arg=-Wl,-z,max-page-size=16384")
    }
}

tasks.named("preBuild") { dependsOn(generateBindings, cargoNdk) }

dependencies {
    // JNA with its own libjnidispatch.so for every ABI.
    api("net.java.dev.jna:jna:${libs.versions.jna.get()}@aar")
    api(libs.kotlinx.coroutines.android)
}
