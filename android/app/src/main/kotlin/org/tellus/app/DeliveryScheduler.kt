package org.tellus.app

import android.content.Context
import android.content.pm.ServiceInfo
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingWorkPolicy
import androidx.work.ForegroundInfo
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import org.tellus.presentation.Delivery
import kotlinx.coroutines.launch
import org.tellus.presentation.FollowUp
import org.tellus.presentation.NetworkNeed
import java.util.concurrent.TimeUnit

/**
 * Background delivery as WorkManager unique work: one chain at a time ("deliver"), with a
 * network constraint. Triggered at start, when a story becomes ready, after a withdrawal
 * and when the network returns; after each run, the next one is what the core decided
 * (`DeliveryOutcome.followUp`: when and on which network), the same decision the CLI's
 * watch loop and iOS's BGTaskScheduler follow. WorkManager's own backoff is not used.
 */
object DeliveryScheduler {
    private const val WORK = "deliver"
    private const val WORK_AUDIO = "deliver-audio-on-unmetered"
    private const val WORK_PREPARE = "prepare-audio"

    fun deliverSoon(context: Context) = enqueue(context, FollowUp(0, NetworkNeed.CONNECTED), expedited = true)

    /**
     * After a recording stops: its verified FLAC and listening copy (data saver,
     * docs/data-saver.md) made in the background with no network needed, then a delivery.
     * Several stops in a row queue one run after another, never two at once.
     */
    fun prepareAudioSoon(context: Context) {
        val request = OneTimeWorkRequestBuilder<AudioPreparationWorker>()
            .setConstraints(Constraints.Builder().setRequiresStorageNotLow(true).build())
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork(WORK_PREPARE, ExistingWorkPolicy.APPEND_OR_REPLACE, request)
    }

    fun enqueue(context: Context, next: FollowUp, expedited: Boolean) {
        val request = OneTimeWorkRequestBuilder<DeliveryWorker>()
            .setConstraints(
                Constraints.Builder()
                    .setRequiredNetworkType(
                        if (next.need == NetworkNeed.UNMETERED) NetworkType.UNMETERED else NetworkType.CONNECTED,
                    )
                    .build(),
            )
            .apply {
                // Expedited work cannot be delayed; a delayed run is ordinary work.
                if (next.delayMs > 0) setInitialDelay(next.delayMs, TimeUnit.MILLISECONDS)
                else if (expedited) setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST)
            }
            .build()
        // Audio held for Wi-Fi waits in its own chain, so that a trigger on mobile data
        // does not replace it. APPEND_OR_REPLACE: a trigger while a run is going queues one
        // more run after it (the core joins concurrent syncs anyway), never a parallel one.
        val name = if (next.need == NetworkNeed.UNMETERED) WORK_AUDIO else WORK
        WorkManager.getInstance(context).enqueueUniqueWork(name, ExistingWorkPolicy.APPEND_OR_REPLACE, request)
    }
}

class DeliveryWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as TellusApplication
        // Long uploads keep going as foreground work (dataSync) within the platform's limits.
        runCatching { setForeground(getForegroundInfo()) }
        val outcome = app.delivery().run(NetworkWatcher.currentKind(applicationContext))
        outcome.followUp(System.currentTimeMillis())?.let { DeliveryScheduler.enqueue(applicationContext, it, expedited = false) }
        // Needs enrolment: nothing is scheduled; the stories screen asks to enrol.
        return if (outcome.needsEnrolment) Result.failure() else Result.success()
    }

    override suspend fun getForegroundInfo(): ForegroundInfo {
        val notification = NotificationCompat.Builder(applicationContext, Notifications.DELIVERY_CHANNEL)
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .setContentTitle(applicationContext.getString(R.string.delivering))
            .setOngoing(true)
            .setSilent(true)
            .build()
        Notifications.ensureChannels(applicationContext)
        return if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            ForegroundInfo(Notifications.DELIVERY_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC)
        } else {
            ForegroundInfo(Notifications.DELIVERY_ID, notification)
        }
    }
}

/** Tells the core the phone's network as it changes, and delivers when it returns. */
object NetworkWatcher {
    fun start(context: Context) {
        val cm = context.getSystemService(ConnectivityManager::class.java)
        val app = context.applicationContext as TellusApplication
        val delivery = app.delivery()
        // The callbacks come on ConnectivityManager's thread; the core is told on IO.
        cm.registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) {
                DeliveryScheduler.deliverSoon(context)
            }

            override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
                app.appScope.launch { delivery.networkChanged(kindOf(caps)) }
            }

            override fun onLost(network: Network) {
                app.appScope.launch { delivery.networkChanged(kindOf(null)) }
            }
        })
    }

    fun currentKind(context: Context) = context.getSystemService(ConnectivityManager::class.java).let { cm ->
        kindOf(cm.getNetworkCapabilities(cm.activeNetwork))
    }

    private fun kindOf(caps: NetworkCapabilities?) = Delivery.networkKind(
        connected = caps?.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET) == true,
        // NOT_METERED covers Wi-Fi and unmetered mobile plans alike.
        metered = caps?.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) != true,
    )
}

/** Makes the copies the data saver needs; failures are tried again by the next run or sync. */
class AudioPreparationWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as TellusApplication
        val report = app.core.call { it.prepareAudio() }
        report.failures.forEach { android.util.Log.w("tellus.audio", "audio copy not made yet: $it") }
        DeliveryScheduler.deliverSoon(applicationContext)
        return Result.success()
    }
}
