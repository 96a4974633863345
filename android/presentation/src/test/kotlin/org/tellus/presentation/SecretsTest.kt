package org.tellus.presentation

import kotlinx.coroutines.runBlocking
import org.tellus.core.NetworkKind
import org.tellus.core.NextAttemptReasonView
import org.tellus.core.TellusException
import org.tellus.core.SecretStoreException
import org.tellus.core.TellusApp
import java.io.File
import java.nio.file.Files
import java.security.InvalidKeyException
import java.security.ProviderException
import java.security.UnrecoverableKeyException
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.SecretKeySpec

private val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
private val invites = ArrayDeque((System.getenv("TELLUS_ANDROID_SECRET_INVITES") ?: "").split(","))

/** What AndroidKeyStore throws when its key is invalidated for good. */
private class PermanentlyInvalidated : InvalidKeyException("Key permanently invalidated (test)")

/**
 * A software AES-256 key standing in for the AndroidKeyStore one: same cipher, same sealed
 * files. It can be lost (restored to a new phone), fail the way AndroidKeyStoreSpi fails
 * when the keystore is busy or restarting (UnrecoverableKeyException), be refused by the
 * cipher (a plain InvalidKeyException, as for "Keystore operation failed"), or be
 * invalidated for good.
 */
private class SoftwareKey : SealingKey {
    var key: SecretKey? = null
    @Volatile var failing = false
    /** The cipher refuses the key (InvalidKeyException); `invalidated`: for good. */
    @Volatile var refused = false
    @Volatile var invalidated = false

    override fun existing(): SecretKey? {
        if (failing) throw UnrecoverableKeyException("Failed to obtain information about key (test)")
        // A 5-byte AES key: Cipher.init throws a real InvalidKeyException.
        if (refused && key != null) return SecretKeySpec(ByteArray(5), "AES")
        return key
    }

    override fun create(): SecretKey {
        if (failing) throw ProviderException("Keystore operation failed (test)")
        refused = false
        invalidated = false
        return KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { key = it }
    }

    override fun destroy() {
        key = null
    }

    override fun isGoneForGood(e: Exception) = invalidated && e is InvalidKeyException
}

private fun contains(file: File, text: String): Boolean {
    val bytes = file.readBytes()
    val needle = text.toByteArray()
    return (0..bytes.size - needle.size).any { i -> needle.indices.all { bytes[i + it] == needle[it] } }
}

private fun tempDir(): File = Files.createTempDirectory("tellus-secrets").toFile()

