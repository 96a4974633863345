//! The device token behind the `SecretStore` seam (core/src/sync/secrets.rs), against the
//! real server on loopback and real stores in temp folders: with a platform store the
//! token goes there and its bytes never reach the database files; a token an earlier
//! version kept in the database moves there; a store that cannot be used fails the sync
//! clearly and keeps everything queued; a token gone for good asks to enrol again.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{PROJECT, Phone, Server, http_transport};
use tellus_core::sync::{DEVICE_TOKEN, DeliveryState, SecretStore, SyncError};
use tellus_core::{Error, Store};
use tellus_server::Role;

/// A platform secret store in memory, as a shell's Keystore/Keychain would be, that can be
/// locked (every call fails, as before the phone's first unlock).
#[derive(Default)]
struct MemorySecrets {
    values: Mutex<HashMap<String, String>>,
    locked: AtomicBool,
    reads: AtomicUsize,
}

impl MemorySecrets {
    fn check(&self) -> tellus_core::Result<()> {
        if self.locked.load(Ordering::SeqCst) {
            return Err(Error::SecretStore("the keychain is locked (test)".into()));
        }
        Ok(())
    }

    fn token(&self) -> Option<String> {
        self.values.lock().unwrap().get(DEVICE_TOKEN).cloned()
    }
}

impl SecretStore for MemorySecrets {
    fn get(&self, name: &str) -> tellus_core::Result<Option<String>> {
        self.check()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.values.lock().unwrap().get(name).cloned())
    }

    fn set(&self, name: &str, value: &str) -> tellus_core::Result<()> {
        self.check()?;
        self.values
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
        Ok(())
    }

    fn delete(&self, name: &str) -> tellus_core::Result<()> {
        self.check()?;
        self.values.lock().unwrap().remove(name);
        Ok(())
    }
}

/// A phone whose store keeps the token in `secrets` (None: in the database).
fn phone_in(dir: tempfile::TempDir, secrets: Option<Arc<MemorySecrets>>) -> Phone {
    let store = match secrets {
        Some(s) => Store::open_with_secrets(dir.path(), s).unwrap(),
        None => Store::open(dir.path()).unwrap(),
    };
    Phone::with_store(dir, store, http_transport())
}

/// A new phone with an in-memory platform store, enrolled with `server`.
async fn enrolled_with_secrets(server: &Server) -> (Phone, Arc<MemorySecrets>) {
    let secrets = Arc::new(MemorySecrets::default());
    let phone = phone_in(tempfile::tempdir().unwrap(), Some(secrets.clone()));
    enrol(&phone, server).await.unwrap();
    (phone, secrets)
}

async fn enrol(phone: &Phone, server: &Server) -> Result<(), SyncError> {
    enrol_with(phone, server, &server.invite(PROJECT, Role::Reporter)).await
}

async fn enrol_with(phone: &Phone, server: &Server, code: &str) -> Result<(), SyncError> {
    tellus_core::sync::enrol(
        &phone.store,
        phone.counter.clone(),
        &server.base,
        code,
        "phone",
    )
    .await
    .map(|_| ())
}

