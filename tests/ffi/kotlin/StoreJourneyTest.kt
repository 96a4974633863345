// A reporter's journey through the real tellus-ffi library, from Kotlin on the JVM:
// the same calls the Android app makes. Run by tests/ffi/run.sh.

import org.tellus.core.*
import java.nio.file.Files
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger

/** (VmRSS in kB, Threads) of this process, after a GC so the heap does not count twice. */
private fun processStatus(): Pair<Long, Int> {
    System.gc()
    val status = java.io.File("/proc/self/status").readLines()
    val rss = status.first { it.startsWith("VmRSS:") }.split(Regex("\\s+"))[1].toLong()
    val threads = status.first { it.startsWith("Threads:") }.split(Regex("\\s+"))[1].toInt()
    return rss to threads
}

fun storeJourneyTests() {
    check("a story with consent, markers and notes becomes ready") {
        freshApp().use { app ->
            val form = app.consentForm(listOf("es"))
            expect(form.language == "es" && form.items.any { it.key == "record" && it.required }) { "$form" }
            val story = app.createStory("Una historia del centro de salud", "Participante 1")
            val consent = app.giveConsent(story.id, form, consentChoices("record", "credit_by_name", name = "Lucía"))
            expect(consent.status == ConsentStatusView.GIVEN && consent.language == "es") { "$consent" }
            expect(app.consentHistory(story.id).single().textSha256 == form.textSha256) { "sha of the text shown" }
            app.addMarker(story.id, "", parseAudioPosition("0:05"), "q1")
            app.addNote(story.id, "Habla de la lista de espera", parseAudioPosition("2:10"))
            app.addTags(story.id, listOf("health", "access"))
            val ready = app.markReady(story.id)
            expect(ready.state == StoryState.READY && ready.tags == listOf("access", "health")) { "$ready" }
            val notes = app.notes(story.id)
            expect(notes.map { it.atMs } == listOf(5_000uL, 130_000uL)) { "$notes" }
            expect(notes[0].kind == NoteKindView.MARKER && notes[0].questionId == "q1") { "${notes[0]}" }
            expect(app.identity(story.id).name == "Lucía") { "identity" }
            expect(app.listStories(50u, null).single().noteCount == 2u) { "list" }
        }
    }

    check("withdrawal erases the name and blocks ready") {
        freshApp().use { app ->
            val story = app.createStory("Withdrawn story", "P2")
            app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record", "credit_by_name", name = "Sam"))
            val after = app.withdrawConsent(story.id, ConsentHow.Verbal(61_000uL), "Kotlin reporter", true)
            expect(after.status == ConsentStatusView.WITHDRAWN && after.granted.isEmpty()) { "$after" }
            expect(app.identity(story.id).name == null) { "the name must be erased" }
            expectThrows<TellusException.ConsentMissing> { app.markReady(story.id) }
        }
    }

    check("errors arrive as typed exceptions") {
        freshApp().use { app ->
            val story = app.createStory("Errors", "P3")
            expectThrows<TellusException.ConsentMissing> { app.markReady(story.id) }
            val missing = expectThrows<TellusException.NotFound> { app.story("01936f5e-0000-7000-8000-000000000000") }
            expect(missing.what == "story") { "$missing" }
            expectThrows<TellusException.InvalidInput> { app.story("not-an-id") }
            expectThrows<TellusException.InvalidInput> { parseAudioPosition("12:7x") }
            expectThrows<TellusException.InvalidInput> { app.createStory("  ", "P") }
            // A name typed while credit by name is not granted is not sent (issue 15: the
            // screens send what was typed; the FFI keeps a name only with its item).
            app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record", name = "No credit"))
            expect(app.identity(story.id).name == null) { "${app.identity(story.id)}" }
        }
        TellusApp.open(Files.createTempDirectory("tellus-kt-empty").toString()).use { empty ->
            expectThrows<TellusException.NotEnrolled> { empty.project() }
        }
    }

    check("observers are called from Rust threads and never after cancel") {
        freshApp().use { app ->
            val mainThread = Thread.currentThread()
            val firstCall = CountDownLatch(1)
            val cancelled = AtomicBoolean(false)
            val lateCalls = AtomicInteger(0)
            var callerThread: Thread? = null
            val handle = app.observeStories(object : StoryObserver {
                override fun storyChanged(story: StoryView) {
                    if (cancelled.get()) lateCalls.incrementAndGet()
                    callerThread = Thread.currentThread()
                    firstCall.countDown()
                }
            })
            val story = app.createStory("Observed", "P")
            expect(firstCall.await(10, TimeUnit.SECONDS)) { "no callback arrived" }
            expect(callerThread != null && callerThread != mainThread) { "called on $callerThread" }

            // A second observer that stays subscribed shows when later changes went out.
            val seenByOther = CountDownLatch(1)
            app.observeStories(object : StoryObserver {
                override fun storyChanged(story: StoryView) {
                    if (story.title == "Renamed 49") seenByOther.countDown()
                }
            }).use { _ ->
                handle.cancel()
                cancelled.set(true)
                for (n in 0 until 50) app.editStory(story.id, "Renamed $n", null)
                expect(seenByOther.await(10, TimeUnit.SECONDS)) { "the other observer saw nothing" }
            }
            expect(lateCalls.get() == 0) { "${lateCalls.get()} calls after cancel" }
            handle.close()
        }
    }

    check("10,000 open/observe/close cycles keep memory and threads flat") {
        val dir = Files.createTempDirectory("tellus-kt-cycles").toString()
        TellusApp.open(dir).use { it.setProjectJson(sampleProjectJson()) }
        val noop = object : StoryObserver { override fun storyChanged(story: StoryView) {} }
        fun cycle() {
            TellusApp.open(dir).use { app ->
                app.observeStories(noop).use { handle -> handle.cancel() }
                app.project()
            }
        }
        repeat(2_000) { cycle() }
        val (rssBefore, threadsBefore) = processStatus()
        repeat(8_000) { cycle() }
        val (rssAfter, threadsAfter) = processStatus()
        println("     RSS ${rssBefore / 1024} MB -> ${rssAfter / 1024} MB, threads $threadsBefore -> $threadsAfter")
        expect(threadsAfter <= threadsBefore + 2) { "threads grew from $threadsBefore to $threadsAfter" }
        // 8,000 leaked stores (each with SQLite connections and caches) would be hundreds
        // of MB; the JVM's own heap wobbles by a few.
        expect(rssAfter - rssBefore < 32 * 1024) { "RSS grew by ${(rssAfter - rssBefore) / 1024} MB" }
    }
}
