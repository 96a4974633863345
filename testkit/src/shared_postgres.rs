//! One PostgreSQL per test process for the test servers that keep their data there
//! (`Database::Postgres`), each server with a fresh database of its own on it: starting
//! a server per test would cost seconds each. Started by the first server that asks,
//! stopped when the process exits (`atexit`: statics are never dropped).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::services::postgres::{Postgres, bin_dir};

static SHARED: Mutex<Option<Postgres>> = Mutex::new(None);
static DATABASES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn stop_shared() {
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    // Dropping stops the server and removes its folder.
    drop(shared.take());
}

/// The URL of a new, empty database on the shared PostgreSQL (started on first use;
/// a run that asks for PostgreSQL fails without it).
pub fn fresh_database() -> String {
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if shared.is_none() {
        let postgres = Postgres::start()
            .unwrap_or_else(|e| panic!("the test servers' PostgreSQL does not start: {e}"));
        *shared = Some(postgres);
        // SAFETY: registers a plain function with no arguments; it only takes the lock.
        unsafe {
            libc::atexit(stop_shared);
        }
    }
    let Some(postgres) = shared.as_ref() else {
        unreachable!("started above")
    };
    let name = format!(
        "tellus_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    postgres
        .psql(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    match postgres.url().rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!(
            "the shared PostgreSQL's URL has no database: {}",
            postgres.url()
        ),
    }
}

/// What NULL prints as in [`scalar`]'s output.
const NULL: &str = "\u{1}NULL\u{1}";

/// The first column of the first row `sql` gives on the database at `url`, as text;
/// None for NULL or no row.
pub fn text(url: &str, sql: &str) -> Option<String> {
    let out = scalar(url, sql);
    let first = out.lines().next()?;
    (first != NULL).then(|| first.to_string())
}

/// What `sql` prints on the database at `url` (`psql`, unaligned, no headers).
pub fn scalar(url: &str, sql: &str) -> String {
    let bin = bin_dir().unwrap_or_else(|e| panic!("psql: {e}"));
    let out = Command::new(bin.join("psql"))
        .args(["--no-psqlrc", "--tuples-only", "--no-align", "--quiet"])
        .arg(format!("--pset=null={NULL}"))
        .args(["-v", "ON_ERROR_STOP=1", "--dbname", url, "--command", sql])
        .output()
        .unwrap_or_else(|e| panic!("run psql: {e}"));
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
