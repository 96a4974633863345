//! Enrolment and background sync for the shells: the network the shell sees, the reporter's
//! settings, `sync_now` on the runtime this crate owns, cancellation, progress and each
//! story's delivery state. All decisions are the core's `SyncEngine`; this file converts
//! types and runs futures.

use std::future::Future;
use std::sync::OnceLock;

use tellus_core::sync::{
    DeliveryState, Network, NetworkNeed, NextAttempt, NextAttemptReason, SyncProgress, SyncReport,
    SyncSettings,
};
use tokio::runtime::Runtime;

use crate::error::{Result, TellusError};

/// The runtime every async call of this library runs on (DESIGN.md §6: the FFI crate owns
/// it). Two worker threads: sync is network- and disk-bound, and phones are small.
fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tellus-sync")
        .enable_all()
        .build()
        .map_err(|e| TellusError::Storage {
            reason: format!("cannot start the sync runtime: {e}"),
        })?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `future` on this crate's runtime and waits for it from whatever executor the
/// foreign side drives (Kotlin coroutines, Swift tasks, Python asyncio).
pub(crate) async fn on_runtime<T: Send + 'static>(
    future: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    runtime()?
        .spawn(future)
        .await
        .map_err(|e| TellusError::Storage {
            reason: format!("the sync task failed: {e}"),
        })?
}

/// What network the phone has now, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkKind {
    /// No connection: nothing is tried.
    None,
    /// Mobile data or a hotspot.
    Metered,
    /// Wi-Fi or a wired link.
    Unmetered,
}

/// The reporter's sync settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncSettingsView {
    /// Hold audio until the phone is on an unmetered network (metadata never waits).
    pub audio_on_unmetered_only: bool,
    /// Delete a recording's file on this phone once the server's receipt matches it.
    pub remove_local_audio_after_delivery: bool,
    /// Keep the recorded WAV beside its verified FLAC (default off: the FLAC only).
    pub keep_wav: bool,
}

/// The enrolled account, without its token.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AccountView {
    pub server_url: String,
    pub reporter_id: String,
    pub project_id: String,
    /// The server refused this device's token: enrol again with a new invite.
    pub needs_enrolment: bool,
}

/// Where a story stands, for the story list (DESIGN.md §1.5), and when nothing moves,
/// why. The variants are stable codes to switch on (the CLI's JSON names them the same,
/// in snake case); `percent` is the share of the story's audio on the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DeliveryStateView {
    /// Nothing of it has reached the server yet.
    OnlyOnThisPhone,
    /// On its way: this share of its audio is confirmed by the server.
    Uploading { percent: u8 },
    /// The phone has no connection (`set_network(None)`); it goes when one comes.
    WaitingForConnection { percent: u8 },
    /// Its audio waits for Wi-Fi, as the reporter's settings ask.
    WaitingForUnmetered { percent: u8 },
    /// Something failed and is tried again from `retry_at_ms` (ms since the Unix epoch);
    /// `reason` is the last failure.
    WaitingToRetry {
        percent: u8,
        retry_at_ms: i64,
        reason: String,
    },
    /// A sync was cancelled while its audio was on its way, with `percent` on the
    /// server; the next sync continues from there.
    Cancelled { percent: u8 },
    /// The server confirmed the story, its consent and the SHA-256 of every recording.
    Delivered { local_audio_removed: bool },
    /// Something could not be delivered; `reason` says what and why.
    NeedsAttention { reason: String },
    /// The storyteller withdrew; `propagated` once the server has the withdrawal.
    Withdrawn { propagated: bool },
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncProgressView {
    /// The story being delivered now.
    pub story_id: Option<String>,
    pub stories_done: u32,
    pub stories_total: u32,
    pub story_bytes_sent: u64,
    pub story_bytes_total: u64,
    pub bytes_sent: u64,
    pub bytes_total: u64,
}

