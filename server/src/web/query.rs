//! What the web page reads from the database: the project's configuration (for consent
//! wording, guide questions and tags), the filtered and searched story list, and one
//! story with its consent history.

use rusqlite::{Connection, OptionalExtension, ToSql};
use serde::Deserialize;
use serde_json::Value;
use tellus_protocol::{ConsentEventDoc, ConsentStatus, ConsentSummary, StoryDocument};

use crate::error::{Error, Result};
use crate::routes::stories::load_consent;
use crate::search;

/// Most stories one list page shows.
pub const LIST_MAX: usize = 500;

/// The parts of the project's configuration the page shows.
pub struct Project {
    pub name: String,
    pub tags: Vec<String>,
    config: Value,
}

impl Project {
    pub fn load(conn: &Connection, project_id: &str) -> Result<Project> {
        let text: Option<String> = conn
            .query_row(
                "SELECT config FROM projects WHERE id = ?1",
                [project_id],
                |r| r.get(0),
            )
            .optional()?;
        let config: Value = text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let name = config["name"].as_str().unwrap_or(project_id).to_string();
        let tags = config["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Project { name, tags, config })
    }

    /// The text of interview-guide question `id`.
    pub fn question(&self, id: &str) -> Option<String> {
        self.config["guide"]
            .as_array()?
            .iter()
            .find(|q| q["id"].as_str() == Some(id))
            .and_then(|q| q["text"].as_str())
            .map(str::to_string)
    }

    /// The items of a consent form version, with their wording in `language` (English
    /// when the form has no wording in that language): (key, required, label).
    pub fn form_items(
        &self,
        form_id: &str,
        version: u32,
        language: &str,
    ) -> Option<Vec<(String, bool, String)>> {
        let form = self.config["consent_forms"].as_array()?.iter().find(|f| {
            f["id"].as_str() == Some(form_id) && f["version"].as_u64() == Some(u64::from(version))
        })?;
        let items = form["items"].as_array()?;
        Some(
            items
                .iter()
                .filter_map(|item| {
                    let key = item["key"].as_str()?.to_string();
                    let label = item["label"][language]
                        .as_str()
                        .or_else(|| item["label"]["en"].as_str())
                        .unwrap_or(&key)
                        .to_string();
                    Some((key, item["required"].as_bool().unwrap_or(false), label))
                })
                .collect(),
        )
    }

    /// Every consent item key the project's forms name, in form order.
    pub fn item_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for form in self.config["consent_forms"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for item in form["items"].as_array().into_iter().flatten() {
                if let Some(k) = item["key"].as_str() {
                    if !keys.iter().any(|x| x == k) {
                        keys.push(k.to_string());
                    }
                }
            }
        }
        keys
    }
}

/// The list's filters, as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Filters {
    pub q: String,
    pub tag: String,
    pub reporter: String,
    /// YYYY-MM-DD, the story's date on the phone.
    pub from: String,
    pub to: String,
    /// A consent item key that must be granted, or "withdrawn".
    pub consent: String,
}

impl Filters {
    pub fn any(&self) -> bool {
        [
            &self.q,
            &self.tag,
            &self.reporter,
            &self.from,
            &self.to,
            &self.consent,
        ]
        .iter()
        .any(|f| !f.trim().is_empty())
    }

    /// A date field must be a real YYYY-MM-DD date.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [("from", &self.from), ("to", &self.to)] {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if time::Date::parse(value, &format).is_err() {
                return Err(Error::bad_request(
                    "invalid_date",
                    format!("the '{name}' date must be written YYYY-MM-DD, like 2026-11-22"),
                ));
            }
        }
        Ok(())
    }
}

/// One line of the story list.
pub struct ListedStory {
    pub id: String,
    /// None after a withdrawal (the text is gone).
    pub doc: Option<StoryDocument>,
    pub reporter: String,
    pub consent: ConsentSummary,
    pub withdrawn_at: Option<i64>,
    pub delivered: u32,
    /// Where the search words matched, with \u{2} and \u{3} around each match.
    pub snippet: Option<String>,
}

