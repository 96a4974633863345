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

/** One item of the consent form as the screen shows it: the words and the storyteller's answer. */
data class ConsentItemUi(val key: String, val label: String, val required: Boolean, val granted: Boolean)

/** Why the form cannot be finished yet; the screen says it in the reporter's language. */
enum class ConsentBlocker { RecordNotAgreed, RequiredItemNotAgreed, NameMissing }

data class ConsentFormUi(
    val intro: String,
    val items: List<ConsentItemUi>,
    /** The item being read with the storyteller; the form is gone through one item at a time. */
    val current: Int,
    /** Only with `credit_by_name`: the name to credit. Only with `recontact`: how to reach them. */
    val name: String,
    val contact: String,
    /** Why the form cannot be finished yet; null when it can. */
    val blocker: ConsentBlocker?,
) {
    val canContinue: Boolean get() = blocker == null
    val onLastItem: Boolean get() = current == items.lastIndex
    fun granted(key: String) = items.any { it.key == key && it.granted }
}

/**
 * The consent form screen, read item by item with the storyteller (held by a ViewModel).
 * The form comes from the project's configuration through the core, read on the IO
 * dispatcher: `state` is null until it is there. Continuing is refused, and nothing is
 * written, unless `record` and every required item are granted. Which items were ticked
 * and where the reading is are kept in `saved`, so a process the system killed while the
 * reporter was in another app comes back at the same item; the name and contact are
 * personal data and are not kept there.
 */
class ConsentFormState(
    private val core: CoreAccess,
    private val storyId: String,
    private val capturedBy: String,
    private val language: String,
    scope: CoroutineScope,
    private val saved: SavedState = MapSavedState(),
) {
    private val _state = MutableStateFlow<ConsentFormUi?>(null)
    val state: StateFlow<ConsentFormUi?> = _state.asStateFlow()
    private var form: ConsentFormView? = null

    init {
        scope.launch { load() }
    }

    /** Reads the form (on the IO dispatcher) and restores what `saved` holds. */
    suspend fun load(): ConsentFormUi {
        _state.value?.let { return it }
        val form = core.call { app -> app.consentForm(language) }
        this.form = form
        val granted = saved[GRANTED]?.split(',')?.toSet().orEmpty()
        val ui = evaluate(
            ConsentFormUi(
                intro = form.intro,
                items = form.items.map { ConsentItemUi(it.key, it.label, it.required, granted = it.key in granted) },
                current = (saved[CURRENT]?.toIntOrNull() ?: 0).coerceIn(0, (form.items.size - 1).coerceAtLeast(0)),
                name = "",
                contact = "",
                blocker = null,
            ),
        )
        _state.compareAndSet(null, ui)
        return _state.value ?: ui
    }

    private fun change(transform: (ConsentFormUi) -> ConsentFormUi) {
        _state.update { ui -> ui?.let { evaluate(transform(it)) } }
        _state.value?.let { ui ->
            saved[GRANTED] = ui.items.filter { it.granted }.joinToString(",") { it.key }
            saved[CURRENT] = ui.current.toString()
        }
    }

    fun setGranted(key: String, granted: Boolean) =
        change { ui -> ui.copy(items = ui.items.map { if (it.key == key) it.copy(granted = granted) else it }) }

    fun setName(name: String) = change { it.copy(name = name) }
    fun setContact(contact: String) = change { it.copy(contact = contact) }

    fun next() = change { it.copy(current = (it.current + 1).coerceAtMost(it.items.lastIndex)) }
    fun previous() = change { it.copy(current = (it.current - 1).coerceAtLeast(0)) }

    /**
     * Records the consent in the core (on the IO dispatcher). Returns null, writing
     * nothing, while the form cannot be finished (the screen shows `state.blocker`).
     */
    suspend fun submit(how: ConsentHow = ConsentHow.AppCheckbox): ConsentView? {
        val ui = _state.value ?: return null
        val form = form ?: return null
        if (!ui.canContinue) return null
        val choices = ConsentChoices(
            granted = ui.items.filter { it.granted }.map { it.key },
            how = how,
            capturedBy = capturedBy,
            // The core erases a name or contact that consent does not allow; never send them then.
            name = ui.name.trim().takeIf { ui.granted(CREDIT_BY_NAME) && it.isNotEmpty() },
            contact = ui.contact.trim().takeIf { ui.granted(RECONTACT) && it.isNotEmpty() },
        )
        return core.call { app -> app.giveConsent(storyId, form, choices) }
    }

    private fun evaluate(ui: ConsentFormUi): ConsentFormUi {
        val blocker = when {
            !ui.granted(RECORD) -> ConsentBlocker.RecordNotAgreed
            ui.items.any { it.required && !it.granted } -> ConsentBlocker.RequiredItemNotAgreed
            ui.granted(CREDIT_BY_NAME) && ui.name.isBlank() -> ConsentBlocker.NameMissing
            else -> null
        }
        return ui.copy(blocker = blocker)
    }

    companion object {
        const val RECORD = "record"
        const val CREDIT_BY_NAME = "credit_by_name"
        const val RECONTACT = "recontact"
        private const val GRANTED = "consent.granted"
        private const val CURRENT = "consent.current"
    }
}
