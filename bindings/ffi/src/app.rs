//! The app handle a shell opens once on its data folder.

use std::sync::Arc;

use tellus_core::Store;
use tellus_core::model::{
    ConsentDraft, ConsentKind, NewNote, NewStory, NoteKind, ProjectConfig, StoryEdit, StoryId,
    items,
};
use tellus_core::sync::{self, HttpTransport, SyncEngine, Transport};

use crate::error::{Result, TellusError};
use crate::observers::SubscriptionHandle;
use crate::recorder::{RecorderSession, RecordingRequest};
use crate::records::*;
use crate::secrets::{PlatformSecretStore, ShellSecrets};
use crate::sync::*;
use crate::transport::{PlatformTransport, ShellTransport};

#[derive(uniffi::Object)]
pub struct TellusApp {
    store: Arc<Store>,
    transport: Arc<dyn Transport>,
    sync: SyncEngine,
}

impl TellusApp {
    /// The shell's transport when it has one (its chunk files beside the database), else
    /// the built-in HTTP transport (tellus-net).
    fn open_store(
        store: Store,
        transport: Option<Arc<dyn PlatformTransport>>,
    ) -> Result<Arc<Self>> {
        tracing::info!(
            core = tellus_core::VERSION,
            platform_transport = transport.is_some(),
            damaged_database_moved_aside = store.open_report().damaged_database_moved_to.is_some(),
            recovered_recordings = store.open_report().recovered_recordings.len(),
            "opened"
        );
        let transport: Arc<dyn Transport> = match transport {
            Some(shell) => {
                let chunks = store.dir().join("outgoing-chunks");
                Arc::new(ShellTransport::new(shell, chunks))
            }
            None => Arc::new(HttpTransport::new().map_err(|e| TellusError::Network {
                reason: e.to_string(),
            })?),
        };
        Ok(Self::with_transport(store, transport))
    }

    fn with_transport(store: Store, transport: Arc<dyn Transport>) -> Arc<Self> {
        let store = Arc::new(store);
        Arc::new(TellusApp {
            sync: SyncEngine::new(store.clone(), transport.clone()),
            store,
            transport,
        })
    }
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

/// A shell always knows its app's own folder as an absolute path; anything else would put
/// the database wherever the process happens to run.
fn data_dir(path: &str) -> Result<&str> {
    if !std::path::Path::new(path).is_absolute() {
        return Err(TellusError::InvalidInput {
            reason: "the data folder must be an absolute path (the app's own files folder)".into(),
        });
    }
    Ok(path)
}

impl ConsentChoices {
    /// The draft of these choices. A name or contact typed for an item the storyteller
    /// then left unticked is not sent: the screen may keep what was typed, the core
    /// keeps it only with the item granted.
    fn draft(self, kind: ConsentKind) -> ConsentDraft {
        let granted: std::collections::BTreeSet<String> = self.granted.into_iter().collect();
        let name = self
            .name
            .filter(|_| granted.contains(items::CREDIT_BY_NAME));
        let contact = self.contact.filter(|_| granted.contains(items::RECONTACT));
        ConsentDraft {
            kind,
            form_id: None,
            form_version: None,
            language: None,
            granted,
            method: self.how.into(),
            captured_by: self.captured_by,
            name,
            contact,
            erase_audio: false,
        }
    }
}

/// The draft of consent given on `form` with `choices`.
fn given_on(form: &ConsentFormView, choices: ConsentChoices) -> ConsentDraft {
    let mut draft = choices.draft(ConsentKind::Given);
    draft.form_id = Some(form.form_id.clone());
    draft.form_version = Some(form.version);
    draft.language = Some(form.language.clone());
    draft
}

#[uniffi::export]
impl TellusApp {
    /// Opens (or creates) the app's data in `data_dir`. A damaged database is moved
    /// aside and reported by `damaged_database_moved_to`.
    #[uniffi::constructor]
    pub fn open(data_dir: String) -> Result<Arc<Self>> {
        Self::open_store(Store::open(self::data_dir(&data_dir)?)?, None)
    }

