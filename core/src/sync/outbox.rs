//! The persisted outbox (SQLite, migration step 3): the enrolment, the settings, and one
//! row per thing to deliver with what the server has confirmed of it. Every change is one
//! IMMEDIATE transaction, so a process killed at any point (even with SIGKILL) leaves the
//! outbox as it was before or after that change; the upload path of an upload in
//! progress is written as soon as the server creates it, so a restarted process resumes
//! it (HEAD) instead of starting again.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use tellus_protocol::{Receipt, Representation};

use super::backoff;
use super::policy::{DeliveryPolicy, Network, SyncSettings};
use crate::Store;
use crate::error::{Error, Result};
use crate::model::{RecordingId, StoryId, Timestamp};

/// This device's enrolment with a project server. The token is not part of it: it lives
/// in the secret store (`Store::device_token`, sync/secrets.rs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// e.g. `https://stories.example.org` (no trailing slash).
    pub server_url: String,
    pub reporter_id: String,
    pub project_id: String,
    pub project_etag: Option<String>,
    /// The server refused the token (401): sync stops until the device enrols again. A
    /// token gone from the secret store is not recorded here (it is asked for again on
    /// every sync); `Store::needs_enrolment` covers both.
    pub revoked: bool,
    /// The pin of the server's key (`sha256:…`) when the invite carried one: only that
    /// key is trusted for this server. None: the web PKI.
    pub server_pin: Option<String>,
}

impl Account {
    /// The pin, read back as the one it was when enrolled.
    pub fn pin(&self) -> Result<Option<tellus_net::CertificatePin>, super::SyncError> {
        self.server_pin
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| super::SyncError::Store(format!("the enrolment's server pin: {e}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Document,
    Consent,
    Audio,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Document => "document",
            ItemKind::Consent => "consent",
            ItemKind::Audio => "audio",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "document" => Some(ItemKind::Document),
            "consent" => Some(ItemKind::Consent),
            "audio" => Some(ItemKind::Audio),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    /// The server confirmed it (for audio: its receipt matched).
    Delivered,
    /// Failed too often or refused for good; shown with its error, not retried until the
    /// reporter asks.
    Parked,
    /// No longer to be sent (audio of a withdrawn story).
    Dropped,
}

impl ItemState {
    fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Delivered => "delivered",
            ItemState::Parked => "parked",
            ItemState::Dropped => "dropped",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(ItemState::Pending),
            "delivered" => Some(ItemState::Delivered),
            "parked" => Some(ItemState::Parked),
            "dropped" => Some(ItemState::Dropped),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub item_id: String,
    pub kind: ItemKind,
    pub story_id: StoryId,
    pub state: ItemState,
    pub attempts: u32,
    /// Milliseconds since the Unix epoch; 0 = now.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub sent_revision: Option<u32>,
    pub sent_sha256: Option<String>,
    /// Path of the upload on the server (`/api/v1/uploads/…`), while one is in progress.
    pub upload_path: Option<String>,
    /// The last offset the server reported for this recording.
    pub confirmed_bytes: u64,
    pub receipt: Option<Receipt>,
    pub local_removed: bool,
    /// A sync was cancelled while this upload was on its way; cleared when it moves again.
    pub cancelled: bool,
    /// Audio: the size of the file this item sends, once it was made (None before, and
    /// for other kinds).
    pub file_bytes: Option<u64>,
}

impl OutboxItem {
    /// Audio: the recording and which copy of it this item sends.
    pub fn audio(&self) -> Option<(RecordingId, Representation)> {
        match self.kind {
            ItemKind::Audio => crate::store::parse_audio_item(&self.item_id),
            _ => None,
        }
    }

    /// Audio: which copy this item sends.
    pub fn representation(&self) -> Option<Representation> {
        self.audio().map(|(_, r)| r)
    }
}

/// Where a story stands, for the reporter (DESIGN.md §1.5), and when nothing moves, why.
/// Serialised with a stable `state` code (`code()`) that shells and scripts switch on.
/// `percent` is the share of the story's audio the server holds (0 with no audio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeliveryState {
    /// Nothing of it has reached the server (a draft, or not synced yet).
    OnlyOnPhone,
    /// On its way: `percent` of its audio bytes confirmed by the server.
    Uploading { percent: u8 },
    /// The phone has no connection; it goes when one comes.
    WaitingForConnection { percent: u8 },
    /// Its audio waits for an unmetered network (Wi-Fi), as the settings ask.
    WaitingForUnmetered { percent: u8 },
    /// Something failed and is tried again at `retry_at_ms` (ms since the Unix epoch);
    /// `reason` is the last failure.
    WaitingToRetry {
        percent: u8,
        retry_at_ms: i64,
        reason: String,
    },
    /// A sync was cancelled while its audio was on its way; `percent` is on the server
    /// and the next sync continues from there.
    Cancelled { percent: u8 },
    /// The server confirmed the document, the consent and the SHA-256 of every recording.
    Delivered { local_audio_removed: bool },
    /// Something is parked; `reason` says what and why.
    NeedsAttention { reason: String },
    /// The storyteller withdrew; `propagated` once the server has the withdrawal (or
    /// when nothing of the story ever reached it).
    Withdrawn { propagated: bool },
}

const SETTINGS_KEY: &str = "sync_settings";

fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let kind: String = r.get(1)?;
    let state: String = r.get(3)?;
    let receipt: Option<String> = r.get(11)?;
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
    };
    Ok(OutboxItem {
        item_id: r.get(0)?,
        kind: ItemKind::parse(&kind).ok_or_else(|| bad(1, format!("unknown kind {kind}")))?,
        story_id: r.get(2)?,
        state: ItemState::parse(&state).ok_or_else(|| bad(3, format!("unknown state {state}")))?,
        attempts: r.get(4)?,
        next_attempt_at: r.get(5)?,
        last_error: r.get(6)?,
        sent_revision: r.get(7)?,
        sent_sha256: r.get(8)?,
        upload_path: r.get(9)?,
        confirmed_bytes: r.get::<_, i64>(10)?.max(0) as u64,
        receipt: match receipt {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| bad(11, e.to_string()))?),
            None => None,
        },
        local_removed: r.get(12)?,
        cancelled: r.get(13)?,
        file_bytes: r.get::<_, Option<i64>>(14)?.map(|b| b.max(0) as u64),
    })
}

