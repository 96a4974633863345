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

/** One item of the consent form as the screen shows it: the words and the storyteller's answer. */
data class ConsentItemUi(val key: String, val label: String, val required: Boolean, val granted: Boolean)

data class ConsentFormUi(
    val intro: String,
    val items: List<ConsentItemUi>,
    /** The item being read with the storyteller; the form is gone through one item at a time. */
    val current: Int,
    /** Only with `credit_by_name`: the name to credit. Only with `recontact`: how to reach them. */
    val name: String,
    val contact: String,
    /** Why the form cannot be finished yet, in plain words; null when it can. */
    val blocker: String?,
) {
    val canContinue: Boolean get() = blocker == null
    val onLastItem: Boolean get() = current == items.lastIndex
    fun granted(key: String) = items.any { it.key == key && it.granted }
}

/**
 * The consent form screen, read item by item with the storyteller. The form comes from the
 * project's configuration (through the core), so its words and versions are the project's.
 * Continuing is refused, and nothing is written, unless `record` and every required item
 * are granted: without `record` there is nothing to record.
 */
class ConsentFormState(
    private val app: TellusApp,
    private val storyId: String,
    private val capturedBy: String,
    language: String,
) {
    private val form: ConsentFormView = app.consentForm(language)
    private val _state = MutableStateFlow(
        evaluate(
            ConsentFormUi(
                intro = form.intro,
                items = form.items.map { ConsentItemUi(it.key, it.label, it.required, granted = false) },
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
        val choices = ConsentChoices(
            granted = ui.items.filter { it.granted }.map { it.key },
            how = how,
            capturedBy = capturedBy,
            // The core erases a name or contact that consent does not allow; never send them then.
            name = ui.name.trim().takeIf { ui.granted(CREDIT_BY_NAME) && it.isNotEmpty() },
            contact = ui.contact.trim().takeIf { ui.granted(RECONTACT) && it.isNotEmpty() },
        )
        return app.giveConsent(storyId, form, choices)
    }

    private fun evaluate(ui: ConsentFormUi): ConsentFormUi {
        val blocker = when {
            !ui.granted(RECORD) -> "The storyteller has not agreed to being recorded, so the interview cannot start."
            ui.items.any { it.required && !it.granted } -> "Every item marked as needed must be agreed before recording."
            ui.granted(CREDIT_BY_NAME) && ui.name.isBlank() -> "Type the name to credit, or leave credit by name unticked."
            else -> null
        }
        return ui.copy(blocker = blocker)
    }

    companion object {
        const val RECORD = "record"
        const val CREDIT_BY_NAME = "credit_by_name"
        const val RECONTACT = "recontact"
    }
}
