//! Consent is a log of events (given, amended, withdrawn) that is only ever appended to;
//! what a storyteller currently agrees to is the fold of their events.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ConsentEventId, ParticipantId, ProjectConfig, StoryId, Timestamp, items};
use crate::error::{Error, Result};
use crate::position::AudioPosition;

/// The kinds of event and the statuses are the protocol's own: the server folds the same
/// events into the same statuses.
pub use tellus_protocol::{ConsentKind, ConsentStatus};

/// How the storyteller expressed their choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConsentMethod {
    /// Ticked in the app, on the reporter's phone.
    AppCheckbox,
    /// Said aloud on the recording, at this position.
    Verbal { at: AudioPosition },
    /// Signed on paper.
    Signed,
}

/// One consent event, as stored and as sent to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub id: ConsentEventId,
    pub story_id: StoryId,
    pub participant_id: ParticipantId,
    pub kind: ConsentKind,
    /// The form shown; absent on a withdrawal.
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    /// SHA-256 of the exact text shown (see `ConsentForm::rendered_text`).
    pub text_sha256: Option<String>,
    /// The item keys the storyteller agreed to; empty on a withdrawal.
    pub granted: BTreeSet<String>,
    pub method: ConsentMethod,
    /// The reporter who captured it.
    pub captured_by: String,
    pub captured_at: Timestamp,
    /// On a withdrawal: the storyteller asked for the audio on the phone to be deleted too.
    pub erase_audio: bool,
}

/// What the reporter enters to record a consent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentDraft {
    pub kind: ConsentKind,
    /// For `Given`: the form and version shown. `Amended` keeps the current form.
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub granted: BTreeSet<String>,
    pub method: ConsentMethod,
    pub captured_by: String,
    /// The storyteller's real name: kept only with `credit_by_name` granted.
    pub name: Option<String>,
    /// Contact details: kept only with `recontact` granted.
    pub contact: Option<String>,
    pub erase_audio: bool,
}

impl ConsentDraft {
    fn of_kind(kind: ConsentKind, granted: &[&str]) -> Self {
        ConsentDraft {
            kind,
            form_id: None,
            form_version: None,
            language: None,
            granted: granted.iter().map(|k| k.to_string()).collect(),
            method: ConsentMethod::AppCheckbox,
            captured_by: String::new(),
            name: None,
            contact: None,
            erase_audio: false,
        }
    }

    /// A draft for giving consent on a form version, in `language`, ticked in the app.
    pub fn give(form_id: &str, version: u32, language: &str, granted: &[&str]) -> Self {
        ConsentDraft {
            form_id: Some(form_id.into()),
            form_version: Some(version),
            language: Some(language.into()),
            ..ConsentDraft::of_kind(ConsentKind::Given, granted)
        }
    }

    /// A draft that changes the granted items of the current form.
    pub fn amend(granted: &[&str]) -> Self {
        ConsentDraft::of_kind(ConsentKind::Amended, granted)
    }

    /// A draft withdrawing consent; `erase_audio` when the storyteller asked for the audio
    /// on the device to be deleted too.
    pub fn withdraw(erase_audio: bool) -> Self {
        ConsentDraft {
            erase_audio,
            ..ConsentDraft::of_kind(ConsentKind::Withdrawn, &[])
        }
    }
}

/// The fold of a storyteller's consent events: what they agree to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub status: ConsentStatus,
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub granted: BTreeSet<String>,
    /// When the current status began.
    pub since: Option<Timestamp>,
    pub events: usize,
}

impl Default for ConsentState {
    fn default() -> Self {
        ConsentState {
            status: ConsentStatus::None,
            form_id: None,
            form_version: None,
            language: None,
            granted: BTreeSet::new(),
            since: None,
            events: 0,
        }
    }
}

/// A storyteller's real name and contact details, kept apart from the story and only
/// while the matching consent item is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: Option<String>,
    pub contact: Option<String>,
}

