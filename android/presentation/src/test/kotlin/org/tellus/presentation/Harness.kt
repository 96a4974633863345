// The small harness the presentation tests share (no JUnit here: kotlinc and the
// toolchain's jars only): named checks, expectations, waiting on a condition, a fresh app.
package org.tellus.presentation

import org.tellus.core.RecordingRequest
import kotlinx.coroutines.asCoroutineDispatcher
import org.tellus.core.TellusApp
import org.tellus.core.TellusAppInterface
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

/** The IO dispatcher of the tests: threads named tellus-io-N (the app uses Dispatchers.IO). */
val testIo = java.util.concurrent.Executors.newFixedThreadPool(2) { r ->
    Thread(r, "tellus-io-${ioThreads.incrementAndGet()}").apply { isDaemon = true }
}.asCoroutineDispatcher()
private val ioThreads = java.util.concurrent.atomic.AtomicInteger()

/** The tests' main thread, as Android's: screens and ViewModel scopes run their code here. */
val uiMain = java.util.concurrent.Executors.newSingleThreadExecutor { r ->
    Thread(r, "ui-main").apply { isDaemon = true }
}.asCoroutineDispatcher()

/** Every call made on the core, with the thread it ran on. */
class CallLog {
    val calls = java.util.concurrent.ConcurrentLinkedQueue<Pair<String, String>>()
    fun names() = calls.map { it.first }
    fun count(name: String) = calls.count { it.first == name }
    /** Calls that ran on any thread but the IO dispatcher's. */
    fun offIo() = calls.filterNot { it.second.startsWith("tellus-io-") }
}

/** The real core behind a proxy that logs the thread of each call before making it. */
fun logged(app: TellusAppInterface, log: CallLog): TellusAppInterface =
    java.lang.reflect.Proxy.newProxyInstance(
        TellusAppInterface::class.java.classLoader,
        arrayOf(TellusAppInterface::class.java),
    ) { _, method, args ->
        // Functions taking UInt etc. have mangled JVM names (storyPage-qim9Vi0).
        log.calls += method.name.substringBefore('-') to Thread.currentThread().name
        try {
            method.invoke(app, *(args ?: emptyArray()))
        } catch (e: java.lang.reflect.InvocationTargetException) {
            throw e.targetException
        }
    } as TellusAppInterface

/** How the app reaches the core (CoreAccess on the IO dispatcher), over `app`, logged. */
fun coreOf(app: TellusAppInterface, log: CallLog = CallLog()) = CoreAccess(testIo) { logged(app, log) }

/** A ViewModel's scope: on the main thread, cancelled with the ViewModel. */
fun viewModelScope() = kotlinx.coroutines.CoroutineScope(kotlinx.coroutines.SupervisorJob() + uiMain)
