package org.tellus.presentation

import org.tellus.core.NetworkKind
import org.tellus.core.SyncReportView
import org.tellus.core.SyncSettingsView
import org.tellus.core.TellusApp
import org.tellus.core.TellusException

/** The network a background job needs: the WorkManager constraint, without Android types. */
enum class NetworkNeed { CONNECTED, UNMETERED }

/** What the background job tells WorkManager after a run. */
sealed interface DeliveryOutcome {
    /** Nothing more to do now. */
    data class Done(val report: SyncReportView) : DeliveryOutcome
    /** Some audio waits for an unmetered network (the setting): schedule work needing it. */
    data class WaitForUnmetered(val report: SyncReportView) : DeliveryOutcome
    /** The server could not be reached, items wait to retry, or the Keystore cannot be used
     *  now: WorkManager's backoff. */
    data object Retry : DeliveryOutcome
    /** The phone must enrol (again): no retry until the reporter does. */
    data class NeedsEnrolment(val message: String) : DeliveryOutcome
}

/**
 * Background delivery as the Android WorkManager job runs it: tell the core which network
 * the phone has, sync, and turn the result into what to schedule next. The core decides
 * what goes (metadata never waits; audio waits for unmetered when the setting says so).
 */
class Delivery(private val app: TellusApp) {
    suspend fun run(network: NetworkKind): DeliveryOutcome {
        app.setNetwork(network)
        val report = try {
            app.syncNow()
        } catch (e: TellusException.Network) {
            return DeliveryOutcome.Retry
        } catch (e: TellusException.Cancelled) {
            return DeliveryOutcome.Retry
        } catch (e: TellusException.SecretStoreUnavailable) {
            // The Keystore cannot be used now (e.g. before the first unlock): later, and
            // never "enrol again".
            return DeliveryOutcome.Retry
        } catch (e: TellusException.ServerNotTrusted) {
            // Nothing was sent. The server's certificate may be fixed (renewed, or the
            // wrong one restored): the next attempt asks the core again.
            return DeliveryOutcome.Retry
        } catch (e: TellusException.NotEnrolled) {
            return DeliveryOutcome.NeedsEnrolment(e.message ?: "enrol again")
        }
        return when {
            report.waitingToRetry > 0u -> DeliveryOutcome.Retry
            report.audioWaitingForUnmetered > 0u -> DeliveryOutcome.WaitForUnmetered(report)
            else -> DeliveryOutcome.Done(report)
        }
    }

    /** The phone's network changed: a sync in flight adapts (audio stops on metered if so set). */
    fun networkChanged(network: NetworkKind) = app.setNetwork(network)

    /** The constraint for the follow-up work after `outcome`, or null when none is needed. */
    fun followUpNeed(outcome: DeliveryOutcome): NetworkNeed? = when (outcome) {
        is DeliveryOutcome.Done, is DeliveryOutcome.NeedsEnrolment -> null
        is DeliveryOutcome.WaitForUnmetered -> NetworkNeed.UNMETERED
        DeliveryOutcome.Retry -> NetworkNeed.CONNECTED
    }

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
class SettingsState(private val app: TellusApp) {
    fun current(): SyncSettingsView = app.syncSettings()

    fun setAudioOnWifiOnly(on: Boolean): SyncSettingsView =
        app.syncSettings().copy(audioOnUnmeteredOnly = on).also { app.setSyncSettings(it) }

    fun setRemoveLocalAudioAfterDelivery(on: Boolean): SyncSettingsView =
        app.syncSettings().copy(removeLocalAudioAfterDelivery = on).also { app.setSyncSettings(it) }
}
