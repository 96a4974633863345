//! The leads' web page on PostgreSQL: `web_links`, and the story list over `stories`,
//! `story_search` (a weighted tsvector, `search::prefix_query`), `principals` and `recordings`.
//! The lead's view of a story and its CSV line are the stories and feed areas' own
//! (stories.rs, feed.rs), in the same transaction.

use serde_json::Value;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, Postgres};
use tellus_protocol::{ConsentEventDoc, ConsentStatus, ConsentSummary, ExportScope};

use super::PgData;
use super::consent::load_consent_events as consent_events;
use super::unsigned;
use super::visibility::of_story;
use crate::data::transcripts::Hit;
use crate::data::web::{
    LeadStory, ListedStory, Listing, PAGE_SIZE, StoredLink, StoryExtras, StoryFilter, WebPages,
};
use crate::error::{Error, Result};
use crate::visibility::Visibility;

async fn project_settings(conn: &mut PgConnection, project_id: &str) -> Result<Value> {
    let text: Option<String> =
        query_scalar::<Postgres, String>("SELECT config FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null))
}

/// The tsquery for the story list's filter, an FTS5 expression made by
/// `crate::search::match_expression`: its quoted words (which never hold a quote: it
/// splits on them), unquoted, are what was typed.
fn from_match_expression(expression: &str) -> Option<String> {
    super::search::prefix_query(&expression.replace(['"', '*'], " "))
}

/// The options of `ts_headline` that make a snippet like SQLite's: about 16 words
/// around the match, each match between \u{2} and \u{3}.
fn headline_options() -> String {
    "StartSel=\u{2}, StopSel=\u{3}, MaxWords=16, MinWords=6, MaxFragments=1, FragmentDelimiter=…"
        .to_string()
}

/// Only the ids are read for every match; documents, consent and counts only for the
/// page shown (consent for every match only when filtering by it).
async fn list(conn: &mut PgConnection, project_id: &str, filter: &StoryFilter) -> Result<Listing> {
    let terms = filter.matching.as_deref().and_then(from_match_expression);
    if filter.matching.is_some() && terms.is_none() {
        return Ok(Listing {
            stories: Vec::new(),
            total: 0,
            page: 1,
            pages: 1,
        });
    }
    let conditions = "s.project_id = $1
            AND ((s.document IS NOT NULL AND s.lead_visibility = 'visible')
                 OR s.lead_visibility = 'withdrawn')
            AND ($2::text IS NULL OR s.reporter_id = $2)
            AND ($3::text IS NULL OR (s.document IS NOT NULL AND (s.document::jsonb -> 'tags') ? $3))
            AND ($4::text IS NULL OR substr(s.story_date, 1, 10) >= $4)
            AND ($5::text IS NULL OR substr(s.story_date, 1, 10) <= $5)";
    let sql = if terms.is_some() {
        format!(
            "SELECT s.id FROM stories s
               JOIN story_search m ON m.story_id = s.id
                    AND s.document IS NOT NULL AND s.lead_visibility = 'visible',
               to_tsquery('simple', $6) q
             WHERE m.words @@ q AND {conditions}
             ORDER BY ts_rank(m.words, q) DESC, s.id"
        )
    } else {
        format!(
            "SELECT s.id FROM stories s WHERE {conditions}
             ORDER BY s.withdrawn_at IS NOT NULL, s.story_date DESC NULLS LAST,
                      s.updated_at DESC, s.id"
        )
    };
    let mut select = query_scalar::<Postgres, String>(&sql)
        .bind(project_id)
        .bind(filter.reporter.as_deref())
        .bind(filter.tag.as_deref())
        .bind(filter.from.as_deref())
        .bind(filter.to.as_deref());
    if let Some(terms) = &terms {
        select = select.bind(terms.as_str());
    }
    let mut ids = select.fetch_all(&mut *conn).await?;
    if let Some(consent_filter) = filter.consent.as_deref() {
        let mut kept = Vec::with_capacity(ids.len());
        for id in ids {
            let consent = ConsentSummary::fold(&consent_events(conn, &id).await?);
            let keep = match consent_filter {
                "withdrawn" => consent.status == ConsentStatus::Withdrawn,
                item => consent.grants(item),
            };
            if keep {
                kept.push(id);
            }
        }
        ids = kept;
    }
    let total = ids.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.clamp(1, pages);
    let mut stories = Vec::with_capacity(PAGE_SIZE);
    for id in ids.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        let snippet = match &terms {
            Some(terms) => {
                query_scalar::<Postgres, String>(
                    "SELECT ts_headline('simple', concat_ws(E'\\n', title, summary, notes),
                                        to_tsquery('simple', $2), $3)
                     FROM story_search WHERE story_id = $1",
                )
                .bind(&id)
                .bind(terms.as_str())
                .bind(headline_options())
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        };
        let (document, reporter, withdrawn_at, delivered) =
            query_as::<Postgres, (Option<String>, String, Option<i64>, i64)>(
                "SELECT s.document, coalesce(p.label, ''), s.withdrawn_at,
                        (SELECT COUNT(DISTINCT r.id) FROM recordings r WHERE r.story_id = s.id)
                 FROM stories s LEFT JOIN principals p ON p.id = s.reporter_id WHERE s.id = $1",
            )
            .bind(&id)
            .fetch_one(&mut *conn)
            .await?;
        stories.push(ListedStory {
            doc: document.and_then(|d| serde_json::from_str(&d).ok()),
            consent: ConsentSummary::fold(&consent_events(conn, &id).await?),
            id,
            reporter,
            withdrawn_at,
            delivered: unsigned(delivered, "count of recordings")?,
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

async fn reporters(conn: &mut PgConnection, project_id: &str) -> Result<Vec<(String, String)>> {
    Ok(query_as::<Postgres, (String, String)>(
        "SELECT id, label FROM principals WHERE project_id = $1 AND role = 'reporter' ORDER BY label, id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// None when the story is not in this project.
async fn story_extras(
    conn: &mut PgConnection,
    project_id: &str,
    id: &str,
) -> Result<Option<StoryExtras>> {
    let row: Option<(String, Option<i64>)> = query_as::<Postgres, (String, Option<i64>)>(
        "SELECT coalesce(p.label, ''), s.withdrawn_at FROM stories s
         LEFT JOIN principals p ON p.id = s.reporter_id
         WHERE s.id = $1 AND s.project_id = $2",
    )
    .bind(id)
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((reporter, withdrawn_at)) = row else {
        return Ok(None);
    };
    // A stored event that cannot be read is left out of the history, as on SQLite.
    let bodies: Vec<String> = query_scalar::<Postgres, String>(
        "SELECT body FROM consent_events WHERE story_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let events: Vec<ConsentEventDoc> = bodies
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    let recordings: Vec<String> = query_scalar::<Postgres, String>(
        "SELECT id FROM recordings WHERE story_id = $1 ORDER BY received_at",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(StoryExtras {
        reporter,
        withdrawn_at,
        events,
        transcripts: super::transcripts::shown_for(conn, &recordings).await?,
    }))
}

async fn lead_story(conn: &mut PgConnection, project_id: &str, id: &str) -> Result<LeadStory> {
    let seen = of_story(conn, project_id, id).await?;
    if seen == Visibility::Hidden {
        return Err(Error::not_found("story"));
    }
    let extras = story_extras(conn, project_id, id)
        .await?
        .ok_or_else(|| Error::not_found("story"))?;
    if seen == Visibility::Withdrawn {
        return Ok(LeadStory::Withdrawn {
            withdrawn_at: extras.withdrawn_at,
        });
    }
    let doc = super::stories::lead_view(conn, project_id, id).await?;
    Ok(LeadStory::Visible {
        doc: Box::new(doc),
        extras,
    })
}

async fn titled_hits(
    conn: &mut PgConnection,
    project_id: &str,
    typed: &str,
    limit: u32,
) -> Result<Vec<(String, Hit)>> {
    let hits = super::transcripts::search(conn, project_id, typed, limit).await?;
    let mut titled = Vec::with_capacity(hits.len());
    for hit in hits {
        let document: Option<Option<String>> =
            query_scalar::<Postgres, Option<String>>("SELECT document FROM stories WHERE id = $1")
                .bind(&hit.story_id)
                .fetch_optional(&mut *conn)
                .await?;
        let title = document
            .flatten()
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .and_then(|d| d.get("title").and_then(Value::as_str).map(str::to_string));
        titled.push((title.unwrap_or_default(), hit));
    }
    Ok(titled)
}

async fn store_link(conn: &mut PgConnection, link: &StoredLink, now: i64) -> Result<()> {
    query::<Postgres>("DELETE FROM web_links WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    query::<Postgres>(
        "INSERT INTO web_links (secret_hash, principal_id, sealed_token, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&link.secret_hash)
    .bind(&link.principal_id)
    .bind(&link.sealed_token)
    .bind(link.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl WebPages for PgData {
    fn project_settings(&self, project_id: &str) -> Result<Value> {
        in_tx!(self, |conn| project_settings(conn, project_id).await?)
    }

    fn list_stories(&self, project_id: &str, filter: &StoryFilter) -> Result<Listing> {
        in_tx!(self, |conn| list(conn, project_id, filter).await?)
    }

    fn project_reporters(&self, project_id: &str) -> Result<Vec<(String, String)>> {
        in_tx!(self, |conn| reporters(conn, project_id).await?)
    }

    fn lead_story_page(&self, project_id: &str, story_id: &str) -> Result<LeadStory> {
        in_tx!(self, |conn| lead_story(conn, project_id, story_id).await?)
    }

    fn lead_story_csv_row(&self, project_id: &str, story_id: &str) -> Result<Option<String>> {
        in_tx!(self, |conn| async {
            // lead_view refuses another project's story (404) and a withdrawn one (410).
            super::stories::lead_view(conn, project_id, story_id).await?;
            super::feed::csv_row(conn, story_id, ExportScope::All).await
        }
        .await?)
    }

    fn titled_transcript_hits(
        &self,
        project_id: &str,
        typed: &str,
        limit: u32,
    ) -> Result<Vec<(String, Hit)>> {
        in_tx!(self, |conn| titled_hits(conn, project_id, typed, limit)
            .await?)
    }

    fn store_sign_in_link(&self, link: &StoredLink, now: i64) -> Result<()> {
        in_tx!(self, |conn| store_link(conn, link, now).await?)
    }

    fn take_sign_in_link(&self, secret_hash: &str) -> Result<Option<(String, i64)>> {
        in_tx!(self, |conn| query_as::<Postgres, (String, i64)>(
            "DELETE FROM web_links WHERE secret_hash = $1 RETURNING sealed_token, expires_at",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *conn)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdb::{PROJECT_WITH_STORIES, TestDb};
    use super::*;
    use crate::data::transcripts::{Save, Segment, Transcripts};

    const LISTING: &str = "
        INSERT INTO principals (id, token_hash, role, project_id, label, created_at)
        VALUES ('rep', 't1', 'reporter', 'p', 'Phone A', 0), ('lead', 't2', 'lead', 'p', 'Lead', 0);
        UPDATE stories SET document = '{\"title\":\"Damp flats\",\"tags\":[\"housing\"]}',
               story_date = '2026-11-20T10:00:00Z' WHERE id = 's';
        INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at, lead_visibility, story_date)
        VALUES ('s2', 'p', 'other', 1, '{\"title\":\"Bus routes\",\"tags\":[]}', 5, 'visible', '2026-11-22T09:00:00Z'),
               ('stub', 'p', 'rep', 0, NULL, 0, 'visible', NULL);
        UPDATE stories SET withdrawn_at = 7 WHERE id = 'w';
        INSERT INTO story_search (story_id, title, summary, notes)
        VALUES ('s', 'Damp flats', 'Mould in every bedroom', 'the landlord never came'),
               ('s2', 'Bus routes', 'The damp bus stop', ''),
               ('h', 'Hidden damp', '', '');
    ";

    fn filter() -> StoryFilter {
        StoryFilter {
            page: 1,
            ..StoryFilter::default()
        }
    }

    fn ids(listing: &Listing) -> Vec<&str> {
        listing.stories.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn the_story_list_filters_searches_and_pages_only_what_a_lead_may_see() {
        let Some(db) = TestDb::start("pg web list") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        db.exec(LISTING);
        let data = &db.data;
        let all = data.list_stories("p", &filter()).unwrap();
        assert_eq!(
            ids(&all),
            ["s2", "s", "w"],
            "newest first, tombstones last, no stub or hidden story"
        );
        assert_eq!((all.total, all.page, all.pages), (3, 1, 1));
        assert_eq!(all.stories[1].reporter, "Phone A");
        assert_eq!(all.stories[1].delivered, 2, "recordings, not copies");
        assert!(all.stories[2].doc.is_none() && all.stories[2].withdrawn_at == Some(7));

        let search = |typed: &str| StoryFilter {
            matching: crate::search::match_expression(typed),
            ..filter()
        };
        let found = data.list_stories("p", &search("DAMP")).unwrap();
        assert_eq!(
            ids(&found),
            ["s", "s2"],
            "the title weighs more than the summary"
        );
        let snippet = found.stories[0].snippet.as_deref().unwrap_or_default();
        assert!(snippet.contains("\u{2}Damp\u{3}"), "{snippet:?}");
        assert_eq!(
            ids(&data.list_stories("p", &search("damp landl")).unwrap()),
            ["s"]
        );
        assert!(
            data.list_stories("p", &search("nowhere"))
                .unwrap()
                .stories
                .is_empty()
        );

        let tagged = StoryFilter {
            tag: Some("housing".into()),
            ..filter()
        };
        assert_eq!(ids(&data.list_stories("p", &tagged).unwrap()), ["s"]);
        let by = StoryFilter {
            reporter: Some("other".into()),
            ..filter()
        };
        assert_eq!(ids(&data.list_stories("p", &by).unwrap()), ["s2"]);
        let days = StoryFilter {
            from: Some("2026-11-21".into()),
            to: Some("2026-11-22".into()),
            ..filter()
        };
        assert_eq!(ids(&data.list_stories("p", &days).unwrap()), ["s2"]);
        let withdrawn = StoryFilter {
            consent: Some("withdrawn".into()),
            ..filter()
        };
        assert!(
            data.list_stories("p", &withdrawn)
                .unwrap()
                .stories
                .is_empty(),
            "no consent events here"
        );
        let far = StoryFilter {
            page: 9,
            ..filter()
        };
        assert_eq!(data.list_stories("p", &far).unwrap().page, 1, "clamped");
        assert!(
            data.list_stories("other", &filter())
                .unwrap()
                .stories
                .is_empty()
        );

        assert_eq!(
            data.project_reporters("p").unwrap(),
            [("rep".to_string(), "Phone A".to_string())]
        );
        assert_eq!(data.project_settings("p").unwrap(), serde_json::json!({}));
        assert_eq!(data.project_settings("none").unwrap(), Value::Null);
    }

    #[test]
    fn story_pages_refuse_hidden_stories_and_show_tombstones() {
        let Some(db) = TestDb::start("pg web story") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        db.exec(LISTING);
        for hidden in ["h", "missing"] {
            assert!(matches!(
                db.data.lead_story_page("p", hidden),
                Err(Error::Refused {
                    status: axum::http::StatusCode::NOT_FOUND,
                    ..
                })
            ));
        }
        assert!(matches!(
            db.data.lead_story_page("p", "w").unwrap(),
            LeadStory::Withdrawn {
                withdrawn_at: Some(7)
            }
        ));
        assert!(
            db.data.lead_story_page("other", "s").is_err(),
            "another project's"
        );
        assert!(db.data.lead_story_csv_row("p", "w").is_err(), "withdrawn");

        let save = Save {
            base_revision: 0,
            segments: vec![Segment {
                start_ms: 0,
                end_ms: 900,
                text: "the damp came back".into(),
                speaker: None,
            }],
            language: None,
            reviewed: None,
        };
        db.data
            .save_lead_transcript("p", "r1", &save, "lead")
            .unwrap();
        let hits = db.data.titled_transcript_hits("p", "damp", 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (hits[0].0.as_str(), hits[0].1.recording_id.as_str()),
            ("Damp flats", "r1")
        );
    }

    #[test]
    fn a_sign_in_link_is_taken_once_and_expired_ones_are_forgotten() {
        let Some(db) = TestDb::start("pg web links") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        db.exec(LISTING);
        let link = |hash: &str, expires_at| StoredLink {
            secret_hash: hash.into(),
            principal_id: "lead".into(),
            sealed_token: format!("sealed-{hash}"),
            expires_at,
        };
        db.data.store_sign_in_link(&link("old", 100), 50).unwrap();
        db.data.store_sign_in_link(&link("new", 1000), 200).unwrap();
        assert_eq!(
            db.data.take_sign_in_link("old").unwrap(),
            None,
            "expired, forgotten"
        );
        assert_eq!(
            db.data.take_sign_in_link("new").unwrap(),
            Some(("sealed-new".into(), 1000))
        );
        assert_eq!(db.data.take_sign_in_link("new").unwrap(), None, "once");
        let unknown = StoredLink {
            principal_id: "nobody".into(),
            ..link("x", 1000)
        };
        assert!(
            db.data.store_sign_in_link(&unknown, 0).is_err(),
            "a link names a principal"
        );
    }

    #[test]
    fn the_story_lists_expression_gives_the_same_query_as_the_typed_words() {
        for typed in [
            "damp flat",
            "don't stop",
            "title:x OR \"NEAR(",
            "a|b & !c:* <-> (d)",
        ] {
            let expression = crate::search::match_expression(typed);
            assert_eq!(
                expression.as_deref().and_then(from_match_expression),
                super::super::search::prefix_query(typed),
                "{typed}"
            );
        }
        assert_eq!(from_match_expression("\"\"*"), None);
    }
}
