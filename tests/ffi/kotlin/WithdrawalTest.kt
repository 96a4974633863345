// A storyteller's withdrawal through the real tellus-ffi library from Kotlin on the JVM,
// against the `tellus serve` tests/ffi/run.sh starts (issue 15): after a withdrawal with
// erasure and a sync the story reads WITHDRAWN in every view with its audio erased;
// recording, notes and readiness are refused until consent is given again, which starts a
// clean draft whose delivery never mentions the erased audio.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_KT_WITHDRAWAL_INVITES") ?: "").split(","))
private val micRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toInt()

private fun recordASecond(app: TellusApp, story: String): FinishedRecordingView =
    app.startRecording(
        story, RecordingRequest(device = null, stereo = false, sampleRate = micRate.toUInt(), maxDurationMs = 1_000UL),
    ).use { session ->
        waitUntil { session.hasStopped() }
        session.stop()
    }

fun withdrawalTests() {
    check("a withdrawn story is withdrawn everywhere, erased, and takes nothing until consent again") {
        val app = TellusApp.open(java.nio.file.Files.createTempDirectory("tellus-kt-withdrawal").toString())
        app.use {
            runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin withdrawal phone") }
            val story = app.createStory("The bus that never came", "Participant 4").id
            app.giveConsent(story, app.consentForm(listOf("en")), consentChoices("record"))
            val first = recordASecond(app, story)
            app.markReady(story)
            runBlocking { app.syncNow() }

            app.withdrawConsent(story, ConsentHow.AppCheckbox, "Kotlin reporter", true)
            runBlocking { app.syncNow() }
            expect(app.story(story).state == StoryState.WITHDRAWN) { "${app.story(story)}" }
            val listed = app.listStories(50u, null).single { it.id == story }
            expect(listed.state == StoryState.WITHDRAWN && listed.recordingCount == 0u) { "$listed" }
            val erased = app.recordings(story).single()
            expect(erased.id == first.recordingId && erased.erased) { "$erased" }
            expect(!File(first.path).exists()) { "the audio is still on the phone" }
            expect(app.deliveryState(story) is DeliveryStateView.Withdrawn) { "${app.deliveryState(story)}" }

            for ((what, attempt) in listOf<Pair<String, () -> Unit>>(
                "record" to { recordASecond(app, story) },
                "note" to { app.addNote(story, "after the withdrawal", null) },
                "ready" to { app.markReady(story) },
            )) {
                val refused = expectThrows<TellusException.ConsentMissing> { attempt() }
                expect("withdrew consent" in refused.toString()) { "$what: $refused" }
            }
            expect(app.notes(story).isEmpty() && app.recordings(story).size == 1) { "something was added" }

            app.giveConsent(story, app.consentForm(listOf("en")), consentChoices("record"))
            expect(app.story(story).state == StoryState.DRAFT) { "${app.story(story)}" }
            val second = recordASecond(app, story)
            app.markReady(story)
            val report = runBlocking { app.syncNow() }
            expect(report.delivered.map { it.recordingId to it.representation }.toSet() == setOf(second.recordingId to "lossless", second.recordingId to "listening")) { "$report" }
        }
    }

    check("the consent form is complete when the core says so, and checking writes nothing") {
        freshApp().use { app ->
            val story = app.createStory("Housing office", "Participant 5").id
            expect(app.consentForm(listOf("pl", "es-MX")).language == "es") { "language choice" }
            val form = app.consentForm(listOf("en"))
            expect(form.items.single { it.asksName }.key == "credit_by_name") { "${form.items}" }
            expect("'record'" in (app.checkConsentForm(story, form, consentChoices("research_use")) ?: "")) { "no record" }
            expect(app.checkConsentForm(story, form, consentChoices("record", "credit_by_name")) != null) { "no name" }
            expect(app.checkConsentForm(story, form, consentChoices("record", "credit_by_name", name = "Amina")) == null) { "complete" }
            expect(app.consentHistory(story).isEmpty()) { "checking wrote a consent event" }
        }
    }
}