/// The server's receipt for a delivered recording.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReceiptView {
    pub recording_id: String,
    pub story_id: String,
    pub sha256: String,
    pub bytes: u64,
    pub received_at: String,
    /// Which copy of the recording: "lossless" or "listening".
    pub representation: String,
    /// "wav", "flac" or "opus", when the server says.
    pub format: Option<String>,
    /// A lossless copy's PCM identity, as the server computed it.
    pub pcm_sha256: Option<String>,
}

/// What one sync did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncReportView {
    pub documents_sent: u32,
    pub consent_events_sent: u32,
    pub delivered: Vec<ReceiptView>,
    pub audio_bytes_confirmed: u64,
    pub withdrawals_propagated: u32,
    /// Consent changes the storyteller made themself on the server's portal, brought
    /// into this phone in this sync (a withdrawal among them shows on the story).
    pub consent_changes_received: u32,
    pub local_audio_removed: u32,
    /// Recordings held back until the phone is on an unmetered network.
    pub audio_waiting_for_unmetered: u32,
    pub waiting_to_retry: u32,
    /// Items parked in this sync, with the reason: show them.
    pub parked: Vec<String>,
    /// When to sync next and why: schedule exactly this (WorkManager, BGTaskScheduler).
    pub next_attempt: NextAttemptView,
}

/// Why the next sync is due when it is: stable codes to switch on (docs/sync.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NextAttemptReasonView {
    /// Nothing waits: sync again when a story changes.
    Idle,
    /// Something can go now.
    MoreToSend,
    /// A failed item waits for its backoff.
    RetryAfterFailure,
    /// Only audio waits, for Wi-Fi.
    WaitingForUnmetered,
    /// Something waits and the phone has no connection.
    WaitingForConnection,
    /// The whole sync failed (server unreachable, secret store locked, certificate
    /// refused): again after a backoff growing with each failure in a row.
    SyncFailed,
    /// The sync was cancelled; the next one goes on from what was sent.
    Cancelled,
    /// Only a new enrolment gets sync going again: schedule nothing.
    NeedsEnrolment,
}

/// The network the next sync needs: the shell's scheduling constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkNeedView {
    Connected,
    Unmetered,
}

/// When to sync next, decided by the core for every shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct NextAttemptView {
    pub reason: NextAttemptReasonView,
    /// Not before this time (ms since the Unix epoch); None: as soon as `network` holds
    /// (for `Idle` and `NeedsEnrolment`: no timed attempt).
    pub at_ms: Option<i64>,
    pub network: NetworkNeedView,
    /// Whether to schedule a sync at all (false for `Idle` and `NeedsEnrolment`).
    pub scheduled: bool,
}

impl From<NextAttempt> for NextAttemptView {
    fn from(n: NextAttempt) -> Self {
        NextAttemptView {
            reason: match n.reason {
                NextAttemptReason::Idle => NextAttemptReasonView::Idle,
                NextAttemptReason::MoreToSend => NextAttemptReasonView::MoreToSend,
                NextAttemptReason::RetryAfterFailure => NextAttemptReasonView::RetryAfterFailure,
                NextAttemptReason::WaitingForUnmetered => {
                    NextAttemptReasonView::WaitingForUnmetered
                }
                NextAttemptReason::WaitingForConnection => {
                    NextAttemptReasonView::WaitingForConnection
                }
                NextAttemptReason::SyncFailed => NextAttemptReasonView::SyncFailed,
                NextAttemptReason::Cancelled => NextAttemptReasonView::Cancelled,
                NextAttemptReason::NeedsEnrolment => NextAttemptReasonView::NeedsEnrolment,
            },
            at_ms: n.at_ms,
            network: match n.network {
                NetworkNeed::Connected => NetworkNeedView::Connected,
                NetworkNeed::Unmetered => NetworkNeedView::Unmetered,
            },
            scheduled: n.is_scheduled(),
        }
    }
}

/// Told the progress of every sync, on a Rust thread; coalesced, so a slow observer sees
/// fewer, newer snapshots and never slows the sync.
#[uniffi::export(with_foreign)]
pub trait SyncObserver: Send + Sync {
    fn sync_progress(&self, progress: SyncProgressView) -> Result<(), crate::error::ObserverError>;
}

