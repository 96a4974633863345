// A reporter's journey through the real tellus-ffi library, from Kotlin on the JVM:
// the same calls the Android app makes. Run by tests/ffi/run.sh.

import org.tellus.core.*
import java.nio.file.Files
import kotlin.system.exitProcess

private var passed = 0
private val failures = mutableListOf<String>()

private fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failures += "$name: $e"
        println("FAIL $name: $e")
    }
}

private fun expect(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

private inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

private fun freshApp(): TellusApp {
    val app = TellusApp.open(Files.createTempDirectory("tellus-kt").toString())
    app.setProjectJson(sampleProjectJson())
    return app
}

private fun consentChoices(vararg granted: String, name: String? = null) = ConsentChoices(
    granted = granted.toList(),
    how = ConsentHow.AppCheckbox,
    capturedBy = "Kotlin reporter",
    name = name,
    contact = null,
)

fun main() {
    check("a story with consent, markers and notes becomes ready") {
        freshApp().use { app ->
            val form = app.consentForm("es")
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
            app.giveConsent(story.id, app.consentForm("en"), consentChoices("record", "credit_by_name", name = "Sam"))
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
            expectThrows<TellusException.ConsentMissing> {
                app.giveConsent(story.id, app.consentForm("en"), consentChoices("record", name = "No credit"))
            }
        }
        TellusApp.open(Files.createTempDirectory("tellus-kt-empty").toString()).use { empty ->
            expectThrows<TellusException.NotEnrolled> { empty.project() }
        }
    }

    println("kotlin: $passed passed, ${failures.size} failed")
    if (failures.isNotEmpty()) exitProcess(1)
}
