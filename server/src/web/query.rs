//! What the web page reads: the project's configuration (for consent wording, guide
//! questions and tags), the list's filters as a person types them, and the story list
//! and story page the data layer reads (data::web).

use serde::Deserialize;
use serde_json::Value;
use tellus_protocol::ConsentForm;

use crate::data::web::StoryFilter;
pub use crate::data::web::{ListedStory, Listing, StoryExtras};
use crate::error::{Error, Result};
use crate::search;

/// The parts of the project's configuration the page shows.
pub struct Project {
    pub name: String,
    pub tags: Vec<String>,
    config: Value,
    /// Read with the one parser the consent route uses (none when they cannot be read).
    forms: Vec<ConsentForm>,
}

impl Project {
    /// The project as its stored configuration (`WebPages::project_settings`) says.
    pub fn from_settings(project_id: &str, config: Value) -> Project {
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
        Project {
            name,
            tags,
            config,
            forms,
        }
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

    /// The filters as the data layer applies them (blank fields are "any").
    pub fn resolved(&self) -> StoryFilter {
        let consent = self.consent.trim();
        StoryFilter {
            matching: search::match_expression(&self.q),
            reporter: none_if_blank(&self.reporter),
            tag: none_if_blank(&self.tag),
            from: day_param(&self.from),
            to: day_param(&self.to),
            consent: (!consent.is_empty()).then(|| consent.to_string()),
            page: self.page,
        }
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

fn none_if_blank(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}
