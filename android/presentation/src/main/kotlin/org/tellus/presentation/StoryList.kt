package org.tellus.presentation

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.tellus.core.ConsentHow
import org.tellus.core.ConsentView
import org.tellus.core.DeliveryStateView
import org.tellus.core.StoryObserver
import org.tellus.core.StoryState
import org.tellus.core.StoryView
import org.tellus.core.SubscriptionHandle
import org.tellus.core.SyncObserver
import org.tellus.core.SyncProgressView
import org.tellus.core.TellusApp

/** What the story list says about where a story is. */
sealed interface DeliveryUi {
    val label: String

    data object OnlyOnThisPhone : DeliveryUi { override val label = "Only on this phone" }
    data class Uploading(val percent: Int) : DeliveryUi { override val label = "Uploading $percent %" }
    data class WaitingForConnection(val percent: Int) : DeliveryUi {
        override val label = "Waiting for a connection ($percent % sent)"
    }
    data class WaitingForWifi(val percent: Int) : DeliveryUi { override val label = "Audio waits for Wi-Fi ($percent % sent)" }
    data class WaitingToRetry(val percent: Int, val retryAtMs: Long, val reason: String) : DeliveryUi {
        override val label = "Trying again soon ($percent % sent): $reason"
    }
    data class Cancelled(val percent: Int) : DeliveryUi { override val label = "Cancelled, $percent % on the server" }
    data class Delivered(val localAudioRemoved: Boolean) : DeliveryUi {
        override val label = if (localAudioRemoved) "Delivered (audio removed from this phone)" else "Delivered"
    }
    data class NeedsAttention(val reason: String) : DeliveryUi { override val label = "Needs attention: $reason" }
    data class Withdrawn(val propagated: Boolean) : DeliveryUi {
        override val label = if (propagated) "Withdrawn" else "Withdrawn (the server is told at the next sync)"
    }

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
)

/**
 * The stories screen: each story with its delivery state, refreshed when a story changes
 * in the core and as sync progresses (observers on Rust threads; the flow is thread-safe).
 */
class StoryListState(private val app: TellusApp, private val pageSize: UInt = 200u) : AutoCloseable {
    private val _rows = MutableStateFlow<List<StoryRow>>(emptyList())
    val rows: StateFlow<List<StoryRow>> = _rows.asStateFlow()
    private val subscriptions = mutableListOf<SubscriptionHandle>()

    @Synchronized
    fun refresh(): List<StoryRow> {
        val rows = app.listStories(pageSize, null).map { item ->
            StoryRow(
                id = item.id,
                title = item.title,
                storyteller = item.storytellerLabel,
                ready = item.state == StoryState.READY,
                recordings = item.recordingCount.toInt(),
                delivery = DeliveryUi.of(app.deliveryState(item.id)),
            )
        }
        _rows.value = rows
        return rows
    }

    /** Keeps `rows` current until `close`. */
    fun observe() {
        subscriptions += app.observeStories(object : StoryObserver {
            override fun storyChanged(story: StoryView) { refresh() }
        })
        subscriptions += app.observeSync(object : SyncObserver {
            override fun syncProgress(progress: SyncProgressView) { refresh() }
        })
        refresh()
    }

    /**
     * The storyteller withdraws, from the story's page. `eraseAudio` when they asked for
     * the recording on this phone to be deleted too; the server is told at the next sync.
     */
    fun withdraw(storyId: String, reporter: String, eraseAudio: Boolean): ConsentView {
        val consent = app.withdrawConsent(storyId, ConsentHow.AppCheckbox, reporter, eraseAudio)
        refresh()
        return consent
    }

    override fun close() {
        subscriptions.forEach { it.close() }
        subscriptions.clear()
    }
}
