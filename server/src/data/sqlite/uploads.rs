//! Uploads and recordings in SQLite: tables `uploads` and `recordings`, and the feed's
//! `recording` entries.

use rusqlite::{OptionalExtension, params};
use tellus_protocol::Representation;

use super::SqliteData;
use super::consent::load_consent;
use super::stories::load_story;
use crate::data::uploads::{Delivery, Upload, UploadProgress, Uploads};
use crate::error::{Error, Result};
use crate::rules;

impl Uploads for SqliteData {
    fn create_upload(&self, u: &Upload, at: i64) -> Result<()> {
        self.db().write(|tx| {
            let story = load_story(tx, &u.story_id)?;
            let consent = load_consent(tx, &u.story_id)?;
            rules::upload_allowed(story.as_ref(), &u.project_id, &u.reporter_id, &consent)?;
            let delivered = tx
                .query_row(
                    "SELECT story_id FROM recordings WHERE id = ?1 AND representation = ?2",
                    [&u.recording_id, u.representation.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()?;
            if delivered.is_some() {
                return Err(Error::conflict(
                    "already_delivered",
                    format!(
                        "this recording's {} copy is already delivered; fetch its receipt",
                        u.representation
                    ),
                ));
            }
            tx.execute(
                "INSERT INTO uploads (id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, created_at, expires_at, representation, pcm_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![u.id, u.reporter_id, u.project_id, u.story_id, u.recording_id, u.sha256, u.content_type, u.length, u.offset, at, u.expires_at, u.representation.as_str(), u.pcm_sha256],
            )?;
            Ok(())
        })
    }

    fn upload(&self, id: &str) -> Result<Option<Upload>> {
        self.db().with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, expires_at, representation, pcm_sha256
                     FROM uploads WHERE id = ?1",
                    [id],
                    |r| {
                        Ok(Upload {
                            id: r.get(0)?,
                            reporter_id: r.get(1)?,
                            project_id: r.get(2)?,
                            story_id: r.get(3)?,
                            recording_id: r.get(4)?,
                            sha256: r.get(5)?,
                            content_type: r.get(6)?,
                            length: r.get(7)?,
                            offset: r.get(8)?,
                            expires_at: r.get(9)?,
                            // Anything unexpected in the row is the default, lossless.
                            representation: Representation::parse(&r.get::<_, String>(10)?)
                                .unwrap_or_default(),
                            pcm_sha256: r.get(11)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn set_upload_offset(&self, id: &str, offset: u64) -> Result<bool> {
        self.db().with(|conn| {
            Ok(conn.execute(
                "UPDATE uploads SET offset = ?2 WHERE id = ?1",
                params![id, offset],
            )? > 0)
        })
    }

    fn set_upload_length(&self, id: &str, length: u64) -> Result<bool> {
        self.db().with(|conn| {
            Ok(conn.execute(
                "UPDATE uploads SET length = ?2 WHERE id = ?1 AND length IS NULL",
                params![id, length],
            )? > 0)
        })
    }

    fn remove_upload(&self, id: &str) -> Result<()> {
        self.db().with(|conn| {
            conn.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn delivered_sha256(
        &self,
        recording_id: &str,
        representation: Representation,
    ) -> Result<Option<String>> {
        self.db().with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT sha256 FROM recordings WHERE id = ?1 AND representation = ?2",
                    [recording_id, representation.as_str()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn complete_upload(&self, u: &Upload, delivery: &Delivery) -> Result<bool> {
        let (hash, bytes, pcm, now) = (
            &delivery.sha256,
            delivery.bytes,
            &delivery.pcm_sha256,
            delivery.at,
        );
        self.db().write(|tx| {
            let still_there = tx
                .query_row("SELECT 1 FROM uploads WHERE id = ?1", [&u.id], |_| Ok(()))
                .optional()?
                .is_some();
            // A withdrawal (or termination) won the race: keep nothing.
            if !still_there || !rules::may_keep_audio(&load_consent(tx, &u.story_id)?) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, pcm_sha256, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id, representation) DO NOTHING",
                params![u.recording_id, u.representation.as_str(), u.story_id, u.project_id, u.reporter_id, hash, bytes, u.content_type, pcm, now],
            )?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, recording_id, sha256, bytes, representation, format, pcm_sha256, at)
                 VALUES (?1, 'recording', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![u.project_id, u.story_id, u.recording_id, hash, bytes, u.representation.as_str(), delivery.format.as_str(), pcm, now],
            )?;
            tx.execute("DELETE FROM uploads WHERE id = ?1", [&u.id])?;
            crate::transcripts::on_delivered(tx, &u.project_id, &u.story_id, &u.recording_id)?;
            Ok(true)
        })
    }

    fn uploads_in_progress(&self) -> Result<Vec<UploadProgress>> {
        self.db().with(|conn| {
            let mut stmt = conn.prepare("SELECT id, offset, expires_at FROM uploads")?;
            let rows = stmt.query_map([], |r| {
                Ok(UploadProgress {
                    id: r.get(0)?,
                    offset: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn expired_uploads(&self, now: i64) -> Result<Vec<String>> {
        self.db().with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM uploads WHERE expires_at <= ?1")?;
            let rows = stmt.query_map([now], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }
}
