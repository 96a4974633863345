package org.tellus.presentation

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.tellus.core.ProjectView
import org.tellus.core.TellusApp
import org.tellus.core.TellusException

/**
 * Invite codes as the server makes them: 16 characters from an alphabet without the
 * look-alikes (I, L, O, 0, 1), shown as XXXX-XXXX-XXXX-XXXX. Typed codes are forgiving
 * (lower case, spaces, missing dashes). A scanned QR code holds either the code or an
 * invite link (tellus://enrol?...) with the server and, for a server with a self-signed
 * certificate, the pin of its key: the core reads the link.
 */
object InviteCode {
    private const val ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

    /** The code in the server's form, or null when it cannot be one. */
    fun normalise(typed: String): String? {
        val raw = typed.uppercase().filter { !it.isWhitespace() && it != '-' }
        if (raw.length != 16 || raw.any { it !in ALPHABET }) return null
        return raw.chunked(4).joinToString("-")
    }
}

sealed interface EnrolUi {
    data object Editing : EnrolUi
    data object Working : EnrolUi
    data class Enrolled(val project: ProjectView) : EnrolUi
    data class Failed(val message: String) : EnrolUi
}

/** The enrol screen: server address and invite code (typed or scanned) to a project. */
class EnrolState(private val app: TellusApp, private val deviceLabel: String) {
    private val _state = MutableStateFlow<EnrolUi>(EnrolUi.Editing)
    val state: StateFlow<EnrolUi> = _state.asStateFlow()

    suspend fun enrol(serverUrl: String, typedCode: String): EnrolUi {
        val link = typedCode.trim().takeIf { it.startsWith("tellus:", ignoreCase = true) }
        val code = link ?: InviteCode.normalise(typedCode)
        val url = serverUrl.trim().trimEnd('/')
        val result = when {
            code == null -> EnrolUi.Failed("That is not an invite code. It looks like ABCD-EFGH-JKLM-NPQR.")
            link == null && !(url.startsWith("https://") || url.startsWith("http://")) ->
                EnrolUi.Failed("The server address starts with https://")
            else -> {
                _state.value = EnrolUi.Working
                try {
                    EnrolUi.Enrolled(app.enrol(url, code, deviceLabel))
                } catch (e: TellusException.ServerRefused) {
                    EnrolUi.Failed("The server refused the code: ${e.message}")
                } catch (e: TellusException.ServerNotTrusted) {
                    // Nothing was sent; the same invite works from the right server.
                    EnrolUi.Failed("This server's certificate is not trusted, so nothing was sent. ${e.message}")
                } catch (e: TellusException.Network) {
                    EnrolUi.Failed("The server could not be reached. Check the address and the connection, then try again.")
                } catch (e: TellusException.SecretStoreUnavailable) {
                    // Checked before the invite is spent: the same code works once unlocked.
                    EnrolUi.Failed("The phone's secure storage cannot be used yet. Unlock the phone, then try the same code again.")
                }
            }
        }
        _state.value = result
        return result
    }
}
