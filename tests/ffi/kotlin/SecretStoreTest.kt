// The device token in a platform secret store, from Kotlin on the JVM against the real
// library and a real `tellus serve` on loopback: a SecretStore written in Kotlin (what the
// Android shell's Keystore store and the iOS Keychain store implement) keeps the token,
// whose bytes never reach the app's SQLite files; reopening stays enrolled; a store that
// throws gives SecretStoreUnavailable and loses nothing; a token an earlier version kept
// in SQLite moves to the store.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File
import java.nio.file.Files
import java.util.concurrent.ConcurrentHashMap

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_KT_SECRET_INVITES") ?: "").split(","))

/** An in-memory secret store that can be locked, or fail as a buggy shell would. */
class MemorySecretStore : PlatformSecretStore {
    val values = ConcurrentHashMap<String, String>()
    @Volatile var locked = false
    @Volatile var crashing = false

    private fun guard() {
        if (locked) throw SecretStoreException.Unavailable("locked before the first unlock (test)")
        if (crashing) throw IllegalStateException("keystore daemon died (test)")
    }

    override fun get(name: String): String? { guard(); return values[name] }
    override fun set(name: String, value: String) { guard(); values[name] = value }
    override fun delete(name: String) { guard(); values.remove(name) }
}

/** Whether any of the database's files (tellus.db, -wal, -shm) in `dir` holds `secret`. */
fun databaseFilesContain(dir: File, secret: String): Boolean {
    val needle = secret.toByteArray()
    return dir.listFiles()!!.filter { it.name.startsWith("tellus.db") }.any { file ->
        // SQLite removes -wal and -shm when its last connection closes, which a thread of
        // the core's may do between the listing and the read: a file gone holds nothing.
        val bytes = try { file.readBytes() } catch (e: java.io.FileNotFoundException) { return@any false }
        (0..bytes.size - needle.size).any { i -> needle.indices.all { bytes[i + it] == needle[it] } }
    }
}

/** A ready story with `record` consent (no audio: the token rides on every request). */
private fun readyStory(app: TellusApp, title: String): StoryView {
    val story = app.createStory(title, "Participant 4")
    app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record"))
    return app.markReady(story.id)
}

fun secretStoreTests() {
    check("the device token lives in the Kotlin secret store, never in the app's SQLite files; reopening stays enrolled") {
        val dir = Files.createTempDirectory("tellus-kt-secrets").toFile()
        val secrets = MemorySecretStore()
        val story = TellusApp.openWithPlatform(dir.path, secrets, null).use { app ->
            runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin secrets phone") }
            val story = readyStory(app, "Waiting for a repair")
            val report = runBlocking { app.syncNow() }
            expect(report.documentsSent == 1u && report.consentEventsSent == 1u) { "$report" }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
            story
        }
        val token = secrets.values["device_token"] ?: throw AssertionError("no token in the Kotlin store: ${secrets.values.keys}")
        expect(token.length >= 16) { "not a token: ${token.length} characters" }
        expect(!databaseFilesContain(dir, token)) { "the token's bytes are in the app's SQLite files" }
        TellusApp.openWithPlatform(dir.path, secrets, null).use { app ->
            val account = app.account()
            expect(account != null && !account.needsEnrolment) { "not enrolled after reopening: $account" }
            val again = runBlocking { app.syncNow() }
            expect(again.documentsSent == 0u && again.consentEventsSent == 0u) { "a second sync sent $again" }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
        }
        expect(!databaseFilesContain(dir, token)) { "the token's bytes are in the app's SQLite files" }
    }

    check("a secret store that throws gives SecretStoreUnavailable, loses nothing, and the next sync delivers") {
        val secrets = MemorySecretStore()
        val dir = Files.createTempDirectory("tellus-kt-secrets").toString()
        TellusApp.openWithPlatform(dir, secrets, null).use { app ->
            runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin secrets phone") }
            val story = readyStory(app, "The night bus")
            secrets.locked = true
            val locked = expectThrows<TellusException.SecretStoreUnavailable> { runBlocking { app.syncNow() } }
            expect(locked.message?.contains("try again later") == true) { "${locked.message}" }
            secrets.locked = false
            secrets.crashing = true // an undeclared exception is "cannot be used now" too
            val crashed = expectThrows<TellusException.SecretStoreUnavailable> { runBlocking { app.syncNow() } }
            expect(crashed.message?.contains("keystore daemon died") == true) { "${crashed.message}" }
            secrets.crashing = false
            val account = app.account()
            expect(account != null && !account.needsEnrolment) { "a locked store must not mean 'enrol again': $account" }
            expect(app.deliveryState(story.id) == DeliveryStateView.OnlyOnThisPhone) { "${app.deliveryState(story.id)}" }
            val report = runBlocking { app.syncNow() }
            expect(report.documentsSent == 1u) { "$report" }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
        }
    }

    check("a token an earlier version kept in SQLite moves to the secret store when opened with it") {
        val dir = Files.createTempDirectory("tellus-kt-secrets").toFile()
        val story = TellusApp.open(dir.path).use { app ->
            runBlocking { app.enrol(server, invites.removeFirst(), "Kotlin phone before the upgrade") }
            readyStory(app, "Before the upgrade")
        }
        val before = Files.createTempDirectory("tellus-kt-before").toFile()
        dir.listFiles()!!.filter { it.name.startsWith("tellus.db") }.forEach { it.copyTo(File(before, it.name)) }
        val secrets = MemorySecretStore()
        TellusApp.openWithPlatform(dir.path, secrets, null).use { app ->
            val token = secrets.values["device_token"] ?: throw AssertionError("the token did not move")
            expect(databaseFilesContain(before, token)) { "the old database did not hold the token: this proves nothing" }
            expect(!databaseFilesContain(dir, token)) { "the token's bytes are still in the app's SQLite files" }
            val report = runBlocking { app.syncNow() }
            expect(report.documentsSent == 1u) { "an upgraded phone must deliver without enrolling again: $report" }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
        }
    }
}
