package org.tellus.presentation

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.tellus.core.ProjectView
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

/** Why enrolment did not happen; the screen says it in the reporter's language. */
enum class EnrolProblem {
    /** Not an invite code (it looks like ABCD-EFGH-JKLM-NPQR). */
    NotACode,
    /** The server address must start with https:// (or http:// on a test network). */
    NotAnAddress,
    /** The server refused the code; `detail` is its message. */
    Refused,
    /** The server's certificate is not trusted, so nothing was sent; `detail` says why. */
    NotTrusted,
    /** The server could not be reached. */
    Unreachable,
    /** The phone's secure storage cannot be used yet: unlock, then the same code again. */
    Locked,
}

sealed interface EnrolUi {
    data object Editing : EnrolUi
    data object Working : EnrolUi
    data class Enrolled(val project: ProjectView) : EnrolUi
    data class Failed(val problem: EnrolProblem, val detail: String? = null) : EnrolUi
}

/** The enrol screen: server address and invite code (typed or scanned) to a project. */
class EnrolState(private val core: CoreAccess, private val deviceLabel: String) {
    private val _state = MutableStateFlow<EnrolUi>(EnrolUi.Editing)
    val state: StateFlow<EnrolUi> = _state.asStateFlow()

    suspend fun enrol(serverUrl: String, typedCode: String): EnrolUi {
        val link = typedCode.trim().takeIf { it.startsWith("tellus:", ignoreCase = true) }
        val code = link ?: InviteCode.normalise(typedCode)
        val url = serverUrl.trim().trimEnd('/')
        val result = when {
            code == null -> EnrolUi.Failed(EnrolProblem.NotACode)
            link == null && !(url.startsWith("https://") || url.startsWith("http://")) ->
                EnrolUi.Failed(EnrolProblem.NotAnAddress)
            else -> {
                _state.value = EnrolUi.Working
                try {
                    EnrolUi.Enrolled(core.call { app -> app.enrol(url, code, deviceLabel) })
                } catch (e: TellusException.ServerRefused) {
                    EnrolUi.Failed(EnrolProblem.Refused, e.message)
                } catch (e: TellusException.ServerNotTrusted) {
                    // Nothing was sent; the same invite works from the right server.
                    EnrolUi.Failed(EnrolProblem.NotTrusted, e.message)
                } catch (e: TellusException.Network) {
                    EnrolUi.Failed(EnrolProblem.Unreachable)
                } catch (e: TellusException.SecretStoreUnavailable) {
                    // Checked before the invite is spent: the same code works once unlocked.
                    EnrolUi.Failed(EnrolProblem.Locked)
                }
            }
        }
        _state.value = result
        return result
    }

    /** Whether this phone is enrolled (and not asked to enrol again). */
    suspend fun isEnrolled(): Boolean = core.call { app -> app.account()?.let { !it.needsEnrolment } ?: false }
}
