//! A process killed with SIGKILL in the middle of a write transaction: the database keeps
//! the last committed state and opens cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rusqlite::Connection;
use tellus_core::Store;
use tellus_core::model::{NewStory, sample_project};
use tellus_core::store::DATABASE_FILE;

const CHILD_DIR: &str = "TELLUS_CRASH_CHILD_DIR";
const COMMITTED: i64 = 5;
const UNCOMMITTED: usize = 40_000;

/// The child's part: commit some stories, then hold a large uncommitted transaction open
/// (large enough that SQLite spills its pages into the WAL) until it is killed.
fn child(dir: &str) {
    let store = Store::open(dir).unwrap();
    store.set_project(&sample_project()).unwrap();
    for n in 0..COMMITTED {
        store
            .create_story(&NewStory {
                title: format!("Committed {n}"),
                ..Default::default()
            })
            .unwrap();
    }
    store
        .testing_write_stories_then(UNCOMMITTED, || {
            println!("IN-TRANSACTION");
            loop {
                // Waits here to be killed; the parent kills it as soon as it reads the line.
                std::thread::park();
            }
        })
        .unwrap();
}

#[test]
fn sigkill_mid_transaction_keeps_the_last_commit() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_mid_transaction_keeps_the_last_commit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let reached = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("IN-TRANSACTION"));
    assert!(reached, "the child never reached its open transaction");
    let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
    let wal_size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    process.kill().unwrap(); // SIGKILL on Unix
    process.wait().unwrap();
    assert!(
        wal_size > 1_000_000,
        "uncommitted pages should have spilled into the WAL ({wal_size} bytes)"
    );

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.open_report().damaged_database_moved_to, None);
    assert_eq!(store.count_stories().unwrap(), COMMITTED);
    let titles: Vec<String> = store
        .list_stories(50, None)
        .unwrap()
        .into_iter()
        .map(|s| s.title)
        .collect();
    assert!(
        titles.iter().all(|t| t.starts_with("Committed")),
        "{titles:?}"
    );
    let check: String = Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
