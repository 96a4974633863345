//! The leads' web page in SQLite: `web_links` (schema step 4) and the story list over
//! `stories`, `story_search` (FTS5), `principals` and `recordings`. The lead's views of
//! a story and the exports are routes::stories' and routes::lead's functions.

use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde_json::Value;
use tellus_protocol::{ConsentStatus, ExportScope};

use super::SqliteData;
use crate::data::transcripts::Hit;
use crate::data::web::{
    LeadStory, ListedStory, Listing, PAGE_SIZE, StoredLink, StoryExtras, StoryFilter, WebPages,
};
use crate::error::{Error, Result};
use crate::routes::lead::csv_row;
use crate::routes::stories::{lead_view, load_consent};
use crate::visibility::Visibility;

fn project_settings(conn: &Connection, project_id: &str) -> Result<Value> {
    let text: Option<String> = conn
        .query_row(
            "SELECT config FROM projects WHERE id = ?1",
            [project_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null))
}

/// Only the ids are read for every match; documents, consent and counts only for the
/// page shown (consent for every match only when filtering by it).
fn list(conn: &Connection, project_id: &str, filter: &StoryFilter) -> Result<Listing> {
    let matching = &filter.matching;
    let mut sql = String::from("SELECT s.id");
    // The snippet is made later for the page shown only (by the index row): making
    // it for every match costs more than the whole rest of the search.
    sql.push_str(if matching.is_some() {
        ", m.rowid FROM stories s
           JOIN (SELECT story_id, rank, rowid FROM story_search WHERE story_search MATCH :q) m
                ON m.story_id = s.id AND s.document IS NOT NULL AND s.lead_visibility = 'visible'"
    } else {
        ", NULL FROM stories s"
    });
    sql.push_str(
        " WHERE s.project_id = :project
            AND ((s.document IS NOT NULL AND s.lead_visibility = 'visible')
                 OR s.lead_visibility = 'withdrawn')
            AND (:reporter IS NULL OR s.reporter_id = :reporter)
            AND (:tag IS NULL OR EXISTS
                   (SELECT 1 FROM json_each(s.document, '$.tags') t WHERE t.value = :tag))
            AND (:from IS NULL OR substr(s.story_date, 1, 10) >= :from)
            AND (:to IS NULL OR substr(s.story_date, 1, 10) <= :to)",
    );
    sql.push_str(if matching.is_some() {
        " ORDER BY m.rank, s.id"
    } else {
        " ORDER BY s.withdrawn_at IS NOT NULL, s.story_date DESC, s.updated_at DESC, s.id"
    });
    let mut params: Vec<(&str, &dyn ToSql)> = vec![
        (":project", &project_id),
        (":reporter", &filter.reporter),
        (":tag", &filter.tag),
        (":from", &filter.from),
        (":to", &filter.to),
    ];
    if let Some(q) = matching {
        params.push((":q", q));
    }
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt
        .query_map(params.as_slice(), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if let Some(consent_filter) = filter.consent.as_deref() {
        let mut kept = Vec::with_capacity(rows.len());
        for (id, search_row) in rows {
            let consent = load_consent(conn, &id)?;
            let keep = match consent_filter {
                "withdrawn" => consent.status == ConsentStatus::Withdrawn,
                item => consent.grants(item),
            };
            if keep {
                kept.push((id, search_row));
            }
        }
        rows = kept;
    }
    let total = rows.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.clamp(1, pages);
    let mut stories = Vec::with_capacity(PAGE_SIZE);
    for (id, search_row) in rows
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
    {
        let snippet = match (matching, search_row) {
            (Some(q), Some(rowid)) => conn
                .query_row(
                    "SELECT snippet(story_search, -1, char(2), char(3), '…', 16)
                     FROM story_search WHERE story_search MATCH ?1 AND rowid = ?2",
                    params![q, rowid],
                    |r| r.get::<_, String>(0),
                )
                .optional()?,
            _ => None,
        };
        let (document, reporter, withdrawn_at, delivered) = conn.query_row(
            "SELECT s.document, coalesce(p.label, ''), s.withdrawn_at,
                    (SELECT COUNT(DISTINCT r.id) FROM recordings r WHERE r.story_id = s.id)
             FROM stories s LEFT JOIN principals p ON p.id = s.reporter_id WHERE s.id = ?1",
            [&id],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            },
        )?;
        stories.push(ListedStory {
            doc: document.and_then(|d| serde_json::from_str(&d).ok()),
            consent: load_consent(conn, &id)?,
            id,
            reporter,
            withdrawn_at,
            delivered,
            snippet,
        });
    }
    Ok(Listing {
        stories,
        total,
        page,
        pages,
    })
}