fun secretsTests() {
    check("a sealed secret reads back, its file holds no plaintext, and every write has a fresh IV") {
        val dir = tempDir()
        val box = SealedFileSecrets(dir, SoftwareKey())
        expect(box.read("device_token") == null) { "a secret before any write" }
        val token = "tok_0123456789abcdefghij"
        box.write("device_token", token)
        val file = File(dir, "device_token.sealed")
        val first = file.readBytes()
        expect(box.read("device_token") == token) { "did not read back" }
        expect(!contains(file, token)) { "the plaintext is in the sealed file" }
        box.write("device_token", token)
        val second = file.readBytes()
        expect(first[1] == 12.toByte() && second[1] == 12.toByte()) { "a GCM IV is 12 bytes" }
        expect(!first.copyOfRange(2, 14).contentEquals(second.copyOfRange(2, 14))) { "an IV was reused" }
        expect(dir.listFiles()!!.map { it.name } == listOf("device_token.sealed")) { "leftovers: ${dir.list()!!.toList()}" }
        box.erase("device_token")
        expect(box.read("device_token") == null && !file.exists()) { "not erased" }
        box.erase("device_token") // twice is fine
    }

    check("a secret whose key is lost or whose file is damaged reads as gone, and a new key seals the next write") {
        val dir = tempDir()
        val key = SoftwareKey()
        val box = SealedFileSecrets(dir, key)
        box.write("device_token", "first")
        key.destroy() // restored to a new phone: the file without its key
        expect(box.read("device_token") == null) { "a secret without its key" }
        expect(!File(dir, "device_token.sealed").exists()) { "the unusable file was kept" }
        box.write("device_token", "second")
        expect(box.read("device_token") == "second") { "a new key did not seal" }
        key.create() // another key: the file no longer opens
        expect(box.read("device_token") == null) { "opened under another key" }
        box.write("device_token", "third")
        val file = File(dir, "device_token.sealed")
        file.writeBytes(file.readBytes().also { it[it.size - 1] = (it[it.size - 1].toInt() xor 1).toByte() })
        expect(box.read("device_token") == null) { "a damaged file was read" }
    }

    check("a key store that fails is 'unavailable', never 'gone', and keeps the sealed secret") {
        val dir = tempDir()
        val key = SoftwareKey()
        val store = SecretBoxStore(SealedFileSecrets(dir, key))
        store.set("device_token", "kept")
        key.failing = true
        for (call in listOf<() -> Unit>({ store.get("device_token") }, { store.set("device_token", "x") })) {
            try {
                call()
                throw AssertionError("a failing key store did not throw")
            } catch (e: SecretStoreException.Unavailable) {
                expect(e.message?.contains("Failed to obtain information about key") == true) { "${e.message}" }
            }
        }
        key.failing = false
        expect(store.get("device_token") == "kept") { "the secret was lost" }
    }

    check("a cipher that refuses the key keeps secret and key; a key invalidated for good sets the secret aside") {
        val dir = tempDir()
        val key = SoftwareKey()
        val store = SecretBoxStore(SealedFileSecrets(dir, key))
        store.set("device_token", "kept")
        val sealed = File(dir, "device_token.sealed")
        key.refused = true
        for (call in listOf<() -> Unit>({ store.get("device_token") }, { store.set("device_token", "x") })) {
            try {
                call()
                throw AssertionError("a refused key did not throw")
            } catch (e: SecretStoreException.Unavailable) {
                expect(e.message?.contains("InvalidKeyException") == true) { "${e.message}" }
            }
        }
        expect(sealed.exists() && key.key != null) { "a passing refusal deleted the secret or the key" }
        key.refused = false
        expect(store.get("device_token") == "kept") { "the secret was lost" }
        key.refused = true
        key.invalidated = true
        expect(store.get("device_token") == null) { "an invalidated key still opened the secret" }
        expect(!sealed.exists() && File(dir, "device_token.sealed.unreadable").exists()) { "not set aside" }
        store.set("device_token", "new") // a new key seals from now on
        expect(store.get("device_token") == "new") { "a new key did not seal" }
    }

    check("enrol and background delivery with a locked secret store: a clear message, a retry, the same code works later") {
        val dir = tempDir()
        val key = SoftwareKey()
        val secretsDir = File(dir, "secrets")
        TellusApp.openWithPlatform(File(dir, "tellus").path, SecretBoxStore(SealedFileSecrets(secretsDir, key)), null).use { app ->
            val core = coreOf(app)
            val enrol = EnrolState(core, "Test phone")
            val code = invites.removeFirst()
            key.failing = true
            val locked = runBlocking { enrol.enrol(server, code) }
            expect(locked is EnrolUi.Failed && locked.problem == EnrolProblem.Locked) { "$locked" }
            expect(app.account() == null) { "enrolled without a token" }
            key.failing = false
            val ok = runBlocking { enrol.enrol(server, code) }
            expect(ok is EnrolUi.Enrolled) { "the same code did not work once unlocked: $ok" }
            val token = SealedFileSecrets(secretsDir, key).read("device_token") ?: throw AssertionError("no sealed token")
            val story = app.createStory("Locked out of the clinic", "Participant")
            val form = ConsentFormState(core, story.id, "Reporter", listOf("en"), viewModelScope())
            runBlocking { form.load(); form.setGranted("record", true); form.submit() }
                ?: throw AssertionError("consent refused")
            runBlocking { ReviewState(core, story.id).markReady() }.getOrThrow()
            val delivery = Delivery(core)
            key.failing = true
            val later = runBlocking { delivery.run(NetworkKind.UNMETERED) }
            // A locked store is a failed sync: again after the core's backoff, never "enrol".
            expect(later.error is TellusException.SecretStoreUnavailable && !later.needsEnrolment) { "$later" }
            val retry = later.followUp(System.currentTimeMillis())
            expect(later.next.reason == NextAttemptReasonView.SYNC_FAILED && retry != null && retry.need == NetworkNeed.CONNECTED) { "$later" }
            expect(app.account()?.needsEnrolment == false) { "a locked store asked to enrol again" }
            key.failing = false
            val done = runBlocking { delivery.run(NetworkKind.UNMETERED) }
            expect(done.report?.documentsSent == 1u && done.followUp(System.currentTimeMillis()) == null) { "$done" }
            val db = File(dir, "tellus").listFiles()!!.filter { it.name.startsWith("tellus.db") }
            expect(db.isNotEmpty() && db.none { contains(it, token) }) { "the token is in the app's SQLite files" }
        }
    }
}
