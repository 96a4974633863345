//! `tellus demo`: a reporter's journey on the embedded defaults, printed as it goes.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tellus_core::Store;
use tellus_core::audio::{CpalSource, Recorder, RecorderOptions};
use tellus_core::model::{
    ConsentDraft, ConsentMethod, NewNote, NewStory, StoryEdit, StoryId, items, sample_project,
};
use tellus_core::sync::{self, HttpTransport, Network, SyncEngine};

use crate::{CmdResult, Context, fail, project, story};

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's data folder instead of deleting it at the end
    #[arg(long)]
    keep: bool,
}

pub fn run(ctx: &Context, args: DemoArgs) -> CmdResult {
    let temp = tempfile::Builder::new()
        .prefix("tellus-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary data folder: {e}"))?;
    let phone_dir = temp.path().join("phone");
    let server_dir = temp.path().join("server");
    let rt = crate::runtime()?;
    let server = DemoServer::start(&rt, &server_dir)?;
    let store = Arc::new(Store::open(&phone_dir).map_err(fail)?);
    let result = journey(ctx, &rt, &server, &store);
    server.stop(&rt);
    if args.keep {
        let kept = temp.keep();
        println!("\nThe demo's data folders are kept at {}", kept.display());
        // The binary that ran, by its path: `tellus` is on no PATH until installed.
        let tellus = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "tellus".into());
        println!(
            "Look around with: {tellus} --data-dir {} story list   (the phone)",
            kept.join("phone").display()
        );
        println!(
            "            and: {tellus} --data-dir {} serve          (the server)",
            kept.join("server").display()
        );
        println!(
            "(`cargo install --locked --path cli` puts `tellus` on your PATH as ~/.cargo/bin/tellus)"
        );
    }
    result
}

/// The project server on loopback, in this process, for the demo.
struct DemoServer {
    url: String,
    data_dir: std::path::PathBuf,
    running: tellus_server::Running,
}

impl DemoServer {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<DemoServer, String> {
        let config = tellus_server::ServerConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.to_path_buf(),
            ..tellus_server::ServerConfig::default()
        };
        let running = rt
            .block_on(tellus_server::Running::start(config))
            .map_err(|e| format!("the demo's server did not start: {e}"))?;
        Ok(DemoServer {
            url: running.url(),
            data_dir: dir.to_path_buf(),
            running,
        })
    }

    fn db(&self) -> Result<tellus_server::Db, String> {
        tellus_server::App::open_db(&tellus_server::ServerConfig {
            data_dir: self.data_dir.clone(),
            ..tellus_server::ServerConfig::default()
        })
        .map_err(|e| e.to_string())
    }

    fn stop(self, rt: &tokio::runtime::Runtime) {
        let _ = rt.block_on(self.running.stop());
    }
}

fn step(ctx: &Context, text: &str) {
    if !ctx.json {
        println!("\n== {text}");
    }
}

