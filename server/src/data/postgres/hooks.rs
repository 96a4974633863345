//! The cross-area steps that run inside another area's transaction, in PostgreSQL (the
//! SQLite ones are `transcripts::on_delivered`/`on_withdrawn` and
//! `portal::codes::remember`/`take_pending`): a delivered recording queues its
//! transcript job and a withdrawal forgets the story's transcripts (in the transaction
//! that records them, `uploads.rs` and `consent.rs`); a consent event carrying a
//! storyteller's code remembers it and takes any withdrawal waiting for it
//! (`consent::accept_event`). Each takes the caller's transaction.

use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::q;
use crate::clock::now_ms;
use crate::error::{Error, Result};

/// Called in the transaction that records a delivered recording: its machine-draft job
/// is queued (once per recording).
pub async fn on_delivered(
    tx: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
) -> Result<()> {
    let now = now_ms();
    q("INSERT INTO transcript_jobs (recording_id, story_id, project_id, state, attempts, not_before, created_at)
       VALUES ($1, $2, $3, 'queued', 0, $4, $4) ON CONFLICT (recording_id) DO NOTHING")
    .bind(recording_id)
    .bind(story_id)
    .bind(project_id)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Called in the transaction of a withdrawal: every transcript of the story, its
/// revisions, jobs, flags, search rows and feed entries are forgotten.
pub async fn on_withdrawn(tx: &mut PgConnection, story_id: &str) -> Result<()> {
    for table in [
        "transcripts",
        "transcript_revisions",
        "transcript_jobs",
        "transcript_flags",
        "transcript_search",
    ] {
        q(&format!("DELETE FROM {table} WHERE story_id = $1"))
            .bind(story_id)
            .execute(&mut *tx)
            .await?;
    }
    q("DELETE FROM changes WHERE story_id = $1 AND kind = 'transcript'")
        .bind(story_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Keeps `hash` as the code of `story_id`, replacing the story's earlier code. A hash
/// that already names another story of the project is refused (409 `code_in_use`).
pub async fn remember(
    tx: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    hash: &str,
) -> Result<()> {
    let owner = q("SELECT story_id FROM storyteller_codes WHERE project_id = $1 AND code_hash = $2 FOR UPDATE")
        .bind(project_id)
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?;
    if owner.is_some_and(|o| o != story_id) {
        return Err(code_in_use());
    }
    q("DELETE FROM storyteller_codes WHERE story_id = $1")
        .bind(story_id)
        .execute(&mut *tx)
        .await?;
    // Another story's transaction may have taken the hash since the look above: the
    // primary key refuses the second, and that is the same 409.
    let kept = q("INSERT INTO storyteller_codes (code_hash, story_id, project_id, set_at) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (project_id, code_hash) DO NOTHING")
        .bind(hash)
        .bind(story_id)
        .bind(project_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    if kept.rows_affected() == 0 {
        return Err(code_in_use());
    }
    Ok(())
}

fn code_in_use() -> Error {
    Error::conflict(
        "code_in_use",
        "this storyteller's code already belongs to another story; make a new code",
    )
}

/// The waiting withdrawal for `hash` in `project_id` (or in project '' — the SQLite
/// ladder's rows from before step 7, kept for a database copied across), taken
/// (deleted) so it is applied once: whether the audio is to be erased.
pub async fn take_pending(
    tx: &mut PgConnection,
    project_id: &str,
    hash: &str,
) -> Result<Option<bool>> {
    // A withdrawal asked for on the portal now waits, or sees this story's code.
    super::portal::lock_code(tx, project_id, hash).await?;
    let erase = q("SELECT erase_audio FROM pending_withdrawals
                   WHERE project_id IN ($1, '') AND code_hash = $2 AND expires_at > $3
                   ORDER BY asked_at DESC LIMIT 1")
    .bind(project_id)
    .bind(hash)
    .bind(now_ms())
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| r.try_get::<bool, _>(0))
    .transpose()?;
    q("DELETE FROM pending_withdrawals WHERE project_id IN ($1, '') AND code_hash = $2")
        .bind(project_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    Ok(erase)
}