fn reporters(conn: &Connection, project_id: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, label FROM principals WHERE project_id = ?1 AND role = 'reporter' ORDER BY label, id",
    )?;
    let rows = stmt
        .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    Ok(rows)
}

/// None when the story is not in this project.
fn story_extras(conn: &Connection, project_id: &str, id: &str) -> Result<Option<StoryExtras>> {
    let row: Option<(String, Option<i64>)> = conn
        .query_row(
            "SELECT coalesce(p.label, ''), s.withdrawn_at FROM stories s
             LEFT JOIN principals p ON p.id = s.reporter_id
             WHERE s.id = ?1 AND s.project_id = ?2",
            [id, project_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((reporter, withdrawn_at)) = row else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare("SELECT body FROM consent_events WHERE story_id = ?1 ORDER BY seq")?;
    let events = stmt
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    let mut stmt =
        conn.prepare("SELECT id FROM recordings WHERE story_id = ?1 ORDER BY received_at")?;
    let recordings = stmt
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(StoryExtras {
        reporter,
        withdrawn_at,
        events,
        transcripts: super::transcripts::shown_for(conn, &recordings)?,
    }))
}

fn lead_story(conn: &Connection, project_id: &str, id: &str) -> Result<LeadStory> {
    let seen = Visibility::of_story(conn, project_id, id)?;
    if seen == Visibility::Hidden {
        return Err(Error::not_found("story"));
    }
    let extras = story_extras(conn, project_id, id)?.ok_or_else(|| Error::not_found("story"))?;
    if seen == Visibility::Withdrawn {
        return Ok(LeadStory::Withdrawn {
            withdrawn_at: extras.withdrawn_at,
        });
    }
    let doc = lead_view(conn, project_id, id)?;
    Ok(LeadStory::Visible {
        doc: Box::new(doc),
        extras,
    })
}

impl WebPages for SqliteData {
    fn project_settings(&self, project_id: &str) -> Result<Value> {
        self.db().with(|conn| project_settings(conn, project_id))
    }

    fn list_stories(&self, project_id: &str, filter: &StoryFilter) -> Result<Listing> {
        self.db().with(|conn| list(conn, project_id, filter))
    }

    fn project_reporters(&self, project_id: &str) -> Result<Vec<(String, String)>> {
        self.db().with(|conn| reporters(conn, project_id))
    }

    fn lead_story_page(&self, project_id: &str, story_id: &str) -> Result<LeadStory> {
        self.db()
            .with(|conn| lead_story(conn, project_id, story_id))
    }

    fn lead_story_csv_row(&self, project_id: &str, story_id: &str) -> Result<Option<String>> {
        self.db().with(|conn| {
            // lead_view refuses another project's story (404) and a withdrawn one (410).
            lead_view(conn, project_id, story_id)?;
            csv_row(conn, story_id, ExportScope::All)
        })
    }

    fn titled_transcript_hits(
        &self,
        project_id: &str,
        typed: &str,
        limit: u32,
    ) -> Result<Vec<(String, Hit)>> {
        self.db().with(|conn| {
            let hits = super::transcripts::search(conn, project_id, typed, limit)?;
            let mut titled = Vec::new();
            for hit in hits {
                let title: Option<String> = conn
                    .query_row(
                        "SELECT json_extract(document, '$.title') FROM stories WHERE id = ?1",
                        [&hit.story_id],
                        |r| r.get(0),
                    )
                    .unwrap_or(None);
                titled.push((title.unwrap_or_default(), hit));
            }
            Ok(titled)
        })
    }

    fn store_sign_in_link(&self, link: &StoredLink, now: i64) -> Result<()> {
        self.db().write(|tx| {
            tx.execute("DELETE FROM web_links WHERE expires_at <= ?1", [now])?;
            tx.execute(
                "INSERT INTO web_links (secret_hash, principal_id, sealed_token, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    link.secret_hash,
                    link.principal_id,
                    link.sealed_token,
                    link.expires_at
                ],
            )?;
            Ok(())
        })
    }

    fn take_sign_in_link(&self, secret_hash: &str) -> Result<Option<(String, i64)>> {
        self.db().write(|tx| {
            Ok(tx
                .query_row(
                    "DELETE FROM web_links WHERE secret_hash = ?1 RETURNING sealed_token, expires_at",
                    [secret_hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
    }
}
