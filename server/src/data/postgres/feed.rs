//! What leads read, in PostgreSQL: table `changes` (the feed), `recordings`, and the CSV
//! export gathered from `stories`; and the one way anything is appended to the feed.

use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use tellus_protocol::{
    Change, ChangeKind, ChangesPage, ExportScope, Representation, StoryDocument,
};

use super::consent::load_consent;
use super::stories::load_story;
use super::{PgData, q, unsigned};
use crate::clock::rfc3339;
use crate::data::feed::{Feed, StoredRecording};
use crate::error::Result;
use crate::export::{CSV_HEADER, csv_line};
use crate::visibility::{VISIBLE_SQL, Visibility};

/// The advisory lock every transaction that appends to `changes` takes first.
const FEED_APPEND_LOCK: i64 = 0x7465_6c6c_7573_0001;

/// Call in a transaction before it inserts into `changes`.
///
/// Leads page the feed by `seq` ("everything after the cursor"), so a change must never
/// become visible after one with a higher `seq` was read. A sequence hands out values
/// at insert time but transactions commit in any order: on several replicas (or
/// connections) a change numbered 10 could commit after 11 was read and be skipped for
/// ever. Taking this transaction-scoped lock before the insert makes appends take their
/// numbers one transaction at a time and commit in that order, so the feed has ONE
/// order across replicas. Held until commit, so take it as late as the transaction can
/// (after any per-story lock: always in that order, so they cannot deadlock); taking it
/// again in the same transaction is free.
pub async fn lock_for_append(conn: &mut PgConnection) -> Result<()> {
    q("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_APPEND_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Appends a `story` change (a stored revision, or a consent change on a story with a
/// document).
pub async fn append_story(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    revision: u32,
    at: i64,
) -> Result<()> {
    lock_for_append(conn).await?;
    q("INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES ($1, 'story', $2, $3, $4)")
        .bind(project_id)
        .bind(story_id)
        .bind(i64::from(revision))
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn change(r: &PgRow) -> Result<Change> {
    let kind: String = r.try_get(1)?;
    Ok(Change {
        cursor: r.try_get::<i64, _>(0)?.to_string(),
        kind: match kind.as_str() {
            "story" => ChangeKind::Story,
            "recording" => ChangeKind::Recording,
            "transcript" => ChangeKind::Transcript,
            _ => ChangeKind::Withdrawal,
        },
        story_id: r.try_get(2)?,
        recording_id: r.try_get(3)?,
        revision: r
            .try_get::<Option<i64>, _>(4)?
            .map(|v| unsigned(v, "revision"))
            .transpose()?,
        sha256: r.try_get(5)?,
        bytes: r
            .try_get::<Option<i64>, _>(6)?
            .map(|v| unsigned(v, "size"))
            .transpose()?,
        representation: r
            .try_get::<Option<String>, _>(8)?
            .as_deref()
            .and_then(Representation::parse),
        format: r.try_get(9)?,
        pcm_sha256: r.try_get(10)?,
        at: rfc3339(r.try_get(7)?),
    })
}

/// One story's CSV line (newline included), or None when its consent does not allow
/// it in `scope` (or it was withdrawn, or holds no document).
pub async fn csv_row(
    conn: &mut PgConnection,
    id: &str,
    scope: ExportScope,
) -> Result<Option<String>> {
    let Some(row) = load_story(conn, id).await? else {
        return Ok(None);
    };
    if super::visibility::of_story(conn, &row.project_id, id).await? != Visibility::Visible {
        return Ok(None);
    }
    let Some(document) = row.document else {
        return Ok(None);
    };
    let consent = load_consent(conn, id).await?;
    if !scope.admits(&consent) {
        return Ok(None);
    }
    let Ok(doc) = serde_json::from_str::<StoryDocument>(&document) else {
        return Ok(None);
    };
    let counts = q("SELECT s.updated_at, (SELECT COUNT(DISTINCT r.id) FROM recordings r WHERE r.story_id = s.id)
                    FROM stories s WHERE s.id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let updated_at: i64 = counts.try_get(0)?;
    let delivered: u32 = unsigned(counts.try_get::<i64, _>(1)?, "count")?;
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
pub async fn project_csv(
    conn: &mut PgConnection,
    project_id: &str,
    scope: ExportScope,
) -> Result<String> {
    let mut out = String::from(CSV_HEADER);
    let ids =
        q("SELECT id FROM stories WHERE project_id = $1 AND document IS NOT NULL ORDER BY id")
            .bind(project_id)
            .fetch_all(&mut *conn)
            .await?;
    for id in ids {
        let id: String = id.try_get(0)?;
        if let Some(row) = csv_row(conn, &id, scope).await? {
            out.push_str(&row);
        }
    }
    Ok(out)
}

impl Feed for PgData {
    fn changes(
        &self,
        project_id: &str,
        after: i64,
        limit: u32,
        with_transcripts: bool,
    ) -> Result<ChangesPage> {
        // Withdrawals are tombstones and always go out; anything else only about a
        // story a lead may see now (visibility.rs).
        let sql = format!(
            "SELECT c.seq, c.kind, c.story_id, c.recording_id, c.revision, c.sha256, c.bytes, c.at,
                    c.representation, c.format, c.pcm_sha256
             FROM changes c
             WHERE c.project_id = $1 AND c.seq > $2 AND (c.kind <> 'transcript' OR $4)
               AND (c.kind = 'withdrawal' OR EXISTS
                    (SELECT 1 FROM stories s WHERE s.id = c.story_id AND {VISIBLE_SQL}))
             ORDER BY c.seq LIMIT $3"
        );
        let rows = with_conn!(self, |conn| {
            q(&sql)
                .bind(project_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .bind(with_transcripts)
                .fetch_all(&mut *conn)
                .await?
        })?;
        let mut changes = rows.iter().map(change).collect::<Result<Vec<Change>>>()?;
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
    }

    fn recording(
        &self,
        id: &str,
        representation: Representation,
    ) -> Result<Option<StoredRecording>> {
        let row = with_conn!(self, |conn| {
            q("SELECT story_id, project_id, reporter_id, sha256, bytes, content_type, received_at, pcm_sha256
               FROM recordings WHERE id = $1 AND representation = $2")
            .bind(id)
            .bind(representation.as_str())
            .fetch_optional(&mut *conn)
            .await?
        })?;
        row.map(|r| {
            Ok(StoredRecording {
                story_id: r.try_get(0)?,
                project_id: r.try_get(1)?,
                reporter_id: r.try_get(2)?,
                sha256: r.try_get(3)?,
                bytes: unsigned(r.try_get::<i64, _>(4)?, "size")?,
                content_type: r.try_get(5)?,
                received_at: r.try_get(6)?,
                pcm_sha256: r.try_get(7)?,
            })
        })
        .transpose()
    }

    fn project_csv(&self, project_id: &str, scope: ExportScope) -> Result<String> {
        with_conn!(self, |conn| project_csv(conn, project_id, scope).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::postgres::testdb::TestDb;

    /// While one transaction holds an append to the feed uncommitted, another cannot
    /// take a number: without the lock its insert would go through at once, numbered
    /// after the first, and could commit (and be read past) before it.
    #[test]
    fn a_second_append_waits_for_the_first_to_commit() {
        let Some(db) = TestDb::start("pg feed append lock") else {
            return;
        };
        let data = &db.data;
        let outcome = data.run(async {
            let mut first = data.pool().begin().await?;
            append_story(&mut first, "p", "s1", 1, 0).await?;
            let mut second = data.pool().begin().await?;
            q("SET LOCAL lock_timeout = '300ms'")
                .execute(&mut *second)
                .await?;
            let blocked = append_story(&mut second, "p", "s2", 1, 0).await;
            drop(second);
            first.commit().await?;
            // Once the first has committed, the next append goes through.
            let mut third = data.pool().begin().await?;
            append_story(&mut third, "p", "s3", 1, 0).await?;
            third.commit().await?;
            Ok::<_, crate::error::Error>(blocked)
        });
        let blocked = outcome.expect("the first and third appends");
        let err = blocked.expect_err("the second append went ahead while the first was open");
        assert!(err.to_string().contains("lock"), "{err}");
        assert_eq!(
            db.text("SELECT string_agg(story_id, ',' ORDER BY seq) FROM changes")
                .as_deref(),
            Some("s1,s3")
        );
    }
}
