//! `pull`: the stories of the lead's project from the server into a folder,
//! incrementally through the changes feed (DESIGN.md §4), safe to stop at any point.
//!
//! Each page of the feed is applied whole (withdrawals, then story documents, then audio)
//! and only then are the manifest and, after it, the cursor written. A run killed
//! anywhere leaves the cursor before the page it was in; the next run applies that page
//! again, which is harmless: documents are rewritten, audio already in place is hashed
//! and kept, partial audio resumes with a Range, a withdrawal is logged once.

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tellus_protocol::{AudioFormat, ChangeKind, ChangesPage, Representation};

use crate::client::{LeadClient, StoryFetch, server_identity};
use crate::download::{self, Outcome, Wanted};
use crate::fsutil::{Durability, empty_dir, now_rfc3339, sync_page, write_atomic};
use crate::layout::{self, Layout, checked_id};
use crate::manifest::Manifest;
use crate::state::{PullState, load_state, open_folder, save_state};
use crate::story_files::{pretty, write_story};
use crate::withdrawals::WithdrawalLog;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// `https://host[:port]` of the project server.
    pub server: String,
    /// A lead's token (from enrolling with a lead's invite).
    pub token: String,
    /// The folder to pull into; created when missing.
    pub out: PathBuf,
    /// Recordings downloaded at once.
    pub concurrency: usize,
    /// Changes asked for per page of the feed (the server allows up to 500).
    pub page_size: u32,
    /// The server's key as the lead's invite pinned it (a self-signed server); None:
    /// the web PKI (tellus_net::Trust, the same decision as the phone's).
    pub pin: Option<tellus_net::CertificatePin>,
    /// Also fetch each recording's listening copy (Ogg Opus, `<id>.opus`) beside its
    /// lossless copy.
    pub listening: bool,
}

impl PullOptions {
    pub fn new(
        server: impl Into<String>,
        token: impl Into<String>,
        out: impl Into<PathBuf>,
    ) -> Self {
        PullOptions {
            server: server.into(),
            token: token.into(),
            out: out.into(),
            concurrency: 4,
            page_size: 200,
            pin: None,
            listening: false,
        }
    }
}

/// What a pull hears as it goes, for progress bars. Called from the pull's tasks; keep
/// it quick.
pub trait PullProgress: Send + Sync {
    /// A page of the feed is about to be applied: this many story documents and
    /// recordings (of this many bytes) are to come.
    fn planned(&self, _stories: usize, _recordings: usize, _bytes: u64) {}
    fn story_done(&self) {}
    /// Bytes of audio arrived (or were found already held).
    fn audio_bytes(&self, _bytes: u64) {}
    fn recording_done(&self) {}
    fn withdrawn(&self, _story_id: &str, _files_removed: usize) {}
}

/// For callers that want no progress.
pub struct NoProgress;
impl PullProgress for NoProgress {}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    /// Changes read from the feed.
    pub changes: usize,
    /// Story documents written (with their notes and consent).
    pub stories_written: usize,
    /// Copies of recordings fetched (a lossless and a listening copy count apart).
    pub recordings_downloaded: usize,
    /// Recordings found whole in the folder already (from a run that was stopped).
    pub recordings_already_present: usize,
    /// Audio bytes that came over the network in this run.
    pub bytes_downloaded: u64,
    /// Audio bytes an interrupted run had already fetched, resumed with a Range.
    pub bytes_resumed: u64,
    pub withdrawals: usize,
    /// Transcripts written as `<recording id>.vtt` beside the audio.
    pub transcripts_written: usize,
    /// Files removed because their story was withdrawn.
    pub files_removed: usize,
    /// Recordings in the feed that the server no longer holds (withdrawn since).
    pub recordings_gone: Vec<String>,
    /// Stories in the feed the server no longer shows (withdrawn since, or no
    /// document yet).
    pub stories_unavailable: Vec<String>,
    /// Recordings of the stories written whose lossless copy has not reached the server
    /// yet (the phone sends it later, on an unmetered network): not an error; a later
    /// pull fetches it.
    pub recordings_waiting: Vec<String>,
    /// Listening copies the feed announced that this pull left on the server (ask with
    /// `listening`).
    pub listening_not_fetched: usize,
    /// Files the manifest now lists.
    pub files: usize,
    /// Where the next pull starts.
    pub cursor: String,
}

