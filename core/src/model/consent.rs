//! Consent is a log of events (given, amended, withdrawn) that is only ever appended to;
//! what a storyteller currently agrees to is the fold of their events. The fold and the
//! rules of what may follow are the consent engine's (tellus-protocol, shared with the
//! server); this module adds what only the phone knows: the project's forms a draft is
//! checked against, and when the current consent began.

use std::collections::BTreeSet;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use tellus_protocol::{ConsentProblem, ConsentSummary, FormProblem, FormShown};

use super::{ConsentEventId, ParticipantId, ProjectConfig, StoryId, Timestamp};
use crate::error::{Error, Result};

/// The kinds of event, the statuses and the methods are the engine's own: the server
/// folds the same events into the same statuses.
pub use tellus_protocol::{ConsentKind, ConsentMethod, ConsentStatus};

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
    /// On a `given` or `amended` event made on this phone: the salted hash of the
    /// storyteller's personal code (`tellus_protocol::storyteller_code::code_hash`), which
    /// the server keeps so the storyteller can use the code on its portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
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

tellus_protocol::impl_consent_facts!(ConsentEvent);
tellus_protocol::impl_consent_facts!(ConsentDraft);

/// The fold of a storyteller's consent events: what they agree to now (the engine's
/// `ConsentSummary`, read through `Deref`), and since when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    #[serde(flatten)]
    pub current: ConsentSummary,
    /// When the current status began.
    pub since: Option<Timestamp>,
}

impl Deref for ConsentState {
    type Target = ConsentSummary;
    fn deref(&self) -> &ConsentSummary {
        &self.current
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
    pub fn apply(self, event: &ConsentEvent) -> Self {
        ConsentState {
            current: self.current.apply(event),
            since: Some(event.captured_at),
        }
    }

    /// Checks that `draft` may follow this state under `project` (the engine's rules of
    /// what may follow, then the form's: its items, its language, and a name to credit
    /// when `credit_by_name` is granted, `name_known` when one is typed or kept), and
    /// returns the event fields it resolves to.
    pub fn check_draft(
        &self,
        project: &ProjectConfig,
        draft: &ConsentDraft,
        name_known: bool,
    ) -> Result<Resolved> {
        if draft.method == ConsentMethod::Storyteller {
            // Only the storyteller on the server's portal makes these; the server refuses
            // one from a phone, so a `given` kept here could never be delivered and the
            // story's consent would be stuck. A phone only reads them back.
            return Err(Error::invalid(
                "method 'storyteller' is the storyteller's own change on the portal; a phone cannot record it",
            ));
        }
        let shown = self
            .current
            .check_event(&project.consent_forms, draft, Some(name_known))
            .map_err(|problem| match &problem {
                ConsentProblem::Sequence(why) if *why == tellus_protocol::RECORD_REQUIRED => {
                    Error::ConsentRequired(problem.to_string())
                }
                ConsentProblem::Form(
                    FormProblem::RequiredMissing { .. } | FormProblem::NameMissing,
                ) => Error::ConsentRequired(problem.to_string()),
                _ => Error::invalid(problem.to_string()),
            })?;
        let Some(FormShown { form, language }) = shown else {
            return Ok(Resolved::default());
        };
        Ok(Resolved {
            form_id: Some(form.id.clone()),
            form_version: Some(form.version),
            text_sha256: form.text_sha256(&language),
            language: Some(language),
        })
    }

    /// Checks that the identity offered with a draft may be kept once `self` (the state
    /// after the draft) is in force.
    pub fn check_identity(&self, name: Option<&str>, contact: Option<&str>) -> Result<()> {
        let given = |t: Option<&str>| t.is_some_and(|t| !t.trim().is_empty());
        match self.current.refuses_identity(given(name), given(contact)) {
            Some(why) => Err(Error::ConsentRequired(why)),
            None => Ok(()),
        }
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
            code_hash: None,
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
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "en", &["research_use"]),
                false,
            )
            .unwrap_err();
        assert!(matches!(err, Error::ConsentRequired(_)), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "en", &["record", "fly"]),
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("'fly'"), "{err}");
        let err = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 1, "es", &["record"]),
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("language"), "{err}");
        assert!(
            none.check_draft(&project, &ConsentDraft::amend(&["record"]), false)
                .is_err()
        );
        assert!(
            none.check_draft(&project, &ConsentDraft::withdraw(false), false)
                .is_err()
        );
        let ok = none
            .check_draft(
                &project,
                &ConsentDraft::give("storyteller-consent", 2, "es", &["record"]),
                false,
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
