package org.tellus.app

import android.content.Context
import android.content.pm.ServiceInfo
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.work.BackoffPolicy
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
import org.tellus.presentation.DeliveryOutcome
import org.tellus.presentation.NetworkNeed
import java.util.concurrent.TimeUnit

/**
 * Background delivery as WorkManager unique work: one chain at a time ("deliver"), with a
 * network constraint. Triggered at start, when a story becomes ready and when the network
 * returns; the worker's decisions (what to schedule next) are the presentation layer's.
 */
object DeliveryScheduler {
    private const val WORK = "deliver"
    private const val WORK_AUDIO = "deliver-audio-on-unmetered"

    fun deliverSoon(context: Context) = enqueue(context, WORK, NetworkNeed.CONNECTED, expedited = true)

    fun enqueue(context: Context, name: String, need: NetworkNeed, expedited: Boolean) {
        val request = OneTimeWorkRequestBuilder<DeliveryWorker>()
            .setConstraints(
                Constraints.Builder()
                    .setRequiredNetworkType(
                        if (need == NetworkNeed.UNMETERED) NetworkType.UNMETERED else NetworkType.CONNECTED,
                    )
                    .build(),
            )
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .apply { if (expedited) setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST) }
            .build()
        // APPEND_OR_REPLACE: a trigger while a run is going queues one more run after it
        // (the core joins concurrent syncs anyway), never a parallel one.
        WorkManager.getInstance(context).enqueueUniqueWork(name, ExistingWorkPolicy.APPEND_OR_REPLACE, request)
    }

    internal fun followUp(context: Context, need: NetworkNeed) = when (need) {
        NetworkNeed.UNMETERED -> enqueue(context, WORK_AUDIO, need, expedited = false)
        NetworkNeed.CONNECTED -> Unit // the worker's Result.retry() uses WorkManager's backoff
    }
}

class DeliveryWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as TellusApplication
        val delivery = app.delivery()
        // Long uploads keep going as foreground work (dataSync) within the platform's limits.
        runCatching { setForeground(getForegroundInfo()) }
        val outcome = delivery.run(NetworkWatcher.currentKind(applicationContext))
        delivery.followUpNeed(outcome)?.let { DeliveryScheduler.followUp(applicationContext, it) }
        return when (outcome) {
            DeliveryOutcome.Retry -> Result.retry()
            is DeliveryOutcome.NeedsEnrolment -> Result.failure() // the stories screen asks to enrol
            else -> Result.success()
        }
    }

    override suspend fun getForegroundInfo(): ForegroundInfo {
        val notification = NotificationCompat.Builder(applicationContext, Notifications.DELIVERY_CHANNEL)
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .setContentTitle("Delivering stories")
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
        val delivery = (context.applicationContext as TellusApplication).delivery()
        cm.registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) = DeliveryScheduler.deliverSoon(context)

            override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) =
                delivery.networkChanged(kindOf(caps))

            override fun onLost(network: Network) = delivery.networkChanged(kindOf(null))
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
