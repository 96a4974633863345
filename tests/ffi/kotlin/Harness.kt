// The small test harness the Kotlin FFI tests share: named checks, expectations, a fresh
// app on a temporary data folder. Main.kt runs every suite and prints the closing line.

import org.tellus.core.*
import java.io.File
import java.nio.file.Files
import java.security.MessageDigest
import java.util.concurrent.TimeUnit

var passed = 0
val failures = mutableListOf<String>()

fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failures += "$name: $e"
        println("FAIL $name: $e")
    }
}

fun expect(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

fun freshApp(): TellusApp {
    val app = TellusApp.open(Files.createTempDirectory("tellus-kt").toString())
    app.setProjectJson(sampleProjectJson())
    return app
}

fun consentChoices(vararg granted: String, name: String? = null) = ConsentChoices(
    granted = granted.toList(),
    how = ConsentHow.AppCheckbox,
    capturedBy = "Kotlin reporter",
    name = name,
    contact = null,
)

/** Waits for `condition`, polling every 10 ms, failing after `seconds`. */
fun waitUntil(seconds: Long = 30, condition: () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
    while (!condition()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting")
        Thread.sleep(10)
    }
}

/** Lowercase hex SHA-256 of a file. */
fun sha256(file: File) =
    MessageDigest.getInstance("SHA-256").digest(file.readBytes()).joinToString("") { "%02x".format(it) }
