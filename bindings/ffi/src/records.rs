//! Plain records that cross the boundary. Ids are strings, times are milliseconds since
//! the Unix epoch, audio positions are milliseconds from the start of the recording.

use tellus_core::model::{
    ConsentEvent, ConsentForm, ConsentMethod, ConsentState, ConsentStatus, Identity, Note,
    NoteKind, ProjectConfig, Recording, RecordingState, Story, StorySummary, items,
};

#[derive(Debug, Clone, uniffi::Record)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub guide: Vec<QuestionView>,
    pub tags: Vec<String>,
    pub audio_on_unmetered_only: bool,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct QuestionView {
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentFormView {
    pub form_id: String,
    pub version: u32,
    pub language: String,
    pub languages: Vec<String>,
    pub intro: String,
    pub items: Vec<ConsentItemView>,
    /// The exact text whose SHA-256 the consent event records.
    pub text: String,
    pub text_sha256: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentItemView {
    pub key: String,
    pub label: String,
    pub required: bool,
    /// Granted, this item needs the name to credit (show a field for it).
    pub asks_name: bool,
    /// Granted, this item needs contact details (show a field for them).
    pub asks_contact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StoryState {
    Draft,
    Ready,
    /// The storyteller withdrew consent: nothing more is recorded, noted or delivered
    /// until consent is given again.
    Withdrawn,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct StoryView {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub storyteller_label: String,
    pub state: StoryState,
    pub revision: u32,
    pub tags: Vec<String>,
    /// The project's fields this story fills in ("age_band" → "25-34").
    pub demographics: std::collections::HashMap<String, String>,
    pub consent: ConsentView,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct StoryListItem {
    pub id: String,
    pub title: String,
    pub storyteller_label: String,
    pub state: StoryState,
    pub note_count: u32,
    pub recording_count: u32,
    pub created_at_ms: i64,
}

/// A row of the story list: the story and where it stands (`TellusApp::story_page`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct StoryRowView {
    pub story: StoryListItem,
    pub delivery: crate::sync::DeliveryStateView,
}

impl From<tellus_core::sync::StoryRow> for StoryRowView {
    fn from(row: tellus_core::sync::StoryRow) -> Self {
        StoryRowView {
            story: (&row.story).into(),
            delivery: row.delivery.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentStatusView {
    NotRecorded,
    Given,
    Withdrawn,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentView {
    pub status: ConsentStatusView,
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub granted: Vec<String>,
    pub event_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentHow {
    AppCheckbox,
    /// Said aloud on the recording, at this position.
    Verbal {
        at_ms: u64,
    },
    Signed,
    /// The storyteller themself, on the server's portal with their personal code; a
    /// phone only ever receives these (in `ConsentEventView`): giving, amending or
    /// withdrawing consent with it is refused with `TellusError::InvalidInput`.
    Storyteller,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentEventView {
    pub id: String,
    pub kind: String,
    pub form_id: Option<String>,
    pub form_version: Option<u32>,
    pub language: Option<String>,
    pub text_sha256: Option<String>,
    pub granted: Vec<String>,
    pub how: ConsentHow,
    pub captured_by: String,
    pub captured_at_ms: i64,
}

/// The storyteller's receipt, made by the core: a shell only hands `text` or `html` to
/// the platform's share sheet or print.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentReceiptView {
    pub story_id: String,
    /// The language the form was shown in, which the receipt is written in.
    pub language: String,
    /// The personal code as shown, in groups of five.
    pub code: String,
    /// The storyteller's portal with the code (what the QR code holds); None before the
    /// phone is enrolled.
    pub portal_url: Option<String>,
    pub text: String,
    /// A self-contained printable page with the link as an inline SVG QR code.
    pub html: String,
}

impl From<tellus_core::receipt::ConsentReceipt> for ConsentReceiptView {
    fn from(r: tellus_core::receipt::ConsentReceipt) -> Self {
        ConsentReceiptView {
            story_id: r.story_id.to_string(),
            language: r.language,
            code: r.code,
            portal_url: r.portal_url,
            text: r.text,
            html: r.html,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct IdentityView {
    pub name: Option<String>,
    pub contact: Option<String>,
}

/// A recording of a story, as indexed on this device.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordingView {
    pub id: String,
    pub story_id: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
    pub sha256: String,
    /// Rebuilt from a file a crash left behind.
    pub recovered: bool,
    /// Deleted from the phone because the storyteller withdrew and asked for it.
    pub erased: bool,
    pub created_at_ms: i64,
    /// The PCM identity of the recorded audio, once its lossless copy was verified.
    pub pcm_sha256: Option<String>,
    /// Its files on this phone and on the server (filled by `recordings`).
    pub files: Vec<RecordingFileView>,
}

/// One file of a recording (data saver, issue 20).
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordingFileView {
    /// "lossless", "listening", or "recorded" for the WAV as recorded when it is not
    /// itself the lossless copy.
    pub representation: String,
    /// "wav", "flac" or "opus".
    pub format: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file (what its receipt must show).
    pub sha256: String,
    /// Where it is (or was) on this phone: what a player opens while `on_this_phone`.
    pub path: String,
    pub on_this_phone: bool,
    /// The server's receipt for this file matched.
    pub delivered: bool,
}

impl RecordingFileView {
    pub(crate) fn new(f: &tellus_core::audio::FileStatus, dir: &std::path::Path) -> Self {
        RecordingFileView {
            path: dir.join(&f.file_name).to_string_lossy().into_owned(),
            representation: f
                .representation
                .map_or("recorded", |r| r.as_str())
                .to_string(),
            format: f.format.as_str().to_string(),
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            on_this_phone: f.on_device,
            delivered: f.delivered,
        }
    }
}

/// What `prepare_audio` did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PrepareAudioView {
    /// Files made and verified now.
    pub files_made: u32,
    /// WAVs deleted, their verified FLAC recorded in their place.
    pub wavs_removed: u32,
    /// Why a file could not be made (each is tried again on the next call).
    pub failures: Vec<String>,
}

impl From<tellus_core::audio::PrepareReport> for PrepareAudioView {
    fn from(r: tellus_core::audio::PrepareReport) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PrepareAudioView {
            files_made: count(r.made.len()),
            wavs_removed: count(r.wav_removed.len()),
            failures: r
                .failed
                .iter()
                .map(|f| {
                    format!(
                        "recording {} ({}): {}",
                        f.recording_id, f.representation, f.reason
                    )
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NoteKindView {
    Note,
    Marker,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct NoteView {
    pub id: String,
    pub kind: NoteKindView,
    pub text: String,
    pub at_ms: Option<u64>,
    pub question_id: Option<String>,
    pub created_at_ms: i64,
    /// The recording `at_ms` is in (None: no position, or made before the story had one).
    pub recording_id: Option<String>,
}

/// What a story may hold, as the server enforces it (text in characters).
#[derive(Debug, Clone, uniffi::Record)]
pub struct LimitsView {
    pub title_chars: u32,
    pub summary_chars: u32,
    pub label_chars: u32,
    pub note_chars: u32,
    pub notes_per_story: u32,
    pub fields_per_story: u32,
    pub field_chars: u32,
    pub recordings_per_story: u32,
    pub document_bytes: u64,
    pub recording_bytes: u64,
}

/// How full a story is; `document_bytes` is measured as input is checked, and may reach
/// `LimitsView.document_bytes`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct StorySizeView {
    pub document_bytes: u64,
    pub notes: u32,
    pub fields: u32,
    pub recordings: u32,
}

/// An audio file no recording of this data folder indexes.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrphanRecordingView {
    pub recording_id: String,
    /// Interrupted by a crash; repaired when adopted.
    pub unfinished: bool,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
}

impl From<tellus_core::protocol::Limits> for LimitsView {
    fn from(l: tellus_core::protocol::Limits) -> Self {
        LimitsView {
            title_chars: l.title_chars,
            summary_chars: l.summary_chars,
            label_chars: l.label_chars,
            note_chars: l.note_chars,
            notes_per_story: l.notes_per_story,
            fields_per_story: l.fields_per_story,
            field_chars: l.field_chars,
            recordings_per_story: l.recordings_per_story,
            document_bytes: l.document_bytes,
            recording_bytes: l.recording_bytes,
        }
    }
}

impl From<tellus_core::store::StorySize> for StorySizeView {
    fn from(s: tellus_core::store::StorySize) -> Self {
        StorySizeView {
            document_bytes: s.document_bytes,
            notes: s.notes,
            fields: s.fields,
            recordings: s.recordings,
        }
    }
}

impl From<&tellus_core::store::OrphanRecording> for OrphanRecordingView {
    fn from(o: &tellus_core::store::OrphanRecording) -> Self {
        OrphanRecordingView {
            recording_id: o.recording_id.to_string(),
            unfinished: o.unfinished,
            sample_rate: o.sample_rate,
            channels: o.channels,
            frames: o.frames,
            duration_ms: o.duration_ms,
            bytes: o.bytes,
        }
    }
}

impl From<&ProjectConfig> for ProjectView {
    fn from(p: &ProjectConfig) -> Self {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            guide: p
                .guide
                .iter()
                .map(|q| QuestionView {
                    id: q.id.clone(),
                    text: q.text.clone(),
                })
                .collect(),
            tags: p.tags.clone(),
            audio_on_unmetered_only: p.upload_policy.audio_on_unmetered_only,
        }
    }
}

impl ConsentFormView {
    pub fn new(form: &ConsentForm, language: &str) -> Option<Self> {
        Some(ConsentFormView {
            form_id: form.id.clone(),
            version: form.version,
            language: language.to_string(),
            languages: form.languages().map(str::to_string).collect(),
            intro: form.intro.get(language)?.clone(),
            items: form
                .items
                .iter()
                .map(|i| {
                    Some(ConsentItemView {
                        key: i.key.clone(),
                        label: i.label.get(language)?.clone(),
                        required: i.required,
                        asks_name: i.key == items::CREDIT_BY_NAME,
                        asks_contact: i.key == items::RECONTACT,
                    })
                })
                .collect::<Option<_>>()?,
            text: form.rendered_text(language)?,
            text_sha256: form.text_sha256(language)?,
        })
    }
}

impl From<&ConsentState> for ConsentView {
    fn from(s: &ConsentState) -> Self {
        ConsentView {
            status: match s.status {
                ConsentStatus::None => ConsentStatusView::NotRecorded,
                ConsentStatus::Active => ConsentStatusView::Given,
                ConsentStatus::Withdrawn => ConsentStatusView::Withdrawn,
            },
            form_id: s.form_id.clone(),
            form_version: s.form_version,
            language: s.language.clone(),
            granted: s.granted.iter().cloned().collect(),
            event_count: s.events as u32,
        }
    }
}

impl From<&Story> for StoryView {
    fn from(s: &Story) -> Self {
        StoryView {
            id: s.id.to_string(),
            title: s.title.clone(),
            summary: s.summary.clone(),
            storyteller_label: s.participant.label.clone(),
            state: state(s.status),
            revision: s.revision,
            tags: s.tags.clone(),
            demographics: s
                .demographics
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            consent: (&s.consent).into(),
            created_at_ms: s.created_at.as_millis(),
            updated_at_ms: s.updated_at.as_millis(),
        }
    }
}

fn state(status: tellus_core::model::StoryStatus) -> StoryState {
    match status {
        tellus_core::model::StoryStatus::Draft => StoryState::Draft,
        tellus_core::model::StoryStatus::Ready => StoryState::Ready,
        tellus_core::model::StoryStatus::Withdrawn => StoryState::Withdrawn,
    }
}

impl From<&StorySummary> for StoryListItem {
    fn from(s: &StorySummary) -> Self {
        StoryListItem {
            id: s.id.to_string(),
            title: s.title.clone(),
            storyteller_label: s.storyteller_label.clone(),
            state: state(s.status),
            note_count: s.note_count,
            recording_count: s.recording_count,
            created_at_ms: s.created_at.as_millis(),
        }
    }
}

impl From<ConsentHow> for ConsentMethod {
    fn from(how: ConsentHow) -> Self {
        match how {
            ConsentHow::AppCheckbox => ConsentMethod::AppCheckbox,
            ConsentHow::Verbal { at_ms } => ConsentMethod::Verbal { at: at_ms },
            ConsentHow::Signed => ConsentMethod::Signed,
            ConsentHow::Storyteller => ConsentMethod::Storyteller,
        }
    }
}

impl From<&ConsentEvent> for ConsentEventView {
    fn from(e: &ConsentEvent) -> Self {
        ConsentEventView {
            id: e.id.to_string(),
            kind: e.kind.as_str().to_string(),
            form_id: e.form_id.clone(),
            form_version: e.form_version,
            language: e.language.clone(),
            text_sha256: e.text_sha256.clone(),
            granted: e.granted.iter().cloned().collect(),
            how: match e.method {
                ConsentMethod::AppCheckbox => ConsentHow::AppCheckbox,
                ConsentMethod::Verbal { at } => ConsentHow::Verbal { at_ms: at },
                ConsentMethod::Signed => ConsentHow::Signed,
                ConsentMethod::Storyteller => ConsentHow::Storyteller,
            },
            captured_by: e.captured_by.clone(),
            captured_at_ms: e.captured_at.as_millis(),
        }
    }
}

impl From<Identity> for IdentityView {
    fn from(i: Identity) -> Self {
        IdentityView {
            name: i.name,
            contact: i.contact,
        }
    }
}

impl From<&Note> for NoteView {
    fn from(n: &Note) -> Self {
        NoteView {
            id: n.id.to_string(),
            kind: match n.kind {
                NoteKind::Note => NoteKindView::Note,
                NoteKind::Marker => NoteKindView::Marker,
            },
            text: n.text.clone(),
            at_ms: n.at.map(|p| p.as_millis()),
            question_id: n.question_id.clone(),
            created_at_ms: n.created_at.as_millis(),
            recording_id: n.recording_id.map(|r| r.to_string()),
        }
    }
}

impl From<&Recording> for RecordingView {
    fn from(r: &Recording) -> Self {
        RecordingView {
            id: r.id.to_string(),
            story_id: r.story_id.to_string(),
            sample_rate: r.sample_rate,
            channels: r.channels,
            frames: r.frames,
            duration_ms: r.duration_ms(),
            bytes: r.bytes,
            sha256: r.sha256.clone(),
            recovered: r.state == RecordingState::Recovered,
            erased: r.state == RecordingState::Erased,
            created_at_ms: r.created_at.as_millis(),
            pcm_sha256: r.pcm_sha256.clone(),
            files: Vec::new(),
        }
    }
}