fn journey(
    ctx: &Context,
    rt: &tokio::runtime::Runtime,
    server: &DemoServer,
    store: &Arc<Store>,
) -> CmdResult {
    step(
        ctx,
        "A project lead creates the project on the server and an invite for a reporter",
    );
    let db = server.db()?;
    let created = tellus_server::admin::create_project(&db, &sample_project().to_json())
        .map_err(|e| e.to_string())?;
    let invite =
        tellus_server::admin::create_invite(&db, &created.id, tellus_server::Role::Reporter, 3600)
            .map_err(|e| e.to_string())?;
    drop(db);
    if !ctx.json {
        println!("Server on {} (loopback, in this process)", server.url);
        println!("Project {}; invite code {}", created.id, invite.code);
    }

    step(ctx, "The reporter's phone enrols with the invite code");
    let transport = Arc::new(HttpTransport::new().map_err(|e| e.to_string())?);
    let account = rt
        .block_on(sync::enrol(
            store,
            transport.clone(),
            &server.url,
            &invite.code,
            "Demo reporter's phone",
        ))
        .map_err(|e| e.to_string())?;
    let config = store.project().map_err(fail)?;
    if !ctx.json {
        println!(
            "Enrolled as reporter {}; the project's configuration arrived:",
            account.reporter_id
        );
        project::print_project(&config);
    }

    step(ctx, "The reporter starts a story with a storyteller");
    let story = store
        .create_story(&NewStory {
            title: "Being heard at the housing office".into(),
            summary: String::new(),
            storyteller_label: "Participant 1".into(),
        })
        .map_err(fail)?;
    if !ctx.json {
        println!("Story {} for {}", story.id, story.participant.label);
    }

    step(
        ctx,
        "They read the consent form together and record her choices, item by item",
    );
    let form = config.current_forms()[0];
    if !ctx.json {
        print!("{}", form.rendered_text("en").unwrap_or_default());
    }
    let mut consent = ConsentDraft::give(
        &form.id,
        form.version,
        "en",
        &[
            items::RECORD,
            items::RESEARCH_USE,
            items::QUOTE_ANONYMOUSLY,
            items::CREDIT_BY_NAME,
        ],
    );
    consent.captured_by = "Demo reporter".into();
    consent.name = Some("Amina K.".into());
    store.record_consent(story.id, &consent).map_err(fail)?;

    step(
        ctx,
        "She leaves with a receipt: what she agreed to, and a personal code for the portal",
    );
    let receipt = store.consent_receipt(story.id).map_err(fail)?;
    if !ctx.json {
        println!("Her code: {}", receipt.code);
        match &receipt.portal_url {
            Some(url) => println!("The receipt's QR code opens {url}"),
            None => println!("No portal link: this phone is not enrolled with a server"),
        }
        println!(
            "With it she can see, narrow or withdraw her consent herself; the whole receipt: tellus consent receipt --story {}",
            story.id
        );
    }

    step(ctx, "The interview is recorded (a short clip)");
    record_clip(ctx, store, story.id)?;

    step(
        ctx,
        "During the interview: markers at guide questions and notes at the audio position",
    );
    // Within the 4-second clip: a position past the recording's end is refused (issue 18).
    let notes = [
        NewNote::marker("", "0:00".parse().map_err(fail)?, Some("q1")),
        NewNote::note(
            "Repairs request ignored for months; damp in the children's room",
            Some("0:01".parse().map_err(fail)?),
        ),
        NewNote::marker("", "0:02".parse().map_err(fail)?, Some("q3")),
        NewNote::marker(
            "Key moment: tenants' panel changed the repairs process",
            "0:03".parse().map_err(fail)?,
            None,
        ),
        NewNote::note(
            "Follow up: ask the council about the tenants' panel minutes",
            None,
        ),
    ];
    for note in &notes {
        store.add_note(story.id, note).map_err(fail)?;
    }

    step(
        ctx,
        "Afterwards: summary, tags, demographics, and the story is marked ready",
    );
    let mut edit = StoryEdit {
        summary: Some("A tenant describes months of unanswered repair requests, and how joining a tenants' panel finally got the council to listen.".into()),
        ..Default::default()
    };
    edit.demographics
        .insert("age_band".into(), Some("35-44".into()));
    store.edit_story(story.id, &edit).map_err(fail)?;
    store
        .add_tags(story.id, &["housing".into(), "being-listened-to".into()])
        .map_err(fail)?;
    store.mark_ready(story.id).map_err(fail)?;

    step(
        ctx,
        "A second storyteller withdraws after giving consent verbally",
    );
    let second = store
        .create_story(&NewStory {
            title: "Waiting for a mental health referral".into(),
            summary: String::new(),
            storyteller_label: "Participant 2".into(),
        })
        .map_err(fail)?;
    let mut verbal = ConsentDraft::give(&form.id, form.version, "en", &[items::RECORD]);
    verbal.method = ConsentMethod::Verbal {
        at: "0:08"
            .parse::<tellus_core::AudioPosition>()
            .map_err(fail)?
            .as_millis(),
    };
    verbal.captured_by = "Demo reporter".into();
    store.record_consent(second.id, &verbal).map_err(fail)?;
    let mut withdraw = ConsentDraft::withdraw(true);
    withdraw.captured_by = "Demo reporter".into();
    store.record_consent(second.id, &withdraw).map_err(fail)?;
    match store.mark_ready(second.id) {
        Ok(_) => return Err("a story whose consent was withdrawn was marked ready".into()),
        Err(e) if !ctx.json => {
            println!("Marking it ready is refused, as it must be. The app says: {e}")
        }
        Err(_) => {}
    }

    step(ctx, "The stories on this phone");
    story::list(ctx, store, 50, None)?;
    step(ctx, "The first story in full");
    story::show(ctx, store, story.id)?;

    step(
        ctx,
        "The phone syncs: consent, then the story, then its audio over tus, verified",
    );
    let engine = SyncEngine::new(store.clone(), transport.clone());
    engine.set_network(Network::Unmetered);
    let report = rt.block_on(engine.sync()).map_err(|e| e.to_string())?;
    if ctx.json {
        crate::output::json(&report)?;
    } else {
        println!(
            "Sent {} consent event(s) and {} story document(s); {} recording(s) delivered",
            report.consent_events_sent,
            report.documents_sent,
            report.delivered.len()
        );
    }
    let recordings = store.recordings(story.id).map_err(fail)?;
    for receipt in &report.delivered {
        let ours = recordings
            .iter()
            .find(|r| r.id.to_string() == receipt.recording_id)
            .ok_or("the server sent a receipt for a recording this phone does not have")?;
        // Each copy (the verified FLAC, the listening copy) has its own receipt.
        let file = store
            .recording_file(ours.id, receipt.representation)
            .map_err(fail)?
            .ok_or("the server sent a receipt for a copy this phone did not make")?;
        if receipt.sha256 != file.sha256 || receipt.bytes != file.bytes {
            return Err("a receipt does not match the recording".into());
        }
        if !ctx.json {
            println!(
                "Receipt for recording {} ({} copy, {}): {} bytes, SHA-256 {} (matches this phone's file), received {}",
                receipt.recording_id,
                receipt.representation,
                file.format,
                receipt.bytes,
                receipt.sha256,
                receipt.received_at
            );
        }
    }
    if !ctx.json {
        for (id, title) in [(story.id, "first"), (second.id, "second")] {
            let state = store.delivery_state(id).map_err(fail)?;
            println!("The {title} story: {}", crate::sync::delivery_text(&state));
        }
    }

    step(ctx, "A second sync finds nothing left to send");
    let again = rt.block_on(engine.sync()).map_err(|e| e.to_string())?;
    if again.sent_anything() {
        return Err("the second sync sent something again".into());
    }
    if !ctx.json {
        println!("Nothing sent: everything on this phone is delivered.");
    }
    lead_side(ctx, rt, server, store, &transport, story.id)
}

