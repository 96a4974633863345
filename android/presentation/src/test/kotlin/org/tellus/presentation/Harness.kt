// The small harness the presentation tests share (no JUnit here: kotlinc and the
// toolchain's jars only): named checks, expectations, waiting on a condition, a fresh app.
package org.tellus.presentation

import org.tellus.core.RecordingRequest
import org.tellus.core.TellusApp
import org.tellus.core.sampleProjectJson
import java.nio.file.Files
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

/** Polls `condition` until it holds or the deadline passes (never a bare sleep). */
fun waitUntil(seconds: Long = 30, what: String = "a condition", condition: () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
    while (!condition()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting for $what")
        Thread.sleep(10)
    }
}

fun freshApp(): TellusApp = TellusApp.open(Files.createTempDirectory("tellus-android").toString()).also {
    it.setProjectJson(sampleProjectJson())
}

val micRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toInt()

/** A request for the test microphones of tests/support/audio. */
fun micRequest(maxMs: Long?, device: String? = null) =
    RecordingRequest(device = device, stereo = false, sampleRate = micRate.toUInt(), maxDurationMs = maxMs?.toULong())
