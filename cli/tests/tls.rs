//! `tellus serve --tls-cert --tls-key` with certificates made in the test: a reporter's
//! `tellus sync` over HTTPS through a proxy that cuts the connection every 1.5 MB
//! resumes and delivers (the CA trusted as a debug build trusts a test CA), a lead
//! enrols with the invite link `tellus admin invite --server --pin-cert` prints and
//! `tellus pull` fetches the recording over HTTPS trusting only the pinned key, and a
//! wrong certificate is refused with a clear error that spends no invite.

#[path = "../../tests/support/pki.rs"]
mod pki;
mod support;

use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{invite, ok, server_address, story_with_recording, tellus};
use tellus_core::net::DEBUG_TRUST_CA_ENV;
use tellus_testkit::proxy;

/// Runs `tellus ARGS` on `dir` (without the test CA unless `trusting` names it).
fn run(dir: &Path, args: &[&str], trusting: Option<&Path>) -> std::process::Output {
    let mut cmd = tellus(dir);
    cmd.args(args).env_remove(DEBUG_TRUST_CA_ENV);
    if let Some(ca) = trusting {
        cmd.env(DEBUG_TRUST_CA_ENV, ca);
    }
    cmd.output().unwrap()
}

fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unspent(srv: &Path) -> i64 {
    let db = tellus_server::App::open_db(&tellus_server::ServerConfig {
        data_dir: srv.to_path_buf(),
        ..tellus_server::ServerConfig::default()
    })
    .unwrap();
    db.with(|c| {
        Ok(c.query_row(
            "SELECT COUNT(*) FROM invites WHERE used_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    })
    .unwrap()
}

#[test]
fn sync_and_pull_over_https_resume_through_cuts_and_refuse_a_wrong_certificate() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (srv, phone, laptop) = (
        root.path().join("server"),
        root.path().join("phone"),
        root.path().join("laptop"),
    );
    let ca = pki::TestCa::new();
    let ca_file = root.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert.cert_pem).unwrap();
    let (cert, key) = ca.server(-1, 30).write(root.path(), "server");

    ok(&srv, &["admin", "project", "create"]);
    let mut child = tellus(&srv)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = server_address(&mut child);
    let server = Serving(child);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let addr: std::net::SocketAddr = url.trim_start_matches("https://").parse().unwrap();

    // A wrong certificate: without the test CA this machine trusts only Mozilla's
    // roots; the enrolment is refused in words and the invite stays unspent.
    let code = invite(&srv, "reporter", &[])["code"]
        .as_str()
        .unwrap()
        .to_string();
    let before = unspent(&srv);
    let err = failed(&run(
        &phone,
        &["enrol", "--server", &url, "--invite", &code],
        None,
    ));
    assert!(err.contains("is not trusted"), "{err}");
    assert!(
        err.contains("not from an authority this device trusts"),
        "{err}"
    );
    assert_eq!(
        unspent(&srv),
        before,
        "the refused enrolment spent the invite"
    );

    // The reporter, through a proxy that cuts every connection after 1.5 MB.
    let proxy = rt.block_on(proxy::Proxy::start(
        addr,
        proxy::Faults {
            cut_every: 1_500_000,
            ..proxy::Faults::default()
        },
    ));
    let via = format!("https://{}", proxy.addr);
    succeeded(&run(
        &phone,
        &["enrol", "--server", &via, "--invite", &code],
        Some(&ca_file),
    ));
    let (_, recording) = story_with_recording(&phone, 6 * 1024 * 1024);
    let mut delivered = false;
    for _ in 0..5 {
        let out = run(&phone, &["--json", "sync"], Some(&ca_file));
        if out.status.success() {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            if report["delivered"].as_array().is_some_and(|d| d.len() == 1) {
                delivered = true;
                break;
            }
        }
    }
    assert!(delivered, "the recording was not delivered over HTTPS");
    assert!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the proxy cut"
    );
    let on_server = std::fs::read(srv.join("audio").join(recording.id.to_string())).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&on_server)), recording.sha256);
    let ratio = proxy.sent() as f64 / recording.bytes as f64;
    assert!(
        ratio <= 1.15,
        "sent {ratio:.3}x the recording over the cut link"
    );

    // The lead: one scan of the invite link (server and pin), then pulls trusting only
    // the pinned key, with no CA configured at all.
    let lead_invite = invite(
        &srv,
        "lead",
        &["--server", &url, "--pin-cert", cert.to_str().unwrap()],
    );
    let link = lead_invite["link"].as_str().unwrap();
    assert!(link.starts_with("tellus://enrol?server=https"), "{link}");
    assert!(link.contains("pin=sha256"), "{link}");
    succeeded(&run(&laptop, &["enrol", "--lead", "--invite", link], None));
    let pulled = root.path().join("pulled");
    succeeded(&run(
        &laptop,
        &["pull", "--server", &url, "--out", pulled.to_str().unwrap()],
        None,
    ));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(pulled.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest.to_string().contains(&recording.sha256),
        "the pulled folder holds the recording"
    );

    // A pin of another key: refused, naming the pinned key; the invite stays unspent.
    let other = pki::self_signed().write(root.path(), "other").0;
    let wrong = invite(
        &srv,
        "lead",
        &["--server", &url, "--pin-cert", other.to_str().unwrap()],
    );
    let before = unspent(&srv);
    let err = failed(&run(
        &root.path().join("laptop2"),
        &[
            "enrol",
            "--lead",
            "--invite",
            wrong["link"].as_str().unwrap(),
        ],
        Some(&ca_file),
    ));
    assert!(err.contains("not the one the invite pinned"), "{err}");
    assert_eq!(unspent(&srv), before);
    drop(server);
}
