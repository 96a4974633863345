//! `tellus admin migrate` (issue 19, tellus_server::migrate): a real one-machine server
//! (SQLite and its audio folder, stories delivered over real HTTP and tus) copied to a
//! real PostgreSQL and a real S3-compatible store (SeaweedFS) on loopback; a server
//! started on the target serves the same feed and receipts, and a lead's pull
//! (tellus-lead) finds the same files with the same hashes.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use reqwest::StatusCode;
use serde_json::Value;
use support::*;
use tellus_lead::pull::{NoProgress, PullOptions, pull};
use tellus_server::data::migrate::TABLES;
use tellus_server::migrate::{MigrateReport, Target, migrate};
use tellus_server::{Role, Running, ServerConfig};
use tellus_testkit::checks::files_under;
use tellus_testkit::fixtures::file_sha256;
use tellus_testkit::services::or_skip;
use tellus_testkit::services::postgres::Postgres;
use tellus_testkit::services::seaweed::Seaweed;
use tellus_testkit::story::{Reporter, StorySpec};
use tellus_testkit::{Database, Storage};

const STORIES: usize = 50;

/// Every file a pull left (but its own state) with its SHA-256; the withdrawals log
/// without the times this folder's copies were removed (those of each pull).
fn pulled(out: &Path) -> BTreeMap<String, String> {
    files_under(out)
        .into_iter()
        .filter(|f| !f.starts_with(".tellus-pull/"))
        .map(|f| {
            let sha = if f == "withdrawals.log" {
                let lines: Vec<Value> = std::fs::read_to_string(out.join(&f))
                    .unwrap()
                    .lines()
                    .map(|line| {
                        let mut record: Value = serde_json::from_str(line).unwrap();
                        record["removed_at"] = Value::Null;
                        record
                    })
                    .collect();
                sha256_hex(serde_json::to_string(&lines).unwrap().as_bytes())
            } else {
                file_sha256(&out.join(&f))
            };
            (f, sha)
        })
        .collect()
}

async fn lead_pull(base: &str, token: &str, out: &Path) {
    let mut options = PullOptions::new(base, token, out);
    options.listening = true;
    pull(&options, &NoProgress).await.unwrap();
}

