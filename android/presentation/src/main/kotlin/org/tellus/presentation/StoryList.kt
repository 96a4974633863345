package org.tellus.presentation

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import org.tellus.core.ConsentHow
import org.tellus.core.ConsentView
import org.tellus.core.DeliveryStateView
import org.tellus.core.StoryObserver
import org.tellus.core.StoryRowView
import org.tellus.core.StoryState
import org.tellus.core.StoryView
import org.tellus.core.SubscriptionHandle
import org.tellus.core.SyncObserver
import org.tellus.core.SyncProgressView

/**
 * Where a story is, as the list shows it: the core's stable delivery-state codes with
 * their numbers. The words are the app's string resources, in the reporter's language.
 */
sealed interface DeliveryUi {
    data object OnlyOnThisPhone : DeliveryUi
    data class Uploading(val percent: Int) : DeliveryUi
    data class WaitingForConnection(val percent: Int) : DeliveryUi
    data class WaitingForWifi(val percent: Int) : DeliveryUi
    data class WaitingToRetry(val percent: Int, val retryAtMs: Long, val reason: String) : DeliveryUi
    data class Cancelled(val percent: Int) : DeliveryUi
    data class Delivered(val localAudioRemoved: Boolean) : DeliveryUi
    data class NeedsAttention(val reason: String) : DeliveryUi
    data class Withdrawn(val propagated: Boolean) : DeliveryUi

    companion object {
        fun of(state: DeliveryStateView): DeliveryUi = when (state) {
            is DeliveryStateView.OnlyOnThisPhone -> OnlyOnThisPhone
            is DeliveryStateView.Uploading -> Uploading(state.percent.toInt())
            is DeliveryStateView.WaitingForConnection -> WaitingForConnection(state.percent.toInt())
            is DeliveryStateView.WaitingForUnmetered -> WaitingForWifi(state.percent.toInt())
            is DeliveryStateView.WaitingToRetry -> WaitingToRetry(state.percent.toInt(), state.retryAtMs, state.reason)
            is DeliveryStateView.Cancelled -> Cancelled(state.percent.toInt())
            is DeliveryStateView.Delivered -> Delivered(state.localAudioRemoved)
            is DeliveryStateView.NeedsAttention -> NeedsAttention(state.reason)
            is DeliveryStateView.Withdrawn -> Withdrawn(state.propagated)
        }
    }
}

data class StoryRow(
    val id: String,
    val title: String,
    val storyteller: String,
    val ready: Boolean,
    val recordings: Int,
    val delivery: DeliveryUi,
) {
    companion object {
        fun of(row: StoryRowView) = StoryRow(
            id = row.story.id,
            title = row.story.title,
            storyteller = row.story.storytellerLabel,
            ready = row.story.state == StoryState.READY,
            recordings = row.story.recordingCount.toInt(),
            delivery = DeliveryUi.of(row.delivery),
        )
    }
}

/**
 * The stories screen (held by a ViewModel, so it survives rotation): the first page of
 * stories with their delivery states, read with one call (`storyPage`) on the IO
 * dispatcher. Story changes and sync progress (about four times a second while a sync
 * runs) only ask for a refresh; requests that come while one is being read are merged,
 * so the list costs one batched read per change at most, never a call per row.
 */
class StoryListModel(
    private val core: CoreAccess,
    private val scope: CoroutineScope,
    private val pageSize: UInt = 200u,
) : AutoCloseable {
    private val _rows = MutableStateFlow<List<StoryRow>>(emptyList())
    val rows: StateFlow<List<StoryRow>> = _rows.asStateFlow()
    private val _loaded = MutableStateFlow(false)
    /** False until the first page has been read (the screen shows a spinner, not "no stories"). */
    val loaded: StateFlow<Boolean> = _loaded.asStateFlow()
    private val requests = Channel<Unit>(Channel.CONFLATED)
    private val subscriptions = mutableListOf<SubscriptionHandle>()
    @Volatile private var closed = false

    /** Reads the page now and shows it. */
    suspend fun refresh(): List<StoryRow> {
        val rows = core.call { app -> app.storyPage(pageSize, null) }.map(StoryRow::of)
        _rows.value = rows
        _loaded.value = true
        return rows
    }

    /** Keeps `rows` current until `close`: subscribes on the IO dispatcher, then reads. */
    fun start() {
        scope.launch {
            val handles = core.call { app ->
                listOf(
                    app.observeStories(object : StoryObserver {
                        override fun storyChanged(story: StoryView) { requests.trySend(Unit) }
                    }),
                    app.observeSync(object : SyncObserver {
                        override fun syncProgress(progress: SyncProgressView) { requests.trySend(Unit) }
                    }),
                )
            }
            synchronized(subscriptions) {
                if (closed) core.closeLater(handles) else subscriptions += handles
            }
            requests.trySend(Unit)
            for (request in requests) refresh()
        }
    }

    /**
     * The storyteller withdraws, from the story's page. `eraseAudio` when they asked for
     * the recording on this phone to be deleted too; the server is told at the next sync.
     */
    suspend fun withdraw(storyId: String, reporter: String, eraseAudio: Boolean): ConsentView {
        val consent = core.call { app -> app.withdrawConsent(storyId, ConsentHow.AppCheckbox, reporter, eraseAudio) }
        refresh()
        return consent
    }

    /** Stops the observers (off the caller's thread); the scope's own end stops the reads. */
    override fun close() {
        val handles = synchronized(subscriptions) {
            closed = true
            subscriptions.toList().also { subscriptions.clear() }
        }
        core.closeLater(handles)
    }
}
