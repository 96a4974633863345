//! The consent engine (issue 15): consent events, their fold into what a storyteller
//! agrees to now, and whether a new event may follow. The one copy of these rules: the
//! phone's core folds and checks its own events through `ConsentFacts` (core's
//! `ConsentState` is this fold plus when it began), and the server its received ones
//! (DESIGN.md §2: shells → bindings → core → protocol ← server). The forms' questions
//! (is it complete, in which language) are in `consent_form.rs`.
//!
//! The fold: a `given` event sets the form and the granted items, `amended` replaces the
//! items, a `withdrawn` event clears them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    Given,
    Amended,
    Withdrawn,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::Given => "given",
            ConsentKind::Amended => "amended",
            ConsentKind::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "given" => Some(ConsentKind::Given),
            "amended" => Some(ConsentKind::Amended),
            "withdrawn" => Some(ConsentKind::Withdrawn),
            _ => None,
        }
    }
}

/// How the storyteller expressed their choice (mirrors the core's `ConsentMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConsentMethod {
    AppCheckbox,
    /// Said aloud on the recording, at this position in milliseconds.
    Verbal {
        at: u64,
    },
    Signed,
    /// The storyteller themself, with their personal code on the server's portal.
    Storyteller,
}

/// What the engine reads of a consent event, whichever layer holds it (the wire's
/// `ConsentEventDoc`, the core's `ConsentEvent`, a draft not recorded yet).
pub trait ConsentFacts {
    fn kind(&self) -> ConsentKind;
    fn form_id(&self) -> Option<&str>;
    fn form_version(&self) -> Option<u32>;
    fn language(&self) -> Option<&str>;
    fn granted(&self) -> &BTreeSet<String>;
}

/// Implements [`ConsentFacts`] for a type with the event's fields (`kind`, `form_id`,
/// `form_version`, `language`, `granted`), as every layer's event type has them.
#[macro_export]
macro_rules! impl_consent_facts {
    ($type:ty) => {
        impl $crate::ConsentFacts for $type {
            fn kind(&self) -> $crate::ConsentKind {
                self.kind
            }
            fn form_id(&self) -> Option<&str> {
                self.form_id.as_deref()
            }
            fn form_version(&self) -> Option<u32> {
                self.form_version
            }
            fn language(&self) -> Option<&str> {
                self.language.as_deref()
            }
            fn granted(&self) -> &::std::collections::BTreeSet<String> {
                &self.granted
            }
        }
    };
}
impl_consent_facts!(ConsentEventDoc);

/// One consent event (mirrors the core's `ConsentEvent`; the JSON is the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEventDoc {
    pub id: String,
    pub story_id: String,
    pub participant_id: String,
    pub kind: ConsentKind,
    #[serde(default)]
    pub form_id: Option<String>,
    #[serde(default)]
    pub form_version: Option<u32>,
    #[serde(default)]
    pub language: Option<String>,
    /// SHA-256 of the exact text shown.
    #[serde(default)]
    pub text_sha256: Option<String>,
    #[serde(default)]
    pub granted: BTreeSet<String>,
    pub method: ConsentMethod,
    pub captured_by: String,
    /// RFC 3339.
    pub captured_at: String,
    #[serde(default)]
    pub erase_audio: bool,
    /// [`crate::storyteller_code::code_hash`] of the storyteller's personal code, sent
    /// with a `given` or `amended` event made on the phone; the code itself never leaves
    /// the phone except on the storyteller's receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
}

/// The refusal of a `given` or `amended` event without `record`: a missing consent
/// rather than a malformed event.
pub const RECORD_REQUIRED: &str = "'record' is required to give consent; without it the storyteller has not consented (record a withdrawal instead)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// No consent recorded yet.
    None,
    Active,
    Withdrawn,
}

/// What a storyteller agrees to now: the fold of their events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentSummary {
    pub status: ConsentStatus,
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub granted: BTreeSet<String>,
    pub events: usize,
}

impl Default for ConsentSummary {
    fn default() -> Self {
        ConsentSummary {
            status: ConsentStatus::None,
            form_id: None,
            form_version: None,
            language: None,
            granted: BTreeSet::new(),
            events: 0,
        }
    }
}

impl ConsentSummary {
    pub fn fold<'a, E: ConsentFacts + 'a>(events: impl IntoIterator<Item = &'a E>) -> Self {
        events
            .into_iter()
            .fold(ConsentSummary::default(), |state, e| state.apply(e))
    }

