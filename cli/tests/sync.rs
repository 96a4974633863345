//! `tellus enrol` and `tellus sync` as real processes against `tellus serve`, through a
//! throttling proxy so that uploads can be interrupted half-way: the syncing process is
//! killed with SIGKILL mid-upload and started again, then the server is killed with
//! SIGKILL mid-upload and restarted; the upload resumes from the server's offset each
//! time, with no duplicate, no corruption, and no byte sent twice beyond what was cut.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{ok, server_address, story_with_recording, tellus, wait_until};
use tellus_testkit::proxy;

const PROJECT: &str = "coproduction-stories-2026";

/// `tellus serve` on `listen`; returns the child and its address.
fn serve(dir: &Path, listen: &str) -> (Child, std::net::SocketAddr) {
    let mut child = tellus(dir)
        .args(["serve", "--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = server_address(&mut child);
    (child, url.trim_start_matches("http://").parse().unwrap())
}

fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// Bytes in the server's upload spool (the upload in progress).
fn spooled(server_dir: &Path) -> u64 {
    std::fs::read_dir(server_dir.join("spool"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn killed_sync_and_killed_server_both_resume_from_the_servers_offset() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let phone = root.path().join("phone");
    ok(&srv, &["admin", "project", "create"]);
    let invite: Value = serde_json::from_str(&ok(
        &srv,
        &[
            "--json",
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "reporter",
        ],
    ))
    .unwrap();
    let (mut server, addr) = serve(&srv, "127.0.0.1:0");
    // 4 MB/s: a 24 MB recording takes about six seconds, time to interrupt it twice.
    let proxy = rt.block_on(proxy::Proxy::start(
        addr,
        proxy::Faults {
            bytes_per_sec: 4 * 1024 * 1024,
            ..proxy::Faults::default()
        },
    ));
    ok(
        &phone,
        &[
            "enrol",
            "--server",
            &proxy.url(),
            "--invite",
            invite["code"].as_str().unwrap(),
        ],
    );
    let (_, recording) = story_with_recording(&phone, 24 * 1024 * 1024);

    // 1. The syncing process is killed with SIGKILL mid-upload.
    let mut sync = tellus(&phone)
        .args(["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || spooled(&srv) > 3_000_000));
    kill(&mut sync);
    let after_first_kill = spooled(&srv);
    assert!(after_first_kill < recording.bytes);

    // 2. Started again (watching), it resumes; then the server is killed mid-upload and
    //    restarted on the same address.
    let mut watch = tellus(&phone)
        .args(["sync", "--watch", "--interval", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || spooled(&srv)
        > after_first_kill + 4_000_000));
    kill(&mut server);
    let (mut server, _) = serve(&srv, &addr.to_string());

    // 3. The watcher finishes the upload once the server is back.
    let status = || {
        let out = ok(&phone, &["--json", "sync", "status"]);
        let rows: Value = serde_json::from_str(&out).unwrap();
        rows[0]["delivery"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        wait_until(Duration::from_secs(60), || status() == "delivered"),
        "still {}",
        status()
    );
    kill(&mut watch);

    let receipts: Value =
        serde_json::from_str(&ok(&phone, &["--json", "sync", "receipts"])).unwrap();
    assert_eq!(receipts.as_array().unwrap().len(), 1);
    assert_eq!(receipts[0]["sha256"], recording.sha256);
    assert_eq!(receipts[0]["bytes"], recording.bytes);
    let on_server = std::fs::read(srv.join("audio").join(recording.id.to_string())).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&on_server)), recording.sha256);
    assert_eq!(spooled(&srv), 0);
    let db = tellus_server::App::open_db(&tellus_server::ServerConfig {
        data_dir: srv.clone(),
        ..tellus_server::ServerConfig::default()
    })
    .unwrap();
    let (recordings, uploads): (i64, i64) = db
        .with(|c| {
            Ok((
                c.query_row("SELECT COUNT(*) FROM recordings", [], |r| r.get(0))?,
                c.query_row("SELECT COUNT(*) FROM uploads", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(
        (recordings, uploads),
        (1, 0),
        "one recording, no stray upload"
    );
    // Two interruptions cost only what was in flight, not whole files or chunks.
    let ratio = proxy.sent() as f64 / recording.bytes as f64;
    assert!(ratio <= 1.15, "sent {ratio:.3}x the recording");
    kill(&mut server);
}

/// Issue 18: `tellus sync` with nothing ready but a draft on the device does not say
/// "Everything is delivered": it says how many drafts wait, and how to send one.
#[test]
fn a_sync_with_only_drafts_says_how_many_wait() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let phone = root.path().join("phone");
    ok(&srv, &["admin", "project", "create"]);
    let invite: Value = serde_json::from_str(&ok(
        &srv,
        &[
            "--json",
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "reporter",
        ],
    ))
    .unwrap();
    let (mut server, addr) = serve(&srv, "127.0.0.1:0");
    let url = format!("http://{addr}");
    ok(
        &phone,
        &[
            "enrol",
            "--server",
            &url,
            "--invite",
            invite["code"].as_str().unwrap(),
        ],
    );
    let nothing = ok(&phone, &["sync"]);
    assert!(nothing.contains("Everything is delivered"), "{nothing}");
    ok(
        &phone,
        &[
            "story",
            "new",
            "--title",
            "Half-told",
            "--storyteller",
            "P1",
        ],
    );
    let waiting = ok(&phone, &["sync"]);
    assert!(!waiting.contains("Everything is delivered"), "{waiting}");
    assert!(
        waiting.contains("1 draft waits on this device") && waiting.contains("tellus story ready"),
        "{waiting}"
    );
    kill(&mut server);
}
