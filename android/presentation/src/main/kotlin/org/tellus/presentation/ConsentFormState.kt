package org.tellus.presentation

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import org.tellus.core.ConsentChoices
import org.tellus.core.ConsentFormView
import org.tellus.core.ConsentHow
import org.tellus.core.ConsentView

/**
 * One item of the consent form as the screen shows it: the words, the storyteller's answer,
 * and whether, granted, it needs a name or contact details typed (the core says which).
 */
data class ConsentItemUi(
    val key: String,
    val label: String,
    val required: Boolean,
    val granted: Boolean,
    val asksName: Boolean = false,
    val asksContact: Boolean = false,
)

data class ConsentFormUi(
    val intro: String,
    val items: List<ConsentItemUi>,
    /** The item being read with the storyteller; the form is gone through one item at a time. */
    val current: Int,
    /** Typed for an item that asks a name, and for one that asks contact details. */
    val name: String,
    val contact: String,
    /** Why the form cannot be finished yet, in plain words; null when it can. */
    val blocker: String?,
) {
    val canContinue: Boolean get() = blocker == null
    val onLastItem: Boolean get() = current == items.lastIndex
    fun granted(key: String) = items.any { it.key == key && it.granted }
    val asksName: Boolean get() = items.any { it.asksName && it.granted }
    val asksContact: Boolean get() = items.any { it.asksContact && it.granted }
}

/**
 * The consent form screen, read item by item with the storyteller (held by a ViewModel).
 * The form comes from the project's configuration through the core, in the first of the
 * device's `languages` it has, read on the IO dispatcher: `state` is null until it is
 * there. Whether it may be finished is the core's answer (`checkConsentForm`), asked on
 * the IO dispatcher after every change (`checked()` waits for it): this screen holds no
 * consent rule of its own. Which items were ticked and where the reading is are kept in
 * `saved`, so a process the system killed while the reporter was in another app comes
 * back at the same item; the name and contact are personal data and are not kept there.
 */
class ConsentFormState(
    private val core: CoreAccess,
    private val storyId: String,
    private val capturedBy: String,
    private val languages: List<String>,
    private val scope: CoroutineScope,
    private val saved: SavedState = MapSavedState(),
) {
    private val _state = MutableStateFlow<ConsentFormUi?>(null)
    val state: StateFlow<ConsentFormUi?> = _state.asStateFlow()
    @Volatile private var form: ConsentFormView? = null

    init {
        scope.launch { load() }
    }

    /** Reads the form (on the IO dispatcher), restores what `saved` holds, and checks it. */
    suspend fun load(): ConsentFormUi {
        _state.value?.let { return it }
        val form = core.call { app -> app.consentForm(languages) }
        this.form = form
        val granted = saved[GRANTED]?.split(',')?.toSet().orEmpty()
        val ui = ConsentFormUi(
            intro = form.intro,
            items = form.items.map {
                ConsentItemUi(
                    it.key, it.label, it.required, granted = it.key in granted,
                    asksName = it.asksName, asksContact = it.asksContact,
                )
            },
            current = (saved[CURRENT]?.toIntOrNull() ?: 0).coerceIn(0, (form.items.size - 1).coerceAtLeast(0)),
            name = "",
            contact = "",
            blocker = null,
        )
        _state.compareAndSet(null, ui)
        return checked() ?: ui
    }

    /** Asks the core whether the form as it is now may be finished, and shows the answer. */
    suspend fun checked(): ConsentFormUi? {
        val ui = _state.value ?: return null
        val form = form ?: return ui
        val blocker = core.call { app -> app.checkConsentForm(storyId, form, choices(ui)) }
        // Only if nothing changed meanwhile (a later change asks again).
        _state.update { now -> if (now != null && now.copy(blocker = ui.blocker) == ui) now.copy(blocker = blocker) else now }
        return _state.value
    }

    private fun change(transform: (ConsentFormUi) -> ConsentFormUi) {
        _state.update { ui -> ui?.let(transform) }
        _state.value?.let { ui ->
            saved[GRANTED] = ui.items.filter { it.granted }.joinToString(",") { it.key }
            saved[CURRENT] = ui.current.toString()
        }
        scope.launch { checked() }
    }

    fun setGranted(key: String, granted: Boolean) =
        change { ui -> ui.copy(items = ui.items.map { if (it.key == key) it.copy(granted = granted) else it }) }

    fun setName(name: String) = change { it.copy(name = name) }
    fun setContact(contact: String) = change { it.copy(contact = contact) }

    fun next() = change { it.copy(current = (it.current + 1).coerceAtMost(it.items.lastIndex)) }
    fun previous() = change { it.copy(current = (it.current - 1).coerceAtLeast(0)) }

    /**
     * Records the consent in the core (on the IO dispatcher), after asking the core once
     * more. Returns null, writing nothing, while the form cannot be finished (the screen
     * shows `state.blocker`).
     */
    suspend fun submit(how: ConsentHow = ConsentHow.AppCheckbox): ConsentView? {
        val ui = checked() ?: return null
        val form = form ?: return null
        if (!ui.canContinue) return null
        return core.call { app -> app.giveConsent(storyId, form, choices(ui, how)) }
    }

    /** What was typed goes as it is; the core keeps a name or contact only with its item granted. */
    private fun choices(ui: ConsentFormUi, how: ConsentHow = ConsentHow.AppCheckbox) = ConsentChoices(
        granted = ui.items.filter { it.granted }.map { it.key },
        how = how,
        capturedBy = capturedBy,
        name = ui.name.trim().ifEmpty { null },
        contact = ui.contact.trim().ifEmpty { null },
    )

    private companion object {
        const val GRANTED = "consent.granted"
        const val CURRENT = "consent.current"
    }
}
