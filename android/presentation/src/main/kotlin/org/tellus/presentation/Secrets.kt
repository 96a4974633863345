package org.tellus.presentation

import org.tellus.core.PlatformSecretStore
import org.tellus.core.SecretStoreException
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.security.InvalidKeyException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Named secrets as the shell keeps them, in plain Kotlin (no binding or Android types), so
 * the Keystore code of the app needs neither and this logic is tested on the JVM.
 */
interface SecretBox {
    /** The secret, or null when there is none or it can never be read again (its key is gone). */
    fun read(name: String): String?

    /** Stores the secret durably, replacing any earlier one. */
    fun write(name: String, value: String)

    /** Deletes the secret; one that is not there is not an error. */
    fun erase(name: String)
}

/** The secret store cannot be used now (locked, busy): try again later. Never "gone". */
class SecretBoxUnavailable(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * The key that seals secrets. On Android an AES-256-GCM key in the AndroidKeyStore
 * (android/app KeystoreSealingKey); in tests a software key.
 */
interface SealingKey {
    /**
     * The key, or null when there is none (never made, or lost: restored to a new phone).
     * A key store that fails throws, and that is never "none".
     */
    fun existing(): SecretKey?

    /** Makes a new key, replacing any earlier one. */
    fun create(): SecretKey

    /** Deletes the key (it was invalidated). */
    fun destroy()

    /**
     * Whether `e`, thrown by a cipher using this key, means the key can never be used again
     * (Android: KeyPermanentlyInvalidatedException). Everything else a key store throws,
     * including a plain InvalidKeyException("Keystore operation failed") or an
     * UnrecoverableKeyException for a busy keystore daemon, is a passing failure.
     */
    fun isGoneForGood(e: Exception): Boolean
}

/**
 * Secrets sealed with AES-256-GCM under a `SealingKey`, one file per secret in `dir` (on
 * Android in noBackupFilesDir: never backed up, never moved to another device). A file is
 * `1 | iv length | iv | ciphertext+tag`, with a fresh IV from the cipher for every write
 * (the AndroidKeyStore refuses caller IVs) and the secret's name as associated data, so a
 * file cannot be passed off as another secret. Writes go to a temporary file, synced, then
 * renamed: a crash leaves the old secret or the new one.
 *
 * A file that can never be read again reads as null (the core then asks to enrol again) and
 * is moved aside, not deleted: its key is gone (`existing()` is null, or the key is
 * invalidated for good), or the cipher proves it damaged or sealed under another key
 * (AEADBadTagException, a malformed file). Every other failure of the key store (busy,
 * locked, a daemon restarting) is `SecretBoxUnavailable`, and the file and key stay.
 */
class SealedFileSecrets(private val dir: File, private val key: SealingKey) : SecretBox {
    @Synchronized // one temporary file per secret: calls from the UI and the sync take turns
    override fun read(name: String): String? {
        val file = fileOf(name)
        if (!file.exists()) return null
        val sealed = try {
            file.readBytes()
        } catch (e: IOException) {
            throw SecretBoxUnavailable("the sealed secret cannot be read: ${e.message}", e)
        }
        val current = unavailableUnless { key.existing() } ?: return setAside(file)
        return try {
            open(sealed, current, name)
        } catch (e: AEADBadTagException) {
            setAside(file) // sealed under another key, or damaged
        } catch (e: MalformedSecret) {
            setAside(file)
        } catch (e: Exception) {
            if (key.isGoneForGood(e)) return setAside(file)
            throw SecretBoxUnavailable("the key store cannot open the secret now: ${e.javaClass.simpleName}: ${e.message}", e)
        }
    }

    @Synchronized
    override fun write(name: String, value: String) {
        val file = fileOf(name)
        val sealed = unavailableUnless {
            try {
                seal(value, key.existing() ?: key.create(), name)
            } catch (e: InvalidKeyException) {
                if (!key.isGoneForGood(e)) throw e
                key.destroy() // invalidated for good: a new key seals from now on
                seal(value, key.create(), name)
            }
        }
        unavailableUnless {
            dir.mkdirs()
            val temp = File(dir, "${file.name}.tmp")
            FileOutputStream(temp).use { out ->
                out.write(sealed)
                out.fd.sync()
            }
            Files.move(temp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
            // The rename itself must survive a power cut before the core erases the token's
            // other copy: sync the folder too.
            FileChannel.open(dir.toPath(), StandardOpenOption.READ).use { it.force(true) }
        }
    }

    @Synchronized
    override fun erase(name: String) {
        val file = fileOf(name)
        if (file.exists() && !file.delete()) throw SecretBoxUnavailable("the sealed secret cannot be deleted")
    }

    /** The file of a secret: names are the core's (`device_token`), never user input. */
    private fun fileOf(name: String): File {
        require(NAME.matches(name)) { "not a secret name: $name" }
        return File(dir, "$name.sealed")
    }

    /** A file that can never be read again: kept beside, out of the way, for support. */
    private fun setAside(file: File): String? {
        file.renameTo(File(file.parentFile, "${file.name}.unreadable"))
        return null
    }

    private fun seal(value: String, key: SecretKey, name: String): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key) // the cipher makes a fresh random IV
        cipher.updateAAD(aad(name))
        val iv = cipher.iv
        val body = cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        return byteArrayOf(FORMAT, iv.size.toByte()) + iv + body
    }

    private fun open(sealed: ByteArray, key: SecretKey, name: String): String {
        if (sealed.size < 2 || sealed[0] != FORMAT) throw MalformedSecret()
        val ivLength = sealed[1].toInt()
        if (ivLength !in 12..16 || sealed.size < 2 + ivLength + TAG_BITS / 8) throw MalformedSecret()
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, sealed, 2, ivLength))
        cipher.updateAAD(aad(name))
        return String(cipher.doFinal(sealed, 2 + ivLength, sealed.size - 2 - ivLength), Charsets.UTF_8)
    }

    private fun aad(name: String) = "org.tellus.secret:$name".toByteArray(Charsets.UTF_8)

    private inline fun <T> unavailableUnless(body: () -> T): T = try {
        body()
    } catch (e: SecretBoxUnavailable) {
        throw e
    } catch (e: Exception) {
        throw SecretBoxUnavailable("the key store cannot be used now: ${e.javaClass.simpleName}: ${e.message}", e)
    }

    private class MalformedSecret : Exception()

    companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
        private const val FORMAT: Byte = 1
        private val NAME = Regex("[a-z0-9_]{1,64}")
    }
}

/**
 * The core's platform secret store over a `SecretBox`: whatever the box throws is
 * "unavailable" (retry later); only null means "gone" (enrol again).
 */
class SecretBoxStore(private val box: SecretBox) : PlatformSecretStore {
    override fun get(name: String): String? = guarded { box.read(name) }

    override fun set(name: String, value: String) = guarded { box.write(name, value) }

    override fun delete(name: String) = guarded { box.erase(name) }

    private inline fun <T> guarded(body: () -> T): T = try {
        body()
    } catch (e: SecretBoxUnavailable) {
        throw SecretStoreException.Unavailable(e.message ?: "the secret store cannot be used now")
    } catch (e: Exception) {
        throw SecretStoreException.Unavailable("the secret store failed: ${e.javaClass.simpleName}: ${e.message}")
    }
}
