//! Sync test support: the shared harness (tellus-testkit: a real tellus-server on
//! 127.0.0.1 in this process, real SQLite and audio folder in a temp dir, the proxy), and
//! what is the core's own: phones with real stores, and transports that count or fail
//! requests on purpose.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tellus_core::Store;
use tellus_core::model::{
    ConsentDraft, NewStory, Recording, RecordingId, RecordingState, StoryId, Timestamp, items,
};
use tellus_core::sync::transport::TransportFuture;
use tellus_core::sync::{
    HttpTransport, Method, PreparedRequest, SyncEngine, Transport, TransportError,
    TransportResponse,
};
use tellus_server::Role;
pub use tellus_testkit::fixtures::{file_sha256, wav_bytes};
pub use tellus_testkit::proxy;
pub use tellus_testkit::wait::until as wait_until;
pub use tellus_testkit::{PROJECT, TestServer as Server};

/// A phone: a real store in a temp folder and a sync engine.
pub struct Phone {
    pub dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub engine: SyncEngine,
    pub counter: Arc<Counting>,
}

impl Phone {
    /// A phone enrolled with the server at `url` (the server itself or a proxy to it).
    pub async fn enrolled(server: &Server, url: &str) -> Phone {
        Phone::enrolled_through(server, url, http_transport()).await
    }

    pub async fn enrolled_through(server: &Server, url: &str, inner: Arc<dyn Transport>) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let phone = Phone::with_store(dir, store, inner);
        let code = server.invite(PROJECT, Role::Reporter);
        tellus_core::sync::enrol(
            &phone.store,
            phone.counter.clone(),
            url,
            &code,
            "test phone",
        )
        .await
        .unwrap();
        phone
    }

    /// A phone on `store` (kept in `dir`), not enrolled; requests counted on their way
    /// through `inner`.
    pub fn with_store(dir: tempfile::TempDir, store: Store, inner: Arc<dyn Transport>) -> Phone {
        let store = Arc::new(store);
        let counter = Arc::new(Counting::new(inner));
        let engine = SyncEngine::new(store.clone(), counter.clone());
        Phone {
            dir,
            store,
            engine,
            counter,
        }
    }

    /// A ready story with `record` consent and one recording of `bytes` bytes.
    pub fn story_with_recording(&self, bytes: usize, seed: u64) -> (StoryId, Recording) {
        let story = self.consented_story();
        let recording = self.add_recording(story, bytes, seed);
        self.store.mark_ready(story).unwrap();
        (story, recording)
    }

    pub fn consented_story(&self) -> StoryId {
        let story = self
            .store
            .create_story(&NewStory {
                title: "Being heard at the housing office".into(),
                summary: "Repairs ignored for months".into(),
                storyteller_label: "Participant".into(),
            })
            .unwrap();
        let project = self.store.project().unwrap();
        let form = project.current_forms()[0];
        let mut draft = ConsentDraft::give(
            &form.id,
            form.version,
            "en",
            &[items::RECORD, items::RESEARCH_USE],
        );
        draft.captured_by = "reporter".into();
        self.store.record_consent(story.id, &draft).unwrap();
        story.id
    }

    /// A WAV file of `bytes` bytes (header + deterministic noise) indexed as a recording.
    pub fn add_recording(&self, story: StoryId, bytes: usize, seed: u64) -> Recording {
        let id = RecordingId::new();
        let file_name = format!("{id}.wav");
        let dir = self.store.recordings_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let data = wav_bytes(bytes, seed);
        let path = dir.join(&file_name);
        std::fs::write(&path, &data).unwrap();
        let recording = Recording {
            id,
            story_id: story,
            file_name,
            format: "wav".into(),
            sample_rate: 48_000,
            channels: 1,
            frames: (data.len() as u64 - 44) / 2,
            bytes: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
            state: RecordingState::Complete,
            created_at: Timestamp::now(),
            pcm_sha256: None,
        };
        self.store.add_recording(&recording).unwrap();
        // The uploader's tests send exactly this WAV (data saver's copies: representations.rs).
        self.store.testing_wav_only(&recording).unwrap();
        recording
    }

    /// Whether the story counts as delivered on this phone (document, consent, receipts).
    pub fn delivered(&self, story: StoryId) -> bool {
        matches!(
            self.store.delivery_state(story).unwrap(),
            tellus_core::sync::DeliveryState::Delivered { .. }
        )
    }

    pub fn audio_path(&self, recording: &Recording) -> PathBuf {
        self.store.recordings_dir().join(&recording.file_name)
    }

    /// Syncs until nothing is left or `attempts` syncs have run; returns the reports.
    pub async fn sync_until_done(
        &self,
        attempts: usize,
    ) -> Vec<Result<tellus_core::sync::SyncReport, tellus_core::sync::SyncError>> {
        let mut out = Vec::new();
        for _ in 0..attempts {
            let result = self.engine.sync().await;
            let done = result.as_ref().is_ok_and(|r| {
                r.failures.is_empty() && r.waiting_to_retry == 0 && r.parked.is_empty()
            });
            out.push(result);
            if done {
                break;
            }
        }
        out
    }
}

