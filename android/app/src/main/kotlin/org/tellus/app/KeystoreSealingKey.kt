package org.tellus.app

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import org.tellus.presentation.SealingKey
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The key that seals the device token (org.tellus.presentation.SealedFileSecrets, tested on
 * the JVM): AES-256-GCM, generated inside the AndroidKeyStore (hardware-backed where the
 * phone has it) and never leaving it. No user authentication and no unlocked-device
 * requirement, so background delivery works with the screen locked; keys are not part of
 * backups or device transfer, so a restored phone has no key and enrols again.
 * No binding types here: tests/android/check-layering.sh keeps the core behind
 * TellusApplication.kt.
 */
class KeystoreSealingKey(private val alias: String = ALIAS) : SealingKey {
    private fun keyStore(): KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    // null only when there is no such entry; AndroidKeyStoreSpi reports every other
    // keystore failure (busy, system error, daemon restart) as UnrecoverableKeyException,
    // which is passing and must never delete the key: it propagates ("unavailable").
    override fun existing(): SecretKey? = keyStore().getKey(alias, null) as? SecretKey

    override fun create(): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setKeySize(256)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setRandomizedEncryptionRequired(true) // the Keystore picks every IV
            .setUserAuthenticationRequired(false) // background sync with the screen locked
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
            .apply { init(spec) }
            .generateKey()
    }

    override fun destroy() = keyStore().deleteEntry(alias)

    override fun isGoneForGood(e: Exception): Boolean = e is KeyPermanentlyInvalidatedException

    companion object {
        private const val PROVIDER = "AndroidKeyStore"
        const val ALIAS = "org.tellus.device-secrets"
    }
}