pub struct Listing {
    pub stories: Vec<ListedStory>,
    /// More stories matched than the page shows.
    pub truncated: bool,
}

fn none_if_blank(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The project's stories that pass every filter: newest first, or best match first
/// when searching. Stubs (consent without a story document yet) are left out;
/// withdrawn stories appear as tombstones, which no search, tag or date matches.
pub fn list(conn: &Connection, project_id: &str, filters: &Filters) -> Result<Listing> {
    let matching = search::match_expression(&filters.q);
    let mut sql = String::from(
        "SELECT s.id, s.document, coalesce(p.label, ''), s.withdrawn_at,
                (SELECT COUNT(*) FROM recordings r WHERE r.story_id = s.id)",
    );
    sql.push_str(if matching.is_some() {
        ", m.snip FROM stories s
           JOIN (SELECT story_id, rank,
                        snippet(story_search, -1, char(2), char(3), '…', 16) AS snip
                 FROM story_search WHERE story_search MATCH :q) m
                ON m.story_id = s.id AND s.document IS NOT NULL"
    } else {
        ", NULL FROM stories s"
    });
    sql.push_str(
        " LEFT JOIN principals p ON p.id = s.reporter_id
          WHERE s.project_id = :project
            AND (s.document IS NOT NULL OR s.withdrawn_at IS NOT NULL)
            AND (:reporter IS NULL OR s.reporter_id = :reporter)
            AND (:tag IS NULL OR EXISTS
                   (SELECT 1 FROM json_each(s.document, '$.tags') t WHERE t.value = :tag))
            AND (:from IS NULL OR substr(json_extract(s.document, '$.created_at'), 1, 10) >= :from)
            AND (:to IS NULL OR substr(json_extract(s.document, '$.created_at'), 1, 10) <= :to)",
    );
    sql.push_str(if matching.is_some() {
        " ORDER BY m.rank, s.id"
    } else {
        " ORDER BY s.withdrawn_at IS NOT NULL, json_extract(s.document, '$.created_at') DESC, s.updated_at DESC, s.id"
    });
    let reporter = none_if_blank(&filters.reporter);
    let tag = none_if_blank(&filters.tag);
    let from = none_if_blank(&filters.from);
    let to = none_if_blank(&filters.to);
    let mut params: Vec<(&str, &dyn ToSql)> = vec![
        (":project", &project_id),
        (":reporter", &reporter),
        (":tag", &tag),
        (":from", &from),
        (":to", &to),
    ];
    if let Some(q) = &matching {
        params.push((":q", q));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params.as_slice(), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let consent_filter = filters.consent.trim();
    let mut stories = Vec::new();
    let mut truncated = false;
    for (id, document, reporter, withdrawn_at, delivered, snippet) in rows {
        let consent = load_consent(conn, &id)?;
        let withdrawn = consent.status == ConsentStatus::Withdrawn;
        let keep = match consent_filter {
            "" => true,
            "withdrawn" => withdrawn,
            item => consent.grants(item),
        };
        if !keep {
            continue;
        }
        if stories.len() == LIST_MAX {
            truncated = true;
            break;
        }
        stories.push(ListedStory {
            doc: document.and_then(|d| serde_json::from_str(&d).ok()),
            id,
            reporter,
            consent,
            withdrawn_at,
            delivered,
            snippet,
        });
    }
    Ok(Listing { stories, truncated })
}

/// The reporters of the project, for the filter: (id, device label).
pub fn reporters(conn: &Connection, project_id: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, label FROM principals WHERE project_id = ?1 AND role = 'reporter' ORDER BY label, id",
    )?;
    let rows = stmt
        .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    Ok(rows)
}

/// What the story page needs besides the lead's view of the document.
pub struct StoryExtras {
    pub reporter: String,
    pub withdrawn_at: Option<i64>,
    /// The consent events in the order they arrived.
    pub events: Vec<ConsentEventDoc>,
}

/// None when the story is not in this project.
pub fn story_extras(conn: &Connection, project_id: &str, id: &str) -> Result<Option<StoryExtras>> {
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
    Ok(Some(StoryExtras {
        reporter,
        withdrawn_at,
        events,
    }))
}
