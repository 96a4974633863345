package org.tellus.app

import android.app.NotificationChannel
import android.app.NotificationManager
import android.content.Context

object Notifications {
    const val RECORDING_CHANNEL = "recording"
    const val DELIVERY_CHANNEL = "delivery"
    const val RECORDING_ID = 1
    const val DELIVERY_ID = 2

    fun ensureChannels(context: Context) {
        val manager = context.getSystemService(NotificationManager::class.java)
        manager.createNotificationChannel(
            NotificationChannel(RECORDING_CHANNEL, "Recording", NotificationManager.IMPORTANCE_LOW).apply {
                description = "Shown while an interview is being recorded"
            },
        )
        manager.createNotificationChannel(
            NotificationChannel(DELIVERY_CHANNEL, "Delivery", NotificationManager.IMPORTANCE_MIN).apply {
                description = "Shown while stories are sent to the project"
            },
        )
    }
}
