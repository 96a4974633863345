package org.tellus.presentation

import org.tellus.core.NetworkKind
import org.tellus.core.NetworkNeedView
import org.tellus.core.NextAttemptReasonView
import org.tellus.core.NextAttemptView
import org.tellus.core.SyncReportView
import org.tellus.core.SyncSettingsView
import org.tellus.core.TellusException

/** The network a background job needs: the WorkManager constraint, without Android types. */
enum class NetworkNeed { CONNECTED, UNMETERED }

/** The next background run as WorkManager schedules it: not before `delayMs`, on `need`. */
data class FollowUp(val delayMs: Long, val need: NetworkNeed)

/**
 * What a background run did and when the next one is due. `next` is the core's decision
 * (`NextAttemptView`: the same for the CLI's watch loop and iOS's BGTaskScheduler); this
 * layer only turns it into a WorkManager request.
 */
data class DeliveryOutcome(
    /** The sync's report, or null when the sync failed as a whole (`error`). */
    val report: SyncReportView?,
    val error: TellusException?,
    val next: NextAttemptView,
) {
    /** The phone must enrol (again): nothing is scheduled until the reporter does. */
    val needsEnrolment: Boolean get() = next.reason == NextAttemptReasonView.NEEDS_ENROLMENT

    /** The run to schedule after this one, or null when nothing waits. */
    fun followUp(nowMs: Long): FollowUp? {
        if (!next.scheduled) return null
        val delay = ((next.atMs ?: nowMs) - nowMs).coerceAtLeast(0)
        val need = if (next.network == NetworkNeedView.UNMETERED) NetworkNeed.UNMETERED else NetworkNeed.CONNECTED
        return FollowUp(delay, need)
    }
}

/**
 * Background delivery as the Android WorkManager job runs it: tell the core which network
 * the phone has, sync, and ask the core when the next run is due. The core decides what
 * goes (metadata never waits; audio waits for unmetered when the setting says so) and
 * when to try again (an item's backoff, a failed sync's growing backoff, held audio).
 */
class Delivery(private val core: CoreAccess) {
    suspend fun run(network: NetworkKind): DeliveryOutcome {
        core.call { app -> app.setNetwork(network) }
        val (report, error) = try {
            core.call { app -> app.syncNow() } to null
        } catch (e: TellusException) {
            // Network, Cancelled, SecretStoreUnavailable (the Keystore before the first
            // unlock), ServerNotTrusted (a certificate that may be fixed), NotEnrolled: the
            // core's next attempt says what each means for scheduling.
            null to e
        }
        return DeliveryOutcome(report, error, report?.nextAttempt ?: core.call { app -> app.nextAttempt() })
    }

    /** The phone's network changed: a sync in flight adapts (audio stops on metered if so set). */
    suspend fun networkChanged(network: NetworkKind) = core.call { app -> app.setNetwork(network) }

    companion object {
        /** The phone's network as the core needs it, from what the platform reports. */
        fun networkKind(connected: Boolean, metered: Boolean): NetworkKind = when {
            !connected -> NetworkKind.NONE
            metered -> NetworkKind.METERED
            else -> NetworkKind.UNMETERED
        }
    }
}

/** The settings screen: audio on Wi-Fi only, remove local audio after delivery. */
class SettingsState(private val core: CoreAccess) {
    suspend fun current(): SyncSettingsView = core.call { app -> app.syncSettings() }

    suspend fun setAudioOnWifiOnly(on: Boolean): SyncSettingsView = core.call { app ->
        app.syncSettings().copy(audioOnUnmeteredOnly = on).also { app.setSyncSettings(it) }
    }

    suspend fun setRemoveLocalAudioAfterDelivery(on: Boolean): SyncSettingsView = core.call { app ->
        app.syncSettings().copy(removeLocalAudioAfterDelivery = on).also { app.setSyncSettings(it) }
    }
}
