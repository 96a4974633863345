//! What leads read, in SQLite: table `changes` (the feed), `recordings`, and the CSV
//! export gathered from `stories`.

use rusqlite::{Connection, OptionalExtension, params};
use tellus_protocol::{
    Change, ChangeKind, ChangesPage, ExportScope, Representation, StoryDocument,
};

use super::SqliteData;
use super::consent::load_consent;
use super::stories::load_story;
use super::visibility::VISIBLE_SQL;
use crate::clock::rfc3339;
use crate::data::feed::{Feed, StoredRecording};
use crate::error::Result;
use crate::export::{CSV_HEADER, csv_line};
use crate::visibility::Visibility;

/// One story's CSV line (newline included), or None when its consent does not allow
/// it in `scope` (or it was withdrawn, or holds no document).
pub fn csv_row(conn: &Connection, id: &str, scope: ExportScope) -> Result<Option<String>> {
    let Some(row) = load_story(conn, id)? else {
        return Ok(None);
    };
    if Visibility::of_story(conn, &row.project_id, id)? != Visibility::Visible {
        return Ok(None);
    }
    let Some(document) = row.document else {
        return Ok(None);
    };
    let consent = load_consent(conn, id)?;
    if !scope.admits(&consent) {
        return Ok(None);
    }
    let Ok(doc) = serde_json::from_str::<StoryDocument>(&document) else {
        return Ok(None);
    };
    let updated_at: i64 =
        conn.query_row("SELECT updated_at FROM stories WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
    let delivered: u32 = conn.query_row(
        "SELECT COUNT(DISTINCT id) FROM recordings WHERE story_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    Ok(Some(csv_line(
        id,
        doc,
        row.identity.as_deref(),
        &consent,
        delivered,
        updated_at,
    )))
}

/// Every story of the project that `scope` allows, as CSV.
pub fn project_csv(conn: &Connection, project_id: &str, scope: ExportScope) -> Result<String> {
    let mut out = String::from(CSV_HEADER);
    let mut stmt = conn.prepare(
        "SELECT id FROM stories WHERE project_id = ?1 AND document IS NOT NULL ORDER BY id",
    )?;
    let ids = stmt
        .query_map([project_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in ids {
        if let Some(row) = csv_row(conn, &id, scope)? {
            out.push_str(&row);
        }
    }
    Ok(out)
}

impl Feed for SqliteData {
    fn changes(
        &self,
        project_id: &str,
        after: i64,
        limit: u32,
        with_transcripts: bool,
    ) -> Result<ChangesPage> {
        self.db().with(|conn| {
            let mut stmt = conn.prepare_cached(
                // Withdrawals are tombstones and always go out; anything else only
                // about a story a lead may see now (visibility.rs).
                &format!(
                    "SELECT c.seq, c.kind, c.story_id, c.recording_id, c.revision, c.sha256, c.bytes, c.at,
                            c.representation, c.format, c.pcm_sha256
                     FROM changes c
                     WHERE c.project_id = ?1 AND c.seq > ?2 AND (c.kind != 'transcript' OR ?4)
                       AND (c.kind = 'withdrawal' OR EXISTS
                            (SELECT 1 FROM stories s WHERE s.id = c.story_id AND {VISIBLE_SQL}))
                     ORDER BY c.seq LIMIT ?3"
                ),
            )?;
            let rows = stmt.query_map(
                params![project_id, after, i64::from(limit) + 1, with_transcripts],
                |r| {
                    let kind: String = r.get(1)?;
                    Ok(Change {
                        cursor: r.get::<_, i64>(0)?.to_string(),
                        kind: match kind.as_str() {
                            "story" => ChangeKind::Story,
                            "recording" => ChangeKind::Recording,
                            "transcript" => ChangeKind::Transcript,
                            _ => ChangeKind::Withdrawal,
                        },
                        story_id: r.get(2)?,
                        recording_id: r.get(3)?,
                        revision: r.get(4)?,
                        sha256: r.get(5)?,
                        bytes: r.get(6)?,
                        representation: r
                            .get::<_, Option<String>>(8)?
                            .as_deref()
                            .and_then(Representation::parse),
                        format: r.get(9)?,
                        pcm_sha256: r.get(10)?,
                        at: rfc3339(r.get(7)?),
                    })
                },
            )?;
            let mut changes = rows.collect::<rusqlite::Result<Vec<Change>>>()?;
            let more = changes.len() > limit as usize;
            changes.truncate(limit as usize);
            let next_cursor = changes
                .last()
                .map_or(after.to_string(), |c| c.cursor.clone());
            Ok(ChangesPage {
                changes,
                next_cursor,
                more,
            })
        })
    }

    fn recording(
        &self,
        id: &str,
        representation: Representation,
    ) -> Result<Option<StoredRecording>> {
        self.db().with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT story_id, project_id, reporter_id, sha256, bytes, content_type, received_at, pcm_sha256
                     FROM recordings WHERE id = ?1 AND representation = ?2",
                    [id, representation.as_str()],
                    |r| {
                        Ok(StoredRecording {
                            story_id: r.get(0)?,
                            project_id: r.get(1)?,
                            reporter_id: r.get(2)?,
                            sha256: r.get(3)?,
                            bytes: r.get(4)?,
                            content_type: r.get(5)?,
                            received_at: r.get(6)?,
                            pcm_sha256: r.get(7)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn project_csv(&self, project_id: &str, scope: ExportScope) -> Result<String> {
        self.db().with(|conn| project_csv(conn, project_id, scope))
    }
}