impl ConsentState {
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a ConsentEvent>) -> Self {
        events
            .into_iter()
            .fold(ConsentState::default(), |state, event| state.apply(event))
    }

    /// The state after one more event. Events were validated before they were stored, so
    /// folding never fails.
    pub fn apply(mut self, event: &ConsentEvent) -> Self {
        self.events += 1;
        self.since = Some(event.captured_at);
        match event.kind {
            ConsentKind::Given => {
                self.status = ConsentStatus::Active;
                self.form_id = event.form_id.clone();
                self.form_version = event.form_version;
                self.language = event.language.clone();
                self.granted = event.granted.clone();
            }
            ConsentKind::Amended => {
                self.granted = event.granted.clone();
            }
            ConsentKind::Withdrawn => {
                self.status = ConsentStatus::Withdrawn;
                self.granted.clear();
            }
        }
        self
    }

    /// Whether `item` is granted now (never after a withdrawal).
    pub fn grants(&self, item: &str) -> bool {
        self.status == ConsentStatus::Active && self.granted.contains(item)
    }

    /// Checks that `draft` may follow this state under `project`, and returns the event
    /// fields it resolves to: (form id, version, language, text SHA-256).
    pub fn check_draft(&self, project: &ProjectConfig, draft: &ConsentDraft) -> Result<Resolved> {
        match draft.kind {
            ConsentKind::Given => {
                let form_id = draft.form_id.as_deref().ok_or_else(|| {
                    Error::invalid("say which consent form was shown to give consent")
                })?;
                let version = draft
                    .form_version
                    .ok_or_else(|| Error::invalid("say which version of the form was shown"))?;
                let form = project.form(form_id, version).ok_or_else(|| {
                    Error::invalid(format!(
                        "this project has no consent form {form_id} version {version}"
                    ))
                })?;
                if self.status == ConsentStatus::Active
                    && self.form_id.as_deref() == Some(form_id)
                    && self.form_version == Some(version)
                {
                    return Err(Error::invalid(
                        "consent on this form version is already given; amend it instead",
                    ));
                }
                let language = draft
                    .language
                    .clone()
                    .ok_or_else(|| Error::invalid("say in which language the form was shown"))?;
                let text_sha256 = form.text_sha256(&language).ok_or_else(|| {
                    Error::invalid(format!(
                        "consent form {form_id} version {version} has no text in language '{language}' (it has: {})",
                        form.languages().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                check_items(project, form_id, version, &draft.granted)?;
                Ok(Resolved {
                    form_id: Some(form_id.to_string()),
                    form_version: Some(version),
                    language: Some(language),
                    text_sha256: Some(text_sha256),
                })
            }
            ConsentKind::Amended => {
                if self.status != ConsentStatus::Active {
                    return Err(Error::invalid(
                        "there is no active consent to amend; give consent first",
                    ));
                }
                let (form_id, version) = match (&self.form_id, self.form_version) {
                    (Some(id), Some(v)) => (id.as_str(), v),
                    _ => return Err(Error::invalid("the current consent names no form")),
                };
                check_items(project, form_id, version, &draft.granted)?;
                let language = self.language.clone();
                let text_sha256 = project
                    .form(form_id, version)
                    .and_then(|f| f.text_sha256(language.as_deref().unwrap_or_default()));
                Ok(Resolved {
                    form_id: Some(form_id.to_string()),
                    form_version: Some(version),
                    language,
                    text_sha256,
                })
            }
            ConsentKind::Withdrawn => {
                match self.status {
                    ConsentStatus::Active => {}
                    ConsentStatus::Withdrawn => {
                        return Err(Error::invalid("consent is already withdrawn"));
                    }
                    ConsentStatus::None => {
                        return Err(Error::invalid("there is no consent to withdraw"));
                    }
                }
                if !draft.granted.is_empty() {
                    return Err(Error::invalid("a withdrawal grants nothing"));
                }
                Ok(Resolved::default())
            }
        }
    }

    /// Checks that the identity offered with a draft may be kept once `self` (the state
    /// after the draft) is in force.
    pub fn check_identity(&self, name: Option<&str>, contact: Option<&str>) -> Result<()> {
        if name.is_some_and(|n| !n.trim().is_empty()) && !self.grants(items::CREDIT_BY_NAME) {
            return Err(Error::ConsentRequired(format!(
                "a name can only be kept when '{}' is granted",
                items::CREDIT_BY_NAME
            )));
        }
        if contact.is_some_and(|c| !c.trim().is_empty()) && !self.grants(items::RECONTACT) {
            return Err(Error::ConsentRequired(format!(
                "contact details can only be kept when '{}' is granted",
                items::RECONTACT
            )));
        }
        Ok(())
    }
}

/// Event fields that the core fills in from the project, not from the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub text_sha256: Option<String>,
}

fn check_items(
    project: &ProjectConfig,
    form_id: &str,
    version: u32,
    granted: &BTreeSet<String>,
) -> Result<()> {
    let form = project.form(form_id, version).ok_or_else(|| {
        Error::invalid(format!(
            "this project has no consent form {form_id} version {version}"
        ))
    })?;
    if let Some(unknown) = granted.iter().find(|k| form.item(k).is_none()) {
        let known: Vec<&str> = form.items.iter().map(|i| i.key.as_str()).collect();
        return Err(Error::invalid(format!(
            "'{unknown}' is not an item of this consent form (items: {})",
            known.join(", ")
        )));
    }
    if let Some(missing) = form
        .items
        .iter()
        .find(|i| i.required && !granted.contains(&i.key))
    {
        return Err(Error::ConsentRequired(format!(
            "'{}' is required by this consent form; without it the storyteller has not consented (record a withdrawal instead)",
            missing.key
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample_project;

    fn event(kind: ConsentKind, version: Option<u32>, granted: &[&str]) -> ConsentEvent {
        ConsentEvent {
            id: ConsentEventId::new(),
            story_id: StoryId::new(),
            participant_id: ParticipantId::new(),
            kind,
            form_id: version.map(|_| "storyteller-consent".to_string()),
            form_version: version,
            language: version.map(|_| "en".to_string()),
            text_sha256: None,
            granted: granted.iter().map(|s| s.to_string()).collect(),
            method: ConsentMethod::AppCheckbox,
            captured_by: "reporter".into(),
            captured_at: Timestamp::now(),
            erase_audio: false,
        }
    }

    #[test]
    fn fold_follows_give_amend_withdraw_give() {
        let events = [
            event(ConsentKind::Given, Some(1), &["record", "share_publicly"]),
            event(ConsentKind::Amended, None, &["record"]),
            event(ConsentKind::Withdrawn, None, &[]),
            event(ConsentKind::Given, Some(2), &["record", "research_use"]),
        ];
        let states: Vec<ConsentState> = (1..=events.len())
            .map(|n| ConsentState::fold(&events[..n]))
            .collect();
        assert!(states[0].grants("share_publicly"));
        assert!(states[1].grants("record") && !states[1].grants("share_publicly"));
        assert_eq!(states[1].form_version, Some(1));
        assert_eq!(states[2].status, ConsentStatus::Withdrawn);
        assert!(!states[2].grants("record"));
        assert_eq!(states[3].status, ConsentStatus::Active);
        assert_eq!(states[3].form_version, Some(2));
        assert!(states[3].grants("research_use") && !states[3].grants("share_publicly"));
        assert_eq!(states[3].events, 4);
    }

    #[test]
    fn drafts_are_checked_against_the_project() {
        let project = sample_project();
        let none = ConsentState::default();
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 9, "en", &["record"]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "en", &["research_use"]),
            )
            .unwrap_err();
        assert!(matches!(err, Error::ConsentRequired(_)), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "en", &["record", "fly"]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("'fly'"), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "es", &["record"]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("language"), "{err}");
        assert!(
            none.check_draft(&project, &ConsentDraft::amend(&["record"]))
                .is_err()
        );
        assert!(
            none.check_draft(&project, &ConsentDraft::withdraw(false))
                .is_err()
        );
        let ok = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 2, "es", &["record"]),
            )
            .unwrap();
        assert_eq!(
            ok.text_sha256,
            project
                .form("storyteller-consent", 2)
                .unwrap()
                .text_sha256("es")
        );
    }
}