/// Whether any of the database's files (the database, its WAL and shared memory) holds
/// `needle`'s bytes.
fn database_files_contain(dir: &Path, needle: &str) -> bool {
    let mut found = false;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(tellus_core::store::DATABASE_FILE) {
            let bytes = std::fs::read(&path).unwrap();
            found |= bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_platform_store_the_token_lives_there_and_never_in_the_database_files() {
    let server = Server::start().await;
    let (phone, secrets) = enrolled_with_secrets(&server).await;
    let token = secrets.token().expect("the token is in the platform store");
    let (story, recording) = phone.story_with_recording(200_000, 1);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(report.delivered[0].sha256, recording.sha256);
    assert!(
        secrets.reads.load(Ordering::SeqCst) > 0,
        "the sync read the token there"
    );
    assert!(!database_files_contain(phone.store.dir(), &token));

    // Reopened (the app started again): still enrolled, nothing to send.
    let Phone { dir, .. } = phone;
    let phone = phone_in(dir, Some(secrets.clone()));
    assert!(!phone.store.sync_account().unwrap().unwrap().revoked);
    let again = phone.engine.sync().await.unwrap();
    assert!(!again.sent_anything(), "{again:?}");
    assert!(phone.delivered(story));
    assert!(!database_files_contain(phone.store.dir(), &token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_kept_in_the_database_moves_to_the_platform_store_and_leaves_no_trace() {
    let server = Server::start().await;
    // An upgraded phone: enrolled by a version that kept the token in the database.
    let phone = phone_in(tempfile::tempdir().unwrap(), None);
    enrol(&phone, &server).await.unwrap();
    let token = phone.store.device_token().unwrap().unwrap();
    let (story, _) = phone.story_with_recording(150_000, 2);
    assert!(
        database_files_contain(phone.store.dir(), &token),
        "the database holds the token before the move (else this test proves nothing)"
    );
    let Phone { dir, .. } = phone;

    // Opened with a store that is locked: the token stays where it was, safe.
    let locked = Arc::new(MemorySecrets::default());
    locked.locked.store(true, Ordering::SeqCst);
    let phone = phone_in(dir, Some(locked.clone()));
    assert!(database_files_contain(phone.store.dir(), &token));
    assert!(matches!(
        phone.engine.sync().await,
        Err(SyncError::SecretStore(_))
    ));
    let Phone { dir, .. } = phone;

    // Opened with a working store: the token moves there and leaves no trace behind.
    let secrets = Arc::new(MemorySecrets::default());
    let phone = phone_in(dir, Some(secrets.clone()));
    assert_eq!(secrets.token().as_deref(), Some(token.as_str()));
    assert!(!database_files_contain(phone.store.dir(), &token));
    // No re-enrolment: the queued story goes out with the moved token.
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert!(phone.delivered(story));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_secret_store_fails_the_sync_clearly_and_keeps_the_outbox() {
    let server = Server::start().await;
    let (phone, secrets) = enrolled_with_secrets(&server).await;
    let (story, recording) = phone.story_with_recording(120_000, 3);
    phone.engine.sync().await.unwrap();
    // More work queued, then the store locks (background sync before the first unlock).
    let (second, _) = phone.story_with_recording(100_000, 4);
    let before = phone.store.testing_dump().unwrap();
    secrets.locked.store(true, Ordering::SeqCst);
    phone.counter.reset();
    for _ in 0..3 {
        let Err(SyncError::SecretStore(message)) = phone.engine.sync().await else {
            panic!("a locked store must fail the sync with SecretStore")
        };
        assert!(message.contains("secret store"), "{message}");
        assert!(message.contains("try again later"), "{message}");
    }
    assert!(
        phone.counter.requests.lock().unwrap().is_empty(),
        "nothing was sent"
    );
    assert_eq!(
        phone.store.testing_dump().unwrap(),
        before,
        "nothing changed"
    );
    let account = phone.store.sync_account().unwrap().unwrap();
    assert!(!account.revoked, "a locked store is never 'enrol again'");
    assert_eq!(
        phone.store.delivery_state(second).unwrap(),
        DeliveryState::OnlyOnPhone
    );

    secrets.locked.store(false, Ordering::SeqCst);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert!(std::fs::exists(phone.audio_path(&recording)).unwrap());
    for s in [story, second] {
        assert!(phone.delivered(s));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_with_a_locked_store_fails_before_spending_the_invite_and_changes_nothing() {
    let server = Server::start().await;
    let secrets = Arc::new(MemorySecrets::default());
    secrets.locked.store(true, Ordering::SeqCst);
    let phone = phone_in(tempfile::tempdir().unwrap(), Some(secrets.clone()));
    let result = enrol(&phone, &server).await;
    assert!(
        matches!(result, Err(SyncError::SecretStore(_))),
        "{result:?}"
    );
    assert!(phone.store.sync_account().unwrap().is_none());
    assert!(phone.store.project().is_err());
    secrets.locked.store(false, Ordering::SeqCst);
    enrol(&phone, &server).await.unwrap();
    assert!(secrets.token().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_gone_from_the_store_asks_to_enrol_again_and_loses_nothing() {
    let server = Server::start().await;
    let (phone, secrets) = enrolled_with_secrets(&server).await;
    let (story, _) = phone.story_with_recording(100_000, 5);
    // The shell's store has nothing (a platform fault, or the key invalidated).
    let token = secrets.token().unwrap();
    secrets.values.lock().unwrap().clear();
    assert_eq!(phone.engine.sync().await, Err(SyncError::TokenLost));
    // Asked again on every sync, not recorded as a revocation: a token that comes back
    // is used again.
    assert!(!phone.store.sync_account().unwrap().unwrap().revoked);
    assert_eq!(phone.engine.sync().await, Err(SyncError::TokenLost));
    secrets
        .values
        .lock()
        .unwrap()
        .insert(DEVICE_TOKEN.into(), token);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    // Gone for good (restored to a new phone): enrolling again delivers the rest.
    let (later, _) = phone.story_with_recording(100_000, 7);
    secrets.values.lock().unwrap().clear();
    assert_eq!(phone.engine.sync().await, Err(SyncError::TokenLost));
    enrol(&phone, &server).await.unwrap();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    for story in [story, later] {
        assert!(phone.delivered(story));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_deleted_from_the_secret_store() {
    let server = Server::start().await;
    let (phone, secrets) = enrolled_with_secrets(&server).await;
    phone.story_with_recording(100_000, 6);
    let account = phone.store.sync_account().unwrap().unwrap();
    tellus_server::admin::revoke(&server.db(), &account.reporter_id).unwrap();
    assert_eq!(phone.engine.sync().await, Err(SyncError::EnrolAgain));
    assert!(phone.store.sync_account().unwrap().unwrap().revoked);
    assert_eq!(secrets.token(), None, "a refused token is not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_install_drops_a_token_an_old_install_left_in_the_platform_store() {
    let server = Server::start().await;
    let (phone, secrets) = enrolled_with_secrets(&server).await;
    let token = secrets.token().unwrap();
    // Reopening the same data folder keeps the enrolment.
    let dir = phone.dir;
    drop(phone.engine);
    drop(phone.store);
    let again = phone_in(dir, Some(secrets.clone()));
    assert_eq!(again.store.device_token().unwrap(), Some(token));
    drop(again);
    // The app deleted and installed again: a new data folder, the Keychain item stays.
    let fresh = phone_in(tempfile::tempdir().unwrap(), Some(secrets.clone()));
    assert_eq!(secrets.token(), None);
    assert_eq!(fresh.store.device_token().unwrap(), None);
    assert!(matches!(
        fresh.engine.sync().await,
        Err(SyncError::NotEnrolled)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_holding_the_wal_only_delays_the_scrub_until_the_next_open() {
    let server = Server::start().await;
    let phone = phone_in(tempfile::tempdir().unwrap(), None);
    enrol(&phone, &server).await.unwrap();
    let token = phone.store.device_token().unwrap().unwrap();
    let Phone { dir, .. } = phone;
    // Opened while the platform store is locked: the token stays in the database...
    let secrets = Arc::new(MemorySecrets::default());
    secrets.locked.store(true, Ordering::SeqCst);
    let phone = phone_in(dir, Some(secrets.clone()));
    assert!(database_files_contain(phone.store.dir(), &token));
    // ...and moves later, while another connection reads an old snapshot, which keeps
    // the WAL (holding the token's pages) from being emptied.
    let reader = rusqlite::Connection::open(phone.store.dir().join("tellus.db")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    secrets.locked.store(false, Ordering::SeqCst);
    assert_eq!(phone.store.device_token().unwrap(), Some(token.clone()));
    assert_eq!(secrets.token(), Some(token.clone()));
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    assert!(
        database_files_contain(phone.store.dir(), &token),
        "the reader kept the token's pages in the WAL (else this test proves nothing)"
    );
    // The app is killed (its connections never close, so nothing checkpoints on the way
    // out); the next open finishes the scrub.
    let path = phone.dir.path().to_path_buf();
    std::mem::forget(phone);
    let store = Store::open_with_secrets(&path, secrets.clone()).unwrap();
    assert!(!database_files_contain(&path, &token));
    assert_eq!(store.device_token().unwrap(), Some(token));
    drop(store);
    std::fs::remove_dir_all(&path).unwrap();
}
