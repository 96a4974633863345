package org.tellus.app.ui

import androidx.lifecycle.SavedStateHandle
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.CreationExtras
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.createSavedStateHandle
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import org.tellus.app.DeliveryScheduler
import org.tellus.app.TellusApplication
import org.tellus.presentation.ConsentFormState
import org.tellus.presentation.ReceiptText
import org.tellus.presentation.SavedState

/**
 * The screens' ViewModels: each holds a presentation-layer model (plain Kotlin, JVM-tested)
 * on `viewModelScope`, so its state survives rotation, and what matters after process
 * death (the consent form's progress; the route, kept by navigation) comes back from the
 * SavedStateHandle. No ViewModel calls the core itself: the models do, on Dispatchers.IO.
 */
private fun CreationExtras.app() = this[APPLICATION_KEY] as TellusApplication

/** SavedStateHandle as the presentation layer's SavedState. */
private class HandleState(private val handle: SavedStateHandle) : SavedState {
    override fun get(key: String): String? = handle[key]
    override fun set(key: String, value: String?) { handle[key] = value }
}

/** Where the app starts: enrol first, or the stories. */
class StartViewModel(app: TellusApplication) : ViewModel() {
    private val _enrolled = MutableStateFlow<Boolean?>(null)
    val enrolled: StateFlow<Boolean?> = _enrolled.asStateFlow()

    init {
        viewModelScope.launch { _enrolled.value = app.enrolment().isEnrolled() }
    }

    companion object {
        val Factory = viewModelFactory { initializer { StartViewModel(app()) } }
    }
}

class EnrolViewModel(app: TellusApplication) : ViewModel() {
    val enrol = app.enrolment()
    fun submit(server: String, code: String) {
        viewModelScope.launch { enrol.enrol(server, code) }
    }

    companion object {
        val Factory = viewModelFactory { initializer { EnrolViewModel(app()) } }
    }
}

class StoriesViewModel(private val app: TellusApplication) : ViewModel() {
    val list = app.storyList(viewModelScope).also { it.start() }

    fun withdraw(storyId: String, eraseAudio: Boolean) {
        viewModelScope.launch {
            list.withdraw(storyId, app.reporterName(), eraseAudio)
            DeliveryScheduler.deliverSoon(app)
        }
    }

    override fun onCleared() = list.close()

    companion object {
        val Factory = viewModelFactory { initializer { StoriesViewModel(app()) } }
    }
}

/** A story's page and its review step: the story, the project's themes, saving, ready. */
class StoryViewModel(private val app: TellusApplication, storyId: String) : ViewModel() {
    val review = app.review(storyId)
    private val _story = MutableStateFlow<StoryText?>(null)
    val story: StateFlow<StoryText?> = _story.asStateFlow()
    private val _tags = MutableStateFlow<List<String>>(emptyList())
    val projectTags: StateFlow<List<String>> = _tags.asStateFlow()
    private val _ready = MutableStateFlow<Result<Unit>?>(null)
    /** The outcome of "ready to send": success, or the core's refusal. */
    val ready: StateFlow<Result<Unit>?> = _ready.asStateFlow()
    private val _receipt = MutableStateFlow<Result<ReceiptText>?>(null)
    /** The storyteller's receipt to hand to the share sheet once, or why there is none. */
    val receipt: StateFlow<Result<ReceiptText>?> = _receipt.asStateFlow()

    init {
        viewModelScope.launch {
            val s = review.story()
            _story.value = StoryText(s.title, s.summary, s.tags)
            _tags.value = review.projectTags()
        }
    }

    fun shareReceipt() {
        viewModelScope.launch { _receipt.value = review.receipt() }
    }

    /** The share sheet was shown (or the refusal read): do not show it again on rotation. */
    fun receiptShown() {
        _receipt.value = null
    }

    fun markReady(title: String, summary: String, tags: List<String>) {
        viewModelScope.launch {
            review.save(title, summary, tags)
            _ready.value = review.markReady().map {
                DeliveryScheduler.deliverSoon(app) // a story became ready
            }
        }
    }

    companion object {
        fun factory(storyId: String) = viewModelFactory { initializer { StoryViewModel(app(), storyId) } }
    }
}

/** What the story's screens show of it (no core type in the screens). */
data class StoryText(val title: String, val summary: String, val tags: List<String>)

class ConsentViewModel(app: TellusApplication, storyId: String, handle: SavedStateHandle) : ViewModel() {
    private val _form = MutableStateFlow<ConsentFormState?>(null)
    val form: StateFlow<ConsentFormState?> = _form.asStateFlow()
    private val _submitted = MutableStateFlow(false)
    val submitted: StateFlow<Boolean> = _submitted.asStateFlow()

    init {
        viewModelScope.launch {
            _form.value = app.consentForm(storyId, app.reporterName(), viewModelScope, HandleState(handle))
        }
    }

    fun submit() {
        val form = _form.value ?: return
        viewModelScope.launch { _submitted.value = form.submit() != null }
    }

    companion object {
        fun factory(storyId: String) = viewModelFactory {
            initializer { ConsentViewModel(app(), storyId, createSavedStateHandle()) }
        }
    }
}

class NewStoryViewModel(private val app: TellusApplication) : ViewModel() {
    private val _created = MutableStateFlow<String?>(null)
    /** The new story's id, once the core made it. */
    val created: StateFlow<String?> = _created.asStateFlow()

    fun create(title: String, label: String) {
        viewModelScope.launch { _created.value = app.newStory(title, label) }
    }

    companion object {
        val Factory = viewModelFactory { initializer { NewStoryViewModel(app()) } }
    }
}

class SettingsViewModel(app: TellusApplication) : ViewModel() {
    private val settings = app.settings()
    private val _state = MutableStateFlow<Pair<Boolean, Boolean>?>(null)
    /** (audio on Wi-Fi only, remove audio after delivery), once read. */
    val state: StateFlow<Pair<Boolean, Boolean>?> = _state.asStateFlow()

    init {
        viewModelScope.launch { show(settings.current().let { it.audioOnUnmeteredOnly to it.removeLocalAudioAfterDelivery }) }
    }

    private fun show(value: Pair<Boolean, Boolean>) { _state.value = value }

    fun setAudioOnWifiOnly(on: Boolean) = viewModelScope.launch {
        settings.setAudioOnWifiOnly(on).let { show(it.audioOnUnmeteredOnly to it.removeLocalAudioAfterDelivery) }
    }

    fun setRemoveAfterDelivery(on: Boolean) = viewModelScope.launch {
        settings.setRemoveLocalAudioAfterDelivery(on).let { show(it.audioOnUnmeteredOnly to it.removeLocalAudioAfterDelivery) }
    }

    companion object {
        val Factory = viewModelFactory { initializer { SettingsViewModel(app()) } }
    }
}
