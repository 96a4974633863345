// The storyteller's receipt through the real tellus-ffi library from Kotlin on the JVM
// (issue 21): made by the core when consent is given, in the form's language, with the
// personal code in groups and the portal link (with the code in its fragment) as an SVG
// QR code; the same code after an amendment, whose choices the receipt shows; no receipt
// once consent is withdrawn. And the journey back: the storyteller withdraws on the
// server's portal with the receipt's code, and the phone's next sync shows the story
// withdrawn by the storyteller with its audio erased.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

private val receiptServer = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val receiptInvites = ArrayDeque((System.getenv("TELLUS_KT_RECEIPT_INVITES") ?: "").split(","))
private val codeShape = Regex("^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$")

private val receiptMicRate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toInt()

/** A storyteller's browser without script on the portal: the code form, then withdrawal. */
private fun withdrawOnThePortal(base: String, code: String) {
    val http = HttpClient.newHttpClient() // redirects are not followed
    val cookies = linkedMapOf<String, String>()
    fun keep(r: HttpResponse<String>): HttpResponse<String> {
        for (v in r.headers().allValues("set-cookie")) {
            val pair = v.substringBefore(';')
            cookies[pair.substringBefore('=')] = pair.substringAfter('=')
        }
        return r
    }
    fun request(path: String) = HttpRequest.newBuilder(URI.create(base.trimEnd('/') + path)).also { b ->
        if (cookies.isNotEmpty()) b.header("cookie", cookies.entries.joinToString("; ") { "${it.key}=${it.value}" })
    }
    fun get(path: String) = keep(http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString()))
    fun post(path: String, form: String) = keep(http.send(
        request(path).header("content-type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(form)).build(),
        HttpResponse.BodyHandlers.ofString(),
    ))
    fun csrf(page: String) = Regex("name=\"csrf\" value=\"([^\"]+)\"").find(page)?.groupValues?.get(1)
        ?: throw AssertionError("no form token in the page")
    val opened = post("/s", "code=$code&csrf=${csrf(get("/s?lang=es").body())}&lang=es")
    expect(opened.statusCode() == 303) { "the receipt's code did not open the story: ${opened.statusCode()}" }
    val done = post("/s/withdraw", "csrf=${csrf(get("/s/story?lang=es").body())}&erase=yes&lang=es")
    expect(done.statusCode() == 303) { "the withdrawal: ${done.statusCode()}" }
}

fun receiptTests() {
    check("consent gives the storyteller a receipt with their code and a QR of the portal link") {
        val app = TellusApp.open(java.nio.file.Files.createTempDirectory("tellus-kt-receipt").toString())
        app.use {
            runBlocking { app.enrol(receiptServer, receiptInvites.removeFirst(), "Kotlin receipt phone") }
            val story = app.createStory("La parada <del> autobús", "Participant 7").id
            val form = app.consentForm(listOf("es"))
            expect(form.language == "es") { form.language }
            app.giveConsent(story, form, consentChoices("record", "share_publicly"))

            val receipt = app.receipt(story)
            expect(receipt.language == "es") { receipt.language }
            expect(codeShape.matches(receipt.code)) { receipt.code }
            expect(receipt.portalUrl == "${receiptServer.trimEnd('/')}/s#${receipt.code}") { "${receipt.portalUrl}" }
            val shared = form.items.single { it.key == "share_publicly" }.label
            expect(receipt.text.lines().any { it.contains(shared) && it.startsWith("[x] Sí: ") }) { receipt.text }
            expect("Su código personal: ${receipt.code}" in receipt.text) { receipt.text }
            expect(receipt.html.startsWith("<!DOCTYPE html>") && "<svg" in receipt.html) { "no page with a QR code" }
            expect("La parada &lt;del&gt; autobús" in receipt.html) { "the title is not escaped" }

            app.amendConsent(story, consentChoices("record"))
            val amended = app.receipt(story)
            expect(amended.code == receipt.code) { "a new code after an amendment" }
            expect(amended.text.lines().any { it.contains(shared) && it.startsWith("[ ] No: ") }) { amended.text }

            app.withdrawConsent(story, ConsentHow.AppCheckbox, "Kotlin reporter", false)
            expectThrows<TellusException.ConsentMissing> { app.receipt(story) }
        }
    }

    check("the storyteller withdraws on the portal with their code; the next sync erases the audio here") {
        val app = TellusApp.open(java.nio.file.Files.createTempDirectory("tellus-kt-portal").toString())
        app.use {
            runBlocking { app.enrol(receiptServer, receiptInvites.removeFirst(), "Kotlin portal phone") }
            val story = app.createStory("La parada del autobús", "Participant 9").id
            app.giveConsent(story, app.consentForm(listOf("es")), consentChoices("record", "share_publicly"))
            val recorded = app.startRecording(
                story, RecordingRequest(device = null, stereo = false, sampleRate = receiptMicRate.toUInt(), maxDurationMs = 1_000UL),
            ).use { session ->
                waitUntil { session.hasStopped() }
                session.stop()
            }
            app.markReady(story)
            app.setSyncSettings(app.syncSettings().copy(removeLocalAudioAfterDelivery = false))
            runBlocking { app.syncNow() }
            // The WAV gave way to its verified FLAC; the copies are still on the phone.
            expect(app.recordings(story).single().files.count { it.onThisPhone } == 2) { "the audio left the phone before the withdrawal" }

            withdrawOnThePortal(receiptServer, app.receipt(story).code)

            val report = runBlocking { app.syncNow() }
            expect(report.consentChangesReceived == 1u) { "$report" }
            expect(app.story(story).state == StoryState.WITHDRAWN) { "${app.story(story)}" }
            expect(app.consentHistory(story).last().how == ConsentHow.Storyteller) { "${app.consentHistory(story)}" }
            val erased = app.recordings(story).single()
            expect(erased.erased && !File(recorded.path).exists() && erased.files.none { it.onThisPhone }) { "the audio is still here: $erased" }
            expectThrows<TellusException.ConsentMissing> { app.receipt(story) }
        }
    }
}
