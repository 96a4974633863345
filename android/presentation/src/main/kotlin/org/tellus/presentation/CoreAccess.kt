package org.tellus.presentation

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.tellus.core.SubscriptionHandle
import org.tellus.core.TellusAppInterface

/**
 * The one way the screens reach the core: every call runs on `io` (Dispatchers.IO in the
 * app), never on the caller's thread, so the main thread never waits for SQLite, the disk
 * or a lock in the core. The core is opened on first use, on `io` too (not in
 * `Application.onCreate`). The JVM tests pass a dispatcher of their own and a core that
 * records the thread of every call.
 */
class CoreAccess(private val io: CoroutineDispatcher, private val open: () -> TellusAppInterface) {
    @Volatile private var app: TellusAppInterface? = null

    /** Work that outlives a screen (closing its observers after it is gone). */
    private val background = CoroutineScope(SupervisorJob() + io)

    private fun app(): TellusAppInterface = app ?: synchronized(this) { app ?: open().also { app = it } }

    /** Runs `block` with the core on the IO dispatcher and returns its result. */
    suspend fun <T> call(block: suspend (TellusAppInterface) -> T): T = withContext(io) {
        try {
            block(app())
        } catch (e: java.lang.reflect.UndeclaredThrowableException) {
            // A core behind a java.lang.reflect.Proxy (the JVM tests' call log) wraps the
            // TellusException the generated interface does not declare: the screens see
            // the core's own exception either way.
            throw e.cause ?: e
        }
    }

    /** Cancels subscriptions off the caller's thread (a ViewModel's onCleared runs on main). */
    fun closeLater(handles: List<SubscriptionHandle>) {
        if (handles.isEmpty()) return
        background.launch { handles.forEach { it.close() } }
    }
}

/**
 * What a screen keeps across process death (Android's SavedStateHandle, a map in the JVM
 * tests): small values only, and never a storyteller's name, contact or story text.
 */
interface SavedState {
    operator fun get(key: String): String?
    operator fun set(key: String, value: String?)
}

/** A SavedState in memory: what the tests hand to a "new process". */
class MapSavedState(private val values: MutableMap<String, String?> = mutableMapOf()) : SavedState {
    override fun get(key: String): String? = synchronized(values) { values[key] }
    override fun set(key: String, value: String?) { synchronized(values) { values[key] = value } }
    fun snapshot(): Map<String, String?> = synchronized(values) { values.toMap() }
}
