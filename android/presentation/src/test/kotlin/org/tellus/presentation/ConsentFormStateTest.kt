package org.tellus.presentation

import kotlinx.coroutines.runBlocking
import org.tellus.core.ConsentStatusView
import org.tellus.core.TellusException

fun consentFormTests() {
    check("the consent form refuses to continue without record, and writes nothing") {
        freshApp().use { app ->
            val story = app.createStory("Waiting room", "Participant 1")
            val form = ConsentFormState(coreOf(app), story.id, "Reporter A", listOf("en"), viewModelScope())
            val loaded = runBlocking { form.load() }
            expect(loaded.items.map { it.key }.first() == "record") { "${loaded.items}" }
            form.setGranted("share_publicly", true)
            form.setGranted("research_use", true)
            val blocked = runBlocking { form.checked() }!!
            expect(!blocked.canContinue && blocked.blocker != null) { "$blocked" }
            expect(runBlocking { form.submit() } == null) { "submitted without record" }
            expect(app.consentHistory(story.id).isEmpty()) { "a consent event was written: ${app.consentHistory(story.id)}" }
            try {
                app.markReady(story.id)
                throw AssertionError("the story became ready without consent")
            } catch (_: TellusException.ConsentMissing) {
            }
            form.setGranted("record", true)
            val ready = runBlocking { form.checked() }!!
            expect(ready.canContinue) { "${ready.blocker}" }
            val consent = runBlocking { form.submit() } ?: throw AssertionError("refused with record granted")
            expect(consent.status == ConsentStatusView.GIVEN) { "$consent" }
            expect(consent.granted.toSet() == setOf("record", "share_publicly", "research_use")) { "${consent.granted}" }
            expect(app.consentHistory(story.id).size == 1) { "${app.consentHistory(story.id)}" }
        }
    }

    check("the consent form goes item by item, asks a name only for credit by name, and keeps it") {
        freshApp().use { app ->
            val story = app.createStory("Housing office", "Participant 2")
            val form = ConsentFormState(coreOf(app), story.id, "Reporter A", listOf("en"), viewModelScope())
            val count = runBlocking { form.load() }.items.size
            form.previous()
            expect(form.state.value!!.current == 0) { "${form.state.value!!.current}" }
            repeat(count + 2) { form.next() }
            expect(form.state.value!!.current == count - 1 && form.state.value!!.onLastItem) { "${form.state.value!!.current}" }
            form.setGranted("record", true)
            form.setGranted("credit_by_name", true)
            expect(!runBlocking { form.checked() }!!.canContinue) { "credit by name without a name was accepted" }
            form.setName("  Amina K. ")
            form.setContact("07700 900123") // recontact not granted: must not be kept
            expect(runBlocking { form.submit() } != null) { "${form.state.value!!.blocker}" }
            val identity = app.identity(story.id)
            expect(identity.name == "Amina K." && identity.contact == null) { "$identity" }
        }
    }
}
