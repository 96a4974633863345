package org.tellus.presentation

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import org.tellus.core.ConsentChoices
import org.tellus.core.ConsentFormView
import org.tellus.core.ConsentHow
import org.tellus.core.ConsentView
import org.tellus.core.TellusApp

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
 * The consent form screen, read item by item with the storyteller. The form comes from the
 * project's configuration (through the core), in the first of the device's `languages` it
 * has. Whether it may be finished is the core's answer (`checkConsentForm`), asked on every
 * change: this screen holds no consent rule of its own.
 */
class ConsentFormState(
    private val app: TellusApp,
    private val storyId: String,
    private val capturedBy: String,
    languages: List<String>,
) {
    private val form: ConsentFormView = app.consentForm(languages)
    private val _state = MutableStateFlow(
        evaluate(
            ConsentFormUi(
                intro = form.intro,
                items = form.items.map {
                    ConsentItemUi(it.key, it.label, it.required, granted = false, asksName = it.asksName, asksContact = it.asksContact)
                },
                current = 0,
                name = "",
                contact = "",
                blocker = null,
            ),
        ),
    )
    val state: StateFlow<ConsentFormUi> = _state.asStateFlow()

    fun setGranted(key: String, granted: Boolean) = _state.update { ui ->
        evaluate(ui.copy(items = ui.items.map { if (it.key == key) it.copy(granted = granted) else it }))
    }

    fun setName(name: String) = _state.update { evaluate(it.copy(name = name)) }
    fun setContact(contact: String) = _state.update { evaluate(it.copy(contact = contact)) }

    fun next() = _state.update { it.copy(current = (it.current + 1).coerceAtMost(it.items.lastIndex)) }
    fun previous() = _state.update { it.copy(current = (it.current - 1).coerceAtLeast(0)) }

    /**
     * Records the consent in the core. Returns null, writing nothing, while the form
     * cannot be finished (the screen shows `state.blocker`).
     */
    fun submit(how: ConsentHow = ConsentHow.AppCheckbox): ConsentView? {
        val ui = _state.value
        if (!ui.canContinue) return null
        return app.giveConsent(storyId, form, choices(ui, how))
    }

    /** What was typed goes as it is; the core keeps a name or contact only with its item granted. */
    private fun choices(ui: ConsentFormUi, how: ConsentHow = ConsentHow.AppCheckbox) = ConsentChoices(
        granted = ui.items.filter { it.granted }.map { it.key },
        how = how,
        capturedBy = capturedBy,
        name = ui.name.trim().ifEmpty { null },
        contact = ui.contact.trim().ifEmpty { null },
    )

    private fun evaluate(ui: ConsentFormUi): ConsentFormUi =
        ui.copy(blocker = app.checkConsentForm(storyId, form, choices(ui)))
}
