// Issue 23: the calls the shells build their screens and their scheduling on, through the
// real library against the real `tellus serve` on loopback: the story list's page with
// each story's delivery state in one call (the same states as the single call, paged),
// when to sync next and why (held audio needs Wi-Fi, a new ready story can go now, no
// connection, a server down backs off, nothing left is idle), and the clock format.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val shellInvites = ArrayDeque((System.getenv("TELLUS_KT_SHELL_INVITES") ?: "").split(","))

/** A ready story with consent and a short recording from the file-backed microphone. */
fun readyStoryWithAudio(app: TellusApp, title: String): StoryView {
    val story = app.createStory(title, "Participant")
    app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record"))
    app.startRecording(
        story.id, RecordingRequest(device = null, stereo = false, sampleRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toUInt(), maxDurationMs = 300UL),
    ).use { session ->
        waitUntil { session.hasStopped() }
        session.stop()
    }
    return app.markReady(story.id)
}

fun shellApiTests() {
    check("the story page holds each story with the state the single call gives, newest first, paged") {
        val app = freshApp()
        val ids = (1..7).map { app.createStory("Story $it", "P$it").id }
        app.giveConsent(ids[2], app.consentForm(listOf("en")), consentChoices("record"))
        app.markReady(ids[2])
        app.giveConsent(ids[3], app.consentForm(listOf("en")), consentChoices("record"))
        app.withdrawConsent(ids[3], ConsentHow.AppCheckbox, "Kotlin reporter", false)
        val first = app.storyPage(4u, null)
        val second = app.storyPage(4u, first.last().story.id)
        val all = first + second
        expect(all.map { it.story.id } == ids.reversed()) { "order: ${all.map { it.story.title }}" }
        for (row in all) {
            expect(row.delivery == app.deliveryState(row.story.id)) { "${row.story.title}: ${row.delivery}" }
            expect(row.story == app.listStories(500u, null).first { it.id == row.story.id }) { "row differs" }
        }
        expect(all.first { it.story.id == ids[3] }.delivery == DeliveryStateView.Withdrawn(true)) { "withdrawn" }
        expectThrows<TellusException.InvalidInput> { app.storyPage(0u, null) }
        expectThrows<TellusException.InvalidInput> { app.storyPage(501u, null) }
        expectThrows<TellusException.InvalidInput> { app.storyPage(10u, "not-an-id") }
    }

    check("the core says when to sync next: Wi-Fi for held audio, now for a new story, idle when all is there") {
        val app = TellusApp.open(java.nio.file.Files.createTempDirectory("tellus-kt-next").toString())
        runBlocking { app.enrol(server, shellInvites.removeFirst(), "Kotlin shell API phone") }
        expect(app.nextAttempt().reason == NextAttemptReasonView.IDLE) { "fresh: ${app.nextAttempt()}" }
        val held = readyStoryWithAudio(app, "Held for Wi-Fi")
        app.setNetwork(NetworkKind.METERED)
        var report = runBlocking { app.syncNow() }
        // Metered: the listening copy went, the lossless copy waits.
        expect(report.audioWaitingForUnmetered == 1u && report.delivered.map { it.representation } == listOf("listening")) { "$report" }
        expect(report.nextAttempt == NextAttemptView(NextAttemptReasonView.WAITING_FOR_UNMETERED, null, NetworkNeedView.UNMETERED, true)) {
            "${report.nextAttempt}"
        }
        expect(app.storyPage(10u, null).single().delivery is DeliveryStateView.WaitingForUnmetered) { "page" }
        val fresh = readyStoryWithAudio(app, "Ready after the sync")
        val now = app.nextAttempt()
        expect(now.reason == NextAttemptReasonView.MORE_TO_SEND && now.scheduled) { "$now" }
        expect(now.atMs != null && now.atMs!! <= System.currentTimeMillis()) { "$now" }
        app.setNetwork(NetworkKind.NONE)
        expect(app.nextAttempt().reason == NextAttemptReasonView.WAITING_FOR_CONNECTION) { "${app.nextAttempt()}" }
        expectThrows<TellusException.Network> { runBlocking { app.syncNow() } }
        expect(app.nextAttempt().let { it.reason == NextAttemptReasonView.WAITING_FOR_CONNECTION && it.atMs == null }) {
            "${app.nextAttempt()}"
        }
        app.setNetwork(NetworkKind.UNMETERED)
        report = runBlocking { app.syncNow() }
        // The held story's lossless copy, and both copies of the new one.
        expect(report.delivered.size == 3) { "$report" }
        expect(report.nextAttempt.reason == NextAttemptReasonView.IDLE && !report.nextAttempt.scheduled) { "${report.nextAttempt}" }
        val page = app.storyPage(10u, null)
        expect(page.map { it.story.id } == listOf(fresh.id, held.id)) { "page order" }
        expect(page.all { it.delivery == DeliveryStateView.Delivered(false) }) { "$page" }
    }

    check("a clock shows whole seconds: the one format for positions and durations") {
        expect(formatAudioPosition(0UL) == "0:00") { formatAudioPosition(0UL) }
        expect(formatAudioPosition(7_999UL) == "0:07") { formatAudioPosition(7_999UL) }
        expect(formatAudioPosition(754_000UL) == "12:34") { formatAudioPosition(754_000UL) }
        expect(formatAudioPosition(3_723_500UL) == "1:02:03") { formatAudioPosition(3_723_500UL) }
        expect(parseAudioPosition(formatAudioPosition(3_723_500UL)) == 3_723_000UL) { "round trip" }
    }
}
