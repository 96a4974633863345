//! `tellus admin migrate` as an operator runs it: the real binary on a stopped server's
//! data folder, into a real PostgreSQL and a real S3-compatible store (SeaweedFS) on
//! loopback; the target from flags or from the target server's TOML. What a migration
//! copies and how it is verified is tested in server/tests/migrate.rs.

mod support;

use support::{ok, tellus};
use tellus_testkit::fixtures::{audio, new_id};
use tellus_testkit::services::or_skip;
use tellus_testkit::services::postgres::Postgres;
use tellus_testkit::services::seaweed::Seaweed;
use tellus_testkit::story::StorySpec;
use tellus_testkit::{Database, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_then_says_nothing_is_new_and_asks_for_a_missing_target() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let Some(pg) = or_skip(Postgres::start(), "cli migrate") else {
        return;
    };
    // A one-machine server whichever backend the suite runs on.
    let source = TestServer::options()
        .database(Database::Sqlite)
        .start()
        .await;
    let reporter = source.reporter().await;
    for i in 0..2 {
        reporter
            .deliver(
                &StorySpec::new(&format!("Story {i}"), &["record"]).audio(vec![audio(10_000, i)]),
            )
            .await;
    }
    let addr = source.addr;
    let kept = source.stop().await;
    let data = kept.path().join("server");
    // The source's own settings: migrate checks nothing listens on its address (not on
    // the default 127.0.0.1:8080, which another program of this machine may hold).
    let source_toml = kept.path().join("source.toml");
    std::fs::write(&source_toml, format!("listen = \"{addr}\"\n")).unwrap();
    let source_toml = source_toml.to_str().unwrap();
    let storage = seaweed.storage_url(&format!("cli-migrate-{}", new_id()));

    let out = tellus(&data)
        .args([
            "admin",
            "migrate",
            "--config",
            source_toml,
            "--database",
            pg.url(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--storage s3://"), "{stderr}");
    assert_eq!(
        pg.psql("SELECT to_regclass('stories') IS NULL").unwrap(),
        "t"
    );

    let first = ok(
        &data,
        &[
            "admin",
            "migrate",
            "--database",
            pg.url(),
            "--storage",
            &storage,
        ],
    );
    assert!(first.starts_with("Copied "), "{first}");
    assert!(first.contains("2 of 2 audio files"), "{first}");
    assert_eq!(pg.psql("SELECT count(*) FROM stories").unwrap(), "2");

    // The target server's own settings name the target just as well.
    let toml = kept.path().join("target.toml");
    std::fs::write(
        &toml,
        format!("database = \"{}\"\nstorage = \"{storage}\"\n", pg.url()),
    )
    .unwrap();
    let again = ok(
        &data,
        &[
            "admin",
            "migrate",
            "--config",
            source_toml,
            "--to-config",
            toml.to_str().unwrap(),
        ],
    );
    assert!(again.starts_with("Nothing new to copy"), "{again}");
    let json = ok(
        &data,
        &[
            "--json",
            "admin",
            "migrate",
            "--to-config",
            toml.to_str().unwrap(),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["rows_inserted"], 0);
    assert_eq!(report["audio_present"], 2);
}