/// The lead's half of the journey: enrol with a lead invite, pull the delivered stories
/// into a folder, export them by consent scope, and see a withdrawal reach that copy.
fn lead_side(
    ctx: &Context,
    rt: &tokio::runtime::Runtime,
    server: &DemoServer,
    phone: &Arc<Store>,
    transport: &Arc<HttpTransport>,
    story: StoryId,
) -> CmdResult {
    step(
        ctx,
        "A project lead enrols with a lead invite and pulls the stories",
    );
    let db = server.db()?;
    let project = phone.project().map_err(fail)?;
    let invite =
        tellus_server::admin::create_invite(&db, &project.id, tellus_server::Role::Lead, 3600)
            .map_err(|e| e.to_string())?;
    drop(db);
    // The lead's laptop keeps its enrolment in a data folder of its own.
    let laptop_dir = server
        .data_dir
        .parent()
        .ok_or("the demo's folder has no parent")?
        .join("lead-laptop");
    let lead = rt
        .block_on(tellus_lead::accounts::enrol(
            &laptop_dir.join(tellus_lead::accounts::FILE_NAME),
            &server.url,
            &invite.code,
            "Demo lead's laptop",
        ))
        .map_err(|e| e.to_string())?;
    let pulled = laptop_dir.join("stories");
    let options = tellus_lead::PullOptions::new(&server.url, &lead.token, &pulled);
    let report = rt
        .block_on(tellus_lead::pull(&options, &tellus_lead::pull::NoProgress))
        .map_err(|e| e.to_string())?;
    if ctx.json {
        crate::output::json(&report)?;
    } else {
        println!(
            "Pulled into {}: {} story document(s), {} recording(s) ({} bytes), each verified against its SHA-256; {} files in the manifest",
            pulled.display(),
            report.stories_written,
            report.recordings_downloaded,
            report.bytes_downloaded,
            report.files
        );
    }

    step(
        ctx,
        "The lead exports, as far as each storyteller's consent allows",
    );
    let folder = tellus_lead::PulledFolder::read(&pulled).map_err(|e| e.to_string())?;
    for scope in [
        tellus_lead::ExportScope::Research,
        tellus_lead::ExportScope::Public,
    ] {
        let export = tellus_lead::export::export(
            &folder,
            &tellus_lead::ExportOptions {
                scope,
                format: tellus_lead::Format::Csv,
                include_contacts: false,
            },
        )
        .map_err(|e| e.to_string())?;
        if !ctx.json {
            println!(
                "A {} export holds {} story(ies) and leaves out {}",
                scope.as_str(),
                export.stories,
                export.left_out
            );
        }
    }
    if !ctx.json {
        println!(
            "(The storyteller agreed to research use but not to sharing publicly, so no public export holds their story.)"
        );
    }

    step(
        ctx,
        "The storyteller withdraws later: the phone syncs, the lead's next pull removes the copy",
    );
    let mut withdraw = ConsentDraft::withdraw(true);
    withdraw.captured_by = "Demo reporter".into();
    phone.record_consent(story, &withdraw).map_err(fail)?;
    let engine = SyncEngine::new(phone.clone(), transport.clone());
    let synced = rt.block_on(engine.sync()).map_err(|e| e.to_string())?;
    let again = rt
        .block_on(tellus_lead::pull(&options, &tellus_lead::pull::NoProgress))
        .map_err(|e| e.to_string())?;
    if again.withdrawals != 1 || pulled.join("stories").join(story.to_string()).exists() {
        return Err("the withdrawal did not reach the lead's copy".into());
    }
    // Every file of it: the WAV, its FLAC and its listening copy.
    let audio_left = tellus_core::audio::story_files(phone, story)
        .map_err(fail)?
        .iter()
        .any(|f| f.on_device);
    if audio_left {
        return Err("the withdrawn story's audio is still on the phone".into());
    }
    if !ctx.json {
        println!(
            "The phone sent the withdrawal ({} propagated) and deleted its audio; the server purged the audio",
            synced.withdrawals_propagated
        );
        println!(
            "The lead's pull removed {} file(s) of the story; withdrawals.log says:",
            again.files_removed
        );
        let log = std::fs::read_to_string(pulled.join("withdrawals.log"))
            .map_err(|e| format!("cannot read the withdrawal log: {e}"))?;
        for line in log.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}

/// How long the demo records.
const CLIP: Duration = Duration::from_secs(4);

/// Records a few seconds into the story: from the default input device if one opens,
/// else from the project's file-backed test microphone (tests/support/audio, with the
/// speech `scripts/demo.sh` made), and says which it used.
fn record_clip(ctx: &Context, store: &Arc<Store>, story: StoryId) -> CmdResult {
    match CpalSource::open(None, None, false) {
        Ok(source) => {
            let name = tellus_core::audio::AudioSource::describe(&source);
            let options = RecorderOptions {
                max_duration: Some(CLIP),
                ..RecorderOptions::default()
            };
            let recorder =
                Recorder::start(store.clone(), story, Box::new(source), options).map_err(fail)?;
            // A device that opens but never delivers must not hang the demo.
            let deadline = Instant::now() + CLIP * 3;
            while !recorder.has_stopped() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let done = recorder.stop().map_err(fail)?;
            if !ctx.json {
                println!(
                    "Recorded {} from the default input device, {name}",
                    tellus_core::AudioPosition::from_millis(done.recording.duration_ms())
                );
            }
            Ok(())
        }
        Err(no_default) => {
            if !ctx.json {
                println!("No default input device here ({no_default}).");
            }
            record_from_test_microphone(ctx, store.dir(), story)
        }
    }
}

/// Runs `tellus record` in a child process with ALSA pointed at the file-backed test
/// microphone: ALSA reads its configuration from the environment once per process.
fn record_from_test_microphone(ctx: &Context, dir: &Path, story: StoryId) -> CmdResult {
    let (Ok(mic_dir), Ok(speech)) = (
        std::env::var("TELLUS_DEMO_MIC_DIR"),
        std::env::var("TELLUS_DEMO_SPEECH"),
    ) else {
        if !ctx.json {
            println!(
                "Skipped: no microphone, and no test microphone was set up (run ./scripts/demo.sh)."
            );
        }
        return Ok(());
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find tellus itself: {e}"))?;
    let out = Command::new(exe)
        .arg("--data-dir")
        .arg(dir)
        .args([
            "record",
            "--story",
            &story.to_string(),
            "--device",
            "tellus_mic",
        ])
        .args(["--rate", "16000", "--for", &format!("{}s", CLIP.as_secs())])
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{mic_dir}/alsa-test-mic.conf"),
        )
        .env("TELLUS_MIC_INFILE", &speech)
        .env("TELLUS_MIC_RATE", "16000")
        .env("TELLUS_MIC_CHANNELS", "1")
        .output()
        .map_err(|e| format!("cannot run tellus record: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "recording from the test microphone failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if !ctx.json {
        println!(
            "Recorded from the project's file-backed test microphone ({mic_dir}/alsa-test-mic.conf, speech made by make-speech.sh):"
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.starts_with('●') && !line.starts_with('⏸') {
                println!("  {line}");
            }
        }
    }
    Ok(())
}
