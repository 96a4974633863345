package org.tellus.app

import android.Manifest
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.material3.MaterialTheme
import androidx.core.content.ContextCompat
import org.tellus.app.ui.TellusNavHost

/** Hosts the Compose screens (navigation-compose; each screen's state in its ViewModel). */
class MainActivity : ComponentActivity() {
    private var afterPermission: (() -> Unit)? = null
    private val askMicrophone = registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { granted ->
        if (granted[Manifest.permission.RECORD_AUDIO] == true) afterPermission?.invoke()
        afterPermission = null
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme {
                TellusNavHost(hasMicrophone = ::hasMicrophonePermission, askMicrophone = ::askMicrophone)
            }
        }
    }

    private fun hasMicrophonePermission() =
        ContextCompat.checkSelfPermission(this, Manifest.permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED

    /** Asked in context (the screen has explained why first); notifications with it on 13+. */
    private fun askMicrophone(then: () -> Unit) {
        afterPermission = then
        val permissions = buildList {
            add(Manifest.permission.RECORD_AUDIO)
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) add(Manifest.permission.POST_NOTIFICATIONS)
        }
        askMicrophone.launch(permissions.toTypedArray())
    }
}
