//! The app handle a shell opens once on its data folder.

use std::sync::Arc;

use tellus_core::Store;
use tellus_core::model::{
    ConsentDraft, ConsentKind, NewNote, NewStory, NoteKind, ProjectConfig, StoryEdit, StoryId,
};

use crate::error::{Result, TellusError};
use crate::recorder::{RecorderSession, RecordingRequest};
use crate::records::*;

#[derive(uniffi::Object)]
pub struct TellusApp {
    store: Arc<Store>,
}

/// What the reporter chose on the consent screen.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentChoices {
    pub granted: Vec<String>,
    pub how: ConsentHow,
    /// The reporter who captured it.
    pub captured_by: String,
    /// Kept only with `credit_by_name` granted.
    pub name: Option<String>,
    /// Kept only with `recontact` granted.
    pub contact: Option<String>,
}

fn story_id(id: &str) -> Result<StoryId> {
    Ok(id.parse()?)
}

impl ConsentChoices {
    fn draft(self, kind: ConsentKind) -> ConsentDraft {
        ConsentDraft {
            kind,
            form_id: None,
            form_version: None,
            language: None,
            granted: self.granted.into_iter().collect(),
            method: self.how.into(),
            captured_by: self.captured_by,
            name: self.name,
            contact: self.contact,
            erase_audio: false,
        }
    }
}

#[uniffi::export]
impl TellusApp {
    /// Opens (or creates) the app's data in `data_dir`. A damaged database is moved
    /// aside and reported by `damaged_database_moved_to`.
    #[uniffi::constructor]
    pub fn open(data_dir: String) -> Result<Arc<Self>> {
        Ok(Arc::new(TellusApp {
            store: Arc::new(Store::open(data_dir)?),
        }))
    }

    /// Where a damaged database was moved when this handle was opened, if it was.
    pub fn damaged_database_moved_to(&self) -> Option<String> {
        self.store
            .open_report()
            .damaged_database_moved_to
            .as_ref()
            .map(|p| p.display().to_string())
    }

    /// Installs a project configuration (JSON), e.g. the one enrolment returns.
    pub fn set_project_json(&self, json: String) -> Result<ProjectView> {
        let config = ProjectConfig::from_json(&json)?;
        self.store.set_project(&config)?;
        Ok((&config).into())
    }

    pub fn project(&self) -> Result<ProjectView> {
        Ok((&self.store.project()?).into())
    }

    /// The consent form to show a new storyteller: the newest version, in `language`
    /// (the form's first language when it has not that one).
    pub fn consent_form(&self, language: String) -> Result<ConsentFormView> {
        let project = self.store.project()?;
        let form =
            project
                .current_forms()
                .into_iter()
                .next()
                .ok_or_else(|| TellusError::NotEnrolled {
                    reason: "the project has no consent form".into(),
                })?;
        let chosen = if form.intro.contains_key(&language) {
            language
        } else {
            form.languages().next().unwrap_or_default().to_string()
        };
        ConsentFormView::new(form, &chosen).ok_or_else(|| TellusError::InvalidInput {
            reason: format!("the consent form has no text in language '{chosen}'"),
        })
    }

    pub fn create_story(&self, title: String, storyteller_label: String) -> Result<StoryView> {
        let story = self.store.create_story(&NewStory {
            title,
            summary: String::new(),
            participant_label: storyteller_label,
        })?;
        Ok((&story).into())
    }

    pub fn story(&self, id: String) -> Result<StoryView> {
        Ok((&self.store.story(story_id(&id)?)?).into())
    }

    /// Up to `limit` stories, newest first, older than `before` when given.
    pub fn list_stories(&self, limit: u32, before: Option<String>) -> Result<Vec<StoryListItem>> {
        let before = before.as_deref().map(story_id).transpose()?;
        Ok(self
            .store
            .list_stories(limit, before)?
            .iter()
            .map(Into::into)
            .collect())
    }

    pub fn edit_story(
        &self,
        id: String,
        title: Option<String>,
        summary: Option<String>,
    ) -> Result<StoryView> {
        let edit = StoryEdit {
            title,
            summary,
            ..Default::default()
        };
        Ok((&self.store.edit_story(story_id(&id)?, &edit)?).into())
    }

    pub fn add_tags(&self, id: String, tags: Vec<String>) -> Result<StoryView> {
        Ok((&self.store.add_tags(story_id(&id)?, &tags)?).into())
    }

    /// Marks the story finished; refused (ConsentMissing) without `record` consent.
    pub fn mark_ready(&self, id: String) -> Result<StoryView> {
        Ok((&self.store.mark_ready(story_id(&id)?)?).into())
    }

