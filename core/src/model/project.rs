//! A project's configuration, handed to every reporter's phone: the consent forms the
//! storytellers agree to, the interview guide, the theme tags and the upload policy.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Keys of consent items that the core itself acts on (the consent engine's, in
/// tellus-protocol).
pub use tellus_protocol::items;
/// Consent forms and their questions live in the consent engine (tellus-protocol).
pub use tellus_protocol::{ConsentForm, ConsentItem};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectConfig {
    /// Stable id of the project on its server, e.g. "healthwatch-coproduction-2026".
    pub id: String,
    pub name: String,
    /// How a storyteller reaches the project (an e-mail, a phone number, an address), as
    /// printed on their consent receipt. None: the receipt names the reporter instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Every version of every consent form that a storyteller may have seen; old versions
    /// stay so that the consent they recorded can still be read.
    pub consent_forms: Vec<ConsentForm>,
    pub guide: Vec<Question>,
    pub tags: Vec<String>,
    /// The story fields the project collects (age band, area, ...): a story holds only
    /// these, with one of `options` when a field lists them. None listed: the project
    /// has no such fields.
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    #[serde(default)]
    pub upload_policy: UploadPolicy,
    /// What a story may hold, as the project's server enforces it (it sends its limits
    /// with the configuration); the protocol's defaults until a server says otherwise.
    #[serde(default)]
    pub limits: tellus_protocol::Limits,
}

/// One field a project collects about a story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    pub key: String,
    /// What a form shows ("Age band").
    #[serde(default)]
    pub label: String,
    /// The values allowed; empty: any text.
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Short stable id such as "q1", used to tie markers to the question.
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPolicy {
    /// Hold audio until the phone is on an unmetered network (Wi-Fi).
    pub audio_on_unmetered_only: bool,
    /// The project's leads work from the listening copy (Opus): a story counts as
    /// delivered once every recording's listening copy is (docs/data-saver.md). The
    /// lossless copy still goes on an unmetered network, and stays on the phone until
    /// it has or the reporter frees it.
    #[serde(default)]
    pub listening_is_enough: bool,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            audio_on_unmetered_only: true,
            listening_is_enough: false,
        }
    }
}

impl ProjectConfig {
    pub fn from_json(text: &str) -> Result<Self> {
        let config: ProjectConfig =
            serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a project config always serialises")
    }

    /// Checks what the rest of the app relies on, so that a bad configuration is refused
    /// when it arrives rather than when a storyteller is waiting.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.id.trim().is_empty() || self.name.trim().is_empty() {
            return fail("a project needs an id and a name".into());
        }
        self.limits
            .validate()
            .map_err(|e| Error::Config(e.to_string()))?;
        if self.consent_forms.is_empty() {
            return fail("a project needs at least one consent form".into());
        }
        let mut seen = BTreeSet::new();
        for form in &self.consent_forms {
            if !seen.insert((&form.id, form.version)) {
                return fail(format!(
                    "consent form {} version {} appears twice",
                    form.id, form.version
                ));
            }
            form.validate().map_err(Error::Config)?;
        }
        let mut question_ids = BTreeSet::new();
        for q in &self.guide {
            if q.id.trim().is_empty() || q.text.trim().is_empty() {
                return fail("every guide question needs an id and a text".into());
            }
            if !question_ids.insert(&q.id) {
                return fail(format!("guide question {} appears twice", q.id));
            }
        }
        let mut fields = BTreeSet::new();
        for field in &self.fields {
            if field.key.trim().is_empty() || field.key != field.key.trim() {
                return fail(format!(
                    "field {:?} is empty or has surrounding spaces",
                    field.key
                ));
            }
            if !fields.insert(&field.key) {
                return fail(format!("field {} appears twice", field.key));
            }
        }
        let mut tags = BTreeSet::new();
        for tag in &self.tags {
            if tag.trim().is_empty() || tag != tag.trim() {
                return fail(format!("tag {tag:?} is empty or has surrounding spaces"));
            }
            if !tags.insert(tag) {
                return fail(format!("tag {tag} appears twice"));
            }
        }
        Ok(())
    }

    /// Whether a story may hold `value` under `key`: the project collects that field and,
    /// when it lists values, this is one of them. The error says what is allowed.
    pub fn check_field(&self, key: &str, value: &str) -> std::result::Result<(), String> {
        let Some(field) = self.fields.iter().find(|f| f.key == key) else {
            let keys: Vec<&str> = self.fields.iter().map(|f| f.key.as_str()).collect();
            return Err(if keys.is_empty() {
                format!("'{key}' is not one of this project's fields (it has none)")
            } else {
                format!(
                    "'{key}' is not one of this project's fields ({})",
                    keys.join(", ")
                )
            });
        };
        if !field.options.is_empty() && !field.options.iter().any(|o| o == value) {
            return Err(format!(
                "'{value}' is not a value of {key} ({})",
                field.options.join(", ")
            ));
        }
        Ok(())
    }

    pub fn form(&self, id: &str, version: u32) -> Option<&ConsentForm> {
        self.consent_forms
            .iter()
            .find(|f| f.id == id && f.version == version)
    }

    /// The newest version of each form id, in the order they first appear: what a
    /// reporter is offered for a new storyteller.
    pub fn current_forms(&self) -> Vec<&ConsentForm> {
        let mut newest: Vec<&ConsentForm> = Vec::new();
        for form in &self.consent_forms {
            match newest.iter_mut().find(|f| f.id == form.id) {
                Some(slot) if slot.version < form.version => *slot = form,
                Some(_) => {}
                None => newest.push(form),
            }
        }
        newest
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.guide.iter().find(|q| q.id == id)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample_project;

    #[test]
    fn the_sample_project_is_valid_and_round_trips() {
        let sample = sample_project();
        sample.validate().unwrap();
        assert_eq!(ProjectConfig::from_json(&sample.to_json()).unwrap(), sample);
    }

    #[test]
    fn a_form_without_a_required_record_item_is_refused() {
        let mut config = sample_project();
        config.consent_forms[0]
            .items
            .retain(|i| i.key != items::RECORD);
        assert!(matches!(config.validate(), Err(Error::Config(m)) if m.contains("record")));
    }

    #[test]
    fn a_label_missing_in_one_language_is_refused() {
        let mut config = sample_project();
        let form = &mut config.consent_forms[0];
        form.intro.insert("xx".into(), "intro".into());
        assert!(config.validate().is_err());
    }

    #[test]
    fn text_hash_changes_with_the_words_shown() {
        let config = sample_project();
        let form = &config.consent_forms[0];
        let mut changed = form.clone();
        changed.items[1]
            .label
            .insert("en".into(), "Something else".into());
        assert_ne!(form.text_sha256("en"), changed.text_sha256("en"));
        assert_eq!(form.text_sha256("zz"), None);
    }

    #[test]
    fn current_forms_picks_the_newest_version() {
        let config = sample_project();
        let current = config.current_forms();
        assert_eq!(current.len(), 1);
        let newest = config.consent_forms.iter().map(|f| f.version).max();
        assert_eq!(Some(current[0].version), newest);
    }
}
