//! The sync engine: one sync at a time (concurrent requests join the one in flight),
//! stories in order and within a story consent first, then the document, then each
//! recording; cancellable from outside at any await (the server keeps what arrived, the
//! outbox keeps the upload path); progress to observers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tellus_protocol::{ConsentAccepted, ConsentLog, Receipt, StoryAccepted};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::SyncError;
use super::api::{Api, error_code, parse, refusal};
use super::documents::{consent_event, content_sha256, story_document};
use super::enrol::refresh_project;
use super::outbox::DeliveryState;
use super::outbox::{ItemKind, ItemState, OutboxItem};
use super::overview::{NextAttempt, NextAttemptReason, StoryRow};
use super::policy::{Network, SyncSettings};
use super::transport::{Method, Transport};
use super::tus::{self, AudioUpload, UploadJob, UploadOutcome};
use crate::Store;
use crate::audio::PrepareFailure;
use crate::model::{ConsentKind, ConsentStatus, Recording, RecordingId, StoryId, Timestamp};
use crate::observe::{Hub, Observer, Subscription};
use crate::store::audio_item_id;
use tellus_protocol::{AudioFormat, Representation};

/// Where a sync is, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// The story being delivered now.
    pub story_id: Option<StoryId>,
    pub stories_done: usize,
    pub stories_total: usize,
    /// Audio bytes of the current story the server has confirmed, of its total.
    pub story_bytes_sent: u64,
    pub story_bytes_total: u64,
    /// Audio bytes confirmed in this sync, of what this sync set out to send.
    pub bytes_sent: u64,
    pub bytes_total: u64,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub project_config_updated: bool,
    pub documents_sent: usize,
    pub consent_events_sent: usize,
    /// Receipts of the recordings delivered in this sync.
    pub delivered: Vec<Receipt>,
    /// Audio bytes the server confirmed in this sync.
    pub audio_bytes_confirmed: u64,
    pub withdrawals_propagated: usize,
    /// Consent events made elsewhere (the storyteller on the server's portal) brought
    /// into this phone's store in this sync.
    pub consent_changes_received: usize,
    pub uploads_terminated: usize,
    pub local_audio_removed: usize,
    /// Recordings held back until the phone is on an unmetered network.
    pub audio_waiting_for_unmetered: usize,
    /// Items waiting for their next attempt after a failure.
    pub waiting_to_retry: usize,
    /// Items that failed this time (each will be retried later, or parked).
    pub failures: Vec<String>,
    /// Items parked in this sync, with the reason.
    pub parked: Vec<String>,
    /// When to sync next and why, from what is left queued at the end of this sync.
    pub next_attempt: NextAttempt,
}

impl SyncReport {
    /// Whether this sync sent anything at all.
    pub fn sent_anything(&self) -> bool {
        self.documents_sent > 0
            || self.consent_events_sent > 0
            || !self.delivered.is_empty()
            || self.withdrawals_propagated > 0
            || self.uploads_terminated > 0
    }

    /// Whether there is anything to tell the reporter: something was sent, or something
    /// failed or was parked.
    pub fn has_news(&self) -> bool {
        self.sent_anything()
            || self.consent_changes_received > 0
            || !self.parked.is_empty()
            || !self.failures.is_empty()
    }
}

type Outcome = Result<SyncReport, SyncError>;

struct Flight {
    cancel: CancellationToken,
    done: watch::Receiver<Option<Outcome>>,
}

struct Inner {
    store: Arc<Store>,
    transport: Arc<dyn Transport>,
    network: Mutex<Network>,
    flight: Mutex<Option<Flight>>,
    progress: Hub<u8, SyncProgress>,
    /// Syncs that failed as a whole in a row (the backoff of `NextAttempt::after_error`).
    failures_in_a_row: AtomicU32,
    /// The next attempt the last sync's failure decided; None after a sync that ran.
    after_failure: Mutex<Option<NextAttempt>>,
}

/// Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct SyncEngine {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often a story whose delivery is finished has its consent log read again (a story
/// with anything left to send has it read on every sync, before it is sent).
pub const CONSENT_SWEEP_MS: i64 = 24 * 60 * 60 * 1000;

fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

impl SyncEngine {
    /// An engine over `store`, sending through `transport`. The network starts as
    /// unmetered until the shell says otherwise.
    pub fn new(store: Arc<Store>, transport: Arc<dyn Transport>) -> Self {
        SyncEngine {
            inner: Arc::new(Inner {
                store,
                transport,
                network: Mutex::new(Network::Unmetered),
                flight: Mutex::new(None),
                progress: Hub::default(),
                failures_in_a_row: AtomicU32::new(0),
                after_failure: Mutex::new(None),
            }),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The shell tells the core what network the phone has.
    pub fn set_network(&self, network: Network) {
        *lock(&self.inner.network) = network;
    }

    pub fn network(&self) -> Network {
        *lock(&self.inner.network)
    }

    /// Progress of every sync, delivered on the subscription's own thread.
    pub fn subscribe_progress(&self, observer: impl Observer<SyncProgress>) -> Subscription {
        self.inner.progress.subscribe(observer)
    }

    /// Where a story stands, with the network the shell last told (so held audio and a
    /// phone offline say so).
    pub fn delivery_state(&self, story: StoryId) -> crate::Result<DeliveryState> {
        self.inner.store.delivery_state_on(story, self.network())
    }

    /// A page of the story list, each story with its delivery state on the network the
    /// shell last told: one call for the list, however many rows.
    pub fn story_page(&self, limit: u32, before: Option<StoryId>) -> crate::Result<Vec<StoryRow>> {
        self.inner
            .store
            .story_page_on(limit, before, self.network())
    }

    /// When to sync next and why: never before an enrolment (or a new one, after the
    /// server refused the token or the secret store lost it); after a sync that failed as
    /// a whole (server unreachable, …), the backoff it decided; otherwise from what is
    /// queued now (a story that became ready since counts) on the network the shell last
    /// told, so a phone that was offline sees "more to send" once it has a network.
    pub fn next_attempt(&self) -> crate::Result<NextAttempt> {
        let store = &self.inner.store;
        let enrolled = match store.sync_account()? {
            Some(account) => !store.needs_enrolment(&account),
            None => false,
        };
        if !enrolled {
            return Ok(NextAttempt::after_error(
                &SyncError::NotEnrolled,
                0,
                now_ms(),
            ));
        }
        if let Some(next) = *lock(&self.inner.after_failure) {
            return Ok(next);
        }
        store.next_attempt_on(self.network())
    }

    /// Remembers how a sync ended, for `next_attempt`: the backoff of a failure that the
    /// queue cannot show (offline and enrolment are read afresh each time). A sync that
    /// sent nothing while the queue still says "more to send" (something stuck) is treated
    /// like a failure too, so that no scheduler ever runs syncs in a busy loop.
    fn note_outcome(&self, result: &mut Outcome) {
        let failed_again = || self.inner.failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        let next = match result {
            Ok(report)
                if report.next_attempt.reason == NextAttemptReason::MoreToSend
                    && !report.sent_anything() =>
            {
                let mut next = NextAttempt::after_error(
                    &SyncError::Invalid(String::new()),
                    failed_again(),
                    now_ms(),
                );
                next.reason = NextAttemptReason::MoreToSend;
                report.next_attempt = next;
                Some(next)
            }
            Ok(_) => {
                self.inner.failures_in_a_row.store(0, Ordering::SeqCst);
                None
            }
            Err(SyncError::Offline) => None,
            Err(e) if e.needs_enrolment() => None,
            Err(e) => Some(NextAttempt::after_error(e, failed_again(), now_ms())),
        };
        *lock(&self.inner.after_failure) = next;
    }

    /// Whether a sync is running now.
    pub fn is_running(&self) -> bool {
        lock(&self.inner.flight).is_some()
    }

    /// Cancels the sync in flight, if any; it stops at its next await (at once for a
    /// request in progress). Returns whether one was running.
    pub fn cancel(&self) -> bool {
        match lock(&self.inner.flight).as_ref() {
            Some(flight) => {
                flight.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// One line per sync for the logs: counts and ids, never content (server refusals and
    /// network causes are the server's and the system's words, which carry none).
    fn log_outcome(result: &Outcome) {
        match result {
            Ok(r) => tracing::info!(
                documents = r.documents_sent,
                consent_events = r.consent_events_sent,
                recordings_delivered = r.delivered.len(),
                audio_bytes = r.audio_bytes_confirmed,
                withdrawals = r.withdrawals_propagated,
                waiting_to_retry = r.waiting_to_retry,
                failures = r.failures.len(),
                parked = r.parked.len(),
                "sync finished"
            ),
            Err(SyncError::Cancelled) => tracing::info!("sync cancelled"),
            Err(e) => tracing::warn!(error = %e, "sync stopped"),
        }
    }

    /// Runs a sync, or joins the one in flight and returns its result (single flight).
    /// Call it inside a tokio runtime (the CLI and the FFI each own one): the run is a
    /// task of its own, so a caller that goes away does not stop it for the others.
    pub async fn sync(&self) -> Outcome {
        let mut done = {
            let mut flight = lock(&self.inner.flight);
            match flight.as_ref() {
                Some(running) => running.done.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let cancel = CancellationToken::new();
                    *flight = Some(Flight {
                        cancel: cancel.clone(),
                        done: rx.clone(),
                    });
                    let engine = self.clone();
                    // Its own task: a caller that goes away does not stop the sync that
                    // others are waiting for.
                    tokio::spawn(async move {
                        tracing::debug!(network = ?engine.network(), "sync started");
                        let mut result = engine.run(cancel).await;
                        Self::log_outcome(&result);
                        engine.note_outcome(&mut result);
                        *lock(&engine.inner.flight) = None;
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        match done.wait_for(Option::is_some).await {
            Ok(value) => value.clone().unwrap_or(Err(SyncError::Cancelled)),
            Err(_) => Err(SyncError::Cancelled),
        }
    }

    async fn run(&self, cancel: CancellationToken) -> Outcome {
        let store = &self.inner.store;
        // First, with or without a network or an enrolment: the audio of storytellers
        // who withdrew and asked for it to be deleted.
        let erased = self.erase_withdrawn_audio()?;
        let account = store.sync_account()?.ok_or(SyncError::NotEnrolled)?;
        if account.revoked {
            return Err(SyncError::EnrolAgain);
        }
        let network = self.network();
        if network == Network::None {
            return Err(SyncError::Offline);
        }
        // Read only when about to be used; a secret store that cannot be used now is an
        // error to retry later (`SecretStore`), and changes nothing queued.
        let Some(token) = store.device_token()? else {
            // Gone (restored to a new phone, key invalidated): enrol again. Not recorded
            // as a revocation: the store is asked again on every sync, so a token that
            // only seemed gone (a platform fault) is used again when it is back.
            return Err(SyncError::TokenLost);
        };
        let api = Api {
            transport: self.inner.transport.clone(),
            base: account.server_url.clone(),
            token: Some(token),
            server_pin: account.pin()?,
            cancel,
        };
        let mut report = SyncReport {
            project_config_updated: refresh_project(store, &api, &account).await?,
            local_audio_removed: erased,
            ..SyncReport::default()
        };
        let settings = store.sync_settings()?;
        let stories = store.fill_outbox()?;
        let mut progress = SyncProgress {
            stories_total: stories.len(),
            ..SyncProgress::default()
        };
        for story in &stories {
            progress.bytes_total += self.audio_left(*story, &settings, network)?;
        }
        self.inner.progress.publish(0, progress.clone());
        for story in stories {
            if api.cancel.is_cancelled() {
                return Err(SyncError::Cancelled);
            }
            progress.story_id = Some(story);
            progress.story_bytes_sent = 0;
            progress.story_bytes_total = 0;
            self.inner.progress.publish(0, progress.clone());
            let unmade = self.prepare_audio_of(story).await?;
            self.sync_story(
                &api,
                story,
                &settings,
                network,
                &unmade,
                &mut report,
                &mut progress,
            )
            .await?;
            progress.stories_done += 1;
            self.inner.progress.publish(0, progress.clone());
        }
        store.forget_delivered_codes(Timestamp::now())?;
        report.next_attempt = store.next_attempt_on(self.network())?;
        Ok(report)
    }

    /// Audio bytes of `story` that may go on `network` and the server has not
    /// confirmed yet.
    fn audio_left(
        &self,
        story: StoryId,
        settings: &SyncSettings,
        network: Network,
    ) -> Result<u64, SyncError> {
        let store = &self.inner.store;
        if store.consent(story)?.status == ConsentStatus::Withdrawn {
            return Ok(0);
        }
        let sizes: BTreeMap<String, u64> = store
            .recordings(story)?
            .into_iter()
            .map(|r| (r.id.to_string(), r.bytes))
            .collect();
        Ok(store
            .outbox_items(story)?
            .iter()
            .filter(|i| i.state == ItemState::Pending)
            .filter(|i| {
                i.representation()
                    .is_some_and(|r| settings.allows(network, r))
            })
            .map(|i| {
                i.file_bytes
                    .or_else(|| sizes.get(&i.item_id).copied())
                    .unwrap_or(0)
                    .saturating_sub(i.confirmed_bytes)
            })
            .sum())
    }

    /// Makes the files the story's recordings still lack (FLAC, listening copy) before
    /// anything of the story is sent, on a blocking thread: the document then lists
    /// them, and the uploads find them. A failure is logged and leaves the recording as
    /// it was; its upload waits (and counts a failure) until the files are made.
    async fn prepare_audio_of(&self, story: StoryId) -> Result<Vec<PrepareFailure>, SyncError> {
        let store = self.inner.store.clone();
        if store.consent(story)?.status == ConsentStatus::Withdrawn {
            return Ok(Vec::new());
        }
        let prepared =
            tokio::task::spawn_blocking(move || crate::audio::prepare_story_audio(&store, story))
                .await
                .map_err(|e| SyncError::Store(format!("preparing the audio stopped: {e}")))?;
        match prepared {
            Ok(report) => {
                for failure in &report.failed {
                    tracing::warn!(recording = %failure.recording_id, reason = %failure.reason, "a recording's files could not be made");
                }
                Ok(report.failed)
            }
            Err(e) => {
                tracing::warn!(story = %story, error = %e, "the story's audio could not be prepared");
                Ok(Vec::new())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync_story(
        &self,
        api: &Api,
        story_id: StoryId,
        settings: &SyncSettings,
        network: Network,
        unmade: &[PrepareFailure],
        report: &mut SyncReport,
        progress: &mut SyncProgress,
    ) -> Result<(), SyncError> {
        let store = &self.inner.store;
        let now = now_ms();
        // 0. Consent changed elsewhere (the storyteller on the portal) comes in before
        //    anything of the story is sent: a withdrawal ends its delivery below.
        if store.consent_check_due(story_id, now, CONSENT_SWEEP_MS)? {
            self.bring_in_consent(api, story_id, report).await?;
        }
        let (story, notes, events) = store.story_with_details(story_id)?;
        let recordings = store.recordings(story_id)?;
        let items = store.outbox_items(story_id)?;
        // The server's consent after the last event it accepted in this sync.
        let mut on_server: Option<tellus_protocol::ConsentSummary> = None;

        // 1. Consent events, in the order they were recorded: a withdrawal goes out
        //    before anything else of the story, and nothing follows an event that has
        //    not gone.
        for item in items.iter().filter(|i| i.kind == ItemKind::Consent) {
            match item.state {
                ItemState::Delivered | ItemState::Dropped => continue,
                ItemState::Parked => return Ok(()),
                ItemState::Pending if item.next_attempt_at > now => {
                    report.waiting_to_retry += 1;
                    return Ok(());
                }
                ItemState::Pending => {}
            }
            let Some(event) = events.iter().find(|e| e.id.to_string() == item.item_id) else {
                store.park(
                    &item.item_id,
                    "the consent event is missing from this device",
                )?;
                return Ok(());
            };
            let doc = consent_event(event)?;
            let path = format!("/stories/{story_id}/consent");
            let request = Api::json_body(api.request(Method::Post, &path), &doc);
            let response = api.send(request).await.map_err(SyncError::from)?;
            match response.status {
                200 | 201 => {
                    let accepted: Result<ConsentAccepted, _> = parse(&response);
                    on_server = accepted.ok().map(|a| a.consent);
                    store.mark_delivered(&item.item_id)?;
                    report.consent_events_sent += 1;
                    if event.kind == ConsentKind::Withdrawn {
                        report.withdrawals_propagated += 1;
                    }
                }
                401 => return self.enrol_again(),
                413 => {
                    let reason =
                        format!("the server refused it as too large: {}", refusal(&response));
                    store.park(&item.item_id, &reason)?;
                    report.parked.push(reason);
                    return Ok(());
                }
                _ => {
                    self.failed(report, &item.item_id, &refusal(&response))?;
                    return Ok(());
                }
            }
        }

        // 1b. A storyteller who used their code before the story arrived: the server
        //     applies what they asked the moment the consent with their code's hash
        //     arrives. When the consent the server answered with is not the phone's, its
        //     log is read before anything else is sent (no request when they agree).
        if let Some(theirs) = on_server {
            let ours = store.consent(story_id)?;
            if ours.status != ConsentStatus::Withdrawn
                && (theirs.status != ours.status
                    || theirs.granted != ours.granted
                    || theirs.events > ours.events)
            {
                self.bring_in_consent(api, story_id, report).await?;
            } else {
                // The server just answered with the phone's consent: no need to read its
                // log again until the next sweep.
                store.note_consent_checked(story_id, now_ms())?;
            }
        }

        // 2. A withdrawn story: end its uploads on the server and send nothing more (its
        //    local audio, if the storyteller asked, went at the start of the sync or
        //    as the withdrawal came in).
        let consent = store.consent(story_id)?;
        if consent.status == ConsentStatus::Withdrawn {
            for item in items.iter().filter(|i| i.kind != ItemKind::Consent) {
                if item.state == ItemState::Dropped {
                    continue;
                }
                if let Some(path) = &item.upload_path
                    && tus::terminate(api, path).await.map_err(SyncError::from)?
                {
                    report.uploads_terminated += 1;
                }
                if item.state != ItemState::Delivered || item.kind == ItemKind::Document {
                    store.mark_dropped(&item.item_id)?;
                }
            }
            return Ok(());
        }

        // 3. The story document, when the server does not hold this version yet.
        let Some(doc_item) = items.iter().find(|i| i.kind == ItemKind::Document) else {
            return Ok(());
        };
        match doc_item.state {
            ItemState::Parked => return Ok(()),
            ItemState::Pending if doc_item.next_attempt_at > now => {
                report.waiting_to_retry += 1;
                return Ok(());
            }
            _ => {}
        }
        let identity = store.identity(story_id)?;
        let files = store.recording_files(story_id)?;
        let mut doc = story_document(&story, &notes, &recordings, &files, &identity, 0);
        let sha = content_sha256(&doc);
        if doc_item.sent_sha256.as_deref() != Some(sha.as_str()) {
            // Checked against the limits the server sent in this sync's refresh: a story
            // that no longer fits (the server's limits shrank) is parked with the reason
            // at once, not sent to be refused.
            if let Err(over) = store
                .limits()?
                .check_document(&doc, tellus_protocol::json_len(&doc))
            {
                store.park(&doc_item.item_id, &over.0)?;
                report.parked.push(over.0);
                return Ok(());
            }
            // The wire revision rises with every change the server sees, also for
            // changes (notes, recordings) that do not bump the story's own revision.
            doc.revision = story
                .revision
                .max(doc_item.sent_revision.map_or(0, |r| r.saturating_add(1)));
            let path = format!("/stories/{story_id}");
            let request = Api::json_body(api.request(Method::Put, &path), &doc);
            let response = api.send(request).await.map_err(SyncError::from)?;
            match response.status {
                200 | 201 => {
                    let accepted: Result<StoryAccepted, _> = parse(&response);
                    let revision = accepted.map_or(doc.revision, |a| a.revision);
                    store.mark_document_sent(story_id, revision, &sha)?;
                    report.documents_sent += 1;
                }
                401 => return self.enrol_again(),
                // Retrying the same cannot help: parked at once, with the server's reason.
                413 => {
                    let reason = format!(
                        "the server refused the story as too large: {}",
                        refusal(&response)
                    );
                    store.park(&doc_item.item_id, &reason)?;
                    report.parked.push(reason);
                    return Ok(());
                }
                409 if error_code(&response).as_deref() == Some("stale_revision") => {
                    let reason = format!(
                        "the server holds a newer version of this story: {}",
                        refusal(&response)
                    );
                    store.park(&doc_item.item_id, &reason)?;
                    report.parked.push(reason);
                    return Ok(());
                }
                _ => {
                    self.failed(report, &doc_item.item_id, &refusal(&response))?;
                    return Ok(());
                }
            }
        } else if doc_item.state != ItemState::Delivered {
            store.mark_delivered(&doc_item.item_id)?;
        }

        // 4. The recordings' files, one item per representation, in the order the
        //    network asks for; what the network does not allow yet waits.
        let order = SyncSettings::upload_order(network);
        let mut pending: Vec<(&OutboxItem, RecordingId, Representation)> = items
            .iter()
            .filter(|i| i.state == ItemState::Pending)
            .filter_map(|i| i.audio().map(|(id, r)| (i, id, r)))
            .collect();
        pending.sort_by_key(|(_, id, r)| (order.iter().position(|o| o == r), *id));
        let (pending, held): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, _, r)| settings.allows(network, *r));
        report.audio_waiting_for_unmetered += held.len();
        let size_of = |item: &OutboxItem, id: RecordingId| {
            item.file_bytes.unwrap_or_else(|| {
                recordings
                    .iter()
                    .find(|r| r.id == id)
                    .map_or(0, |r| r.bytes)
            })
        };
        progress.story_bytes_total = pending.iter().map(|(i, id, _)| size_of(i, *id)).sum();
        for (item, recording_id, representation) in pending {
            if item.next_attempt_at > now {
                report.waiting_to_retry += 1;
                continue;
            }
            let Some(audio) = self.audio_upload(item, recording_id, representation)? else {
                // Not made: a failure to make it counts (and parks after six); a copy
                // another process is making right now goes with a later sync.
                if let Some(failure) = unmade
                    .iter()
                    .find(|f| f.recording_id == recording_id && f.representation == representation)
                {
                    self.failed(
                        report,
                        &item.item_id,
                        &format!(
                            "the recording's {representation} copy could not be made on this device: {}",
                            failure.reason
                        ),
                    )?;
                }
                continue;
            };
            let start = item.confirmed_bytes;
            let base_story = progress.story_bytes_sent;
            let base_all = progress.bytes_sent;
            let hub = &self.inner.progress;
            let shown = Mutex::new(progress.clone());
            let on_progress = |offset: u64| {
                let mut p = lock(&shown);
                let gained = offset.saturating_sub(start);
                p.story_bytes_sent = base_story + offset;
                p.bytes_sent = base_all + gained;
                hub.publish(0, p.clone());
            };
            if item.cancelled {
                store.clear_cancelled(&item.item_id)?;
            }
            let job = UploadJob {
                audio: &audio,
                file: store.recordings_dir().join(&audio.file_name),
                upload_path: item.upload_path.clone(),
            };
            let outcome = tus::upload(api, store, job, &on_progress).await;
            *progress = lock(&shown).clone();
            match outcome {
                UploadOutcome::Delivered(receipt) => {
                    store.mark_audio_delivered(&item.item_id, &receipt)?;
                    tracing::info!(recording = %recording_id, %representation, bytes = receipt.bytes, "recording delivered, receipt matches");
                    report.audio_bytes_confirmed += audio.bytes.saturating_sub(start);
                    progress.story_bytes_sent = base_story + audio.bytes;
                    progress.bytes_sent = base_all + audio.bytes.saturating_sub(start);
                    report.delivered.push(receipt);
                    if settings.remove_local_audio_after_delivery
                        && self.remove_delivered_file(&audio)?
                    {
                        report.local_audio_removed += 1;
                    }
                }
                UploadOutcome::Parked(reason) => {
                    store.park(&item.item_id, &reason)?;
                    tracing::warn!(recording = %recording_id, %representation, %reason, "recording parked");
                    report.parked.push(reason);
                }
                UploadOutcome::Failed(reason) => self.failed(report, &item.item_id, &reason)?,
                UploadOutcome::Withdrawn => self.failed(
                    report,
                    &item.item_id,
                    "the server says this story was withdrawn",
                )?,
                UploadOutcome::Unreachable(failure) => return Err(failure.into()),
                UploadOutcome::Unauthorized => return self.enrol_again(),
                UploadOutcome::Cancelled => {
                    self.note_cancelled(api, &audio, item.upload_path.clone())
                        .await?;
                    return Err(SyncError::Cancelled);
                }
            }
        }
        Ok(())
    }

    /// The file an audio item sends, once it is made: the recording's lossless file
    /// (its FLAC, or the WAV whose upload began before issue 20) or its listening copy.
    fn audio_upload(
        &self,
        item: &OutboxItem,
        recording: RecordingId,
        representation: Representation,
    ) -> Result<Option<AudioUpload>, SyncError> {
        let store = &self.inner.store;
        let Some(file) = store.recording_file(recording, representation)? else {
            return Ok(None);
        };
        if file.removed {
            return Ok(None);
        }
        let rec = store.recording(recording)?;
        Ok(Some(AudioUpload {
            item_id: item.item_id.clone(),
            recording_id: recording,
            story_id: rec.story_id,
            representation,
            format: file.format,
            file_name: file.file_name,
            bytes: file.bytes,
            sha256: file.sha256,
            pcm_sha256: file.pcm_sha256.or(rec.pcm_sha256),
        }))
    }

    /// Reads the story's consent log on the server and brings in what this phone does
    /// not have (`Store::import_consent_events`); audio a withdrawal brought in asks to
    /// erase goes at once. An older server without the route (404) or one that cannot
    /// answer now does not fail the sync: the server refuses what a withdrawn story
    /// would send anyway, and the next sync asks again.
    async fn bring_in_consent(
        &self,
        api: &Api,
        story_id: StoryId,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let store = &self.inner.store;
        let path = format!("/stories/{story_id}/consent");
        let response = api
            .send(api.request(Method::Get, &path))
            .await
            .map_err(SyncError::from)?;
        match response.status {
            200 => {}
            401 => return self.enrol_again(),
            404 => {
                tracing::debug!(story = %story_id, "the server has no consent log of this story to read");
                store.note_consent_checked(story_id, now_ms())?;
                return Ok(());
            }
            status => {
                tracing::warn!(story = %story_id, status, "the server's consent log could not be read; asked again next sync");
                return Ok(());
            }
        }
        let log: ConsentLog = match parse(&response) {
            Ok(log) => log,
            Err(why) => {
                tracing::warn!(story = %story_id, %why, "the server's consent log was not understood");
                return Ok(());
            }
        };
        let outcome = store.import_consent_events(story_id, &log.events)?;
        store.note_consent_checked(story_id, now_ms())?;
        for why in &outcome.refused {
            tracing::warn!(story = %story_id, %why, "a consent event from the server was not applied");
        }
        if outcome.imported > 0 {
            tracing::info!(story = %story_id, events = outcome.imported, withdrawn = outcome.withdrawn, "consent changed elsewhere brought in");
            report.consent_changes_received += outcome.imported;
            report.local_audio_removed += self.erase_withdrawn_audio()?;
        }
        Ok(())
    }

    fn failed(&self, report: &mut SyncReport, item: &str, reason: &str) -> Result<(), SyncError> {
        if self.inner.store.record_failure(item, reason)? {
            report.parked.push(reason.to_string());
        } else {
            report.failures.push(reason.to_string());
        }
        Ok(())
    }

    /// Marks an upload cancelled on its way, with what the server kept of it: asked in
    /// one short HEAD (the server keeps what arrived), left as last known when the
    /// server does not answer in time.
    async fn note_cancelled(
        &self,
        api: &Api,
        audio: &AudioUpload,
        known_path: Option<String>,
    ) -> Result<(), SyncError> {
        let store = &self.inner.store;
        let path = store
            .outbox_items(audio.story_id)?
            .into_iter()
            .find(|i| i.item_id == audio.item_id)
            .and_then(|i| i.upload_path)
            .or(known_path);
        let on_server = match path {
            Some(path) => {
                let asking = Api {
                    transport: api.transport.clone(),
                    base: api.base.clone(),
                    token: api.token.clone(),
                    // The same trust as the sync it follows: a pinned server is asked
                    // under its pin, or the HEAD would be refused as untrusted.
                    server_pin: api.server_pin,
                    cancel: CancellationToken::new(),
                };
                let ask = tus::offset_on_server(&asking, &path, audio.bytes);
                tokio::time::timeout(std::time::Duration::from_secs(3), ask)
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        store.mark_cancelled(&audio.item_id, on_server)?;
        Ok(())
    }

    fn enrol_again(&self) -> Result<(), SyncError> {
        self.inner.store.mark_sync_account_revoked()?;
        Err(SyncError::EnrolAgain)
    }

    /// Deletes the local audio of every story whose storyteller withdrew and asked for
    /// it; returns how many files went.
    pub fn erase_withdrawn_audio(&self) -> Result<usize, SyncError> {
        let mut removed = 0;
        for recording in self.inner.store.recordings_to_erase()? {
            if self.remove_local_audio(&recording)? {
                removed += 1;
            }
            self.inner.store.mark_erased(recording.id)?;
        }
        Ok(removed)
    }

    /// Deletes every file of a recording from this device (withdrawn with erasure asked
    /// for): the WAV, its FLAC and its listening copy, and anything half made. Returns
    /// whether any file was removed.
    fn remove_local_audio(&self, recording: &Recording) -> Result<bool, SyncError> {
        let store = &self.inner.store;
        let removed = crate::audio::remove_recording_files(store, recording)
            .map_err(|e| SyncError::Store(e.to_string()))?;
        for representation in Representation::ALL {
            store.mark_local_removed(&audio_item_id(recording.id, representation))?;
        }
        Ok(removed)
    }

    /// Deletes a delivered file (the setting asks for it once its receipt matched). The
    /// WAV a delivered FLAC was made from goes with it once the listening copy is made
    /// too: the FLAC on the server holds the same samples, verified.
    fn remove_delivered_file(&self, audio: &AudioUpload) -> Result<bool, SyncError> {
        let store = &self.inner.store;
        let dir = store.recordings_dir();
        let mut removed = remove_if_there(&dir.join(&audio.file_name))?;
        store.mark_file_removed(audio.recording_id, audio.representation)?;
        store.mark_local_removed(&audio.item_id)?;
        if audio.representation == Representation::Lossless && audio.format != AudioFormat::Wav {
            let listening_made = store
                .recording_file(audio.recording_id, Representation::Listening)?
                .is_some();
            if listening_made {
                let wav = store.recording(audio.recording_id)?.file_name;
                removed |= remove_if_there(&dir.join(wav))?;
            }
        }
        Ok(removed)
    }
}

/// Deletes a file; false when it was not there.
fn remove_if_there(path: &std::path::Path) -> Result<bool, SyncError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SyncError::Store(format!(
            "cannot delete {}: {e}",
            path.display()
        ))),
    }
}