pub fn http_transport() -> Arc<dyn Transport> {
    Arc::new(HttpTransport::with_stall_timeout(Duration::from_secs(3)).unwrap())
}

/// A transport that counts requests by method and body bytes, and can fail requests on
/// purpose: `fail_patches_after` lets that many PATCHes through, then fails the rest as a
/// network failure would. `in_chunks()` makes it say it cannot count bytes as they leave,
/// as a platform transport does, so that recordings go in chunks.
pub struct Counting {
    inner: Arc<dyn Transport>,
    pub requests: Mutex<Vec<(Method, String)>>,
    pub body_bytes: AtomicU64,
    pub fail_patches_after: AtomicU64,
    counts_sent: AtomicBool,
    /// Each PATCH's offset, body length and Upload-Checksum.
    pub patch_log: Mutex<Vec<(u64, u64, Option<String>)>>,
    patches: AtomicU64,
}

impl Counting {
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        Counting {
            inner,
            requests: Mutex::new(Vec::new()),
            body_bytes: AtomicU64::new(0),
            fail_patches_after: AtomicU64::new(u64::MAX),
            counts_sent: AtomicBool::new(true),
            patch_log: Mutex::new(Vec::new()),
            patches: AtomicU64::new(0),
        }
    }

    pub fn count(&self, method: Method) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| *m == method)
            .count()
    }

    /// Recordings go in chunks (8 MiB for the first two), as over a platform transport.
    pub fn in_chunks(&self) {
        self.counts_sent.store(false, Ordering::SeqCst);
    }

    /// Counts the request; None when it goes through, else the failure to return.
    fn count_and_maybe_fail(&self, request: &PreparedRequest) -> Option<TransportError> {
        self.requests
            .lock()
            .unwrap()
            .push((request.method, request.url.clone()));
        if request.method == Method::Patch {
            let header = |name: &str| {
                let found = request.headers.iter().find(|(n, _)| n == name);
                found.map(|(_, v)| v.clone())
            };
            let offset = header("upload-offset").and_then(|v| v.parse().ok());
            self.patch_log.lock().unwrap().push((
                offset.unwrap_or(u64::MAX),
                request.body.len(),
                header("upload-checksum"),
            ));
            let n = self.patches.fetch_add(1, Ordering::SeqCst);
            if n >= self.fail_patches_after.load(Ordering::SeqCst) {
                return Some(TransportError::network("the test cut the network"));
            }
        }
        self.body_bytes
            .fetch_add(request.body.len(), Ordering::SeqCst);
        None
    }

    pub fn reset(&self) {
        self.requests.lock().unwrap().clear();
        self.patch_log.lock().unwrap().clear();
        self.body_bytes.store(0, Ordering::SeqCst);
        self.patches.store(0, Ordering::SeqCst);
    }
}

impl Transport for Counting {
    fn send(&self, request: PreparedRequest) -> TransportFuture<'_> {
        match self.count_and_maybe_fail(&request) {
            Some(cut) => Box::pin(async { Err(cut) }),
            None => self.inner.send(request),
        }
    }

    fn send_counting(&self, request: PreparedRequest, sent: Arc<AtomicU64>) -> TransportFuture<'_> {
        match self.count_and_maybe_fail(&request) {
            Some(cut) => Box::pin(async { Err(cut) }),
            None => self.inner.send_counting(request, sent),
        }
    }

    fn counts_sent_bytes(&self) -> bool {
        self.counts_sent.load(Ordering::SeqCst) && self.inner.counts_sent_bytes()
    }
}

pub fn response(status: u16) -> TransportResponse {
    TransportResponse {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}
