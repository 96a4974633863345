//! Uploads and recordings in PostgreSQL: tables `uploads` and `recordings`, and the
//! feed's `recording` entries. Creating and completing an upload hold the story's lock
//! (`stories::lock_story`), so a withdrawal on another replica is wholly before or
//! wholly after them.

use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use tellus_protocol::Representation;

use super::consent::load_consent;
use super::stories::{load_story, lock_story};
use super::{PgData, feed, hooks, q, signed, unsigned};
use crate::data::uploads::{Delivery, Upload, UploadProgress, Uploads};
use crate::error::{Error, Result};
use crate::rules;

fn upload_row(r: &PgRow) -> Result<Upload> {
    Ok(Upload {
        id: r.try_get(0)?,
        reporter_id: r.try_get(1)?,
        project_id: r.try_get(2)?,
        story_id: r.try_get(3)?,
        recording_id: r.try_get(4)?,
        sha256: r.try_get(5)?,
        content_type: r.try_get(6)?,
        length: r
            .try_get::<Option<i64>, _>(7)?
            .map(|v| unsigned(v, "upload length"))
            .transpose()?,
        offset: unsigned(r.try_get::<i64, _>(8)?, "upload offset")?,
        expires_at: r.try_get(9)?,
        // Anything unexpected in the row is the default, lossless.
        representation: Representation::parse(&r.try_get::<String, _>(10)?).unwrap_or_default(),
        pcm_sha256: r.try_get(11)?,
    })
}

async fn create_upload(tx: &mut PgConnection, u: &Upload, at: i64) -> Result<()> {
    lock_story(tx, &u.story_id).await?;
    let story = load_story(tx, &u.story_id).await?;
    let consent = load_consent(tx, &u.story_id).await?;
    rules::upload_allowed(story.as_ref(), &u.project_id, &u.reporter_id, &consent)?;
    let delivered = q("SELECT 1 FROM recordings WHERE id = $1 AND representation = $2")
        .bind(&u.recording_id)
        .bind(u.representation.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if delivered.is_some() {
        return Err(Error::conflict(
            "already_delivered",
            format!(
                "this recording's {} copy is already delivered; fetch its receipt",
                u.representation
            ),
        ));
    }
    q(r#"INSERT INTO uploads (id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, "offset", created_at, expires_at, representation, pcm_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"#)
    .bind(&u.id)
    .bind(&u.reporter_id)
    .bind(&u.project_id)
    .bind(&u.story_id)
    .bind(&u.recording_id)
    .bind(&u.sha256)
    .bind(&u.content_type)
    .bind(u.length.map(signed))
    .bind(signed(u.offset))
    .bind(at)
    .bind(u.expires_at)
    .bind(u.representation.as_str())
    .bind(&u.pcm_sha256)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn complete_upload(tx: &mut PgConnection, u: &Upload, delivery: &Delivery) -> Result<bool> {
    let (hash, bytes, pcm, now) = (
        &delivery.sha256,
        signed(delivery.bytes),
        &delivery.pcm_sha256,
        delivery.at,
    );
    lock_story(tx, &u.story_id).await?;
    let still_there = q("SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE")
        .bind(&u.id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    // A withdrawal (or termination) won the race: keep nothing.
    if !still_there || !rules::may_keep_audio(&load_consent(tx, &u.story_id).await?) {
        return Ok(false);
    }
    q("INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, pcm_sha256, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id, representation) DO NOTHING")
    .bind(&u.recording_id)
    .bind(u.representation.as_str())
    .bind(&u.story_id)
    .bind(&u.project_id)
    .bind(&u.reporter_id)
    .bind(hash)
    .bind(bytes)
    .bind(&u.content_type)
    .bind(pcm)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    feed::lock_for_append(tx).await?;
    q("INSERT INTO changes (project_id, kind, story_id, recording_id, sha256, bytes, representation, format, pcm_sha256, at)
       VALUES ($1, 'recording', $2, $3, $4, $5, $6, $7, $8, $9)")
    .bind(&u.project_id)
    .bind(&u.story_id)
    .bind(&u.recording_id)
    .bind(hash)
    .bind(bytes)
    .bind(u.representation.as_str())
    .bind(delivery.format.as_str())
    .bind(pcm)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    q("DELETE FROM uploads WHERE id = $1")
        .bind(&u.id)
        .execute(&mut *tx)
        .await?;
    hooks::on_delivered(tx, &u.project_id, &u.story_id, &u.recording_id).await?;
    Ok(true)
}

impl Uploads for PgData {
    fn create_upload(&self, upload: &Upload, at: i64) -> Result<()> {
        in_tx!(self, |tx| create_upload(tx, upload, at).await?)
    }

    fn upload(&self, id: &str) -> Result<Option<Upload>> {
        let row = with_conn!(self, |conn| {
            q(r#"SELECT id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, "offset", expires_at, representation, pcm_sha256
                 FROM uploads WHERE id = $1"#)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        })?;
        row.as_ref().map(upload_row).transpose()
    }

    fn set_upload_offset(&self, id: &str, offset: u64) -> Result<bool> {
        with_conn!(self, |conn| {
            q(r#"UPDATE uploads SET "offset" = $2 WHERE id = $1"#)
                .bind(id)
                .bind(signed(offset))
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0
        })
    }

    fn set_upload_length(&self, id: &str, length: u64) -> Result<bool> {
        with_conn!(self, |conn| {
            q("UPDATE uploads SET length = $2 WHERE id = $1 AND length IS NULL")
                .bind(id)
                .bind(signed(length))
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0
        })
    }

    fn remove_upload(&self, id: &str) -> Result<()> {
        with_conn!(self, |conn| {
            q("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        })
    }

    fn delivered_sha256(
        &self,
        recording_id: &str,
        representation: Representation,
    ) -> Result<Option<String>> {
        with_conn!(self, |conn| {
            q("SELECT sha256 FROM recordings WHERE id = $1 AND representation = $2")
                .bind(recording_id)
                .bind(representation.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?
        })
    }

    fn complete_upload(&self, upload: &Upload, delivery: &Delivery) -> Result<bool> {
        in_tx!(self, |tx| complete_upload(tx, upload, delivery).await?)
    }

    fn uploads_in_progress(&self) -> Result<Vec<UploadProgress>> {
        let rows = with_conn!(self, |conn| {
            q(r#"SELECT id, "offset", expires_at FROM uploads"#)
                .fetch_all(&mut *conn)
                .await?
        })?;
        rows.iter()
            .map(|r| {
                Ok(UploadProgress {
                    id: r.try_get(0)?,
                    offset: unsigned(r.try_get::<i64, _>(1)?, "upload offset")?,
                    expires_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    fn expired_uploads(&self, now: i64) -> Result<Vec<String>> {
        let rows = with_conn!(self, |conn| {
            q("SELECT id FROM uploads WHERE expires_at <= $1")
                .bind(now)
                .fetch_all(&mut *conn)
                .await?
        })?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }
}
