// The small test harness the Kotlin FFI tests share: named checks, expectations, a fresh
// app on a temporary data folder. Main.kt runs every suite and prints the closing line.

import org.tellus.core.*
import java.nio.file.Files

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

