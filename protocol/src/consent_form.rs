//! Consent forms, and the two questions every layer asks of one: is this half-filled
//! form complete (`ConsentForm::check_answers`), and in which language is it shown
//! (`ConsentForm::choose_language`). Part of the one consent engine (issue 15): the
//! phone's core, the FFI the Android and iOS shells call, and the CLI all ask these,
//! so the answers cannot differ between them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::consent::{ConsentFacts, ConsentKind, ConsentSummary};
use crate::items;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentForm {
    pub id: String,
    pub version: u32,
    /// The introduction read to the storyteller, by language tag ("en", "cy", "pl", ...).
    pub intro: BTreeMap<String, String>,
    pub items: Vec<ConsentItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentItem {
    pub key: String,
    pub required: bool,
    /// What the storyteller is asked, by language tag, in plain words.
    pub label: BTreeMap<String, String>,
}

impl ConsentItem {
    /// Its wording in `language`; English when it has none there; else its key.
    pub fn label_in(&self, language: &str) -> &str {
        self.label
            .get(language)
            .or_else(|| self.label.get("en"))
            .map_or(self.key.as_str(), String::as_str)
    }
}

/// Why a form cannot be finished yet; `Display` is the sentence a reporter reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormProblem {
    /// An answer to an item the form does not have.
    UnknownItem { key: String, known: Vec<String> },
    /// A required item (`record` is always one) is not granted.
    RequiredMissing { key: String },
    /// `credit_by_name` is granted but there is no name to credit.
    NameMissing,
}

impl std::fmt::Display for FormProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormProblem::UnknownItem { key, known } => write!(
                f,
                "'{key}' is not an item of this consent form (items: {})",
                known.join(", ")
            ),
            FormProblem::RequiredMissing { key } => write!(
                f,
                "'{key}' is required by this consent form; without it the storyteller has not consented (record a withdrawal instead)"
            ),
            FormProblem::NameMissing => write!(
                f,
                "type the name to credit, or leave '{}' unticked",
                items::CREDIT_BY_NAME
            ),
        }
    }
}

/// Why a consent event cannot be kept: it cannot follow the consent in force, or it does
/// not fit the project's forms. `Display` is the one line a reporter reads; `code` the
/// stable code the server answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentProblem {
    /// It cannot follow the consent in force (`ConsentSummary::refuses`).
    Sequence(&'static str),
    /// The project has no such form version.
    UnknownForm { form_id: String, version: u32 },
    /// The form has no text in the language the event says it was shown in.
    UnknownLanguage {
        form_id: String,
        version: u32,
        language: String,
        has: Vec<String>,
    },
    /// The granted items do not finish the form (`ConsentForm::check_answers`).
    Form(FormProblem),
}

impl ConsentProblem {
    pub fn code(&self) -> &'static str {
        match self {
            ConsentProblem::Sequence(_) => "invalid_consent",
            ConsentProblem::UnknownForm { .. } => "unknown_consent_form",
            ConsentProblem::UnknownLanguage { .. } => "unknown_consent_language",
            ConsentProblem::Form(FormProblem::UnknownItem { .. }) => "unknown_consent_item",
            ConsentProblem::Form(FormProblem::RequiredMissing { .. }) => "consent_item_required",
            ConsentProblem::Form(FormProblem::NameMissing) => "name_required",
        }
    }
}

impl std::fmt::Display for ConsentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsentProblem::Sequence(why) => f.write_str(why),
            ConsentProblem::UnknownForm { form_id, version } => write!(
                f,
                "this project has no consent form {form_id} version {version}"
            ),
            ConsentProblem::UnknownLanguage {
                form_id,
                version,
                language,
                has,
            } => write!(
                f,
                "consent form {form_id} version {version} has no text in language '{language}' (it has: {})",
                has.join(", ")
            ),
            ConsentProblem::Form(problem) => problem.fmt(f),
        }
    }
}

/// The form version an accepted `given` or `amended` event is on, and the language it
/// was shown in (for an amendment: the consent in force's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormShown<'f> {
    pub form: &'f ConsentForm,
    pub language: String,
}

