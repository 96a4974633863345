//! Storytellers' personal codes as the server keeps them (issue 21): only the salted
//! hash the phone sent (`tellus_protocol::storyteller_code::code_hash`), one per story,
//! and the withdrawals asked for with a code the server did not know yet.
//!
//! A story's newest code wins: an amendment made on the phone may carry a new code (a
//! new receipt); the old code then stops opening the portal. Stored by the data layer
//! (data::portal); the SQLite functions that run inside a consent event's transaction
//! are re-exported here.

#[cfg(test)]
pub use crate::data::sqlite::portal::{ask_pending, story_of};
pub use crate::data::sqlite::portal::{remember, take_pending};

/// At most this many withdrawals wait for their story at once, over all clients (a row
/// is about 150 bytes; each client address may add only a few a day:
/// `throttle::PENDING_ASKS_PER_DAY`).
pub const MAX_PENDING: i64 = 100_000;
/// A waiting withdrawal is kept this long (a phone that has not synced in 90 days).
pub const PENDING_MS: i64 = 90 * 24 * 3600 * 1000;

/// Whether `hash` has the shape `code_hash` gives: 64 lowercase hex digits.
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A code's hash under one project's salt: (project id, hash).
pub type ProjectHash = (String, String);

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