/// Pulls everything new since the last pull into `options.out`.
pub async fn pull(options: &PullOptions, progress: &dyn PullProgress) -> Result<PullReport> {
    let server = server_identity(&options.server)?;
    let client = LeadClient::new(&options.server, &options.token, options.pin)?;
    let layout = Layout::new(&options.out);
    let _lock = open_folder(&layout)?;
    let mut state = load_state(&layout)?;
    if let Some(state) = &state {
        if state.server != server {
            return Err(Error::Folder(format!(
                "{} was pulled from {}, not {server}; pull into another folder",
                layout.root().display(),
                state.server
            )));
        }
    }
    empty_dir(&layout.tmp_dir())?;
    let mut manifest = Manifest::load(&layout)?;
    let mut log = WithdrawalLog::load(&layout)?;
    let (project_id, project_changed) = pull_project(&client, &layout, &mut manifest).await?;
    if let Some(known) = state.as_ref().and_then(|s| s.project_id.as_ref()) {
        if project_id.as_ref().is_some_and(|id| id != known) {
            return Err(Error::Folder(format!(
                "{} holds project {known}; this token belongs to another project",
                layout.root().display()
            )));
        }
    }
    if project_changed || !layout.root().join(layout::MANIFEST).exists() {
        sync_page(&layout)?;
        manifest.save(&layout)?;
    }
    let mut report = PullReport::default();
    let mut cursor = state.as_ref().map(|s| s.cursor.clone()).unwrap_or_default();
    // Listening copies asked for the first time: the ones announced before were passed
    // over, so read the feed again from its start (what is held is hashed and kept).
    let catch_up = options.listening && state.as_ref().is_some_and(|s| !s.listening);
    if catch_up {
        cursor = String::new();
    }
    loop {
        let page = client.changes(&cursor, options.page_size).await?;
        report.changes += page.changes.len();
        if !page.changes.is_empty() {
            apply_page(
                &client,
                &layout,
                &mut manifest,
                &mut log,
                &page,
                options,
                progress,
                &mut report,
            )
            .await?;
            // The page's files on disk, then the manifest, then the cursor: the cursor
            // may only pass what is durable and in the manifest. (A page with nothing in
            // it writes nothing: `syncfs` would flush other programs' writes too.)
            sync_page(&layout)?;
            manifest.save(&layout)?;
        }
        if state.is_none() || page.next_cursor != cursor || catch_up {
            cursor = page.next_cursor.clone();
            let next = PullState {
                server: server.clone(),
                project_id: project_id.clone(),
                cursor: cursor.clone(),
                pulled_at: now_rfc3339(),
                // Once caught up, a pull without `listening` keeps the flag: the copies
                // it then passes over are counted in its report.
                listening: options.listening || state.as_ref().is_some_and(|s| s.listening),
            };
            save_state(&layout, &next)?;
            state = Some(next);
        }
        if !page.more {
            break;
        }
    }
    // Partial files of recordings that no longer come (their story was withdrawn
    // before the run that started them resumed) and temporary files of killed runs.
    empty_dir(&layout.partial_dir())?;
    empty_dir(&layout.tmp_dir())?;
    report.files = manifest.files.len();
    report.cursor = state.map(|s| s.cursor).unwrap_or_default();
    Ok(report)
}

