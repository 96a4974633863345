//! Where the device token lives, behind one small seam: the `SecretStore` trait. The
//! token is read and written only through it. By default (CLI, desktop) secrets are kept
//! in the database's `secrets` table; a phone passes its platform store (Android
//! Keystore, iOS Keychain: see bindings/ffi) to `Store::open_with_secrets`, and then the
//! database never holds the token: one an earlier version kept there is moved out,
//! written to the platform store and read back before it is erased, so a crash at any
//! point leaves it in one place or both, never in none.
//!
//! A secret store that cannot be used now (locked before the first unlock) is an error
//! (`Error::SecretStore`), never "not enrolled": the sync reports it and tries again
//! later, and nothing queued changes. A token that is gone for good (the app restored to
//! a new phone, the key invalidated) is `None`: the account is marked for re-enrolment.

use rusqlite::{OptionalExtension, params};

use crate::Store;
use crate::error::{Error, Result};

/// The name of the device token (the server's bearer token for this device).
pub const DEVICE_TOKEN: &str = "device_token";

/// A throwaway secret written, read back and deleted before enrolment spends its invite.
const STORE_CHECK: &str = "store_check";

/// Named secrets, kept by the platform (or by the database, by default).
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` when there is none: never stored, deleted, or unusable for
    /// good (its key is gone). A store that cannot be used *now* must return
    /// `Err(Error::SecretStore(..))`, never `None`.
    fn get(&self, name: &str) -> Result<Option<String>>;
    /// Stores the secret, replacing any earlier one of that name.
    fn set(&self, name: &str, value: &str) -> Result<()>;
    /// Deletes the secret; deleting one that is not there is not an error.
    fn delete(&self, name: &str) -> Result<()>;
}

/// The default secret store: the database's `secrets` table (schema step 5), as the CLI
/// and desktop have always kept the token (the file already holds the stories, which are
/// more sensitive than the token, under the same permissions; one file to back up or
/// wipe, and no second file to get out of step with the enrolment).
struct DatabaseSecrets<'a> {
    store: &'a Store,
}

impl SecretStore for DatabaseSecrets<'_> {
    fn get(&self, name: &str) -> Result<Option<String>> {
        self.store.read(|tx| {
            Ok(tx
                .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    fn set(&self, name: &str, value: &str) -> Result<()> {
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = ?2",
                params![name, value],
            )?;
            Ok(())
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        let deleted = self
            .store
            .write(|tx| Ok(tx.execute("DELETE FROM secrets WHERE name = ?1", [name])?))?;
        if deleted > 0 {
            // A deleted row's bytes stay in the file's free space and in the WAL until
            // overwritten; a secret must not.
            self.store.scrub_deleted_content()?;
        }
        Ok(())
    }
}

impl Store {
    /// Runs `f` with the secret store the device token lives in.
    fn with_secrets<T>(&self, f: impl FnOnce(&dyn SecretStore) -> Result<T>) -> Result<T> {
        match self.platform_secrets() {
            Some(platform) => f(platform.as_ref()),
            None => f(&DatabaseSecrets { store: self }),
        }
    }

    /// Whether the device token is kept by a platform secret store (not the database).
    pub(crate) fn uses_platform_secrets(&self) -> bool {
        self.platform_secrets().is_some()
    }

    /// The device token, or `None` when this device has none (not enrolled, or the token
    /// is gone for good). `Err(Error::SecretStore)` when the secret store cannot be used
    /// now. Moves a token left in the database to the platform store first.
    pub fn device_token(&self) -> Result<Option<String>> {
        self.move_token_to_platform()?;
        self.with_secrets(|secrets| secrets.get(DEVICE_TOKEN))
    }

    /// Whether sync waits for this enrolled device to enrol again: the server refused its
    /// token, or the secret store no longer has it. A store that cannot be asked now
    /// (before the first unlock) does not count: that is a wait, not an enrolment.
    pub fn needs_enrolment(&self, account: &super::Account) -> bool {
        account.revoked || matches!(self.device_token(), Ok(None))
    }

    /// Keeps a new device token (enrolment), replacing any earlier one.
    pub(crate) fn set_device_token(&self, token: &str) -> Result<()> {
        let _turn = self.token_turn();
        self.with_secrets(|secrets| secrets.set(DEVICE_TOKEN, token))?;
        if self.uses_platform_secrets() {
            // An older token an earlier version left in the database (not moved yet
            // because the platform store was locked) must not come back over this one.
            DatabaseSecrets { store: self }.delete(DEVICE_TOKEN)?;
        }
        Ok(())
    }

    /// Whether the secret store takes a secret now: a throwaway one is written, read back
    /// and deleted (the whole path a token takes: on Android the key is made and a file
    /// sealed), so a store that would fail fails before anything is spent.
    pub(crate) fn check_secret_store(&self) -> Result<()> {
        if !self.uses_platform_secrets() {
            // The database takes a secret whenever it takes the enrolment itself.
            return Ok(());
        }
        let value = crate::model::Timestamp::now().as_millis().to_string();
        self.with_secrets(|secrets| {
            secrets.set(STORE_CHECK, &value)?;
            let back = secrets.get(STORE_CHECK)?;
            secrets.delete(STORE_CHECK)?;
            if back.as_deref() == Some(value.as_str()) {
                Ok(())
            } else {
                Err(Error::SecretStore(
                    "the secret store did not give back what was written".into(),
                ))
            }
        })
    }

    /// Deletes the device token (the server refused it).
    pub(crate) fn delete_device_token(&self) -> Result<()> {
        self.with_secrets(|secrets| secrets.delete(DEVICE_TOKEN))
    }

    /// With a platform secret store: moves a token an earlier version kept in the
    /// database there. Written there first and read back, then erased from the database
    /// (and its free space and WAL), so a crash or a failure never loses it.
    pub(crate) fn move_token_to_platform(&self) -> Result<()> {
        let Some(platform) = self.platform_secrets() else {
            return Ok(());
        };
        let database = DatabaseSecrets { store: self };
        let _turn = self.token_turn();
        let Some(token) = database.get(DEVICE_TOKEN)? else {
            return Ok(());
        };
        platform.set(DEVICE_TOKEN, &token)?;
        if platform.get(DEVICE_TOKEN)?.as_deref() != Some(token.as_str()) {
            return Err(Error::SecretStore(
                "the secret store did not keep the device token; it stays where it was".into(),
            ));
        }
        database.delete(DEVICE_TOKEN)
    }
}
