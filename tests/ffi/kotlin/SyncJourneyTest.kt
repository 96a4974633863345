// A reporter's whole journey through the real tellus-ffi library from Kotlin on the JVM,
// against a real `tellus serve` on loopback (started by tests/ffi/run.sh): enrol → consent
// form → consent → record from the file-backed test microphone with markers and notes →
// ready → syncNow with progress → delivered with a receipt matching the recording. Then
// the same delivery through a platform transport written with java.net.http (what the iOS
// shell does with URLSession), with a failed chunk retried, and the errors a shell acts on.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_KT_INVITES") ?: "").split(","))
private val micRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toInt()

/** Enrols, records consent and a 3 s interview with a marker and a note; returns the recording. */
private fun recordReadyStory(app: TellusApp, title: String): Pair<StoryView, FinishedRecordingView> {
    val project = runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin test phone") }
    val form = app.consentForm(listOf("en"))
    val story = app.createStory(title, "Participant 9")
    app.giveConsent(story.id, form, consentChoices("record", "share_publicly"))
    val recording = app.startRecording(
        story.id, RecordingRequest(device = null, stereo = false, sampleRate = micRate.toUInt(), maxDurationMs = 3_000UL),
    ).use { session ->
        session.addMarker("", project.guide.first().id)
        waitUntil { session.hasStopped() }
        session.addNoteAt("The receptionist knew my name", 2_000UL)
        session.stop()
    }
    return app.markReady(story.id) to recording
}

/**
 * The platform transport, as a shell writes it: java.net.http, uploading the chunk file
 * the core prepared. It refuses the first PATCH without sending it, as a dropped
 * connection would, to show the core resumes from the server's offset.
 */
private class JavaHttpTransport : PlatformTransport {
    private val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()
    val seen: MutableList<String> = Collections.synchronizedList(mutableListOf())
    var bodyFilesSeen = 0
    private var failNextPatch = true

    // java.net.http sets these itself and refuses them from callers.
    private val restricted = setOf("content-length", "host", "connection", "expect", "upgrade")

    override suspend fun send(request: PlatformRequest): PlatformResponse {
        seen += request.method
        if (request.method == "PATCH" && failNextPatch) {
            failNextPatch = false
            seen += "PATCH failed"
            throw TellusException.Network("connection reset (test)")
        }
        val body = request.bodyFile?.let {
            bodyFilesSeen++
            val file = Path.of(it)
            check(Files.size(file) == request.bodyLength.toLong()) { "the chunk file has the wrong size" }
            HttpRequest.BodyPublishers.ofFile(file)
        } ?: HttpRequest.BodyPublishers.noBody()
        val builder = HttpRequest.newBuilder(URI.create(request.url)).method(request.method, body)
        for (header in request.headers) {
            if (header.name !in restricted) builder.header(header.name, header.value)
        }
        val response = try {
            client.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray())
        } catch (e: java.io.IOException) {
            throw TellusException.Network("${e.javaClass.simpleName}: ${e.message}")
        }
        val headers = response.headers().map().flatMap { (name, values) -> values.map { HttpHeader(name, it) } }
        return PlatformResponse(response.statusCode().toUShort(), headers, response.body())
    }
}

fun syncJourneyTests() {
    check("a recorded story is delivered by syncNow, with progress and a matching receipt") {
        freshApp().use { app ->
            val (story, recording) = recordReadyStory(app, "Getting a GP appointment")
            expect(app.deliveryState(story.id) == DeliveryStateView.OnlyOnThisPhone) { "${app.deliveryState(story.id)}" }
            val finished = CountDownLatch(1)
            var progressThread: Thread? = null
            val handle = app.observeSync(object : SyncObserver {
                override fun syncProgress(progress: SyncProgressView) {
                    progressThread = Thread.currentThread()
                    if (progress.storiesTotal > 0u && progress.storiesDone == progress.storiesTotal) finished.countDown()
                }
            })
            val report = runBlocking { app.syncNow() }
            expect(finished.await(10, TimeUnit.SECONDS)) { "no final progress arrived" }
            handle.close()
            expect(progressThread != null && progressThread != Thread.currentThread()) { "progress on $progressThread" }
            // One receipt per copy (the verified FLAC, the listening copy), each matching
            // the file of that copy on this phone.
            val files = app.recordings(story.id).single().files.associateBy { it.representation }
            expect(report.delivered.map { it.representation }.toSet() == setOf("lossless", "listening")) { "${report.delivered}" }
            for (receipt in report.delivered) {
                val file = files.getValue(receipt.representation)
                expect(receipt.recordingId == recording.recordingId && receipt.sha256 == file.sha256) { "$receipt" }
                expect(receipt.sha256 == sha256(File(file.path)) && receipt.bytes == file.bytes) { "$receipt" }
            }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
            expect(app.receipts().map { it.sha256 }.toSet() == files.values.filter { it.representation != "recorded" }.map { it.sha256 }.toSet()) { "${app.receipts()}" }
            val again = runBlocking { app.syncNow() }
            expect(again.delivered.isEmpty() && again.documentsSent == 0u) { "a second sync sent $again" }
        }
    }

    check("a platform transport (java.net.http) delivers through the chunk hand-off, retrying a failed chunk") {
        val transport = JavaHttpTransport()
        val dir = Files.createTempDirectory("tellus-kt-transport").toString()
        TellusApp.openWithTransport(dir, transport).use { app ->
            val (story, recording) = recordReadyStory(app, "Delivered through the shell")
            val report = runBlocking { app.syncNow() }
            val files = app.recordings(story.id).single().files.associateBy { it.representation }
            expect(report.delivered.size == 2) { "${report.delivered}" }
            for (receipt in report.delivered) {
                val file = files.getValue(receipt.representation)
                expect(receipt.sha256 == file.sha256 && receipt.bytes == file.bytes) { "$receipt vs $file" }
            }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
            val failed = transport.seen.indexOf("PATCH failed")
            expect(failed >= 0 && transport.seen.drop(failed).contains("HEAD")) {
                "the core did not ask the server for its offset after the failed chunk: ${transport.seen}"
            }
            expect(transport.bodyFilesSeen > 0) { "no chunk file was handed over" }
            val leftovers = File(dir, "outgoing-chunks").listFiles()?.size ?: 0
            expect(leftovers == 0) { "$leftovers chunk files left behind" }
        }
    }

    check("sync and enrolment errors arrive typed") {
        freshApp().use { app ->
            expectThrows<TellusException.NotEnrolled> { runBlocking { app.syncNow() } }
            expectThrows<TellusException.ServerRefused> { runBlocking { app.enrol(server, "not-an-invite", "Phone") } }
            // The server down: nothing listens on the discard port.
            expectThrows<TellusException.Network> { runBlocking { app.enrol("http://127.0.0.1:9", invites.first(), "Phone") } }
            // The server refusing a request too large for it (413), with its message.
            val refused = expectThrows<TellusException.ServerRefused> {
                runBlocking { app.enrol(server, invites.first(), "x".repeat(2 shl 20)) }
            }
            expect(refused.message?.contains("large", ignoreCase = true) == true) { "${refused.message}" }
            expect(app.account() == null) { "a failed enrolment left an account" }
            expectThrows<TellusException.NotFound> { app.deliveryState("01936f5e-0000-7000-8000-000000000000") }
        }
    }
}