/// What one story needs from one page of the feed.
#[derive(Default)]
struct StoryPlan {
    /// (cursor, when): the withdrawal to apply first.
    withdrawal: Option<(String, String)>,
    fetch_document: bool,
    recordings: Vec<Wanted>,
    /// Recordings whose transcript changed (issue 22).
    transcripts: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn apply_page(
    client: &LeadClient,
    layout: &Layout,
    manifest: &mut Manifest,
    log: &mut WithdrawalLog,
    page: &ChangesPage,
    options: &PullOptions,
    progress: &dyn PullProgress,
    report: &mut PullReport,
) -> Result<()> {
    let (order, mut plans) = plan(page, options.listening, report)?;
    let documents = order.iter().filter(|id| plans[*id].fetch_document).count();
    let wanted: Vec<Wanted> = order
        .iter()
        .flat_map(|id| plans[id].recordings.clone())
        .collect();
    progress.planned(
        documents,
        wanted.len(),
        wanted.iter().map(|w| w.bytes).sum(),
    );

    for story_id in &order {
        if let Some((cursor, at)) = plans.get_mut(story_id).and_then(|p| p.withdrawal.take()) {
            let record = log.apply(layout, manifest, story_id, &at, &cursor)?;
            report.withdrawals += 1;
            report.files_removed += record.removed.len();
            progress.withdrawn(story_id, record.removed.len());
        }
    }

    let concurrency = options.concurrency.max(1);
    let to_fetch: Vec<&String> = order
        .iter()
        .filter(|id| plans[*id].fetch_document)
        .collect();
    let mut fetched = stream::iter(to_fetch)
        .map(|id| async move { (id, client.story(id).await) })
        .buffered(concurrency);
    while let Some((story_id, fetch)) = fetched.next().await {
        match fetch? {
            StoryFetch::Found(doc) => {
                for recording in doc.recordings.iter().filter(|r| !r.delivered) {
                    if !report.recordings_waiting.contains(&recording.id) {
                        report.recordings_waiting.push(recording.id.clone());
                    }
                }
                write_story(layout, manifest, story_id, *doc)?;
                report.stories_written += 1;
            }
            StoryFetch::Withdrawn | StoryFetch::Missing => {
                report.stories_unavailable.push(story_id.clone())
            }
        }
        progress.story_done();
    }
    drop(fetched);

    let on_bytes = |n: u64| progress.audio_bytes(n);
    let mut downloads = stream::iter(&wanted)
        .map(|w| {
            let on_bytes = &on_bytes;
            async move { (w, download::fetch(client, layout, w, on_bytes).await) }
        })
        .buffer_unordered(concurrency);
    while let Some((wanted, outcome)) = downloads.next().await {
        match outcome? {
            Outcome::Downloaded { fetched, resumed } => {
                report.recordings_downloaded += 1;
                report.bytes_downloaded += fetched;
                report.bytes_resumed += resumed;
                record_audio(manifest, wanted);
            }
            Outcome::AlreadyPresent => {
                report.recordings_already_present += 1;
                record_audio(manifest, wanted);
            }
            Outcome::Gone => report.recordings_gone.push(wanted.recording_id.clone()),
        }
        progress.recording_done();
    }
    drop(downloads);
    for story_id in &order {
        for recording_id in &plans[story_id].transcripts {
            if crate::transcripts::pull_one(client, layout, manifest, story_id, recording_id)
                .await?
            {
                report.transcripts_written += 1;
            }
        }
    }
    Ok(())
}

fn record_audio(manifest: &mut Manifest, wanted: &Wanted) {
    manifest.insert_audio(
        wanted.rel_path(),
        crate::manifest::FileEntry {
            sha256: wanted.sha256.clone(),
            bytes: wanted.bytes,
        },
        crate::manifest::AudioEntry {
            recording_id: wanted.recording_id.clone(),
            representation: wanted.representation,
            format: wanted.format.as_str().to_string(),
            pcm_sha256: wanted.pcm_sha256.clone(),
        },
    );
}

/// The page's changes folded per story, in the order stories first appear. A
/// withdrawal makes what came before it in the page moot; what comes after it (a story
/// given consent again) still applies, after the withdrawal.
fn plan(
    page: &ChangesPage,
    listening: bool,
    report: &mut PullReport,
) -> Result<(Vec<String>, HashMap<String, StoryPlan>)> {
    let mut order = Vec::new();
    let mut plans: HashMap<String, StoryPlan> = HashMap::new();
    for change in &page.changes {
        let story_id = checked_id(&change.story_id, "story")?;
        let plan = plans.entry(story_id.clone()).or_insert_with(|| {
            order.push(story_id.clone());
            StoryPlan::default()
        });
        match change.kind {
            ChangeKind::Withdrawal => {
                plan.withdrawal = Some((change.cursor.clone(), change.at.clone()));
                plan.fetch_document = false;
                plan.recordings.clear();
                plan.transcripts.clear();
            }
            ChangeKind::Story => plan.fetch_document = true,
            ChangeKind::Recording => {
                let missing = |what: &str| {
                    Error::Protocol(format!(
                        "a recording change (cursor {}) has no {what}",
                        change.cursor
                    ))
                };
                let recording_id = checked_id(
                    change
                        .recording_id
                        .as_deref()
                        .ok_or_else(|| missing("recording id"))?,
                    "recording",
                )?;
                let sha256 = change.sha256.clone().ok_or_else(|| missing("sha256"))?;
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::Protocol(format!(
                        "recording {recording_id} has a malformed sha256"
                    )));
                }
                let bytes = change.bytes.ok_or_else(|| missing("size"))?;
                // Absent from servers before issue 20: their one file is the WAV.
                let representation = change.representation.unwrap_or_default();
                if representation == Representation::Listening && !listening {
                    report.listening_not_fetched += 1;
                    continue;
                }
                let format = match change.format.as_deref() {
                    None => match representation {
                        Representation::Lossless => AudioFormat::Wav,
                        Representation::Listening => AudioFormat::OggOpus,
                    },
                    Some(text) => AudioFormat::parse(text)
                        .filter(|f| representation.allows(*f))
                        .ok_or_else(|| {
                            Error::Protocol(format!(
                                "recording {recording_id}'s {representation} copy has the format {text:?}"
                            ))
                        })?,
                };
                let pcm_sha256 = match &change.pcm_sha256 {
                    Some(pcm) if pcm.len() != 64 || !pcm.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        return Err(Error::Protocol(format!(
                            "recording {recording_id} has a malformed pcm_sha256"
                        )));
                    }
                    other => other.as_ref().map(|p| p.to_ascii_lowercase()),
                };
                plan.recordings.retain(|w| {
                    w.recording_id != recording_id || w.representation != representation
                });
                plan.recordings.push(Wanted {
                    story_id: story_id.clone(),
                    recording_id,
                    representation,
                    format,
                    sha256: sha256.to_ascii_lowercase(),
                    bytes,
                    pcm_sha256,
                });
            }
            ChangeKind::Transcript => {
                if let Some(id) = change.recording_id.as_deref() {
                    let id = checked_id(id, "recording")?;
                    if !plan.transcripts.contains(&id) {
                        plan.transcripts.push(id);
                    }
                }
            }
            // A kind from a newer server is skipped, so that an older lead keeps pulling
            // what it understands.
            ChangeKind::Unknown => {}
        }
    }
    Ok((order, plans))
}

/// `project.json`, rewritten when the server's copy changed; returns the project id and
/// whether it was rewritten.
async fn pull_project(
    client: &LeadClient,
    layout: &Layout,
    manifest: &mut Manifest,
) -> Result<(Option<String>, bool)> {
    let bytes = client.project().await?;
    let config: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Protocol(format!("the project configuration is not JSON: {e}")))?;
    let id = config
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let pretty = pretty(&config)?;
    let unchanged = manifest.files.get(layout::PROJECT).is_some_and(|known| {
        known.sha256 == crate::fsutil::sha256_hex(&pretty) && layout.path(layout::PROJECT).exists()
    });
    if !unchanged {
        let entry = write_atomic(layout, layout::PROJECT, &pretty, Durability::WithPage)?;
        manifest.insert(layout::PROJECT.to_string(), entry);
    }
    Ok((id, !unchanged))
}
