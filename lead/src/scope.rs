//! What an export may say about a story, decided in one place. Which stories: the
//! protocol's `ExportScope` (the same rule the server's CSV export uses). Which personal
//! details: a storyteller's name only with `credit_by_name`; contact details never,
//! unless the lead asks for them and `recontact` was granted.

pub use tellus_protocol::ExportScope;

use crate::folder::PulledStory;

/// The personal details an export may carry for one story.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disclosure {
    pub name: Option<String>,
    pub contact: Option<String>,
}

/// Whether `story` belongs in an export of `scope`.
pub fn admits(scope: ExportScope, story: &PulledStory) -> bool {
    scope.admits(&story.consent)
}

/// The storyteller's name and contact as far as their consent (and the lead's choice
/// about contacts) allows.
pub fn disclose(story: &PulledStory, include_contacts: bool) -> Disclosure {
    let identity = story
        .identity
        .clone()
        .unwrap_or_default()
        .allowed_by(&story.consent);
    Disclosure {
        name: identity.name,
        contact: identity.contact.filter(|_| include_contacts),
    }
}
