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
    let dir = temp.path().to_path_buf();
    let store = Arc::new(Store::open(&dir).map_err(fail)?);
    let result = journey(ctx, &store);
    if args.keep {
        let kept = temp.keep();
        println!("\nThe demo's data folder is kept at {}", kept.display());
        println!(
            "Look around with: tellus --data-dir {} story list",
            kept.display()
        );
    }
    result
}

fn step(ctx: &Context, text: &str) {
    if !ctx.json {
        println!("\n== {text}");
    }
}

fn journey(ctx: &Context, store: &Arc<Store>) -> CmdResult {
    let config = sample_project();
    step(ctx, "A project lead's configuration arrives on the phone");
    store.set_project(&config).map_err(fail)?;
    if !ctx.json {
        project::print_project(&config);
    }

    step(ctx, "The reporter starts a story with a storyteller");
    let story = store
        .create_story(&NewStory {
            title: "Being heard at the housing office".into(),
            summary: String::new(),
            participant_label: "Participant 1".into(),
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

    step(ctx, "The interview is recorded (a short clip)");
    record_clip(ctx, store, story.id)?;

    step(
        ctx,
        "During the interview: markers at guide questions and notes at the audio position",
    );
    let notes = [
        NewNote::marker("", "0:05".parse().map_err(fail)?, Some("q1")),
        NewNote::note(
            "Repairs request ignored for months; damp in the children's room",
            Some("1:12".parse().map_err(fail)?),
        ),
        NewNote::marker("", "4:30".parse().map_err(fail)?, Some("q3")),
        NewNote::marker(
            "Key moment: tenants' panel changed the repairs process",
            "6:02".parse().map_err(fail)?,
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
            participant_label: "Participant 2".into(),
        })
        .map_err(fail)?;
    let mut verbal = ConsentDraft::give(&form.id, form.version, "en", &[items::RECORD]);
    verbal.method = ConsentMethod::Verbal {
        at: "0:08".parse().map_err(fail)?,
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