impl ConsentSummary {
    /// THE check of a new consent event, on the phone before it is stored and on the
    /// server before it is accepted: it must follow the consent in force (`refuses`); a
    /// `given` must name a form version of `forms` and a language that version has text
    /// in; a `given` or `amended` must finish that form (`check_answers`: only its items,
    /// every required one). `name_known` is whether a name to credit is typed or kept
    /// with the event (the phone); `None` where the name travels apart from the event
    /// (the server gets it in the story document, after the consent, and keeps it only
    /// with `credit_by_name`, `refuses_identity`), so the name rule is not checked.
    pub fn check_event<'f, E: ConsentFacts + ?Sized>(
        &self,
        forms: &'f [ConsentForm],
        event: &E,
        name_known: Option<bool>,
    ) -> Result<Option<FormShown<'f>>, ConsentProblem> {
        if let Some(why) = self.refuses(event) {
            return Err(ConsentProblem::Sequence(why));
        }
        let (form_id, version, language) = match event.kind() {
            ConsentKind::Withdrawn => return Ok(None),
            ConsentKind::Given => (event.form_id(), event.form_version(), event.language()),
            ConsentKind::Amended => (
                self.form_id.as_deref(),
                self.form_version,
                self.language.as_deref(),
            ),
        };
        let (form_id, version) = (form_id.unwrap_or_default(), version.unwrap_or_default());
        let language = language.unwrap_or_default().to_string();
        let form = forms
            .iter()
            .find(|f| f.id == form_id && f.version == version)
            .ok_or_else(|| ConsentProblem::UnknownForm {
                form_id: form_id.to_string(),
                version,
            })?;
        if event.kind() == ConsentKind::Given && form.rendered_text(&language).is_none() {
            return Err(ConsentProblem::UnknownLanguage {
                form_id: form_id.to_string(),
                version,
                language,
                has: form.languages().map(str::to_string).collect(),
            });
        }
        form.check_answers(event.granted(), name_known.unwrap_or(true))
            .map_err(ConsentProblem::Form)?;
        Ok(Some(FormShown { form, language }))
    }
}

