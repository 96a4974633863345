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
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.distinctUntilChangedBy
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
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
    private var begun = false
    private var focusRequest: AudioFocusRequest? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        when (intent?.action) {
            ACTION_START -> intent.getStringExtra(EXTRA_STORY)?.let(::begin)
            ACTION_PAUSE -> recording?.perform { pause() }
            ACTION_RESUME -> if (requestFocus()) recording?.perform { resume() }
            ACTION_STOP -> finish()
        }
        // Not restarted by the system after a kill: the core recovers the interrupted
        // recording the next time the app opens its data folder.
        return START_NOT_STICKY
    }

    private fun begin(storyId: String) {
        if (begun) return
        begun = true
        Notifications.ensureChannels(this)
        // Within the 5 s the platform allows, and before the microphone opens.
        ServiceCompat.startForeground(
            this, Notifications.RECORDING_ID, notification(RecordingPhase.Recording, "0:00"),
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) ServiceInfo.FOREGROUND_SERVICE_TYPE_MICROPHONE else 0,
        )
        if (!requestFocus()) {
            stopForegroundAndSelf()
            return
        }
        // The core is called on the IO dispatcher: the holder's scope is the service's
        // lifecycle on Dispatchers.IO (its statistics ticker, the buttons' actions).
        val io = CoroutineScope(lifecycleScope.coroutineContext + Dispatchers.IO)
        lifecycleScope.launch {
            val state = (application as TellusApplication).recording(storyId, io)
            recording = state
            current.value = state
            if (!withContext(Dispatchers.IO) { state.start() }) {
                // The screen shows state.error (no microphone).
                stopForegroundAndSelf()
                return@launch
            }
            follow(state)
        }
    }

    /** The notification follows the recording; it ends the service when the recording ends. */
    private fun follow(state: RecordingState) {
        lifecycleScope.launch {
            state.state.distinctUntilChangedBy { it.phase to it.elapsedMs / 1000 }.collect { ui ->
                if (ui.phase == RecordingPhase.Finished) {
                    stopForegroundAndSelf()
                } else {
                    val manager = getSystemService(android.app.NotificationManager::class.java)
                    manager.notify(Notifications.RECORDING_ID, notification(ui.phase, ui.elapsedText))
                }
            }
        }
    }

    override fun onDestroy() {
        // However the service ends, the recording is stopped and kept, never dropped. The
        // process may end with the service: this one stop (an fsync in the core) waits.
        recording?.stop()
        super.onDestroy()
    }

    private fun finish() {
        val state = recording ?: return stopForegroundAndSelf()
        lifecycleScope.launch {
            withContext(Dispatchers.IO) { state.stop() }
            DeliveryScheduler.prepareAudioSoon(this@RecordingService)
            stopForegroundAndSelf()
        }
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
                        recording?.perform { pause(interrupted = true) }
                    // Regaining focus only offers resume (the notification and the screen).
                }
            }
            .build()
        focusRequest = request
        return getSystemService(AudioManager::class.java).requestAudioFocus(request) ==
            AudioManager.AUDIOFOCUS_REQUEST_GRANTED
    }

    private fun notification(phase: RecordingPhase, elapsedText: String) =
        NotificationCompat.Builder(this, Notifications.RECORDING_CHANNEL)
            .setSmallIcon(android.R.drawable.ic_btn_speak_now)
            .setContentTitle(getString(if (phase == RecordingPhase.Paused) R.string.recording_paused else R.string.recording_title))
            .setContentText(elapsedText)
            .setOngoing(true)
            .setSilent(true)
            .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
            .setContentIntent(
                PendingIntent.getActivity(
                    this, 0, Intent(this, MainActivity::class.java), PendingIntent.FLAG_IMMUTABLE,
                ),
            )
            .apply {
                if (phase == RecordingPhase.Paused) addAction(0, getString(R.string.recording_resume), action(ACTION_RESUME))
                else addAction(0, getString(R.string.recording_pause), action(ACTION_PAUSE))
                addAction(0, getString(R.string.recording_stop), action(ACTION_STOP))
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
    }
}