    /// Like `open`, but every request to the server goes through the shell's own
    /// transport (iOS: a background URLSession uploading chunk files).
    #[uniffi::constructor]
    pub fn open_with_transport(
        data_dir: String,
        transport: Arc<dyn PlatformTransport>,
    ) -> Result<Arc<Self>> {
        Self::open_store(Store::open(self::data_dir(&data_dir)?)?, Some(transport))
    }

    /// How a phone opens the app: the device token is kept in the platform's secret store
    /// (Android Keystore, iOS Keychain), never in the app's SQLite; a token an earlier
    /// version kept there moves to it now (or at the first sync that can). Requests go
    /// through `transport` when given (iOS), else the built-in one. Opening never fails
    /// because the secret store is locked: recording works regardless, and sync reports
    /// `SecretStoreUnavailable` until it can be used.
    #[uniffi::constructor]
    pub fn open_with_platform(
        data_dir: String,
        secrets: Arc<dyn PlatformSecretStore>,
        transport: Option<Arc<dyn PlatformTransport>>,
    ) -> Result<Arc<Self>> {
        let store =
            Store::open_with_secrets(self::data_dir(&data_dir)?, Arc::new(ShellSecrets(secrets)))?;
        Self::open_store(store, transport)
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

    /// The consent form to show a new storyteller: the newest version, in the first of
    /// `preferred_languages` (the device's, most wanted first) that it has; else English;
    /// else its first language (the consent engine's one rule, as in the CLI).
    pub fn consent_form(&self, preferred_languages: Vec<String>) -> Result<ConsentFormView> {
        let project = self.store.project()?;
        let form =
            project
                .current_forms()
                .into_iter()
                .next()
                .ok_or_else(|| TellusError::NotEnrolled {
                    reason: "the project has no consent form".into(),
                })?;
        let chosen = form.choose_language(&preferred_languages).to_string();
        ConsentFormView::new(form, &chosen).ok_or_else(|| TellusError::InvalidInput {
            reason: format!("the consent form has no text in language '{chosen}'"),
        })
    }

    pub fn create_story(&self, title: String, storyteller_label: String) -> Result<StoryView> {
        let story = self.store.create_story(&NewStory {
            title,
            summary: String::new(),
            storyteller_label,
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

    /// The story list in one call: up to `limit` stories (1 to 500), newest first (older
    /// than `before` when given), each with its delivery state on the network the shell
    /// last told. Read in one transaction; call this for the list instead of
    /// `delivery_state` per row.
    pub fn story_page(&self, limit: u32, before: Option<String>) -> Result<Vec<StoryRowView>> {
        let before = before.as_deref().map(story_id).transpose()?;
        Ok(self
            .sync
            .story_page(limit, before)?
            .into_iter()
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

    /// Sets one of the project's fields (`ProjectConfig.fields`; `value` None removes it).
    pub fn set_demographic(
        &self,
        id: String,
        name: String,
        value: Option<String>,
    ) -> Result<StoryView> {
        let edit = StoryEdit {
            demographics: [(name, value)].into_iter().collect(),
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

    /// Whether the consent screen may go on with these answers: None when `give_consent`
    /// would record them, else the sentence saying what is missing (`record` or another
    /// required item, a name to credit, ...). The shells hold no consent rule of their
    /// own: they ask this on every change of the form.
    pub fn check_consent_form(
        &self,
        story: String,
        form: ConsentFormView,
        choices: ConsentChoices,
    ) -> Result<Option<String>> {
        let id = story_id(&story)?;
        match self.store.check_consent(id, &given_on(&form, choices)) {
            Ok(()) => Ok(None),
            Err(
                e @ (tellus_core::Error::InvalidInput(_) | tellus_core::Error::ConsentRequired(_)),
            ) => Ok(Some(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Records consent given on `form` (as returned by `consent_form`).
    pub fn give_consent(
        &self,
        story: String,
        form: ConsentFormView,
        choices: ConsentChoices,
    ) -> Result<ConsentView> {
        let id = story_id(&story)?;
        self.store.record_consent(id, &given_on(&form, choices))?;
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

    /// The storyteller's receipt of their consent as it stands (made when consent is
    /// given, and again after every amendment): to share or print. Refused once consent
    /// is withdrawn or the phone no longer keeps their code.
    pub fn receipt(&self, story: String) -> Result<ConsentReceiptView> {
        Ok(self.store.consent_receipt(story_id(&story)?)?.into())
    }

    pub fn identity(&self, story: String) -> Result<IdentityView> {
        Ok(self.store.identity(story_id(&story)?)?.into())
    }

    /// A note, at a position in the audio when given: in the story's latest recording
    /// (positions past its end are refused).
    pub fn add_note(&self, story: String, text: String, at_ms: Option<u64>) -> Result<NoteView> {
        let note = NewNote {
            kind: NoteKind::Note,
            text,
            at: at_ms.map(tellus_core::AudioPosition::from_millis),
            question_id: None,
            recording_id: None,
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

    /// Replaces a note's or marker's text.
    pub fn edit_note(&self, note: String, text: String) -> Result<NoteView> {
        Ok((&self.store.edit_note(note.parse()?, &text)?).into())
    }

    /// Deletes a note or marker.
    pub fn delete_note(&self, note: String) -> Result<()> {
        Ok(self.store.delete_note(note.parse()?)?)
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

    /// Enrols this device with a project server using an invite code (text or from a QR
    /// code), keeps its token and installs the project's configuration.
    pub async fn enrol(
        &self,
        server_url: String,
        invite_code: String,
        device_label: String,
    ) -> Result<ProjectView> {
        let (store, transport) = (self.store.clone(), self.transport.clone());
        on_runtime(async move {
            sync::enrol(&store, transport, &server_url, &invite_code, &device_label).await?;
            Ok((&store.project()?).into())
        })
        .await
    }

    /// The enrolled account (never its token), or None before enrolment.
    pub fn account(&self) -> Result<Option<AccountView>> {
        Ok(self.store.sync_account()?.map(|a| AccountView {
            needs_enrolment: self.store.needs_enrolment(&a),
            server_url: a.server_url,
            reporter_id: a.reporter_id,
            project_id: a.project_id,
        }))
    }

    /// Delivers what is waiting, as the network and settings allow. A call while a sync is
    /// running joins it (single flight). Fails with Network when the server cannot be
    /// reached, NotEnrolled when the device must enrol (again), SecretStoreUnavailable when
    /// the platform secret store cannot be used now (retry later), Cancelled after
    /// `cancel_sync`; items that fail on their own are retried later or parked, and
    /// reported in the result.
    pub async fn sync_now(&self) -> Result<SyncReportView> {
        let engine = self.sync.clone();
        on_runtime(async move { Ok(engine.sync().await?.into()) }).await
    }

    /// Stops the sync in flight at its next safe point; returns whether one was running.
    pub fn cancel_sync(&self) -> bool {
        self.sync.cancel()
    }

    pub fn is_syncing(&self) -> bool {
        self.sync.is_running()
    }

    /// The shell tells the core what network the phone has (on every change).
    pub fn set_network(&self, network: NetworkKind) {
        self.sync.set_network(network.into());
    }

    pub fn sync_settings(&self) -> Result<SyncSettingsView> {
        Ok(self.store.sync_settings()?.into())
    }

    pub fn set_sync_settings(&self, settings: SyncSettingsView) -> Result<()> {
        Ok(self.store.set_sync_settings(&settings.into())?)
    }

    /// Where the story stands: only on this phone, uploading n %, delivered, needs
    /// attention (with the reason), or withdrawn.
    pub fn delivery_state(&self, story: String) -> Result<DeliveryStateView> {
        Ok(self.sync.delivery_state(story_id(&story)?)?.into())
    }

    /// When to sync next and why (also in every `SyncReportView`): after a sync that
    /// failed as a whole (an exception from `sync_now`), the backoff the core decided;
    /// otherwise from what is queued now. WorkManager and BGTaskScheduler schedule this.
    pub fn next_attempt(&self) -> Result<NextAttemptView> {
        Ok(self.sync.next_attempt()?.into())
    }

    /// The receipts of every recording the server has confirmed.
    pub fn receipts(&self) -> Result<Vec<ReceiptView>> {
        Ok(self.store.receipts()?.iter().map(Into::into).collect())
    }

    /// Puts parked items back in line (after the reporter fixed the cause); returns how
    /// many.
    pub fn retry_parked(&self) -> Result<u32> {
        Ok(u32::try_from(self.store.retry_parked()?).unwrap_or(u32::MAX))
    }

    /// Calls `observer` with the progress of every sync, until the handle is cancelled or
    /// freed.
    pub fn observe_sync(&self, observer: Arc<dyn SyncObserver>) -> Arc<SubscriptionHandle> {
        let subscription = self.sync.subscribe_progress(crate::observers::guarded(
            move |p: tellus_core::sync::SyncProgress| observer.sync_progress(p.into()),
        ));
        Arc::new(SubscriptionHandle::new(subscription))
    }

    /// The story's recordings, oldest first, each with its files (the WAV as recorded,
    /// the lossless and listening copies: format, size, on this phone, delivered).
    pub fn recordings(&self, story: String) -> Result<Vec<RecordingView>> {
        let story = story_id(&story)?;
        let files = tellus_core::audio::story_files(&self.store, story)?;
        let dir = self.store.recordings_dir();
        Ok(self
            .store
            .recordings(story)?
            .iter()
            .map(|r| {
                let mut view = RecordingView::from(r);
                view.files = files
                    .iter()
                    .filter(|f| f.recording_id == r.id)
                    .map(|f| RecordingFileView::new(f, &dir))
                    .collect();
                view
            })
            .collect())
    }

    /// Makes the files recordings still lack: a FLAC verified against the WAV, and the
    /// listening copy (data saver). Blocking and CPU-heavy (about a minute for an hour
    /// of audio): call it from background work, never the main thread. A shell calls it
    /// after a recording stops; the sync does it too before sending audio.
    pub fn prepare_audio(&self) -> Result<PrepareAudioView> {
        Ok(tellus_core::audio::prepare_audio(&self.store)?.into())
    }

    /// Deletes a story's lossless copies from this phone without delivering them: only
    /// when the project says the listening copy is enough and every recording's
    /// listening copy is delivered (otherwise `InvalidInput`, nothing changed). Returns
    /// the bytes freed.
    pub fn free_lossless(&self, story: String) -> Result<u64> {
        Ok(tellus_core::audio::free_lossless(&self.store, story_id(&story)?)?.bytes_freed)
    }

    /// The limits in force (the server's, sent with the project configuration): what a
    /// story may hold. Input beyond them is refused with `InvalidInput` as it is typed.
    pub fn limits(&self) -> Result<LimitsView> {
        Ok(self.store.limits()?.into())
    }

    /// How full a story is, by the measure its input is checked with (for "room left").
    pub fn story_size(&self, story: String) -> Result<StorySizeView> {
        Ok(self.store.story_size(story_id(&story)?)?.into())
    }

    /// Audio files this data folder holds that no recording indexes, e.g. those of a
    /// database that was damaged and moved aside: offer them to the reporter.
    pub fn orphan_recordings(&self) -> Result<Vec<OrphanRecordingView>> {
        Ok(self
            .store
            .orphan_recordings()?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Recovers an orphan recording into `story` (verified, indexed as recovered).
    pub fn adopt_recording(&self, recording_id: String, story: String) -> Result<RecordingView> {
        let id = recording_id.parse()?;
        Ok((&self.store.adopt_recording(id, story_id(&story)?)?).into())
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

/// A position or duration as a clock shows it, in whole seconds ("0:07", "12:34",
/// "1:02:03"): the one format every shell prints.
#[uniffi::export]
pub fn format_audio_position(ms: u64) -> String {
    tellus_core::AudioPosition::from_millis(ms).clock()
}

/// The built-in sample project configuration (JSON), for demos and tests.
#[uniffi::export]
pub fn sample_project_json() -> String {
    tellus_core::model::sample_project().to_json()
}