    /// The state after one more event (one that `refuses` let through).
    pub fn apply<E: ConsentFacts + ?Sized>(mut self, event: &E) -> Self {
        self.events += 1;
        match event.kind() {
            ConsentKind::Given => {
                self.status = ConsentStatus::Active;
                self.form_id = event.form_id().map(str::to_string);
                self.form_version = event.form_version();
                self.language = event.language().map(str::to_string);
                self.granted = event.granted().clone();
            }
            ConsentKind::Amended => self.granted = event.granted().clone(),
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

    /// Why a real name (`name`) or contact details (`contact`) cannot be kept under
    /// this consent, if they cannot.
    pub fn refuses_identity(&self, name: bool, contact: bool) -> Option<String> {
        use crate::items::{CREDIT_BY_NAME, RECONTACT};
        if name && !self.grants(CREDIT_BY_NAME) {
            return Some(format!(
                "a real name can only be kept when the storyteller granted '{CREDIT_BY_NAME}'"
            ));
        }
        if contact && !self.grants(RECONTACT) {
            return Some(format!(
                "contact details can only be kept when the storyteller granted '{RECONTACT}'"
            ));
        }
        None
    }

    /// Why a change the storyteller makes themself (method `storyteller`, on the portal,
    /// issue 21) cannot follow this state, if it cannot, on top of [`Self::refuses`]:
    /// they may narrow what they granted or withdraw, never give consent or widen it
    /// (that takes the form read to them in person). Narrowing keeps `record`, which
    /// `refuses` already demands; removing it is a withdrawal.
    pub fn refuses_storyteller_change<E: ConsentFacts + ?Sized>(
        &self,
        event: &E,
    ) -> Option<&'static str> {
        match event.kind() {
            ConsentKind::Given => Some(
                "a storyteller's own change cannot give consent; consent is given with the reporter, on the form read to them",
            ),
            ConsentKind::Amended if !event.granted().is_subset(&self.granted) => Some(
                "a storyteller's own change may only take away what they granted, never add to it",
            ),
            ConsentKind::Amended | ConsentKind::Withdrawn => None,
        }
    }

    /// Why `event` cannot follow this state, if it cannot. The same on the phone (before
    /// an event is stored) and on the server (before one is accepted).
    pub fn refuses<E: ConsentFacts + ?Sized>(&self, event: &E) -> Option<&'static str> {
        let granted = event.granted();
        match event.kind() {
            ConsentKind::Given if event.form_id().is_none() || event.form_version().is_none() => {
                Some("say which consent form and which version of it was shown")
            }
            ConsentKind::Given if event.language().is_none() => {
                Some("say in which language the form was shown")
            }
            ConsentKind::Given
                if self.status == ConsentStatus::Active
                    && self.form_id.as_deref() == event.form_id()
                    && self.form_version == event.form_version() =>
            {
                Some("consent on this form version is already given; amend it instead")
            }
            ConsentKind::Given | ConsentKind::Amended
                if !granted.contains(crate::items::RECORD) =>
            {
                Some(RECORD_REQUIRED)
            }
            ConsentKind::Given => None,
            ConsentKind::Amended if self.status != ConsentStatus::Active => {
                Some("there is no active consent to amend; give consent first")
            }
            ConsentKind::Amended => None,
            ConsentKind::Withdrawn if self.status == ConsentStatus::None => {
                Some("there is no consent to withdraw")
            }
            ConsentKind::Withdrawn if self.status == ConsentStatus::Withdrawn => {
                Some("consent is already withdrawn")
            }
            ConsentKind::Withdrawn if !granted.is_empty() => Some("a withdrawal grants nothing"),
            ConsentKind::Withdrawn => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: ConsentKind, granted: &[&str]) -> ConsentEventDoc {
        ConsentEventDoc {
            id: "e".into(),
            story_id: "s".into(),
            participant_id: "p".into(),
            kind,
            form_id: Some("f".into()),
            form_version: Some(1),
            language: Some("en".into()),
            text_sha256: None,
            granted: granted.iter().map(|s| s.to_string()).collect(),
            method: ConsentMethod::AppCheckbox,
            captured_by: "r".into(),
            captured_at: "2026-01-01T00:00:00Z".into(),
            erase_audio: false,
            code_hash: None,
        }
    }

    #[test]
    fn a_storyteller_may_only_narrow_or_withdraw() {
        let state = ConsentSummary::fold(&[event(
            ConsentKind::Given,
            &["record", "share_publicly", "research_use"],
        )]);
        let narrower = event(ConsentKind::Amended, &["record", "research_use"]);
        assert_eq!(state.refuses_storyteller_change(&narrower), None);
        assert_eq!(state.refuses(&narrower), None);
        let wider = event(ConsentKind::Amended, &["record", "recontact"]);
        assert!(state.refuses_storyteller_change(&wider).is_some());
        let given = event(ConsentKind::Given, &["record"]);
        assert!(state.refuses_storyteller_change(&given).is_some());
        let withdrawn = event(ConsentKind::Withdrawn, &[]);
        assert_eq!(state.refuses_storyteller_change(&withdrawn), None);
        // Dropping `record` is not narrowing: the engine's own rule refuses it.
        let no_record = event(ConsentKind::Amended, &["research_use"]);
        assert_eq!(state.refuses_storyteller_change(&no_record), None);
        assert!(state.refuses(&no_record).is_some());
    }

    #[test]
    fn fold_follows_give_amend_withdraw() {
        let events = [
            event(ConsentKind::Given, &["record", "share_publicly"]),
            event(ConsentKind::Amended, &["record"]),
            event(ConsentKind::Withdrawn, &[]),
        ];
        let s1 = ConsentSummary::fold(&events[..1]);
        assert!(s1.grants("share_publicly"));
        let s2 = ConsentSummary::fold(&events[..2]);
        assert!(s2.grants("record") && !s2.grants("share_publicly"));
        let s3 = ConsentSummary::fold(&events);
        assert_eq!(s3.status, ConsentStatus::Withdrawn);
        assert!(!s3.grants("record"));
        assert_eq!(s3.events, 3);
    }

    #[test]
    fn the_json_matches_the_cores_event_shape() {
        let json = r#"{"id":"e","story_id":"s","participant_id":"p","kind":"given",
            "form_id":"f","form_version":2,"language":"es","text_sha256":"ab",
            "granted":["record"],"method":{"kind":"verbal","at":1500},
            "captured_by":"r","captured_at":"2026-01-01T00:00:00Z","erase_audio":false}"#;
        let e: ConsentEventDoc = serde_json::from_str(json).unwrap();
        assert_eq!(e.method, ConsentMethod::Verbal { at: 1500 });
        assert!(ConsentSummary::default().refuses(&e).is_none());
    }
}
