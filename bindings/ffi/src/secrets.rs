//! The platform secret store (DESIGN.md §6): the device token lives in the Android
//! Keystore or the iOS Keychain, not in the app's SQLite. The shell implements
//! `PlatformSecretStore`; this adapter is the core's `SecretStore` over it. The core
//! decides everything else: moving a token an earlier version kept in SQLite, deleting a
//! refused one, telling "cannot be used now" (retry) from "gone" (enrol again).

use std::sync::Arc;

use tellus_core::sync::SecretStore;

use crate::error::SecretStoreError;

/// Named secrets (today one: the device token) kept by the platform. Calls come from the
/// core's threads (the sync runs on the library's runtime), so implementations must be
/// thread-safe; each call is short (one Keychain item, one small sealed file).
#[uniffi::export(with_foreign)]
pub trait PlatformSecretStore: Send + Sync {
    /// The secret, or None when there is none: never stored, deleted, or unusable for
    /// good (its key was invalidated or lost, e.g. restored to a new phone; the shell
    /// deletes the unusable copy). Throw `Unavailable` when the store cannot be used *now*
    /// (locked before the first unlock): the core then retries later and never treats
    /// that as "not enrolled".
    fn get(&self, name: String) -> Result<Option<String>, SecretStoreError>;
    /// Stores the secret, replacing any earlier one of that name; when it returns, the
    /// secret is durable.
    fn set(&self, name: String, value: String) -> Result<(), SecretStoreError>;
    /// Deletes the secret; deleting one that is not there is not an error.
    fn delete(&self, name: String) -> Result<(), SecretStoreError>;
}

/// The core's `SecretStore`, over the shell's `PlatformSecretStore`.
pub(crate) struct ShellSecrets(pub(crate) Arc<dyn PlatformSecretStore>);

impl SecretStore for ShellSecrets {
    fn get(&self, name: &str) -> tellus_core::Result<Option<String>> {
        Ok(self.0.get(name.to_string())?)
    }

    fn set(&self, name: &str, value: &str) -> tellus_core::Result<()> {
        Ok(self.0.set(name.to_string(), value.to_string())?)
    }

    fn delete(&self, name: &str) -> tellus_core::Result<()> {
        Ok(self.0.delete(name.to_string())?)
    }
}
