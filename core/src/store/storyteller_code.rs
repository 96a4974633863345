//! The storyteller's personal code (issue 21): one per story, drawn from the operating
//! system's random generator when consent is first given and kept for every amendment,
//! so a storyteller holds one code however often the reporter corrects their consent.
//! A `given` after a withdrawal starts afresh with a new code.
//!
//! The code leaves the phone only on the receipt; consent events carry its salted hash
//! (`tellus_protocol::storyteller_code::code_hash`, salted with the project's id, which
//! is the server's id of the project). The code is kept only while the story needs it:
//! it is erased when consent is withdrawn (here or on the portal) and
//! [`CODE_KEPT_AFTER_DELIVERY_DAYS`] days after the server confirmed the consent that
//! carries its hash (time enough to print the receipt again for a storyteller who lost
//! it; after that only the storyteller holds it).

use rand::TryRngCore;
use rusqlite::{OptionalExtension, Transaction, params};
use tellus_protocol::storyteller_code::{CODE_RANDOM_BYTES, code_from_random, code_hash};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{StoryId, Timestamp};

/// How long the code stays on the phone once the server holds the consent with its hash.
pub const CODE_KEPT_AFTER_DELIVERY_DAYS: i64 = 30;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub(super) fn load(tx: &Transaction<'_>, story: StoryId) -> Result<Option<String>> {
    Ok(tx
        .query_row(
            "SELECT code FROM storyteller_codes WHERE story_id = ?1",
            [story],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn forget(tx: &Transaction<'_>, story: StoryId) -> Result<()> {
    tx.execute("DELETE FROM storyteller_codes WHERE story_id = ?1", [story])?;
    Ok(())
}

fn new_code() -> Result<String> {
    let mut bytes = [0u8; CODE_RANDOM_BYTES];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        Error::invalid(format!(
            "the phone's random generator failed, so no personal code could be made: {e}"
        ))
    })?;
    Ok(code_from_random(bytes))
}

/// The hash a `given` or `amended` event carries, inside its transaction: the story's
/// code is kept (made if there is none). A withdrawal erases it instead
/// (`consent::after_withdrawal`).
pub(super) fn for_consent(
    tx: &Transaction<'_>,
    story: StoryId,
    project_id: &str,
) -> Result<Option<String>> {
    let code = match load(tx, story)? {
        Some(code) => code,
        None => {
            let code = new_code()?;
            tx.execute(
                "INSERT INTO storyteller_codes (story_id, code, created_at) VALUES (?1, ?2, ?3)",
                params![story, code, Timestamp::now()],
            )?;
            code
        }
    };
    Ok(code_hash(project_id, &code))
}

impl Store {
    /// The storyteller's personal code for `story` in its canonical form, while the
    /// phone keeps it (see the module's rules).
    pub fn storyteller_code(&self, story: StoryId) -> Result<Option<String>> {
        self.read(|tx| {
            super::stories::ensure_exists(tx, story)?;
            load(tx, story)
        })
    }

    /// Erases the codes whose consent the server has held for longer than
    /// [`CODE_KEPT_AFTER_DELIVERY_DAYS`] at `now`: every consent event of the story is
    /// delivered and the last was confirmed before then. Returns how many went.
    pub fn forget_delivered_codes(&self, now: Timestamp) -> Result<usize> {
        let before = now.as_millis() - CODE_KEPT_AFTER_DELIVERY_DAYS * DAY_MS;
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM storyteller_codes WHERE story_id IN (
                    SELECT c.story_id FROM storyteller_codes c
                    WHERE EXISTS (SELECT 1 FROM outbox o
                                  WHERE o.story_id = c.story_id AND o.kind = 'consent')
                      AND NOT EXISTS (SELECT 1 FROM outbox o
                                      WHERE o.story_id = c.story_id AND o.kind = 'consent'
                                        AND (o.state NOT IN ('delivered', 'dropped')
                                             OR o.updated_at > ?1))
                      AND NOT EXISTS (SELECT 1 FROM consent_events e
                                      LEFT JOIN outbox o ON o.item_id = e.id
                                      WHERE e.story_id = c.story_id AND o.item_id IS NULL))",
                [before],
            )?)
        })
    }
}