impl ConsentForm {
    /// Checks the form's own shape (a project's configuration is refused otherwise).
    pub fn validate(&self) -> Result<(), String> {
        let name = format!("consent form {} version {}", self.id, self.version);
        if self.id.trim().is_empty() {
            return Err("a consent form needs an id".into());
        }
        if self.intro.is_empty() {
            return Err(format!("{name} has no text in any language"));
        }
        if !self
            .items
            .iter()
            .any(|i| i.key == items::RECORD && i.required)
        {
            return Err(format!(
                "{name} must have a required '{}' item",
                items::RECORD
            ));
        }
        let mut keys = BTreeSet::new();
        for item in &self.items {
            if !keys.insert(&item.key) {
                return Err(format!("{name} has item {} twice", item.key));
            }
            for language in self.intro.keys() {
                if !item.label.contains_key(language) {
                    return Err(format!(
                        "{name} item {} has no label in language {language}",
                        item.key
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.intro.keys().map(String::as_str)
    }

    pub fn item(&self, key: &str) -> Option<&ConsentItem> {
        self.items.iter().find(|i| i.key == key)
    }

    /// The language to show the form in: the first of `preferred` (most wanted first)
    /// that the form has, exactly or by its primary tag ("es-MX" takes "es"); else
    /// English when the form has it; else the form's first language.
    pub fn choose_language<S: AsRef<str>>(&self, preferred: &[S]) -> &str {
        let has = |tag: &str| self.intro.get_key_value(tag).map(|(k, _)| k.as_str());
        preferred
            .iter()
            .map(|p| p.as_ref().trim())
            .find_map(|p| has(p).or_else(|| has(p.split(['-', '_']).next().unwrap_or_default())))
            .or_else(|| has("en"))
            .or_else(|| self.languages().next())
            .unwrap_or_default()
    }

    /// Whether the answers given so far finish the form: every granted item is one of
    /// the form's, every required item is granted, and a name is there to credit when
    /// `credit_by_name` is granted (`name_known`: typed now, or kept from before).
    pub fn check_answers(
        &self,
        granted: &BTreeSet<String>,
        name_known: bool,
    ) -> Result<(), FormProblem> {
        if let Some(unknown) = granted.iter().find(|k| self.item(k).is_none()) {
            return Err(FormProblem::UnknownItem {
                key: unknown.clone(),
                known: self.items.iter().map(|i| i.key.clone()).collect(),
            });
        }
        if let Some(missing) = self
            .items
            .iter()
            .find(|i| i.required && !granted.contains(&i.key))
        {
            return Err(FormProblem::RequiredMissing {
                key: missing.key.clone(),
            });
        }
        if granted.contains(items::CREDIT_BY_NAME) && !name_known {
            return Err(FormProblem::NameMissing);
        }
        Ok(())
    }

    /// The exact text shown to the storyteller in one language: the introduction, then
    /// each item on its own line. Consent events record the SHA-256 of this text.
    pub fn rendered_text(&self, language: &str) -> Option<String> {
        let mut text = self.intro.get(language)?.trim_end().to_string();
        text.push('\n');
        for item in &self.items {
            let mark = if item.required { " (required)" } else { "" };
            let label = item.label.get(language)?;
            text.push_str(&format!("\n[{}]{mark} {}", item.key, label.trim()));
        }
        text.push('\n');
        Some(text)
    }

    /// SHA-256 (hex) of [`Self::rendered_text`].
    pub fn text_sha256(&self, language: &str) -> Option<String> {
        self.rendered_text(language)
            .map(|text| hex::encode(Sha256::digest(text.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ConsentForm {
        let labels = |l: &[&str]| l.iter().map(|l| (l.to_string(), "x".to_string())).collect();
        ConsentForm {
            id: "f".into(),
            version: 1,
            intro: labels(&["cy", "en", "es"]),
            items: ["record", "share_publicly", "credit_by_name"]
                .iter()
                .map(|k| ConsentItem {
                    key: k.to_string(),
                    required: *k == "record",
                    label: labels(&["cy", "en", "es"]),
                })
                .collect(),
        }
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn the_language_is_the_first_preferred_the_form_has_then_english_then_its_first() {
        let f = form();
        assert_eq!(f.choose_language(&["pl", "es-MX", "cy"]), "es");
        assert_eq!(f.choose_language(&["cy"]), "cy");
        assert_eq!(f.choose_language(&["pl"]), "en");
        assert_eq!(f.choose_language::<&str>(&[]), "en");
        let mut welsh_only = form();
        welsh_only.intro.retain(|k, _| k == "cy");
        assert_eq!(welsh_only.choose_language(&["pl"]), "cy");
    }

    #[test]
    fn an_event_is_checked_against_the_form_it_is_on() {
        use crate::{ConsentEventDoc, ConsentMethod};
        let event = |kind, version: u32, language: &str, granted: &[&str]| ConsentEventDoc {
            id: "e".into(),
            story_id: "s".into(),
            participant_id: "p".into(),
            kind,
            form_id: Some("f".into()),
            form_version: Some(version),
            language: Some(language.into()),
            text_sha256: None,
            granted: set(granted),
            method: ConsentMethod::AppCheckbox,
            captured_by: "r".into(),
            captured_at: "2026-01-01T00:00:00Z".into(),
            erase_audio: false,
            code_hash: None,
        };
        let forms = [form()];
        let none = ConsentSummary::default();
        let code = |state: &ConsentSummary, e: &ConsentEventDoc, name: Option<bool>| {
            state.check_event(&forms, e, name).err().map(|p| p.code())
        };
        let given = event(ConsentKind::Given, 1, "cy", &["record", "credit_by_name"]);
        assert_eq!(
            code(&none, &given, None),
            None,
            "the server: the name comes later"
        );
        assert_eq!(code(&none, &given, Some(false)), Some("name_required"));
        let shown = none
            .check_event(&forms, &given, Some(true))
            .unwrap()
            .unwrap();
        assert_eq!((shown.form.version, shown.language.as_str()), (1, "cy"));
        let v2 = event(ConsentKind::Given, 2, "en", &["record"]);
        assert_eq!(code(&none, &v2, None), Some("unknown_consent_form"));
        let polish = event(ConsentKind::Given, 1, "pl", &["record"]);
        assert_eq!(code(&none, &polish, None), Some("unknown_consent_language"));
        let no_record = event(ConsentKind::Given, 1, "en", &["share_publicly"]);
        assert_eq!(code(&none, &no_record, None), Some("invalid_consent"));
        // An amendment is on the form in force, whatever version it names.
        let active = none.apply(&given);
        let amended = event(ConsentKind::Amended, 9, "pl", &["record", "fly"]);
        assert_eq!(code(&active, &amended, None), Some("unknown_consent_item"));
        let amended = event(ConsentKind::Amended, 9, "pl", &["record"]);
        assert_eq!(code(&active, &amended, None), None);
    }

    #[test]
    fn a_half_filled_form_says_what_is_missing() {
        let f = form();
        assert_eq!(
            f.check_answers(&set(&[]), false),
            Err(FormProblem::RequiredMissing {
                key: "record".into()
            })
        );
        assert!(matches!(
            f.check_answers(&set(&["record", "fly"]), false),
            Err(FormProblem::UnknownItem { .. })
        ));
        assert_eq!(
            f.check_answers(&set(&["record", "credit_by_name"]), false),
            Err(FormProblem::NameMissing)
        );
        assert_eq!(
            f.check_answers(&set(&["record", "credit_by_name"]), true),
            Ok(())
        );
        assert_eq!(f.check_answers(&set(&["record"]), false), Ok(()));
    }
}
