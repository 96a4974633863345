//! `tellus-test-services`, which tests/tus/run.sh starts for a `tellus serve` on
//! PostgreSQL and S3: it prints where its PostgreSQL and bucket are once both answer,
//! and when its stdin closes or it gets SIGTERM it stops both and exits 0, leaving no
//! process behind.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};

use tellus_testkit::services::postgres::bin_dir;
use tellus_testkit::services::required;

const BIN: &str = env!("CARGO_BIN_EXE_tellus-test-services");

struct Started {
    child: Child,
    stdin: ChildStdin,
    vars: HashMap<String, String>,
}

/// The program started and ready, with the variables it printed; None when a service is
/// not installed and services are not required.
fn start() -> Option<Started> {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tellus-test-services");
    let stdin = child.stdin.take().expect("its stdin");
    let stdout = child.stdout.take().expect("its stdout");
    let mut vars = HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read its output");
        let (name, value) = line.split_once('=').expect("NAME=VALUE");
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .expect("single-quoted");
        vars.insert(name.to_string(), value.to_string());
        if name == "TELLUS_SERVICES_READY" {
            return Some(Started { child, stdin, vars });
        }
    }
    let status = child.wait().expect("wait for it");
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    if err.contains("not installed") && !required() {
        eprintln!("skipped: {err}");
        return None;
    }
    panic!("tellus-test-services ended before it was ready ({status}):\n{err}");
}

fn port_of(url: &str) -> u16 {
    let after_host = url.split("127.0.0.1:").nth(1).expect("a loopback address");
    let digits: String = after_host
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a port")
}

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new(bin_dir().expect("psql").join("psql"))
        .args([
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--dbname",
            url,
        ])
        .args(["--command", sql])
        .output()
        .expect("run psql")
}

fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Both services answer while it runs: PostgreSQL takes a query with the URL's
/// password, an empty database of its own; the S3 port listens.
fn check_running(started: &Started) -> (u16, u16) {
    let database = &started.vars["TELLUS_DATABASE"];
    let out = psql(
        database,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "fresh");
    let storage = &started.vars["TELLUS_STORAGE"];
    let endpoint = &started.vars["TELLUS_S3_ENDPOINT"];
    assert!(
        storage.starts_with(&format!(
            "s3://{}/{}?endpoint={endpoint}&",
            started.vars["TELLUS_S3_BUCKET"], started.vars["TELLUS_S3_PREFIX"]
        )),
        "{storage}"
    );
    let (pg_port, s3_port) = (port_of(database), port_of(endpoint));
    assert!(answers(pg_port) && answers(s3_port));
    (pg_port, s3_port)
}

/// After it exited: nothing listens on either port, and no process was started with
/// either port (weed's children, or a postmaster left behind).
fn check_stopped(pg_port: u16, s3_port: u16) {
    assert!(!answers(pg_port), "PostgreSQL still answers on {pg_port}");
    assert!(!answers(s3_port), "weed still answers on {s3_port}");
    for pattern in [format!("port={pg_port} "), format!("-s3.port={s3_port} ")] {
        let found = Command::new("pgrep")
            .args(["-af", &pattern])
            .output()
            .expect("run pgrep");
        assert!(
            found.stdout.is_empty(),
            "left behind: {}",
            String::from_utf8_lossy(&found.stdout)
        );
    }
}

#[test]
fn closing_its_stdin_stops_both_services() {
    let Some(mut started) = start() else { return };
    let (pg_port, s3_port) = check_running(&started);
    drop(started.stdin);
    let status = started.child.wait().expect("wait for it");
    assert!(status.success(), "{status}");
    check_stopped(pg_port, s3_port);
}

#[test]
fn sigterm_stops_both_services() {
    let Some(mut started) = start() else { return };
    let (pg_port, s3_port) = check_running(&started);
    let pid = libc::pid_t::try_from(started.child.id()).expect("a pid");
    // SAFETY: sends a signal to the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = started.child.wait().expect("wait for it");
    assert!(status.success(), "{status}");
    check_stopped(pg_port, s3_port);
    drop(started.stdin);
}