impl From<NetworkKind> for Network {
    fn from(kind: NetworkKind) -> Self {
        match kind {
            NetworkKind::None => Network::None,
            NetworkKind::Metered => Network::Metered,
            NetworkKind::Unmetered => Network::Unmetered,
        }
    }
}

impl From<SyncSettings> for SyncSettingsView {
    fn from(s: SyncSettings) -> Self {
        SyncSettingsView {
            audio_on_unmetered_only: s.audio_on_unmetered_only,
            remove_local_audio_after_delivery: s.remove_local_audio_after_delivery,
            keep_wav: s.keep_wav,
        }
    }
}

impl From<SyncSettingsView> for SyncSettings {
    fn from(s: SyncSettingsView) -> Self {
        SyncSettings {
            audio_on_unmetered_only: s.audio_on_unmetered_only,
            remove_local_audio_after_delivery: s.remove_local_audio_after_delivery,
            keep_wav: s.keep_wav,
        }
    }
}

impl From<DeliveryState> for DeliveryStateView {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::OnlyOnPhone => DeliveryStateView::OnlyOnThisPhone,
            DeliveryState::Uploading { percent } => DeliveryStateView::Uploading { percent },
            DeliveryState::WaitingForConnection { percent } => {
                DeliveryStateView::WaitingForConnection { percent }
            }
            DeliveryState::WaitingForUnmetered { percent } => {
                DeliveryStateView::WaitingForUnmetered { percent }
            }
            DeliveryState::WaitingToRetry {
                percent,
                retry_at_ms,
                reason,
            } => DeliveryStateView::WaitingToRetry {
                percent,
                retry_at_ms,
                reason,
            },
            DeliveryState::Cancelled { percent } => DeliveryStateView::Cancelled { percent },
            DeliveryState::Delivered {
                local_audio_removed,
            } => DeliveryStateView::Delivered {
                local_audio_removed,
            },
            DeliveryState::NeedsAttention { reason } => {
                DeliveryStateView::NeedsAttention { reason }
            }
            DeliveryState::Withdrawn { propagated } => DeliveryStateView::Withdrawn { propagated },
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<SyncProgress> for SyncProgressView {
    fn from(p: SyncProgress) -> Self {
        SyncProgressView {
            story_id: p.story_id.map(|id| id.to_string()),
            stories_done: count(p.stories_done),
            stories_total: count(p.stories_total),
            story_bytes_sent: p.story_bytes_sent,
            story_bytes_total: p.story_bytes_total,
            bytes_sent: p.bytes_sent,
            bytes_total: p.bytes_total,
        }
    }
}

impl From<&tellus_core::protocol::Receipt> for ReceiptView {
    fn from(r: &tellus_core::protocol::Receipt) -> Self {
        ReceiptView {
            recording_id: r.recording_id.clone(),
            story_id: r.story_id.clone(),
            sha256: r.sha256.clone(),
            bytes: r.bytes,
            received_at: r.received_at.clone(),
            representation: r.representation.as_str().to_string(),
            format: r.format.clone(),
            pcm_sha256: r.pcm_sha256.clone(),
        }
    }
}

impl From<SyncReport> for SyncReportView {
    fn from(r: SyncReport) -> Self {
        SyncReportView {
            documents_sent: count(r.documents_sent),
            consent_events_sent: count(r.consent_events_sent),
            delivered: r.delivered.iter().map(Into::into).collect(),
            audio_bytes_confirmed: r.audio_bytes_confirmed,
            withdrawals_propagated: count(r.withdrawals_propagated),
            consent_changes_received: count(r.consent_changes_received),
            local_audio_removed: count(r.local_audio_removed),
            audio_waiting_for_unmetered: count(r.audio_waiting_for_unmetered),
            waiting_to_retry: count(r.waiting_to_retry),
            parked: r.parked,
            next_attempt: r.next_attempt.into(),
        }
    }
}
