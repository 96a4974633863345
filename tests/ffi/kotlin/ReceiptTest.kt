// The storyteller's receipt through the real tellus-ffi library from Kotlin on the JVM
// (issue 21): made by the core when consent is given, in the form's language, with the
// personal code in groups and the portal link (with the code in its fragment) as an SVG
// QR code; the same code after an amendment, whose choices the receipt shows; no receipt
// once consent is withdrawn.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*

private val receiptServer = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val receiptInvites = ArrayDeque((System.getenv("TELLUS_KT_RECEIPT_INVITES") ?: "").split(","))
private val codeShape = Regex("^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$")

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
}