const ITEM_COLUMNS: &str = "o.item_id, o.kind, o.story_id, o.state, o.attempts, o.next_attempt_at,
    o.last_error, o.sent_revision, o.sent_sha256, o.upload_path, o.confirmed_bytes,
    o.receipt_json, o.local_removed, o.cancelled, f.bytes";

/// The outbox with, for an audio item, the file it sends (its recording's id is the
/// item id's first 36 characters; a longer id is the listening copy's).
const ITEMS_FROM: &str = "outbox o
    LEFT JOIN recording_files f ON o.kind = 'audio'
        AND f.recording_id = substr(o.item_id, 1, 36)
        AND f.representation = CASE WHEN length(o.item_id) > 36 THEN 'listening' ELSE 'lossless' END";

/// The story's items in delivery order: consent events in the order they were recorded,
/// then the document, then the recordings oldest first.
pub(super) fn items_of(tx: &Transaction<'_>, story: StoryId) -> Result<Vec<OutboxItem>> {
    items_between(tx, story, story)
}

/// The items of the stories with ids from `first` to `last`, by story, each story's in
/// delivery order.
pub(super) fn items_between(
    tx: &Transaction<'_>,
    first: StoryId,
    last: StoryId,
) -> Result<Vec<OutboxItem>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM {ITEMS_FROM}
         LEFT JOIN consent_events c ON c.id = o.item_id
         WHERE o.story_id BETWEEN ?1 AND ?2
         ORDER BY o.story_id,
                  CASE o.kind WHEN 'consent' THEN 0 WHEN 'document' THEN 1 ELSE 2 END,
                  c.seq, o.item_id"
    ))?;
    let rows = stmt.query_map([first, last], item_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn update_item(
    tx: &Transaction<'_>,
    item_id: &str,
    sql_set: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<()> {
    let sql = format!(
        "UPDATE outbox SET {sql_set}, updated_at = {} WHERE item_id = ?1",
        now_ms()
    );
    let mut all: Vec<&dyn rusqlite::ToSql> = vec![&item_id];
    all.extend_from_slice(values);
    let changed = tx.execute(&sql, all.as_slice())?;
    if changed == 0 {
        return Err(Error::NotFound {
            what: "outbox item",
            id: item_id.to_string(),
        });
    }
    Ok(())
}

impl Store {
    /// This device's enrolment, if it has one.
    pub fn sync_account(&self) -> Result<Option<Account>> {
        self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT server_url, reporter_id, project_id, project_etag, revoked, server_pin
                     FROM sync_account WHERE singleton = 1",
                    [],
                    |r| {
                        Ok(Account {
                            server_url: r.get(0)?,
                            reporter_id: r.get(1)?,
                            project_id: r.get(2)?,
                            project_etag: r.get(3)?,
                            revoked: r.get(4)?,
                            server_pin: r.get(5)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    pub(crate) fn save_sync_account(&self, account: &Account) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sync_account (singleton, server_url, reporter_id, project_id,
                    project_etag, revoked, enrolled_at, server_pin)
                 VALUES (1, ?1, ?2, ?3, ?4, 0, ?5, ?6)
                 ON CONFLICT (singleton) DO UPDATE SET server_url = ?1,
                    reporter_id = ?2, project_id = ?3, project_etag = ?4, revoked = 0,
                    enrolled_at = ?5, server_pin = ?6",
                params![
                    account.server_url,
                    account.reporter_id,
                    account.project_id,
                    account.project_etag,
                    now_ms(),
                    account.server_pin
                ],
            )?;
            Ok(())
        })
    }

    pub(crate) fn set_project_etag(&self, etag: Option<&str>) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE sync_account SET project_etag = ?1", [etag])?;
            Ok(())
        })
    }

    /// The token can no longer be used: sync stops until the device enrols again. The
    /// token itself is deleted too (a refused token is worth nothing, and a secret kept
    /// for no use is only a risk), best effort: the flag alone already stops its use,
    /// and enrolling again overwrites it.
    pub(crate) fn mark_sync_account_revoked(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE sync_account SET revoked = 1", [])?;
            Ok(())
        })?;
        let _ = self.delete_device_token();
        Ok(())
    }

    /// The reporter's sync settings (defaults until changed).
    pub fn sync_settings(&self) -> Result<SyncSettings> {
        self.read(settings_in)
    }

    pub fn set_sync_settings(&self, settings: &SyncSettings) -> Result<()> {
        let json = serde_json::to_string(settings)
            .map_err(|e| Error::invalid(format!("settings cannot be saved: {e}")))?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sync_settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![SETTINGS_KEY, json],
            )?;
            Ok(())
        })
    }

    /// Puts every ready story's document, consent events and recordings in the outbox
    /// (what is there already stays as it is). Returns the stories that have anything
    /// left to deliver, oldest first.
    pub(crate) fn fill_outbox(&self) -> Result<Vec<StoryId>> {
        let now = now_ms();
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO outbox (item_id, kind, story_id, state, updated_at)
                 SELECT id, 'document', id, 'pending', ?1 FROM stories WHERE status = 'ready'",
                [now],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO outbox (item_id, kind, story_id, state, updated_at)
                 SELECT c.id, 'consent', c.story_id, 'pending', ?1 FROM consent_events c
                 JOIN outbox d ON d.item_id = c.story_id AND d.kind = 'document'",
                [now],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO outbox (item_id, kind, story_id, state, updated_at)
                 SELECT r.id, 'audio', r.story_id, 'pending', ?1 FROM recordings r
                 JOIN outbox d ON d.item_id = r.story_id AND d.kind = 'document'
                 WHERE r.erased_at IS NULL",
                [now],
            )?;
            // The listening copy of every recording whose audio is still on this phone
            // to make it from (a WAV delivered and removed before issue 20 has none).
            tx.execute(
                "INSERT OR IGNORE INTO outbox (item_id, kind, story_id, state, updated_at)
                 SELECT r.id || ':listening', 'audio', r.story_id, 'pending', ?1 FROM recordings r
                 JOIN outbox d ON d.item_id = r.story_id AND d.kind = 'document'
                 WHERE r.erased_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM outbox l WHERE l.item_id = r.id AND l.local_removed = 1)",
                [now],
            )?;
            let mut stmt = tx.prepare(
                "SELECT s.id FROM stories s
                 WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.story_id = s.id)
                 ORDER BY s.created_at, s.id",
            )?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            Ok(ids.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The story's outbox items, in delivery order.
    pub fn outbox_items(&self, story: StoryId) -> Result<Vec<OutboxItem>> {
        self.read(|tx| items_of(tx, story))
    }

    /// Every parked item, for the "needs attention" list.
    pub fn parked_items(&self) -> Result<Vec<OutboxItem>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM {ITEMS_FROM} WHERE o.state = 'parked' ORDER BY o.updated_at"
            ))?;
            let rows = stmt.query_map([], item_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Gives every parked item a fresh start (the reporter asked to try again).
    pub fn retry_parked(&self) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = 0
                 WHERE state = 'parked'",
                [],
            )?)
        })
    }

    /// Every delivery receipt this device holds.
    pub fn receipts(&self) -> Result<Vec<Receipt>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT receipt_json FROM outbox WHERE receipt_json IS NOT NULL ORDER BY updated_at, item_id",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for json in rows {
                if let Ok(receipt) = serde_json::from_str(&json?) {
                    out.push(receipt);
                }
            }
            Ok(out)
        })
    }

    /// Counts a failure of `item_id`: it waits before the next try, and after
    /// `backoff::MAX_ATTEMPTS` failures it is parked. Returns whether it is parked now.
    pub(crate) fn record_failure(&self, item_id: &str, error: &str) -> Result<bool> {
        self.write(|tx| {
            let attempts: u32 = tx.query_row(
                "SELECT attempts FROM outbox WHERE item_id = ?1",
                [item_id],
                |r| r.get(0),
            )?;
            let attempts = attempts + 1;
            let parked = backoff::should_park(attempts);
            let wait = backoff::delay_after(attempts).as_millis() as i64;
            let state = if parked {
                ItemState::Parked
            } else {
                ItemState::Pending
            };
            update_item(
                tx,
                item_id,
                "attempts = ?2, next_attempt_at = ?3, last_error = ?4, state = ?5",
                &[&attempts, &(now_ms() + wait), &error, &state.as_str()],
            )?;
            Ok(parked)
        })
    }

    /// Parks `item_id` at once: retrying cannot help (e.g. the file is too large for the
    /// server, or missing).
    pub(crate) fn park(&self, item_id: &str, reason: &str) -> Result<()> {
        self.write(|tx| update_item(tx, item_id, "state = 'parked', last_error = ?2", &[&reason]))
    }

    pub(crate) fn mark_document_sent(
        &self,
        story: StoryId,
        revision: u32,
        sha256: &str,
    ) -> Result<()> {
        let id = story.to_string();
        self.write(|tx| {
            update_item(
                tx,
                &id,
                "state = 'delivered', sent_revision = ?2, sent_sha256 = ?3, attempts = 0,
                 next_attempt_at = 0, last_error = NULL",
                &[&revision, &sha256],
            )
        })
    }

    pub(crate) fn mark_delivered(&self, item_id: &str) -> Result<()> {
        self.write(|tx| {
            update_item(
                tx,
                item_id,
                "state = 'delivered', attempts = 0, next_attempt_at = 0, last_error = NULL",
                &[],
            )
        })
    }

    pub(crate) fn set_upload_path(&self, item_id: &str, path: Option<&str>) -> Result<()> {
        self.write(|tx| update_item(tx, item_id, "upload_path = ?2", &[&path]))
    }

    /// Marks an upload a sync was cancelled in the middle of, with what the server holds
    /// of it when that is known.
    pub(crate) fn mark_cancelled(&self, item_id: &str, on_server: Option<u64>) -> Result<()> {
        let id = item_id;
        self.write(|tx| match on_server {
            Some(bytes) => update_item(
                tx,
                id,
                "cancelled = 1, confirmed_bytes = ?2",
                &[&(bytes.min(i64::MAX as u64) as i64)],
            ),
            None => update_item(tx, id, "cancelled = 1", &[]),
        })
    }

    /// The upload is on its way again.
    pub(crate) fn clear_cancelled(&self, item_id: &str) -> Result<()> {
        self.write(|tx| update_item(tx, item_id, "cancelled = 0", &[]))
    }

    pub(crate) fn set_confirmed_bytes(&self, item_id: &str, bytes: u64) -> Result<()> {
        let bytes = bytes as i64;
        self.write(|tx| update_item(tx, item_id, "confirmed_bytes = ?2", &[&bytes]))
    }

    pub(crate) fn mark_audio_delivered(&self, item_id: &str, receipt: &Receipt) -> Result<()> {
        let id = item_id;
        let json = serde_json::to_string(receipt)
            .map_err(|e| Error::invalid(format!("a receipt cannot be saved: {e}")))?;
        let bytes = receipt.bytes as i64;
        self.write(|tx| {
            update_item(
                tx,
                id,
                "state = 'delivered', receipt_json = ?2, confirmed_bytes = ?3, upload_path = NULL,
                 attempts = 0, next_attempt_at = 0, last_error = NULL",
                &[&json, &bytes],
            )
        })
    }

    /// Takes an item out of delivery (everything of a withdrawn story but its consent).
    pub(crate) fn mark_dropped(&self, item_id: &str) -> Result<()> {
        self.write(|tx| update_item(tx, item_id, "state = 'dropped', upload_path = NULL", &[]))
    }

    /// Notes that a recording's local file was deleted (a recording that never entered
    /// the outbox has no row to note it in, and needs none).
    pub(crate) fn mark_local_removed(&self, recording: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET local_removed = 1, updated_at = ?2 WHERE item_id = ?1",
                params![recording, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Recordings whose storyteller withdrew (their latest consent event) and asked for
    /// the audio to be deleted.
    pub(crate) fn recordings_to_erase(&self) -> Result<Vec<crate::model::Recording>> {
        let stories: Vec<StoryId> = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT s.id FROM stories s
                 WHERE (SELECT c.kind || ':' || c.erase_audio FROM consent_events c
                        WHERE c.story_id = s.id ORDER BY c.seq DESC LIMIT 1) = 'withdrawn:1'",
            )?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            Ok(ids.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut out = Vec::new();
        for story in stories {
            out.extend(
                self.recordings(story)?
                    .into_iter()
                    .filter(|r| r.state != crate::model::RecordingState::Erased),
            );
        }
        Ok(out)
    }

    /// Where the story stands, for the reporter, on an unmetered network (the CLI's).
    pub fn delivery_state(&self, story: StoryId) -> Result<DeliveryState> {
        self.delivery_state_on(story, Network::Unmetered)
    }

    /// Where the story stands with the phone on `network` (`SyncEngine::delivery_state`
    /// passes the one the shell told it).
    pub fn delivery_state_on(&self, story: StoryId, network: Network) -> Result<DeliveryState> {
        self.read(|tx| {
            crate::store::tx::ensure_story(tx, story)?;
            delivery_state_in(tx, story, network, &policy_in(tx)?, now_ms())
        })
    }
}

/// The reporter's sync settings, read inside `tx`.
pub(super) fn settings_in(tx: &Transaction<'_>) -> Result<SyncSettings> {
    let json: Option<String> = tx
        .query_row(
            "SELECT value FROM sync_settings WHERE key = ?1",
            [SETTINGS_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// The settings and the project's upload policy, read inside `tx` (no project yet: the
/// lossless copy counts).
pub(super) fn policy_in(tx: &Transaction<'_>) -> Result<DeliveryPolicy> {
    let listening_is_enough = match crate::store::tx::project(tx) {
        Ok(project) => project.upload_policy.listening_is_enough,
        Err(Error::NoProject) => false,
        Err(e) => return Err(e),
    };
    Ok(DeliveryPolicy {
        settings: settings_in(tx)?,
        listening_is_enough,
    })
}

/// Where `story` stands, read inside `tx` (one story, or each row of a page).
pub(super) fn delivery_state_in(
    tx: &Transaction<'_>,
    story: StoryId,
    network: Network,
    policy: &DeliveryPolicy,
    now_ms: i64,
) -> Result<DeliveryState> {
    let consent = crate::model::ConsentState::fold(&crate::store::tx::consent_events(tx, story)?);
    let recordings = crate::store::tx::recordings(tx, story)?;
    let items = items_of(tx, story)?;
    Ok(delivery_state_of(
        &consent,
        &recordings,
        &items,
        network,
        policy,
        now_ms,
    ))
}

impl DeliveryState {
    /// The stable code of the state (the `state` key of its JSON).
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryState::OnlyOnPhone => "only_on_phone",
            DeliveryState::Uploading { .. } => "uploading",
            DeliveryState::WaitingForConnection { .. } => "waiting_for_connection",
            DeliveryState::WaitingForUnmetered { .. } => "waiting_for_unmetered",
            DeliveryState::WaitingToRetry { .. } => "waiting_to_retry",
            DeliveryState::Cancelled { .. } => "cancelled",
            DeliveryState::Delivered { .. } => "delivered",
            DeliveryState::NeedsAttention { .. } => "needs_attention",
            DeliveryState::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// Where a story stands with the phone on `network` under `policy`. Audio counts per
/// file: a story is delivered once every file the policy counts has its receipt (each
/// recording's lossless and listening copy; only the listening copy when the project
/// says it is enough), and its percent is of the bytes of those files.
pub(crate) fn delivery_state_of(
    consent: &crate::model::ConsentState,
    recordings: &[crate::model::Recording],
    items: &[OutboxItem],
    network: Network,
    policy: &DeliveryPolicy,
    now_ms: i64,
) -> DeliveryState {
    use crate::model::ConsentStatus;
    let consent_items = || items.iter().filter(|i| i.kind == ItemKind::Consent);
    if consent.status == ConsentStatus::Withdrawn {
        // A story that never left the phone has nothing on the server to withdraw.
        let propagated = consent_items().all(|i| i.state == ItemState::Delivered);
        return DeliveryState::Withdrawn { propagated };
    }
    // Queued once ready: the document comes first (anything else without it is a row
    // set aside, such as a copy that is not wanted).
    if !items.iter().any(|i| i.kind == ItemKind::Document) {
        return DeliveryState::OnlyOnPhone;
    }
    if let Some(parked) = items.iter().find(|i| i.state == ItemState::Parked) {
        let what = match parked.representation() {
            None if parked.kind == ItemKind::Document => "the story's text",
            None if parked.kind == ItemKind::Consent => "a consent event",
            Some(Representation::Listening) => "a recording's listening copy",
            _ => "a recording",
        };
        return DeliveryState::NeedsAttention {
            reason: format!(
                "{what} could not be delivered: {}",
                parked.last_error.as_deref().unwrap_or("unknown error")
            ),
        };
    }
    // Files the reporter freed or that a test keeps from being made are not waited for.
    let audio: Vec<&OutboxItem> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Audio && i.state != ItemState::Dropped)
        .collect();
    let counted = |i: &OutboxItem| match i.representation() {
        Some(r) => policy.counts(r) || !has_listening(items, i),
        None => true,
    };
    let delivered = items
        .iter()
        .filter(|i| i.state != ItemState::Dropped && counted(i))
        .all(|i| i.state == ItemState::Delivered);
    if delivered {
        return DeliveryState::Delivered {
            local_audio_removed: !audio.is_empty() && audio.iter().all(|i| i.local_removed),
        };
    }
    let size = |i: &OutboxItem| match (i.file_bytes, i.audio()) {
        (Some(bytes), _) => bytes,
        // The lossless copy not made yet: the WAV is what it is made from.
        (None, Some((id, Representation::Lossless))) => recordings
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.bytes),
        _ => 0,
    };
    let counted_audio = || audio.iter().copied().filter(|i| counted(i));
    let total: u64 = counted_audio().map(size).sum();
    let confirmed: u64 = counted_audio()
        .map(|i| i.confirmed_bytes.min(size(i)))
        .sum();
    // Not delivered yet, so never 100; a story without audio has no share to show.
    let percent = (confirmed.min(total) * 100)
        .checked_div(total)
        .map_or(0, |p| p.min(99)) as u8;
    let pending = || items.iter().filter(|i| i.state == ItemState::Pending);
    if pending().any(|i| i.cancelled) {
        return DeliveryState::Cancelled { percent };
    }
    if network == Network::None {
        return DeliveryState::WaitingForConnection { percent };
    }
    if let Some(next) = pending()
        .filter(|i| i.attempts > 0 && i.next_attempt_at > now_ms)
        .min_by_key(|i| i.next_attempt_at)
    {
        return DeliveryState::WaitingToRetry {
            percent,
            retry_at_ms: next.next_attempt_at,
            reason: next.last_error.clone().unwrap_or_default(),
        };
    }
    let held = |i: &OutboxItem| {
        i.representation()
            .is_some_and(|r| !policy.settings.allows(network, r))
    };
    if pending().filter(|i| counted(i)).all(held) {
        return DeliveryState::WaitingForUnmetered { percent };
    }
    let anything_sent = items
        .iter()
        .any(|i| i.state == ItemState::Delivered || i.confirmed_bytes > 0);
    if !anything_sent {
        return DeliveryState::OnlyOnPhone;
    }
    DeliveryState::Uploading { percent }
}

/// Whether the recording of the audio item `item` has a listening copy queued (a
/// recording without one, as before issue 20, counts with its lossless copy).
fn has_listening(items: &[OutboxItem], item: &OutboxItem) -> bool {
    let Some((recording, _)) = item.audio() else {
        return false;
    };
    items.iter().any(|i| {
        i.state != ItemState::Dropped && i.audio() == Some((recording, Representation::Listening))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConsentState, Recording, RecordingState};

    struct Story {
        recording: Recording,
        items: Vec<OutboxItem>,
    }

    fn item(item_id: String, kind: ItemKind, state: ItemState) -> OutboxItem {
        OutboxItem {
            item_id,
            kind,
            story_id: StoryId::new(),
            state,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            sent_revision: None,
            sent_sha256: None,
            upload_path: None,
            confirmed_bytes: 0,
            receipt: None,
            local_removed: false,
            cancelled: false,
            file_bytes: None,
        }
    }

    /// A story whose document and consent went, with one recording: its lossless copy
    /// (8 MB FLAC) and listening copy (200 kB) in the given states.
    fn story(lossless: ItemState, listening: ItemState) -> Story {
        let recording = Recording {
            id: RecordingId::new(),
            story_id: StoryId::new(),
            file_name: "r.wav".into(),
            format: "wav".into(),
            sample_rate: 48_000,
            channels: 1,
            frames: 7_000_000,
            bytes: 14_000_044,
            sha256: "0".repeat(64),
            state: RecordingState::Complete,
            created_at: Timestamp::now(),
            pcm_sha256: None,
        };
        let id = recording.id;
        let mut lossless_item = item(id.to_string(), ItemKind::Audio, lossless);
        lossless_item.file_bytes = Some(8_000_000);
        let mut listening_item = item(format!("{id}:listening"), ItemKind::Audio, listening);
        listening_item.file_bytes = Some(200_000);
        if listening == ItemState::Delivered {
            listening_item.confirmed_bytes = 200_000;
        }
        Story {
            recording,
            items: vec![
                item("c".into(), ItemKind::Consent, ItemState::Delivered),
                item("d".into(), ItemKind::Document, ItemState::Delivered),
                lossless_item,
                listening_item,
            ],
        }
    }

    fn state(s: &Story, network: Network, policy: &DeliveryPolicy) -> DeliveryState {
        delivery_state_of(
            &ConsentState::fold(&[]),
            std::slice::from_ref(&s.recording),
            &s.items,
            network,
            policy,
            now_ms(),
        )
    }

    const ARCHIVE: DeliveryPolicy = DeliveryPolicy {
        settings: SyncSettings {
            audio_on_unmetered_only: true,
            remove_local_audio_after_delivery: false,
            keep_wav: false,
        },
        listening_is_enough: false,
    };
    const ENOUGH: DeliveryPolicy = DeliveryPolicy {
        listening_is_enough: true,
        ..ARCHIVE
    };

    #[test]
    fn metered_the_lossless_copy_waits_and_the_story_is_not_delivered_without_it() {
        use ItemState::{Delivered, Pending};
        // Nothing of the audio yet: on metered the listening copy can go, so it is not
        // waiting for Wi-Fi.
        let fresh = story(Pending, Pending);
        assert_eq!(
            state(&fresh, Network::Metered, &ARCHIVE),
            DeliveryState::Uploading { percent: 0 }
        );
        // The listening copy went; the lossless copy waits for an unmetered network, and
        // the percent is of both files' bytes.
        let half = story(Pending, Delivered);
        assert_eq!(
            state(&half, Network::Metered, &ARCHIVE),
            DeliveryState::WaitingForUnmetered { percent: 2 }
        );
        assert_eq!(
            state(&half, Network::Unmetered, &ARCHIVE),
            DeliveryState::Uploading { percent: 2 }
        );
        let all = story(Delivered, Delivered);
        assert!(matches!(
            state(&all, Network::Metered, &ARCHIVE),
            DeliveryState::Delivered { .. }
        ));
        // The reporter allows audio on mobile data: nothing waits.
        let mut any = ARCHIVE;
        any.settings.audio_on_unmetered_only = false;
        assert_eq!(
            state(&half, Network::Metered, &any),
            DeliveryState::Uploading { percent: 2 }
        );
    }

    #[test]
    fn listening_is_enough_delivers_a_story_once_its_listening_copies_are() {
        use ItemState::{Delivered, Dropped, Pending};
        let half = story(Pending, Delivered);
        assert!(matches!(
            state(&half, Network::Metered, &ENOUGH),
            DeliveryState::Delivered { .. }
        ));
        // Only the listening bytes count toward its percent.
        let mut on_way = story(Pending, Pending);
        on_way.items[3].confirmed_bytes = 100_000;
        assert_eq!(
            state(&on_way, Network::Metered, &ENOUGH),
            DeliveryState::Uploading { percent: 50 }
        );
        // A lossless copy freed by the reporter is not waited for either way.
        let freed = story(Dropped, Delivered);
        assert!(matches!(
            state(&freed, Network::Unmetered, &ARCHIVE),
            DeliveryState::Delivered { .. }
        ));
        // A recording with no listening copy (before issue 20) counts with its lossless.
        let mut legacy = story(Pending, Dropped);
        legacy.items.truncate(3);
        assert!(!matches!(
            state(&legacy, Network::Unmetered, &ENOUGH),
            DeliveryState::Delivered { .. }
        ));
    }
}
