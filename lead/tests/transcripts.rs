//! Transcripts in a pulled folder (issue 22): `tellus pull` writes each recording's
//! transcript as `<recording>.vtt` beside the audio (listed in the manifest, checked by
//! sha256sum), rewrites it when a lead corrects it, and removes it on withdrawal; the
//! OHMS export carries the transcript with sync points and validates against the OHMS
//! schema; a speaker's name stays out of every export unless `credit_by_name` allows it.

mod support;

use std::path::Path;

use support::*;
use tellus_lead::export::{ExportOptions, Format, export};
use tellus_lead::pull::NoProgress;
use tellus_lead::{ExportScope, Manifest, PullOptions, PulledFolder, layout::Layout, pull};
use tellus_server::transcripts::model::Segment;

/// The machine draft of `recording`, kept as a transcription worker keeps it (through the
/// server's data layer, whichever database it uses): its job is the oldest one due.
fn draft(server: &TestServer, recording: &str, speaker: &str) {
    let store = server.store();
    let job = store
        .claim_transcript_job("test-worker", i64::MAX / 2, 60_000)
        .unwrap();
    assert_eq!(job.map(|j| j.recording_id).as_deref(), Some(recording));
    let segments = [
        Segment {
            start_ms: 0,
            end_ms: 30_000,
            text: "The kettle in the stairwell".into(),
            speaker: Some(speaker.to_string()),
        },
        Segment {
            start_ms: 65_000,
            end_ms: 70_000,
            text: "the landlord never fixed the damp".into(),
            speaker: Some(speaker.to_string()),
        },
    ];
    let kept = store
        .finish_transcript_job("test-worker", recording, "en", &segments)
        .unwrap();
    assert!(kept);
}

fn ohms(out: &Path, scope: ExportScope) -> String {
    let folder = PulledFolder::read(out).unwrap();
    let files = export(
        &folder,
        &ExportOptions {
            scope,
            format: Format::Ohms,
            include_contacts: false,
        },
    )
    .unwrap()
    .files;
    let dir = tempfile::tempdir().unwrap();
    let mut all = String::new();
    for (name, bytes) in files {
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        if let Err(complaint) = xmllint_ohms(&path) {
            panic!("{name} does not validate:\n{complaint}\n{text}");
        }
        all.push_str(&text);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_keeps_transcripts_beside_the_audio_and_ohms_carries_them_without_unconsented_names() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let named = reporter
        .deliver(&StorySpec::new("Named", &["record", "credit_by_name"]).name("Amina K."))
        .await;
    let anonymous = reporter
        .deliver(&StorySpec::new(
            "Anonymous",
            &["record", "quote_anonymously"],
        ))
        .await;
    draft(&server, &named.recordings[0], "Amina K.");
    draft(&server, &anonymous.recordings[0], "Bo R.");
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let report = pull(&PullOptions::new(&server.base, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.transcripts_written, 2);
    let vtt_of = |d: &Delivered| format!("stories/{}/audio/{}.vtt", d.story_id, d.recordings[0]);
    for d in [&named, &anonymous] {
        let text = std::fs::read_to_string(out.join(vtt_of(d))).unwrap();
        assert!(text.starts_with("WEBVTT") && text.contains("the landlord never fixed the damp"));
    }
    let manifest = Manifest::load(&Layout::new(&out)).unwrap();
    assert!(manifest.files.contains_key(&vtt_of(&named)));
    sha256sum_check(&out).unwrap();

    let all = ohms(&out, ExportScope::All);
    assert!(
        all.contains("<sync>1:|2(0)</sync>"),
        "minute 1 starts at line 2: {all}"
    );
    assert!(
        all.contains("Amina K.: The kettle in the stairwell"),
        "credit_by_name: named"
    );
    assert!(all.contains("the landlord never fixed the damp"));
    assert!(
        !all.contains("Bo R."),
        "quote_anonymously: no name with the quote"
    );

    // A lead's correction reaches the folder on the next pull.
    let r = server
        .http
        .put(format!("{}/api/v1/recordings/{}/transcript", server.base, named.recordings[0]))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "base_revision": 1, "segments": [
            { "start_ms": 0, "end_ms": 30000, "text": "The kettle on the stairwell landing", "speaker": "Amina K." },
            { "start_ms": 65000, "end_ms": 70000, "text": "the landlord never fixed the damp", "speaker": "Amina K." }
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let report = pull(&PullOptions::new(&server.base, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.transcripts_written, 1);
    let text = std::fs::read_to_string(out.join(vtt_of(&named))).unwrap();
    assert!(text.contains("stairwell landing"), "{text}");
    sha256sum_check(&out).unwrap();

    // A withdrawal removes it from the folder and from every export.
    reporter.withdraw(&named.story_id).await;
    pull(&PullOptions::new(&server.base, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert!(!out.join(vtt_of(&named)).exists());
    let all = ohms(&out, ExportScope::All);
    assert!(
        !all.contains("stairwell landing") && !all.contains("Amina"),
        "{all}"
    );
    let folder = PulledFolder::read(&out).unwrap();
    let json = export(
        &folder,
        &ExportOptions {
            scope: ExportScope::All,
            format: Format::Json,
            include_contacts: false,
        },
    )
    .unwrap()
    .files;
    let json = String::from_utf8_lossy(&json[0].1).to_string();
    assert!(!json.contains("stairwell landing"));
    assert!(
        json.contains("the landlord never fixed the damp"),
        "the other story's transcript stays"
    );
    server.stop().await;
}
