package org.tellus.app

import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.media.AudioAttributes
import android.media.AudioFocusRequest
import android.media.AudioManager
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.core.app.ServiceCompat
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleService
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.distinctUntilChangedBy
import kotlinx.coroutines.launch
import org.tellus.presentation.RecordingPhase
import org.tellus.presentation.RecordingState

/**
 * Owns the recording while it runs, as a foreground service of type microphone, so that
 * it survives the screen locking and the app going to the background. Losing audio focus
 * (a phone call, another app recording) pauses into the core and the notification offers
 * resume; nothing resumes on its own. All logic is in RecordingState.
 */
class RecordingService : LifecycleService() {
    private var recording: RecordingState? = null
    private var focusRequest: AudioFocusRequest? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        when (intent?.action) {
            ACTION_START -> intent.getStringExtra(EXTRA_STORY)?.let(::begin)
            ACTION_PAUSE -> recording?.pause()
            ACTION_RESUME -> if (requestFocus()) recording?.resume()
            ACTION_STOP -> finish()
        }
        // Not restarted by the system after a kill: the core recovers the interrupted
        // recording the next time the app opens its data folder.
        return START_NOT_STICKY
    }

    private fun begin(storyId: String) {
        if (recording != null) return
        Notifications.ensureChannels(this)
        // Within the 5 s the platform allows, and before the microphone opens.
        ServiceCompat.startForeground(
            this, Notifications.RECORDING_ID, notification(RecordingPhase.Recording, 0),
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) ServiceInfo.FOREGROUND_SERVICE_TYPE_MICROPHONE else 0,
        )
        val state = (application as TellusApplication).recording(storyId, lifecycleScope)
        recording = state
        current.value = state
        if (!requestFocus() || !state.start()) {
            // The screen shows state.error (no microphone, focus refused by a call).
            stopForegroundAndSelf()
            return
        }
        lifecycleScope.launch {
            state.state.distinctUntilChangedBy { it.phase to it.elapsedMs / 1000 }.collect { ui ->
                if (ui.phase == RecordingPhase.Finished) {
                    stopForegroundAndSelf()
                } else {
                    val manager = getSystemService(android.app.NotificationManager::class.java)
                    manager.notify(Notifications.RECORDING_ID, notification(ui.phase, ui.elapsedMs))
                }
            }
        }
    }

    override fun onDestroy() {
        // However the service ends, the recording is stopped and kept, never dropped.
        recording?.stop()
        super.onDestroy()
    }

    private fun finish() {
        recording?.stop()
        stopForegroundAndSelf()
    }

    private fun stopForegroundAndSelf() {
        focusRequest?.let { getSystemService(AudioManager::class.java).abandonAudioFocusRequest(it) }
        focusRequest = null
        ServiceCompat.stopForeground(this, ServiceCompat.STOP_FOREGROUND_REMOVE)
        stopSelf()
    }

    private fun requestFocus(): Boolean {
        val request = AudioFocusRequest.Builder(AudioManager.AUDIOFOCUS_GAIN)
            .setAudioAttributes(
                AudioAttributes.Builder()
                    .setUsage(AudioAttributes.USAGE_VOICE_COMMUNICATION)
                    .setContentType(AudioAttributes.CONTENT_TYPE_SPEECH)
                    .build(),
            )
            .setOnAudioFocusChangeListener { change ->
                when (change) {
                    AudioManager.AUDIOFOCUS_LOSS, AudioManager.AUDIOFOCUS_LOSS_TRANSIENT ->
                        recording?.pause(interrupted = true)
                    // Regaining focus only offers resume (the notification and the screen).
                }
            }
            .build()
        focusRequest = request
        return getSystemService(AudioManager::class.java).requestAudioFocus(request) ==
            AudioManager.AUDIOFOCUS_REQUEST_GRANTED
    }

    private fun notification(phase: RecordingPhase, elapsedMs: Long) =
        NotificationCompat.Builder(this, Notifications.RECORDING_CHANNEL)
            .setSmallIcon(android.R.drawable.ic_btn_speak_now)
            .setContentTitle(if (phase == RecordingPhase.Paused) "Recording paused" else "Recording")
            .setContentText(formatElapsed(elapsedMs))
            .setOngoing(true)
            .setSilent(true)
            .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
            .setContentIntent(
                PendingIntent.getActivity(
                    this, 0, Intent(this, MainActivity::class.java), PendingIntent.FLAG_IMMUTABLE,
                ),
            )
            .apply {
                if (phase == RecordingPhase.Paused) addAction(0, "Resume", action(ACTION_RESUME))
                else addAction(0, "Pause", action(ACTION_PAUSE))
                addAction(0, "Stop", action(ACTION_STOP))
            }
            .build()

    private fun action(name: String) = PendingIntent.getService(
        this, name.hashCode(), Intent(this, RecordingService::class.java).setAction(name),
        PendingIntent.FLAG_IMMUTABLE,
    )

    companion object {
        private const val ACTION_START = "start"
        private const val ACTION_PAUSE = "pause"
        private const val ACTION_RESUME = "resume"
        private const val ACTION_STOP = "stop"
        private const val EXTRA_STORY = "story"

        private val current = MutableStateFlow<RecordingState?>(null)
        /** The recording in progress (or just finished), for the recording screen. */
        val recording: StateFlow<RecordingState?> = current

        fun start(context: Context, storyId: String) = ContextCompat.startForegroundService(
            context,
            Intent(context, RecordingService::class.java).setAction(ACTION_START).putExtra(EXTRA_STORY, storyId),
        )

        fun stop(context: Context) =
            context.startService(Intent(context, RecordingService::class.java).setAction(ACTION_STOP))

        fun formatElapsed(ms: Long): String {
            val s = ms / 1000
            return if (s >= 3600) "%d:%02d:%02d".format(s / 3600, s / 60 % 60, s % 60) else "%d:%02d".format(s / 60, s % 60)
        }
    }
}
