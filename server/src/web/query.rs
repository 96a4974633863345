//! What the web page reads from the database: the project's configuration (for consent
//! wording, guide questions and tags), the filtered and searched story list, and one
//! story with its consent history.

use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde::Deserialize;
use serde_json::Value;
use tellus_protocol::{ConsentEventDoc, ConsentForm, ConsentStatus, ConsentSummary, StoryDocument};

use crate::error::{Error, Result};
use crate::routes::stories::load_consent;
use crate::search;

/// Stories on one page of the list.
pub const PAGE_SIZE: usize = 50;

/// The parts of the project's configuration the page shows.
pub struct Project {
    pub name: String,
    pub tags: Vec<String>,
    config: Value,
    /// Read with the one parser the consent route uses (none when they cannot be read).
    forms: Vec<ConsentForm>,
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
        let forms = crate::admin::consent_forms(&config).unwrap_or_default();
        Ok(Project {
            name,
            tags,
            config,
            forms,
        })
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
        let form = self
            .forms
            .iter()
            .find(|f| f.id == form_id && f.version == version)?;
        Some(
            form.items
                .iter()
                .map(|item| {
                    let label = item.label_in(language).to_string();
                    (item.key.clone(), item.required, label)
                })
                .collect(),
        )
    }

    /// Every consent item key the project's forms name, in form order.
    pub fn item_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for item in self.forms.iter().flat_map(|f| &f.items) {
            if !keys.contains(&item.key) {
                keys.push(item.key.clone());
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
    /// The story's date on the phone, as the page writes dates ("4 Dec 2026") or
    /// YYYY-MM-DD (see `typed_day`).
    pub from: String,
    pub to: String,
    /// A consent item key that must be granted, or "withdrawn".
    pub consent: String,
    /// Which page of the results (1-based).
    #[serde(deserialize_with = "page_number")]
    pub page: usize,
}

/// A page number as typed in a URL: anything that is not one means the first page.
fn page_number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    let text = String::deserialize(d)?;
    Ok(text.trim().parse().unwrap_or(1))
}

impl Filters {
    /// The query string of these filters on another page of results.
    pub fn on_page(&self, page: usize) -> String {
        let mut out = String::from("/lead?");
        for (name, value) in [
            ("q", &self.q),
            ("tag", &self.tag),
            ("reporter", &self.reporter),
            ("from", &self.from),
            ("to", &self.to),
            ("consent", &self.consent),
        ] {
            if !value.trim().is_empty() {
                out.push_str(name);
                out.push('=');
                out.push_str(&percent_encode(value));
                out.push('&');
            }
        }
        out.push_str(&format!("page={page}"));
        out
    }

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

    /// A date field must be a real day.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [("from", &self.from), ("to", &self.to)] {
            if !value.trim().is_empty() && typed_day(value).is_none() {
                return Err(Error::bad_request(
                    "invalid_date",
                    format!(
                        "the '{name}' date must be a day written like 22 Nov 2026 (or 2026-11-22)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A day as a person types it on the page: the way the page writes dates ("4 Dec 2026",
/// "4 December 2026", any case) or YYYY-MM-DD.
pub fn typed_day(text: &str) -> Option<time::Date> {
    use time::macros::format_description;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    time::Date::parse(&text, format_description!("[year]-[month]-[day]"))
        .or_else(|_| {
            time::Date::parse(
                &text,
                format_description!(
                    "[day padding:none] [month repr:short case_sensitive:false] [year]"
                ),
            )
        })
        .or_else(|_| {
            time::Date::parse(
                &text,
                format_description!(
                    "[day padding:none] [month repr:long case_sensitive:false] [year]"
                ),
            )
        })
        .ok()
}

/// A typed day as the database compares it (YYYY-MM-DD); None for an empty field.
fn day_param(text: &str) -> Option<String> {
    typed_day(text).map(|d| {
        d.format(time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default()
    })
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// One page of the stories that pass the filters.
pub struct Listing {
    pub stories: Vec<ListedStory>,
    /// How many stories pass the filters in all.
    pub total: usize,
    /// 1-based, clamped to the pages there are.
    pub page: usize,
    pub pages: usize,
}

fn none_if_blank(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The project's stories that pass every filter, one page of them: newest first, or
/// best match first when searching. Only the ids are read for every match; documents,
/// consent and counts only for the page shown (consent for every match only when
/// filtering by it). Stubs (consent without a story document yet) are left out;
/// withdrawn stories appear as tombstones, which no search, tag or date matches.
pub fn list(conn: &Connection, project_id: &str, filters: &Filters) -> Result<Listing> {
    let matching = search::match_expression(&filters.q);
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
    let reporter = none_if_blank(&filters.reporter);
    let tag = none_if_blank(&filters.tag);
    let from = day_param(&filters.from);
    let to = day_param(&filters.to);
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
    let mut rows = stmt
        .query_map(params.as_slice(), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let consent_filter = filters.consent.trim();
    if !consent_filter.is_empty() {
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
    let page = filters.page.clamp(1, pages);
    let mut stories = Vec::with_capacity(PAGE_SIZE);
    for (id, search_row) in rows
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
    {
        let snippet = match (&matching, search_row) {
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
    /// The delivered recordings' transcripts and open flags (web/transcript.rs).
    pub transcripts: Vec<(String, super::transcript::Shown)>,
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
    let mut stmt =
        conn.prepare("SELECT id FROM recordings WHERE story_id = ?1 ORDER BY received_at")?;
    let recordings = stmt
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(StoryExtras {
        reporter,
        withdrawn_at,
        events,
        transcripts: crate::data::sqlite::transcripts::shown_for(conn, &recordings)?,
    }))
}