    /// Records consent given on `form` (as returned by `consent_form`).
    pub fn give_consent(
        &self,
        story: String,
        form: ConsentFormView,
        choices: ConsentChoices,
    ) -> Result<ConsentView> {
        let id = story_id(&story)?;
        let mut draft = choices.draft(ConsentKind::Given);
        draft.form_id = Some(form.form_id);
        draft.form_version = Some(form.version);
        draft.language = Some(form.language);
        self.store.record_consent(id, &draft)?;
        Ok((&self.store.consent(id)?).into())
    }

    pub fn amend_consent(&self, story: String, choices: ConsentChoices) -> Result<ConsentView> {
        let id = story_id(&story)?;
        self.store
            .record_consent(id, &choices.draft(ConsentKind::Amended))?;
        Ok((&self.store.consent(id)?).into())
    }

    /// Records the storyteller's withdrawal; `erase_audio` when they asked for the audio
    /// on this device to be deleted too.
    pub fn withdraw_consent(
        &self,
        story: String,
        how: ConsentHow,
        captured_by: String,
        erase_audio: bool,
    ) -> Result<ConsentView> {
        let id = story_id(&story)?;
        let mut draft = ConsentDraft::withdraw(erase_audio);
        draft.method = how.into();
        draft.captured_by = captured_by;
        self.store.record_consent(id, &draft)?;
        Ok((&self.store.consent(id)?).into())
    }

    pub fn consent_history(&self, story: String) -> Result<Vec<ConsentEventView>> {
        Ok(self
            .store
            .consent_events(story_id(&story)?)?
            .iter()
            .map(Into::into)
            .collect())
    }

    pub fn identity(&self, story: String) -> Result<IdentityView> {
        Ok(self.store.identity(story_id(&story)?)?.into())
    }

    /// A note, at a position in the audio when given.
    pub fn add_note(&self, story: String, text: String, at_ms: Option<u64>) -> Result<NoteView> {
        let note = NewNote {
            kind: NoteKind::Note,
            text,
            at: at_ms.map(tellus_core::AudioPosition::from_millis),
            question_id: None,
        };
        Ok((&self.store.add_note(story_id(&story)?, &note)?).into())
    }

    /// A marker at a position, optionally for a guide question (which then names it).
    pub fn add_marker(
        &self,
        story: String,
        label: String,
        at_ms: u64,
        question_id: Option<String>,
    ) -> Result<NoteView> {
        let note = NewNote::marker(
            label,
            tellus_core::AudioPosition::from_millis(at_ms),
            question_id.as_deref(),
        );
        Ok((&self.store.add_note(story_id(&story)?, &note)?).into())
    }

    /// Calls `observer` whenever a story changes, until the returned handle is cancelled
    /// or freed.
    pub fn observe_stories(
        &self,
        observer: Arc<dyn crate::observers::StoryObserver>,
    ) -> Arc<crate::observers::SubscriptionHandle> {
        Arc::new(crate::observers::observe_stories(&self.store, observer))
    }

    /// Starts recording the story from a microphone. Keep the session for as long as the
    /// recording runs (e.g. in the foreground service) and call `stop` on it.
    pub fn start_recording(
        &self,
        story: String,
        request: RecordingRequest,
    ) -> Result<Arc<RecorderSession>> {
        Ok(Arc::new(crate::recorder::start(
            &self.store,
            story_id(&story)?,
            request,
        )?))
    }

    /// The story's recordings, oldest first.
    pub fn recordings(&self, story: String) -> Result<Vec<RecordingView>> {
        Ok(self
            .store
            .recordings(story_id(&story)?)?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// The recordings a crash interrupted that were repaired when this handle was opened.
    pub fn recovered_recordings(&self) -> Vec<String> {
        self.store
            .open_report()
            .recovered_recordings
            .iter()
            .map(|r| r.recording_id.to_string())
            .collect()
    }

    pub fn notes(&self, story: String) -> Result<Vec<NoteView>> {
        Ok(self
            .store
            .notes(story_id(&story)?)?
            .iter()
            .map(Into::into)
            .collect())
    }
}

/// Parses an audio position as people type it ("12:34", "1:02:03") into milliseconds.
#[uniffi::export]
pub fn parse_audio_position(text: String) -> Result<u64> {
    Ok(text.parse::<tellus_core::AudioPosition>()?.as_millis())
}

/// The built-in sample project configuration (JSON), for demos and tests.
#[uniffi::export]
pub fn sample_project_json() -> String {
    tellus_core::model::sample_project().to_json()
}