/// Each recording's receipts (lossless and, where one was sent, listening) as JSON.
async fn receipts(device: &Device, copies: &[(String, &'static str)]) -> Vec<Value> {
    let mut all = Vec::new();
    for (recording, representation) in copies {
        let r = device
            .get(&format!(
                "/api/v1/recordings/{recording}/receipt?representation={representation}"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{recording} {representation}");
        all.push(r.json().await.unwrap());
    }
    all
}

/// Each transcript, then what a search for a word of them all finds.
async fn transcripts(lead: &Device, recordings: &[String]) -> Vec<Value> {
    let mut all = Vec::new();
    for recording in recordings {
        let r = lead
            .get(&format!("/api/v1/recordings/{recording}/transcript"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        all.push(r.json().await.unwrap());
    }
    let r = lead.get("/api/v1/transcripts/search?q=landlord").await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut found: Value = r.json().await.unwrap();
    // Equal matches may rank in either order (FTS5 and PostgreSQL break ties apart).
    if let Some(hits) = found["hits"].as_array_mut() {
        hits.sort_by_key(|hit| hit.to_string());
    }
    all.push(found);
    all
}

async fn feed(lead: &Device) -> Value {
    let r = lead.get("/api/v1/changes?after=0&limit=500").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// A device of the same token on another server.
fn on(device: &Device, base: &str) -> Device {
    Device {
        base: base.to_string(),
        ..device.clone()
    }
}

/// The source: SQLite and its audio folder (what migrate copies from).
async fn sqlite_server() -> Server {
    Server::options()
        .database(Database::Sqlite)
        .storage(Storage::Folder)
        .start()
        .await
}

async fn run(source: &ServerConfig, target: &Target) -> tellus_server::Result<MigrateReport> {
    migrate(source, target, &|line| eprintln!("migrate: {line}")).await
}

fn target_config(target: &Target) -> (tempfile::TempDir, ServerConfig) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().join("server"),
        database: Some(target.database.clone()),
        storage: Some(target.storage.clone()),
        ..ServerConfig::default()
    };
    (dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_stories_move_to_postgres_and_s3_and_serve_the_same_feed_receipts_and_pull() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let Some(pg) = or_skip(Postgres::start(), "migrate") else {
        return;
    };
    // A one-machine server whichever backend the suite runs on.
    let source = sqlite_server().await;
    let reporter: Reporter = source.reporter().await;
    let lead = source.enrol(PROJECT, Role::Lead).await;
    let listening = Copies::make(1, 16_000, 5).opus;
    let mut copies: Vec<(String, &'static str)> = Vec::new();
    let mut withdrawn = 0;
    let mut transcribed = Vec::new();
    for i in 0..STORIES {
        let spec = StorySpec::new(&format!("Story {i} of the estate"), &["record"])
            .audio(vec![audio(20_000 + i * 97, i as u8)]);
        let delivered = reporter.deliver(&spec).await;
        let recording = delivered.recordings[0].clone();
        if i % 10 == 4 {
            reporter
                .upload_copy(
                    &delivered.story_id,
                    &recording,
                    &listening,
                    "audio/ogg",
                    &[("representation", "listening")],
                )
                .await;
        }
        if i % 10 == 7 {
            reporter.withdraw(&delivered.story_id).await;
            withdrawn += 1;
            continue;
        }
        if i % 10 == 2 {
            // A lead's transcript: its revisions and search index move too.
            let r = lead
                .req(
                    reqwest::Method::PUT,
                    &format!("/api/v1/recordings/{recording}/transcript"),
                )
                .json(&serde_json::json!({ "base_revision": 0, "segments": [
                    { "start_ms": 0, "end_ms": 900, "text": format!("the kettle in stairwell {i}") },
                    { "start_ms": 1000, "end_ms": 1900, "text": "and the landlord never fixed the damp" },
                ]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
            transcribed.push(recording.clone());
        }
        copies.push((recording.clone(), "lossless"));
        if i % 10 == 4 {
            copies.push((recording, "listening"));
        }
    }
    assert_eq!(withdrawn, 5);
    let feed_before = feed(&lead).await;
    let transcripts_before = transcripts(&lead, &transcribed).await;
    assert_eq!(
        transcripts_before.last().unwrap()["hits"]
            .as_array()
            .map(Vec::len),
        Some(transcribed.len()),
        "{transcripts_before:?}"
    );
    let receipts_before = receipts(&lead, &copies).await;
    let pulls = tempfile::tempdir().unwrap();
    lead_pull(&source.base, &lead.token, &pulls.path().join("before")).await;
    let files_before = pulled(&pulls.path().join("before"));
    assert!(
        files_before
            .keys()
            .filter(|f| f.contains("/audio/"))
            .count()
            >= copies.len(),
        "{files_before:?}"
    );

    let target = Target {
        database: pg.url().to_string(),
        storage: seaweed.storage_url(&format!("migrate-{}", new_id())),
    };
    // The source's settings as its TOML names them: its address too.
    let config = ServerConfig {
        listen: source.addr,
        ..source.config.clone()
    };
    // While the source serves, it is refused.
    let e = run(&config, &target).await.unwrap_err().to_string();
    assert!(e.contains("looks live"), "{e}");
    assert_eq!(pg.psql("SELECT count(*) FROM stories").ok(), None::<String>);
    let _kept = source.stop().await;

    let started = Instant::now();
    let first = run(&config, &target).await.unwrap();
    let first_took = started.elapsed();
    assert_eq!(
        first.audio_files,
        copies.len(),
        "withdrawn audio is not copied"
    );
    assert_eq!(first.audio_copied, copies.len());
    assert_eq!(first.audio_present, 0);
    assert_eq!(first.rows_inserted, first.rows);
    assert!(!first.nothing_new());
    let stories = first.tables.iter().find(|t| t.table == "stories").unwrap();
    assert_eq!(stories.rows, STORIES as u64);
    // Every column of the PostgreSQL tables is copied, but the ones it computes itself
    // (the search indexes' tsvectors, transcript_search's own id).
    for table in TABLES {
        let mut there: Vec<String> = pg
            .psql(&format!(
                "SELECT column_name FROM information_schema.columns WHERE table_name = '{}' AND is_generated = 'NEVER' AND NOT (table_name = 'transcript_search' AND column_name = 'id')",
                table.name
            ))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let mut copied: Vec<String> = table.columns.iter().map(|(c, _)| c.to_string()).collect();
        there.sort();
        copied.sort();
        assert_eq!(copied, there, "the columns of {}", table.name);
    }

    let started = Instant::now();
    let second = run(&config, &target).await.unwrap();
    let second_took = started.elapsed();
    assert!(second.nothing_new(), "{second:?}");
    assert_eq!(second.audio_present, copies.len());
    assert_eq!(second.rows, first.rows);
    eprintln!(
        "migrate of {STORIES} stories ({} rows, {} audio copies, {} bytes): first run {first_took:?}, second run {second_took:?}",
        first.rows, first.audio_files, first.audio_bytes_copied
    );

    let (_target_dir, target_config) = target_config(&target);
    let served = Running::start(target_config).await.unwrap();
    let base = served.url();
    let lead_there = on(&lead, &base);
    assert_eq!(feed(&lead_there).await, feed_before, "the same feed");
    assert_eq!(
        transcripts(&lead_there, &transcribed).await,
        transcripts_before,
        "the same transcripts, found by the same search"
    );
    assert_eq!(
        receipts(&lead_there, &copies).await,
        receipts_before,
        "the same receipts"
    );
    lead_pull(&base, &lead.token, &pulls.path().join("after")).await;
    let files_after = pulled(&pulls.path().join("after"));
    let differing: Vec<&String> = files_before
        .keys()
        .chain(files_after.keys())
        .filter(|f| files_before.get(*f) != files_after.get(*f))
        .collect();
    assert_eq!(
        differing,
        Vec::<&String>::new(),
        "the lead's pull finds the same files and hashes"
    );

    // The target goes on from where the source stopped: a new story's feed entries come
    // after every copied one.
    let reporter_there = Reporter {
        device: on(&reporter.device, &base),
    };
    let last_seq = |feed: &Value| -> u64 {
        feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cursor"].as_str().unwrap().parse::<u64>().unwrap())
            .max()
            .unwrap()
    };
    let before = last_seq(&feed_before);
    let new = reporter_there
        .deliver(&StorySpec::new("After the move", &["record"]))
        .await;
    let after = feed(&lead_there).await;
    assert!(last_seq(&after) > before);
    assert!(after.to_string().contains(&new.story_id));
    served.stop().await.unwrap();

    // The target has been written since: migrating again is refused and changes nothing
    // (the old source must not overwrite, or bring back, what the target holds now).
    let e = run(&config, &target).await.unwrap_err().to_string();
    assert!(
        e.contains("differ") && e.contains("Nothing was committed"),
        "{e}"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM stories").unwrap(),
        (STORIES + 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_audio_file_stops_migrate_naming_it_and_a_rerun_after_repair_finishes() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let Some(pg) = or_skip(Postgres::start(), "migrate") else {
        return;
    };
    // A one-machine server whichever backend the suite runs on.
    let source = sqlite_server().await;
    let reporter = source.reporter().await;
    let mut recordings = Vec::new();
    for i in 0..3 {
        let spec = StorySpec::new(&format!("Story {i}"), &["record"]).audio(vec![audio(30_000, i)]);
        recordings.push(reporter.deliver(&spec).await.recordings[0].clone());
    }
    let damaged = recordings.last().unwrap().clone();
    let path = source.config.audio_dir().join(&damaged);
    let config = source.config.clone();
    let _kept = source.stop().await;
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();

    let prefix = format!("migrate-{}", new_id());
    let target = Target {
        database: pg.url().to_string(),
        storage: seaweed.storage_url(&prefix),
    };
    let e = run(&config, &target).await.unwrap_err().to_string();
    assert!(e.contains(&damaged) && e.contains("damaged"), "{e}");
    assert_eq!(
        pg.psql("SELECT count(*) FROM stories").unwrap(),
        "0",
        "no row is written while audio fails"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM recordings").unwrap(), "0");
    let store = seaweed.store(&prefix);
    let keys: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert!(!keys.contains(&damaged), "{keys:?}");

    // Repaired (from a backup), the interrupted run is run again.
    std::fs::write(&path, &good).unwrap();
    let report = run(&config, &target).await.unwrap();
    assert_eq!(report.audio_present, 2, "the copies made before are kept");
    assert_eq!(report.audio_copied, 1);
    assert_eq!(pg.psql("SELECT count(*) FROM stories").unwrap(), "3");
}
