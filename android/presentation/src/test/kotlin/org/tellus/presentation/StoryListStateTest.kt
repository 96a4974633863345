package org.tellus.presentation

import kotlinx.coroutines.runBlocking
import org.tellus.core.NextAttemptReasonView
import org.tellus.core.TellusApp
import java.io.File

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_ANDROID_INVITES") ?: "").split(","))

/** A ready story with consent and a 1 s recording from the file-backed test microphone. */
fun readyStory(app: TellusApp, title: String): Pair<String, String> {
    val story = app.createStory(title, "Participant")
    val core = coreOf(app)
    val form = ConsentFormState(core, story.id, "Reporter", listOf("en"), viewModelScope())
    runBlocking { form.load(); form.setGranted("record", true); form.submit() } ?: throw AssertionError("consent refused")
    val done = app.startRecording(story.id, micRequest(1_000)).use { session ->
        waitUntil(what = "the recording to end") { session.hasStopped() }
        session.stop()
    }
    val review = ReviewState(core, story.id)
    runBlocking { review.save(title, "A summary", listOf("housing")); review.markReady() }.getOrThrow()
    return story.id to done.path
}

fun storyListTests() {
    check("the enrol screen refuses a malformed code without the network and enrols with a typed one") {
        freshApp().use { app ->
            val enrol = EnrolState(coreOf(app), "Test phone")
            val bad = runBlocking { enrol.enrol(server, "not a code") }
            expect(bad == EnrolUi.Failed(EnrolProblem.NotACode) && app.account() == null) { "$bad" }
            val noAddress = runBlocking { enrol.enrol("stories.example.org", invites.first()) }
            expect(noAddress == EnrolUi.Failed(EnrolProblem.NotAnAddress)) { "$noAddress" }
            expect(!runBlocking { enrol.isEnrolled() }) { "enrolled before enrolling" }
            val typed = invites.removeFirst().lowercase().replace("-", " ")
            val ok = runBlocking { enrol.enrol("$server/", typed) }
            expect(ok is EnrolUi.Enrolled && app.account()?.serverUrl?.trimEnd('/') == server) { "$ok ${app.account()}" }
            expect(runBlocking { enrol.isEnrolled() }) { "not enrolled after enrolling" }
        }
    }

    check("the story list shows each delivery state after real syncs against the loopback server") {
        freshApp().use { app ->
            val core = coreOf(app)
            runBlocking { EnrolState(core, "Test phone").enrol(server, invites.removeFirst()) }
            val list = StoryListModel(core, viewModelScope())
            list.start()
            val delivery = Delivery(core)
            val settings = SettingsState(core)
            val (delivered, _) = readyStory(app, "Delivered story")
            val (broken, brokenPath) = readyStory(app, "Audio lost")
            val draft = app.createStory("Not finished", "Participant").id
            val (withdrawn, _) = readyStory(app, "Withdrawn later")
            expect(runBlocking { list.refresh() }.all { it.delivery == DeliveryUi.OnlyOnThisPhone }) { "${list.rows.value}" }

            // On mobile data with audio on Wi-Fi only: the text goes, the audio waits, and
            // the core asks for the next run on an unmetered network (no time).
            expect(runBlocking { settings.setAudioOnWifiOnly(true) }.audioOnUnmeteredOnly) { "setting not kept" }
            val metered = runBlocking { delivery.run(Delivery.networkKind(connected = true, metered = true)) }
            expect(metered.report?.audioWaitingForUnmetered == 3u) { "$metered" }
            expect(metered.followUp(System.currentTimeMillis()) == FollowUp(0, NetworkNeed.UNMETERED)) { "$metered" }
            // The small listening copies went on mobile data; the lossless copies wait.
            val waiting = runBlocking { list.refresh() }.single { it.id == delivered }.delivery
            expect(waiting is DeliveryUi.WaitingForWifi && waiting.percent in 1..19) { "$waiting" }

            // On Wi-Fi, with one recording's lossless copy gone from the phone (its WAV
            // gave way to that verified FLAC when the copies were made).
            expect(!File(brokenPath).exists()) { "the WAV is still there" }
            val lossless = app.recordings(broken).single().files.single { it.representation == "lossless" }
            expect(File(lossless.path).delete()) { "no lossless copy at ${lossless.path}" }
            val wifi = runBlocking { delivery.run(Delivery.networkKind(connected = true, metered = false)) }
            expect(wifi.report != null && wifi.followUp(System.currentTimeMillis()) == null) { "$wifi" }
            runBlocking { list.withdraw(withdrawn, "Reporter", eraseAudio = false) }
            runBlocking { delivery.run(Delivery.networkKind(connected = true, metered = false)) }
            // The observers refresh the rows too; wait for them to settle on the final states.
            waitUntil(what = "the list to show the final states") {
                list.rows.value.single { it.id == withdrawn }.delivery == DeliveryUi.Withdrawn(propagated = true)
            }
            val rows = runBlocking { list.refresh() }.associateBy { it.id }
            expect(rows.getValue(delivered).delivery == DeliveryUi.Delivered(localAudioRemoved = false)) { "${rows[delivered]}" }
            expect(rows.getValue(draft).delivery == DeliveryUi.OnlyOnThisPhone) { "${rows[draft]}" }
            val attention = rows.getValue(broken).delivery
            expect(attention is DeliveryUi.NeedsAttention && attention.reason.contains("missing")) { "$attention" }
            expect(app.receipts().map { it.storyId }.contains(delivered)) { "${app.receipts()}" }
            list.close()

            val offline = runBlocking { delivery.run(Delivery.networkKind(connected = false, metered = false)) }
            expect(!offline.needsEnrolment && offline.next.reason == NextAttemptReasonView.IDLE) { "$offline" }
        }
    }

    check("background delivery asks to retry when the server is away, and for enrolment when not enrolled") {
        freshApp().use { app ->
            val outcome = runBlocking { Delivery(coreOf(app)).run(Delivery.networkKind(true, false)) }
            expect(outcome.needsEnrolment && outcome.followUp(System.currentTimeMillis()) == null) { "$outcome" }
        }
    }
}
