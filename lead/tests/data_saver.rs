//! `pull` and the data saver (issue 20) against a real tellus-server: the lossless copy
//! comes as `<id>.flac`, verified by SHA-256 and by decoding it to its receipt's PCM
//! identity; the listening copy (`<id>.opus`) only with `listening`; a recording whose
//! lossless copy has not arrived is reported as waiting; exports name the file.

mod support;

use std::fs;
use std::path::Path;

use serde_json::json;
use support::*;
use tellus_lead::export::{ExportOptions, Format, select};
use tellus_lead::pull::NoProgress;
use tellus_lead::{
    Error, ExportScope, Manifest, PullOptions, PulledFolder, layout::Layout, pull, verify,
};
use tellus_protocol::Representation;
use tellus_testkit::server::sql_text;

fn options(server: &TestServer, token: &str, out: &Path, listening: bool) -> PullOptions {
    let mut options = PullOptions::new(&server.base, token, out);
    options.listening = listening;
    options
}

/// A story whose document lists one recording with its two copies.
async fn story_with_copies(reporter: &Reporter, title: &str, copies: &Copies) -> (String, String) {
    let spec = StorySpec::new(title, &["record", "research_use"]);
    let story = new_id();
    let recording = new_id();
    reporter.consent(&story, "given", &spec.granted).await;
    reporter.put_story(&story, 1, &spec, &[]).await;
    // The document as a phone after issue 20 writes it.
    let doc = json!({
        "id": story, "revision": 2, "title": title, "summary": "", "status": "ready",
        "tags": [], "demographics": {}, "storyteller": { "id": new_id(), "label": "P" },
        "notes": [],
        "recordings": [{
            "id": recording, "format": "wav", "sample_rate": 16000, "channels": 1,
            "frames": 32000, "bytes": copies.wav.len(), "sha256": sha256_hex(&copies.wav),
            "duration_ms": 2000, "created_at": "2026-11-22T10:00:00Z",
            "pcm_sha256": copies.pcm_sha256,
            "representations": [
                { "representation": "lossless", "format": "flac", "bytes": copies.flac.len(), "sha256": sha256_hex(&copies.flac) },
                { "representation": "listening", "format": "opus", "bytes": copies.opus.len(), "sha256": sha256_hex(&copies.opus) }
            ]
        }],
        "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:05:00Z"
    });
    let r = reporter
        .http
        .put(format!("{}/api/v1/stories/{story}", reporter.base))
        .bearer_auth(&reporter.token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    (story, recording)
}

async fn send_flac(reporter: &Reporter, story: &str, recording: &str, copies: &Copies) {
    reporter
        .upload_copy(
            story,
            recording,
            &copies.flac,
            "audio/flac",
            &[
                ("representation", "lossless"),
                ("pcm_sha256", &copies.pcm_sha256),
            ],
        )
        .await;
}

async fn send_opus(reporter: &Reporter, story: &str, recording: &str, copies: &Copies) {
    reporter
        .upload_copy(
            story,
            recording,
            &copies.opus,
            "audio/ogg",
            &[("representation", "listening")],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_fetches_the_verified_flac_the_listening_copy_on_request_and_names_them_in_exports() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let copies = Copies::make(2, 16_000, 1);
    let (whole, whole_rec) = story_with_copies(&reporter, "Both copies here", &copies).await;
    send_opus(&reporter, &whole, &whole_rec, &copies).await;
    send_flac(&reporter, &whole, &whole_rec, &copies).await;
    let (metered, metered_rec) = story_with_copies(&reporter, "Only listening yet", &copies).await;
    send_opus(&reporter, &metered, &metered_rec, &copies).await;

    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let first = pull(&options(&server, &token, &out, false), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.recordings_downloaded, 1, "{first:?}");
    assert_eq!(first.listening_not_fetched, 2);
    assert_eq!(first.recordings_waiting, std::slice::from_ref(&metered_rec));
    let audio_dir = |story: &str| out.join("stories").join(story).join("audio");
    assert_eq!(
        fs::read(audio_dir(&whole).join(format!("{whole_rec}.flac"))).unwrap(),
        copies.flac
    );
    assert!(!audio_dir(&whole).join(format!("{whole_rec}.opus")).exists());
    assert!(
        !audio_dir(&metered).exists(),
        "nothing of the waiting recording"
    );
    let manifest = Manifest::load(&Layout::new(&out)).unwrap();
    let flac_rel = format!("stories/{whole}/audio/{whole_rec}.flac");
    let entry = &manifest.audio[&flac_rel];
    assert_eq!(entry.representation, Representation::Lossless);
    assert_eq!(entry.format, "flac");
    assert_eq!(
        entry.pcm_sha256.as_deref(),
        Some(copies.pcm_sha256.as_str())
    );

    // Asked for, the listening copies come, including those announced before.
    let second = pull(&options(&server, &token, &out, true), &NoProgress)
        .await
        .unwrap();
    assert_eq!(second.recordings_downloaded, 2, "{second:?}");
    assert_eq!(second.recordings_already_present, 1, "the FLAC is kept");
    for (story, recording) in [(&whole, &whole_rec), (&metered, &metered_rec)] {
        assert_eq!(
            fs::read(audio_dir(story).join(format!("{recording}.opus"))).unwrap(),
            copies.opus
        );
    }
    let manifest = Manifest::load(&Layout::new(&out)).unwrap();
    assert_eq!(manifest.audio.len(), 3);
    assert!(verify(&out, &|_| {}).unwrap().is_intact());

    // The lossless copy arrives later, on an unmetered network.
    send_flac(&reporter, &metered, &metered_rec, &copies).await;
    let third = pull(&options(&server, &token, &out, true), &NoProgress)
        .await
        .unwrap();
    assert_eq!(third.recordings_downloaded, 1);
    assert!(third.recordings_waiting.is_empty(), "{third:?}");

    // Exports point at the lossless file, and name the listening copy beside it.
    let folder = PulledFolder::read(&out).unwrap();
    let records = select(
        &folder,
        &ExportOptions {
            scope: ExportScope::All,
            format: Format::Json,
            include_contacts: false,
        },
    );
    for record in &records {
        let rec = &record.recordings[0];
        assert_eq!(rec.representation, Representation::Lossless);
        assert_eq!(rec.content_type, "audio/flac");
        assert!(rec.file.ends_with(".flac"), "{}", rec.file);
        assert_eq!(rec.sha256, sha256_hex(&copies.flac));
        assert!(
            rec.listening_file
                .as_deref()
                .is_some_and(|f| f.ends_with(".opus")),
            "{rec:?}"
        );
    }
    assert_eq!(records.len(), 2);
    let ohms = tellus_lead::export::export(
        &folder,
        &ExportOptions {
            scope: ExportScope::All,
            format: Format::Ohms,
            include_contacts: false,
        },
    )
    .unwrap();
    for (_, xml) in &ohms.files {
        let xml = String::from_utf8_lossy(xml);
        assert!(xml.contains("<format>audio/flac</format>"), "{xml}");
        assert!(xml.contains(".flac</file_name>"), "{xml}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossless_copy_that_does_not_decode_to_its_receipts_pcm_is_refused_and_not_kept() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let copies = Copies::make(1, 16_000, 2);
    let (story, recording) = story_with_copies(&reporter, "Altered on the server", &copies).await;
    send_flac(&reporter, &story, &recording, &copies).await;
    // The server's record of the PCM identity no longer matches the file (a damaged or
    // tampered store): the file's SHA-256 still matches its receipt.
    let other = sql_text(&"0".repeat(64));
    server.execute(&format!("UPDATE recordings SET pcm_sha256 = {other}"));
    server.execute(&format!(
        "UPDATE changes SET pcm_sha256 = {other} WHERE kind = 'recording'"
    ));
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let err = pull(&options(&server, &token, &out, false), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err}");
    assert!(err.to_string().contains("PCM identity"), "{err}");
    let held = out.join("stories").join(&story).join("audio");
    assert!(
        !held.join(format!("{recording}.flac")).exists(),
        "the file is not kept"
    );
    assert!(
        files_under(&out.join(".tellus-pull"))
            .iter()
            .all(|f| !f.ends_with(".part")),
        "nor its partial"
    );
}
