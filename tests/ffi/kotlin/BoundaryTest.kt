// What shells do to the FFI boundary (issue 24), from Kotlin on the JVM through the real
// library against the real `tellus serve` that tests/ffi/run.sh starts: a story the core
// accepts is delivered, observers that throw keep receiving, a server's early 413 is a
// refusal, bad input is an input error, the delivery state says why nothing moves, and
// recordings of a database moved aside can be recovered into a story.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File
import java.io.RandomAccessFile
import java.nio.file.Files
import java.util.Collections

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_KT_BOUNDARY_INVITES") ?: "").split(","))
private val micRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toUInt()

private fun enrolledApp(): TellusApp {
    val app = TellusApp.open(Files.createTempDirectory("tellus-kt-boundary").toString())
    runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin boundary phone") }
    return app
}

private fun consentedStory(app: TellusApp, title: String): StoryView {
    val story = app.createStory(title, "Participant 5")
    app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record"))
    return story
}

private fun recordOneSecond(app: TellusApp, story: StoryView): FinishedRecordingView =
    app.startRecording(story.id, RecordingRequest(null, false, micRate, 1_000UL)).use { session ->
        waitUntil { session.hasStopped() }
        session.stop()
    }

fun boundaryTests() {
    check("a story the core accepts is delivered; a note that would not fit is refused at input") {
        enrolledApp().use { app ->
            val story = consentedStory(app, "Ten thousand characters a note")
            var accepted = 0
            var refusal: TellusException.InvalidInput? = null
            for (n in 0 until 120) {
                try {
                    app.addNote(story.id, "note $n " + "x".repeat(9_990), null)
                    accepted++
                } catch (e: TellusException.InvalidInput) {
                    refusal = e
                    break
                }
            }
            expect(refusal != null) { "120 notes of 10,000 characters were all accepted" }
            expect(app.notes(story.id).size == accepted) { "a refused note changed the story" }
            app.markReady(story.id)
            runBlocking { app.syncNow() }
            val state = app.deliveryState(story.id)
            expect(state == DeliveryStateView.Delivered(false)) { "$state" }
        }
    }

    check("observers that throw keep receiving, and their handle counts the failures") {
        freshApp().use { app ->
            val titles = Collections.synchronizedList(mutableListOf<String>())
            val handle = app.observeStories(object : StoryObserver {
                override fun storyChanged(story: StoryView) {
                    titles += story.title
                    if (titles.size == 1) throw IllegalStateException("a bug in the shell (test)")
                }
            })
            app.createStory("First", "P")
            waitUntil(10) { titles.size >= 1 }
            app.createStory("Second", "P")
            waitUntil(10) { "Second" in titles }
            expect(handle.isActive() && handle.failedCalls() == 1UL) { "${handle.isActive()} ${handle.failedCalls()}" }
            handle.cancel()
            expect(!handle.isActive()) { "a cancelled handle says it is active" }
            handle.close()
        }
        enrolledApp().use { app ->
            val calls = Collections.synchronizedList(mutableListOf<UInt>())
            val handle = app.observeSync(object : SyncObserver {
                override fun syncProgress(progress: SyncProgressView) {
                    calls += progress.storiesTotal
                    throw RuntimeException("every call throws (test)")
                }
            })
            runBlocking { app.syncNow() }
            waitUntil(10) { calls.size >= 1 }
            val before = calls.size
            runBlocking { app.syncNow() }
            waitUntil(10) { calls.size > before }
            // The failure is counted once the call has thrown, just after it was seen.
            waitUntil(10) { handle.failedCalls() >= 2UL }
            handle.close()
        }
    }

    check("a body the server stops reading comes back as its refusal, not a network error") {
        val outcomes = (1..4).map { n ->
            freshApp().use { app ->
                try {
                    runBlocking { app.enrol(server, "ABCD-EFGH-JKLM-NPQR", "x".repeat(if (n % 2 == 0) 8 shl 20 else 32 shl 20)) }
                    "accepted"
                } catch (e: TellusException.ServerRefused) {
                    if (e.message?.contains("large") == true) "refused" else "refused: ${e.message}"
                } catch (e: TellusException.Network) {
                    "network: ${e.message}"
                }
            }
        }
        expect(outcomes.all { it == "refused" }) { "$outcomes" }
    }

    check("control characters and an empty or relative data folder are input errors") {
        freshApp().use { app ->
            for (title in listOf("\u0000", "a\u0000b", "\u0007")) {
                expectThrows<TellusException.InvalidInput> { app.createStory(title, "P") }
            }
            expect(app.listStories(10u, null).isEmpty()) { "a refused story was created" }
        }
        val cwd = File(System.getProperty("user.dir"))
        val before = cwd.list()?.toSet()
        expectThrows<TellusException.InvalidInput> { TellusApp.open("") }
        expectThrows<TellusException.InvalidInput> { TellusApp.open("relative/folder") }
        expect(cwd.list()?.toSet() == before) { "opening created files in the working folder" }
    }

    check("audio held for Wi-Fi and a phone offline say so in the delivery state") {
        enrolledApp().use { app ->
            val story = consentedStory(app, "Held for Wi-Fi")
            recordOneSecond(app, story)
            app.markReady(story.id)
            app.setNetwork(NetworkKind.METERED)
            val metered = runBlocking { app.syncNow() }
            // The small listening copy went; the lossless copy waits for Wi-Fi.
            expect(metered.delivered.map { it.representation } == listOf("listening")) { "$metered" }
            val held = app.deliveryState(story.id)
            expect(held is DeliveryStateView.WaitingForUnmetered && held.percent in 1u..19u) { "$held" }
            val percent = (held as DeliveryStateView.WaitingForUnmetered).percent
            app.setNetwork(NetworkKind.NONE)
            val offline = app.deliveryState(story.id)
            expect(offline == DeliveryStateView.WaitingForConnection(percent)) { "$offline" }
            app.setNetwork(NetworkKind.UNMETERED)
            runBlocking { app.syncNow() }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
        }
    }

    check("recordings of a database moved aside are offered and recovered into a story") {
        val dir = Files.createTempDirectory("tellus-kt-aside").toFile()
        val recorded = TellusApp.open(dir.path).use { app ->
            app.setProjectJson(sampleProjectJson())
            recordOneSecond(app, app.createStory("Before the damage", "P"))
        }
        RandomAccessFile(File(dir, "tellus.db"), "rw").use { it.write("no longer a database".repeat(300).toByteArray()) }
        File(dir, "tellus.db-wal").delete()
        File(dir, "tellus.db-shm").delete()
        TellusApp.open(dir.path).use { app ->
            expect(app.damagedDatabaseMovedTo() != null) { "the damaged database was not moved aside" }
            app.setProjectJson(sampleProjectJson())
            val orphan = app.orphanRecordings().single()
            expect(orphan.recordingId == recorded.recordingId && orphan.bytes == recorded.bytes) { "$orphan" }
            val story = app.createStory("Recovered interview", "P")
            val adopted = app.adoptRecording(orphan.recordingId, story.id)
            expect(adopted.sha256 == recorded.sha256 && adopted.recovered) { "$adopted" }
            expect(app.orphanRecordings().isEmpty()) { "${app.orphanRecordings()}" }
        }
    }
}
