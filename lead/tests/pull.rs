//! `pull` against a real tellus-server on loopback: the first pull fetches everything,
//! a second fetches nothing; withdrawals remove the story and are logged; a narrowed
//! consent reaches the folder; a wrong partial download is discarded, never moved into
//! place; `verify` finds altered and missing files.

mod support;

use std::fs;
use std::path::Path;

use support::*;
use tellus_lead::pull::NoProgress;
use tellus_lead::withdrawals::read_log;
use tellus_lead::{Manifest, PullOptions, layout::Layout, pull, verify};

fn options(server: &TestServer, token: &str, out: &Path) -> PullOptions {
    PullOptions::new(&server.base, token, out)
}

fn manifest(out: &Path) -> Manifest {
    Manifest::load(&Layout::new(out)).unwrap()
}

fn no_partial_or_temporary_files(out: &Path) {
    let own: Vec<String> = files_under(&out.join(".tellus-pull"));
    assert_eq!(own, ["lock", "state.json"], "only the pull's state is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_pull_fetches_everything_and_a_second_fetches_nothing() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let two = vec![audio(300_000, 1), audio(120_001, 2)];
    let a = reporter
        .deliver(
            &StorySpec::new("Waiting for the repair", &["record", "research_use"])
                .audio(two.clone()),
        )
        .await;
    let b = reporter
        .deliver(&StorySpec::new(
            "The lunch club",
            &["record", "share_publicly"],
        ))
        .await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");

    let first = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.stories_written, 2);
    assert_eq!(first.recordings_downloaded, 3);
    assert_eq!(first.bytes_downloaded, (300_000 + 120_001 + 40_000) as u64);
    assert_eq!(first.bytes_resumed, 0);
    for (recording, data) in a.recordings.iter().zip(&two) {
        let held =
            fs::read(out.join(format!("stories/{}/audio/{recording}.wav", a.story_id))).unwrap();
        assert!(
            held == *data,
            "the pulled audio is the delivered audio, byte for byte"
        );
    }
    let story_dir = out.join("stories").join(&b.story_id);
    let story: serde_json::Value =
        serde_json::from_slice(&fs::read(story_dir.join("story.json")).unwrap()).unwrap();
    assert_eq!(story["title"], "The lunch club");
    assert!(story.get("notes").is_none(), "notes live in notes.json");
    let notes: serde_json::Value =
        serde_json::from_slice(&fs::read(story_dir.join("notes.json")).unwrap()).unwrap();
    let at: Vec<serde_json::Value> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["at_ms"].clone())
        .collect();
    assert_eq!(
        at,
        [
            serde_json::json!(270_000),
            serde_json::json!(754_500),
            serde_json::Value::Null
        ],
        "audio order, untimed last"
    );
    let consent: serde_json::Value =
        serde_json::from_slice(&fs::read(story_dir.join("consent.json")).unwrap()).unwrap();
    assert_eq!(consent["status"], "active");
    assert_eq!(
        consent["granted"],
        serde_json::json!(["record", "share_publicly"])
    );
    assert!(!story_dir.join("identity.json").exists());

    // The manifest lists every file in the folder with its hash; coreutils agrees.
    let listed: Vec<String> = manifest(&out).files.keys().cloned().collect();
    let on_disk: Vec<String> = files_under(&out)
        .into_iter()
        .filter(|f| !f.starts_with(".tellus-pull/") && f != "manifest.json" && f != "SHA256SUMS")
        .collect();
    assert_eq!(listed, on_disk);
    assert_eq!(
        listed.len(),
        1 + 2 * 3 + 3,
        "project, 3 files per story, 3 recordings"
    );
    sha256sum_check(&out).unwrap();
    no_partial_or_temporary_files(&out);
    let report = verify(&out, &|_| {}).unwrap();
    assert!(
        report.is_intact() && report.unexpected.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.verified, listed.len());

    let mtimes = |out: &Path| -> Vec<(String, std::time::SystemTime)> {
        files_under(out)
            .into_iter()
            .filter(|f| f.starts_with("stories/") || f == "project.json")
            .map(|f| {
                (
                    f.clone(),
                    fs::metadata(out.join(&f)).unwrap().modified().unwrap(),
                )
            })
            .collect()
    };
    let before = (manifest(&out), mtimes(&out));
    let second = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(second.changes, 0);
    assert_eq!(second.stories_written, 0);
    assert_eq!(
        second.recordings_downloaded + second.recordings_already_present,
        0
    );
    assert_eq!(second.bytes_downloaded, 0);
    assert_eq!(
        (manifest(&out), mtimes(&out)),
        before,
        "nothing was rewritten"
    );
    assert_eq!(second.cursor, first.cursor);

    // A new story after that: only it comes.
    let c = reporter
        .deliver(&StorySpec::new("Bus passes", &["record"]))
        .await;
    let third = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!((third.stories_written, third.recordings_downloaded), (1, 1));
    assert!(
        out.join("stories")
            .join(&c.story_id)
            .join("story.json")
            .exists()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_story_disappears_from_the_folder_and_is_logged() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let kept = reporter.deliver(&StorySpec::new("Kept", &["record"])).await;
    let gone = reporter
        .deliver(
            &StorySpec::new(
                "Withdrawn later",
                &["record", "credit_by_name", "recontact"],
            )
            .name("Amina K.")
            .contact("amina@example.org")
            .audio(vec![audio(50_000, 3), audio(60_000, 4)]),
        )
        .await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    let gone_dir = out.join("stories").join(&gone.story_id);
    assert!(gone_dir.join("identity.json").exists());
    let held_before: Vec<String> = manifest(&out)
        .files
        .keys()
        .filter(|p| p.contains(&gone.story_id))
        .cloned()
        .collect();
    assert_eq!(
        held_before.len(),
        6,
        "story, notes, consent, identity, 2 recordings"
    );

    reporter.withdraw(&gone.story_id).await;
    let report = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.withdrawals, 1);
    assert_eq!(report.files_removed, 6);
    assert!(!gone_dir.exists(), "audio, metadata and identity are gone");
    assert!(
        !manifest(&out)
            .files
            .keys()
            .any(|p| p.contains(&gone.story_id))
    );
    assert!(
        out.join("stories")
            .join(&kept.story_id)
            .join("story.json")
            .exists()
    );
    let log = read_log(&Layout::new(&out)).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].story_id, gone.story_id);
    assert_eq!(
        log[0].removed, held_before,
        "the log names every file removed"
    );
    assert!(!log[0].withdrawn_at.is_empty() && !log[0].removed_at.is_empty());
    let log_text = fs::read_to_string(out.join("withdrawals.log")).unwrap();
    assert!(
        !log_text.contains("Amina") && !log_text.contains("Withdrawn later"),
        "ids and paths only"
    );
    assert!(verify(&out, &|_| {}).unwrap().is_intact());
    sha256sum_check(&out).unwrap();

    // Pulling again logs nothing twice.
    pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(read_log(&Layout::new(&out)).unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_withdrawn_before_the_first_pull_never_lands() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let gone = reporter
        .deliver(&StorySpec::new("Never pulled", &["record"]))
        .await;
    reporter.withdraw(&gone.story_id).await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let report = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.stories_written + report.recordings_downloaded, 0);
    assert_eq!(report.withdrawals, 1);
    assert!(!out.join("stories").join(&gone.story_id).exists());
    let log = read_log(&Layout::new(&out)).unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].removed.is_empty(), "logged, with nothing to remove");
    no_partial_or_temporary_files(&out);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_consent_reaches_the_pulled_folder() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let story = reporter
        .deliver(
            &StorySpec::new(
                "Named at first",
                &["record", "share_publicly", "credit_by_name"],
            )
            .name("Jo B."),
        )
        .await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    let story_dir = out.join("stories").join(&story.story_id);
    assert!(
        fs::read_to_string(story_dir.join("identity.json"))
            .unwrap()
            .contains("Jo B.")
    );

    // No more public sharing, no more name: the feed says so, and the pull follows.
    reporter
        .consent(&story.story_id, "amended", &["record"])
        .await;
    let report = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.stories_written, 1);
    let consent: serde_json::Value =
        serde_json::from_slice(&fs::read(story_dir.join("consent.json")).unwrap()).unwrap();
    assert_eq!(consent["granted"], serde_json::json!(["record"]));
    assert!(
        !story_dir.join("identity.json").exists(),
        "the name is gone from the folder"
    );
    assert!(
        !manifest(&out)
            .files
            .keys()
            .any(|p| p.ends_with("identity.json"))
    );
    assert!(verify(&out, &|_| {}).unwrap().is_intact());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_download_resumes_and_a_wrong_one_is_discarded() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let data = vec![audio(500_000, 5), audio(400_000, 6)];
    let story = reporter
        .deliver(&StorySpec::new("Resumed", &["record"]).audio(data.clone()))
        .await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    // What a killed run leaves: the first half of one recording (right bytes) and a
    // third of another (wrong bytes, as from a disk that lied).
    let partial_dir = out.join(".tellus-pull/partial");
    fs::create_dir_all(&partial_dir).unwrap();
    let right = partial_dir.join(format!("{}.{}.part", story.story_id, story.recordings[0]));
    fs::write(&right, &data[0][..250_000]).unwrap();
    let wrong = partial_dir.join(format!("{}.{}.part", story.story_id, story.recordings[1]));
    fs::write(&wrong, vec![0u8; 130_000]).unwrap();

    let report = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.recordings_downloaded, 2);
    assert_eq!(
        report.bytes_resumed, 250_000,
        "the right prefix was resumed from"
    );
    assert_eq!(
        report.bytes_downloaded,
        250_000 + 400_000,
        "the wrong one was fetched again whole"
    );
    for (recording, bytes) in story.recordings.iter().zip(&data) {
        let held = fs::read(out.join(format!("stories/{}/audio/{recording}.wav", story.story_id)))
            .unwrap();
        assert!(
            held == *bytes,
            "whole and right; the wrong prefix was thrown away"
        );
    }
    no_partial_or_temporary_files(&out);
    sha256sum_check(&out).unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_altered_missing_and_unexpected_files() {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let story = reporter
        .deliver(&StorySpec::new("Checked", &["record"]))
        .await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    let s = format!("stories/{}", story.story_id);
    let audio_rel = format!("{s}/audio/{}.wav", story.recordings[0]);
    // One byte flipped in the audio, a widened consent, a deleted notes file.
    let mut bytes = fs::read(out.join(&audio_rel)).unwrap();
    bytes[1234] ^= 0x01;
    fs::write(out.join(&audio_rel), bytes).unwrap();
    let consent_rel = format!("{s}/consent.json");
    let widened = fs::read_to_string(out.join(&consent_rel))
        .unwrap()
        .replace("\"record\"", "\"record\", \"share_publicly\"");
    fs::write(out.join(&consent_rel), widened).unwrap();
    fs::remove_file(out.join(format!("{s}/notes.json"))).unwrap();
    fs::write(out.join(format!("{s}/my-notes.txt")), "mine").unwrap();

    let report = verify(&out, &|_| {}).unwrap();
    assert!(!report.is_intact());
    let mut altered = report.altered.clone();
    altered.sort();
    assert_eq!(altered, [audio_rel.clone(), consent_rel]);
    assert_eq!(report.missing, [format!("{s}/notes.json")]);
    assert_eq!(report.unexpected, [format!("{s}/my-notes.txt")]);
    assert!(
        sha256sum_check(&out).is_err(),
        "coreutils sees the same damage"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_of_other_servers_or_with_other_files_are_refused() {
    let server = TestServer::start().await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("home");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("thesis.docx"), "mine").unwrap();
    let e = pull(&options(&server, &token, &busy), &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already holds other files"), "{e}");
    assert_eq!(
        files_under(&busy),
        ["thesis.docx"],
        "nothing was written there"
    );

    let out = dir.path().join("pulled");
    pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap();
    let other = TestServer::start().await;
    let other_token = other.lead_token().await;
    let e = pull(&options(&other, &other_token, &out), &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("was pulled from"), "{e}");

    // Another pull working in the folder (holding its lock): refused, not interleaved.
    let lock = fs::File::open(out.join(".tellus-pull/lock")).unwrap();
    fs4::FileExt::try_lock(&lock).unwrap();
    let e = pull(&options(&server, &token, &out), &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another `tellus pull`"), "{e}");
    drop(lock);

    let e = pull(&options(&server, "not-a-token", &out), &NoProgress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 401"), "{e}");
    let e = pull(
        &PullOptions::new("stories.example.org", &token, &out),
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("https://"), "{e}");
    other.stop().await;
    server.stop().await;
}
