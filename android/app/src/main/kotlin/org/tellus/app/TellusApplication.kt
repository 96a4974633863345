package org.tellus.app

import android.app.Application
import android.content.pm.ApplicationInfo
import android.os.Build
import android.os.LocaleList
import android.util.Log
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import org.tellus.core.LogLevel
import org.tellus.core.LogRecord
import org.tellus.core.LogSink
import org.tellus.core.TellusApp
import org.tellus.core.setLogSink
import org.tellus.presentation.ConsentFormState
import org.tellus.presentation.CoreAccess
import org.tellus.presentation.Delivery
import org.tellus.presentation.EnrolState
import org.tellus.presentation.RecordingState
import org.tellus.presentation.ReviewState
import org.tellus.presentation.SavedState
import org.tellus.presentation.SealedFileSecrets
import org.tellus.presentation.SecretBoxStore
import org.tellus.presentation.SettingsState
import org.tellus.presentation.StoryListModel
import java.io.File

/**
 * The one place the app touches the bindings (tests/android/check-layering.sh enforces
 * it): says how to open the core and hands out the presentation layer's models, which
 * the ViewModels hold. The core is opened on first use on Dispatchers.IO (CoreAccess),
 * never on the main thread; every call into it runs there too.
 */
class TellusApplication : Application() {
    /** Work of the whole process (network changes), on the IO dispatcher. */
    val appScope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    val core: CoreAccess by lazy {
        CoreAccess(Dispatchers.IO) {
            // The core's logs (ids, counts, outcomes; never story content) to logcat,
            // first, so that opening the core is logged too. Debug builds hear more.
            val debuggable = (applicationInfo.flags and ApplicationInfo.FLAG_DEBUGGABLE) != 0
            setLogSink(LogcatSink, if (debuggable) LogLevel.DEBUG else LogLevel.INFO)
            // noBackupFilesDir: the data folder (stories, consent) and the sealed device
            // token are never backed up or moved to another device. The token is sealed by
            // a Keystore key (KeystoreSealingKey) and never written to the app's SQLite;
            // one an earlier version kept there moves out now. A Keystore that cannot be
            // used yet does not stop opening: sync retries later.
            val secrets = SealedFileSecrets(File(noBackupFilesDir, "secrets"), KeystoreSealingKey())
            TellusApp.openWithPlatform(File(noBackupFilesDir, "tellus").path, SecretBoxStore(secrets), null)
        }
    }

    override fun onCreate() {
        super.onCreate()
        DeliveryScheduler.deliverSoon(this) // at start: whatever waited while the app was closed
        NetworkWatcher.start(this)
    }

    fun enrolment() = EnrolState(core, "${Build.MANUFACTURER} ${Build.MODEL}")
    fun storyList(scope: CoroutineScope) = StoryListModel(core, scope)
    fun settings() = SettingsState(core)
    fun delivery() = Delivery(core)
    fun review(storyId: String) = ReviewState(core, storyId)

    /** A new story with a working title for a participant (a label, never their name). */
    suspend fun newStory(title: String, storytellerLabel: String): String =
        ReviewState.newStory(core, title, storytellerLabel)

    suspend fun reporterName(): String = core.call { app -> app.account()?.reporterId ?: "reporter" }

    /** The consent form in the first of the phone's languages the form has. */
    fun consentForm(storyId: String, reporter: String, scope: CoroutineScope, saved: SavedState) =
        ConsentFormState(core, storyId, reporter, LocaleList.getDefault().toLanguageTags().split(","), scope, saved)

    /** The recording's state holder, on `scope` (the service's, on the IO dispatcher). */
    suspend fun recording(storyId: String, scope: CoroutineScope): RecordingState =
        core.call { app -> RecordingState(app, storyId, app.project().guide, scope) }
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
