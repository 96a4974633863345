// Issue 23: the presentation layer as the app's ViewModels hold it. Every call into the
// core runs on the IO dispatcher, never on the main thread (a proxy over the real core
// logs the thread of each call while the models are driven from a "ui-main" thread, as
// Compose and viewModelScope drive them); the story list reads one batched page per
// refresh, never a call per row, also while a sync reports progress; a new instance
// (rotation: the ViewModel's new screen; process death: a new ViewModel with the saved
// state) shows the same state.
package org.tellus.presentation

import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import org.tellus.core.NetworkKind
import java.io.File

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_ANDROID_VM_INVITES") ?: "").split(","))

fun viewModelTests() {
    check("no call into the core runs on the main thread: list, consent, review, settings, enrol, delivery") {
        freshApp().use { app ->
            val log = CallLog()
            val core = coreOf(app, log)
            val scope = viewModelScope()
            val list = StoryListModel(core, scope)
            // Everything a screen does, from the main thread.
            runBlocking(uiMain) {
                list.start()
                EnrolState(core, "Test phone").enrol(server, invites.removeFirst())
                SettingsState(core).setAudioOnWifiOnly(false)
                val storyId = ReviewState.newStory(core, "Bus passes", "Participant 5")
                val form = ConsentFormState(core, storyId, "Reporter", listOf("en"), scope)
                form.load()
                form.setGranted("record", true)
                form.submit() ?: throw AssertionError("consent refused")
                val review = ReviewState(core, storyId)
                review.save("Bus passes", "A summary", review.projectTags().take(1))
                review.markReady().getOrThrow()
                val receipt = review.receipt().getOrThrow()
                expect(receipt.code in receipt.text && "<svg" in receipt.html) { "receipt: ${receipt.text}" }
            }
            val outcome = runBlocking(uiMain) { Delivery(core).run(NetworkKind.UNMETERED) }
            expect(outcome.report?.documentsSent == 1u) { "$outcome" }
            waitUntil(what = "the list to show the story delivered") {
                list.rows.value.singleOrNull()?.delivery == DeliveryUi.Delivered(false)
            }
            list.close()
            scope.cancel()
            for (name in listOf("storyPage", "observeStories", "observeSync", "enrol", "consentForm", "giveConsent", "markReady", "receipt", "syncNow", "setSyncSettings")) {
                expect(log.count(name) > 0) { "$name was never called: ${log.names()}" }
            }
            expect(log.offIo().isEmpty()) { "calls off the IO dispatcher: ${log.offIo()}" }
            // The check can fail: the same proxy called straight from the main thread logs it.
            val control = CallLog()
            runBlocking(uiMain) { logged(app, control).account() }
            expect(control.offIo() == listOf("account" to "ui-main")) { "${control.calls}" }
        }
    }

    check("the story list reads one page per refresh while a sync reports progress, never a call per row") {
        freshApp().use { app ->
            runBlocking { app.enrol(server, invites.removeFirst(), "Test phone") }
            val stories = (1..3).map { readyStory(app, "Story $it").first }
            (1..20).forEach { app.createStory("Draft $it", "P$it") }
            val log = CallLog()
            val core = coreOf(app, log)
            val scope = viewModelScope()
            val list = StoryListModel(core, scope)
            val seen = java.util.concurrent.atomic.AtomicInteger()
            val watching = app.observeSync(object : org.tellus.core.SyncObserver {
                override fun syncProgress(progress: org.tellus.core.SyncProgressView) { seen.incrementAndGet() }
            })
            list.start()
            waitUntil(what = "the first page") { list.loaded.value }
            runBlocking { app.syncNow() }
            waitUntil(what = "the delivered states") {
                list.rows.value.filter { it.id in stories }.all { it.delivery == DeliveryUi.Delivered(false) }
            }
            watching.close()
            list.close()
            scope.cancel()
            expect(list.rows.value.size == 23) { "${list.rows.value.size} rows" }
            expect(log.count("deliveryState") == 0 && log.count("listStories") == 0) { "per-row calls: ${log.names()}" }
            val pages = log.count("storyPage")
            expect(seen.get() > 0 && pages >= 2) { "progress ${seen.get()}, pages $pages" }
        }
    }

    check("a new instance keeps the state: the consent form comes back at the same item with the same ticks") {
        freshApp().use { app ->
            val core = coreOf(app)
            val story = app.createStory("Rotation", "Participant").id
            val saved = MapSavedState()
            val first = ConsentFormState(core, story, "Reporter", listOf("en"), viewModelScope(), saved)
            runBlocking { first.load() }
            first.setGranted("record", true)
            first.setGranted("research_use", true)
            first.next()
            first.next()
            first.setGranted("credit_by_name", true)
            first.setName("Amina K.")
            val before = runBlocking { first.checked() }!!
            // The system killed the process: a new ViewModel gets the saved state.
            val second = ConsentFormState(core, story, "Reporter", listOf("en"), viewModelScope(), MapSavedState(saved.snapshot().toMutableMap()))
            val after = runBlocking { second.load() }
            expect(after.current == before.current && after.items == before.items) { "$before\n$after" }
            // The name is personal data: never in the saved state, typed again.
            expect(after.name == "" && saved.snapshot().values.none { it?.contains("Amina") == true }) { "${saved.snapshot()}" }
            // The core's check sees the name missing for credit by name.
            expect(after.blocker != null && !after.canContinue) { "${after.blocker}" }
            // A ViewModel kept across rotation is the same object: the screen reads its state.
            val list = StoryListModel(core, viewModelScope())
            val rows = runBlocking { list.refresh() }
            expect(rows.single().id == story && list.rows.value == rows) { "$rows" }
        }
    }
}
