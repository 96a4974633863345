//! Storytellers' personal codes as the server keeps them (issue 21): only the salted
//! hash the phone sent (`tellus_protocol::storyteller_code::code_hash`), one per story,
//! and the withdrawals asked for with a code the server did not know yet.
//!
//! A story's newest code wins: an amendment made on the phone may carry a new code (a
//! new receipt); the old code then stops opening the portal.

use rusqlite::{Connection, OptionalExtension, params};
use subtle::ConstantTimeEq;

use crate::clock::now_ms;
use crate::error::{Error, Result};

/// At most this many withdrawals wait for their story at once, over all clients (a row
/// is about 150 bytes; each client address may add only a few a day:
/// `throttle::PENDING_ASKS_PER_DAY`).
pub const MAX_PENDING: i64 = 100_000;
/// A waiting withdrawal is kept this long (a phone that has not synced in 90 days).
const PENDING_MS: i64 = 90 * 24 * 3600 * 1000;

/// Whether `hash` has the shape `code_hash` gives: 64 lowercase hex digits.
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Keeps `hash` as the code of `story_id`, replacing the story's earlier code. A hash
/// that already names another story is refused (409 `code_in_use`): a code opens one
/// story only.
pub fn remember(tx: &Connection, project_id: &str, story_id: &str, hash: &str) -> Result<()> {
    let owner: Option<String> = tx
        .query_row(
            "SELECT story_id FROM storyteller_codes WHERE project_id = ?1 AND code_hash = ?2",
            [project_id, hash],
            |r| r.get(0),
        )
        .optional()?;
    if owner.is_some_and(|o| o != story_id) {
        return Err(Error::conflict(
            "code_in_use",
            "this storyteller's code already belongs to another story; make a new code",
        ));
    }
    tx.execute(
        "DELETE FROM storyteller_codes WHERE story_id = ?1",
        [story_id],
    )?;
    tx.execute(
        "INSERT INTO storyteller_codes (code_hash, story_id, project_id, set_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, story_id, project_id, now_ms()],
    )?;
    Ok(())
}

/// The story `hash` (the code's hash under `project_id`'s salt) opens in that project,
/// if any. The row is found by the index and its hash then compared in constant time, so
/// nothing of a near miss shows in timing.
pub fn story_of(conn: &Connection, project_id: &str, hash: &str) -> Result<Option<String>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT code_hash, story_id FROM storyteller_codes WHERE project_id = ?1 AND code_hash = ?2",
        )?
        .query_row([project_id, hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(stored, story)| {
        bool::from(stored.as_bytes().ct_eq(hash.as_bytes())).then_some(story)
    }))
}

/// A code's hash under one project's salt: (project id, hash).
pub type ProjectHash = (String, String);

/// Asks for the withdrawal of the story `hashes` (the code's hash under each project's
/// salt) will name once it arrives in that project. Refused (503 `busy`) when
/// [`MAX_PENDING`] wait already; asking again for the same hash keeps one row (the
/// newest choice about the audio).
pub fn ask_pending(tx: &Connection, hashes: &[ProjectHash], erase_audio: bool) -> Result<()> {
    let now = now_ms();
    tx.execute(
        "DELETE FROM pending_withdrawals WHERE expires_at <= ?1",
        [now],
    )?;
    let waiting: i64 =
        tx.query_row("SELECT COUNT(*) FROM pending_withdrawals", [], |r| r.get(0))?;
    let mut fresh = 0;
    for (project, hash) in hashes {
        let known: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM pending_withdrawals WHERE project_id = ?1 AND code_hash = ?2",
                [project, hash],
                |r| r.get(0),
            )
            .optional()?;
        fresh += i64::from(known.is_none());
    }
    if waiting + fresh > MAX_PENDING {
        return Err(Error::refused(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the server cannot take more requests like this now; try again later",
        ));
    }
    for (project, hash) in hashes {
        tx.execute(
            "INSERT INTO pending_withdrawals (project_id, code_hash, erase_audio, asked_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(project_id, code_hash) DO UPDATE SET erase_audio = ?3, asked_at = ?4, expires_at = ?5",
            params![project, hash, erase_audio, now, now + PENDING_MS],
        )?;
    }
    Ok(())
}

/// The waiting withdrawal for `hash` in `project_id` (or asked for before waiting rows
/// had a project: schema step 7), taken (deleted) so it is applied once: whether the
/// audio is to be erased.
pub fn take_pending(tx: &Connection, project_id: &str, hash: &str) -> Result<Option<bool>> {
    let erase: Option<bool> = tx
        .query_row(
            "SELECT erase_audio FROM pending_withdrawals
             WHERE project_id IN (?1, '') AND code_hash = ?2 AND expires_at > ?3
             ORDER BY asked_at DESC LIMIT 1",
            params![project_id, hash, now_ms()],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "DELETE FROM pending_withdrawals WHERE project_id IN (?1, '') AND code_hash = ?2",
        [project_id, hash],
    )?;
    Ok(erase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_withdrawals_are_bounded_taken_once_and_a_hash_is_checked_for_shape() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open(&dir.path().join("server.db")).unwrap();
        let hash = |i: usize| ("p".to_string(), format!("{i:064x}"));
        db.write(|tx| {
            let all: Vec<ProjectHash> = (0..MAX_PENDING as usize).map(hash).collect();
            ask_pending(tx, &all, true)?;
            // Asking again for a waiting hash keeps one row, with the newest choice.
            ask_pending(tx, &[hash(0)], false)?;
            Ok(())
        })
        .unwrap();
        let over = db.write(|tx| ask_pending(tx, &[hash(MAX_PENDING as usize)], true));
        assert_eq!(
            over.err().map(|e| e.status()),
            Some(axum::http::StatusCode::SERVICE_UNAVAILABLE)
        );
        db.write(|tx| {
            assert_eq!(take_pending(tx, "p", &hash(0).1)?, Some(false));
            assert_eq!(take_pending(tx, "p", &hash(0).1)?, None, "applied once");
            assert_eq!(take_pending(tx, "p", &hash(1).1)?, Some(true));
            // Room again for one more.
            ask_pending(tx, &[hash(MAX_PENDING as usize)], true)?;
            Ok(())
        })
        .unwrap();
        assert!(valid_hash(&hash(7).1));
        assert!(!valid_hash(&hash(7).1.to_uppercase().replace('0', "A")));
        assert!(!valid_hash("abc"));
    }
}
