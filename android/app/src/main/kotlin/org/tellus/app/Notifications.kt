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
            NotificationChannel(RECORDING_CHANNEL, context.getString(R.string.channel_recording), NotificationManager.IMPORTANCE_LOW).apply {
                description = context.getString(R.string.channel_recording_description)
            },
        )
        manager.createNotificationChannel(
            NotificationChannel(DELIVERY_CHANNEL, context.getString(R.string.channel_delivery), NotificationManager.IMPORTANCE_MIN).apply {
                description = context.getString(R.string.channel_delivery_description)
            },
        )
    }
}
