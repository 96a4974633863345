//! The storyteller's receipt (issue 21): made by the core when consent is given and
//! after every amendment, from the store (never from what a shell says), so every shell
//! only shares or prints it. It holds the project's name and contact, the date, what the
//! storyteller agreed to in the exact words of the form in the language it was shown in
//! with each choice, their personal code in groups, and a QR code of the portal link.

mod qr;
mod render;
mod words;

use serde::{Deserialize, Serialize};
use tellus_protocol::storyteller_code::{display_code, portal_url};

pub use qr::svg as qr_svg;
pub use render::escape as escape_html;

use crate::Store;
use crate::error::{Error, Result};
use crate::model::{ConsentKind, ConsentStatus, StoryId};

/// A receipt, ready to share or print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentReceipt {
    pub story_id: StoryId,
    /// The language the form was shown in, which the receipt is written in.
    pub language: String,
    /// The personal code as shown, in groups ("7K2QD-M4XPB-…").
    pub code: String,
    /// The storyteller's portal with the code, which the QR code holds; None until the
    /// phone is enrolled with a server (then the receipt says to ask the project).
    pub portal_url: Option<String>,
    pub text: String,
    /// A self-contained printable page (inline CSS, the QR code as inline SVG).
    pub html: String,
}

impl Store {
    /// The receipt of the storyteller's consent as it stands now. Refused once consent
    /// was withdrawn, and once the phone no longer keeps the code
    /// (`CODE_KEPT_AFTER_DELIVERY_DAYS` after the server holds the consent).
    pub fn consent_receipt(&self, story_id: StoryId) -> Result<ConsentReceipt> {
        let project = self.project()?;
        let story = self.story(story_id)?;
        let events = self.consent_events(story_id)?;
        let state = &story.consent;
        if state.status != ConsentStatus::Active {
            return Err(Error::ConsentRequired(
                "there is no consent in force for this story, so there is no receipt to give"
                    .into(),
            ));
        }
        let code = self.storyteller_code(story_id)?.ok_or_else(|| {
            Error::invalid(format!(
                "this phone holds no personal code for this storyteller: it is erased {} days after the server holds their consent (the storyteller keeps it on their receipt), and consent recorded before receipts existed gets one at its next amendment",
                crate::store::CODE_KEPT_AFTER_DELIVERY_DAYS
            ))
        })?;
        let (Some(form_id), Some(version), Some(language)) = (
            state.form_id.as_deref(),
            state.form_version,
            state.language.as_deref(),
        ) else {
            return Err(Error::invalid("the consent in force names no form"));
        };
        let form = project.form(form_id, version).ok_or_else(|| {
            Error::invalid(format!(
                "this project no longer has consent form {form_id} version {version}"
            ))
        })?;
        let given = events
            .iter()
            .rev()
            .find(|e| e.kind == ConsentKind::Given)
            .ok_or_else(|| Error::invalid("the consent in force was never given"))?;
        let last = events.last().unwrap_or(given);
        let identity = self.identity(story_id)?;
        let portal = self
            .sync_account()?
            .map(|account| portal_url(&account.server_url, &code));
        let code_display = display_code(&code);
        let facts = render::Facts {
            words: words::words(language),
            project_name: &project.name,
            contact: project.contact.as_deref().filter(|c| !c.trim().is_empty()),
            reporter: &given.captured_by,
            given_on: given.captured_at,
            changed_on: (last.id != given.id).then_some(last.captured_at),
            story_title: &story.title,
            name: identity.name.as_deref(),
            form,
            language,
            choices: form
                .items
                .iter()
                .map(|item| {
                    (
                        item.label_in(language),
                        item.required,
                        state.grants(&item.key),
                    )
                })
                .collect(),
            code_display: &code_display,
            portal_url: portal.as_deref(),
        };
        Ok(ConsentReceipt {
            story_id,
            language: language.to_string(),
            text: facts.text(),
            html: facts.html()?,
            code: code_display,
            portal_url: portal,
        })
    }
}

#[cfg(test)]
mod tests;
