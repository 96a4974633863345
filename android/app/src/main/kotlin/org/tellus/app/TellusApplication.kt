package org.tellus.app

import android.app.Application
import android.content.pm.ApplicationInfo
import android.os.Build
import android.util.Log
import kotlinx.coroutines.CoroutineScope
import org.tellus.core.LogLevel
import org.tellus.core.LogRecord
import org.tellus.core.LogSink
import org.tellus.core.TellusApp
import org.tellus.core.setLogSink
import org.tellus.presentation.ConsentFormState
import org.tellus.presentation.Delivery
import org.tellus.presentation.EnrolState
import org.tellus.presentation.RecordingState
import org.tellus.presentation.ReviewState
import org.tellus.presentation.SealedFileSecrets
import org.tellus.presentation.SecretBoxStore
import org.tellus.presentation.SettingsState
import org.tellus.presentation.StoryListState
import java.io.File
import android.os.LocaleList

/**
 * The one place the app touches the bindings (tests/android/check-layering.sh enforces
 * it): opens the core on the app's private data folder and hands out the presentation
 * layer's state holders. Everything else in the app uses those.
 */
class TellusApplication : Application() {
    private lateinit var core: TellusApp

    override fun onCreate() {
        super.onCreate()
        // The core's logs (ids, counts, outcomes; never story content) to logcat, first,
        // so that opening the core is logged too. Debug builds hear more.
        val debuggable = (applicationInfo.flags and ApplicationInfo.FLAG_DEBUGGABLE) != 0
        setLogSink(LogcatSink, if (debuggable) LogLevel.DEBUG else LogLevel.INFO)
        // noBackupFilesDir: the data folder (stories, consent) and the sealed device token
        // are never backed up or moved to another device. The token is sealed by a
        // Keystore key (KeystoreSealingKey) and never written to the app's SQLite; one an
        // earlier version kept there moves out now. A Keystore that cannot be used yet
        // does not stop opening: sync retries later.
        val secrets = SealedFileSecrets(File(noBackupFilesDir, "secrets"), KeystoreSealingKey())
        core = TellusApp.openWithPlatform(File(noBackupFilesDir, "tellus").path, SecretBoxStore(secrets), null)
        DeliveryScheduler.deliverSoon(this) // at start: whatever waited while the app was closed
        NetworkWatcher.start(this)
    }

    val isEnrolled: Boolean get() = core.account()?.let { !it.needsEnrolment } ?: false
    val reporterName: String get() = core.account()?.reporterId ?: "reporter"

    fun enrolment() = EnrolState(core, "${Build.MANUFACTURER} ${Build.MODEL}")
    fun storyList() = StoryListState(core)
    fun settings() = SettingsState(core)
    fun delivery() = Delivery(core)
    fun review(storyId: String) = ReviewState(core, storyId)

    /** A new story for a participant (a label, never their name); returns its id. */
    fun newStory(storytellerLabel: String): String = core.createStory("", storytellerLabel).id

    fun consentForm(storyId: String) =
        ConsentFormState(core, storyId, reporterName, LocaleList.getDefault().toLanguageTags().split(","))

    fun recording(storyId: String, scope: CoroutineScope) =
        RecordingState(core, storyId, core.project().guide, scope)
}

/** The core's log records to logcat, tagged by the part of the core that logged. */
private object LogcatSink : LogSink {
    override fun log(record: LogRecord) {
        // Logcat tags are at most 23 characters: the last part of the Rust target.
        val tag = "tellus." + record.target.substringAfterLast("::").take(16)
        when (record.level) {
            LogLevel.ERROR -> Log.e(tag, record.message)
            LogLevel.WARN -> Log.w(tag, record.message)
            LogLevel.INFO -> Log.i(tag, record.message)
            LogLevel.DEBUG -> Log.d(tag, record.message)
            LogLevel.TRACE -> Log.v(tag, record.message)
        }
    }
}
