//! Our tus client against an independent peer: the official Node tus server (@tus/server
//! with @tus/file-store), through a proxy that cuts every ~3 MB. The upload completes by
//! resuming after each cut, and the file on that server's disk equals ours.
//!
//! Needs the npm packages that `tests/tus/install.sh` puts in `$TUS_NODE_DIR`, so it is
//! run by `tests/tus/run.sh` (part of `./scripts/test.sh`), not by a plain `cargo test`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use support::proxy::{Faults, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs @tus/server from npm: run by tests/tus/run.sh"]
async fn our_client_uploads_to_the_official_node_tus_server_and_resumes_after_cuts() {
    let node_dir = std::env::var("TUS_NODE_DIR").expect("TUS_NODE_DIR (see tests/tus/install.sh)");
    let store_dir = tempfile::tempdir().unwrap();
    let mut node = Command::new("node")
        .arg(format!("{node_dir}/tus_node_server.mjs"))
        .arg(store_dir.path())
        .current_dir(&node_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let mut line = String::new();
    BufReader::new(node.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().trim_start_matches("listening on ").to_string();
    let addr: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = Proxy::start(
        addr,
        Faults {
            cut_every: 3 * 1024 * 1024 + 101,
            ..Faults::default()
        },
    )
    .await;
    let files = tempfile::tempdir().unwrap();
    let ours = files.path().join("interview.wav");
    let data = support::wav_bytes(20 * 1024 * 1024 + 12_345, 42);
    std::fs::write(&ours, &data).unwrap();

    let path = tellus_core::sync::tus::send_file(
        support::http_transport(),
        &format!("{}/files", proxy.url()),
        &ours,
        &[("filename", "interview.wav"), ("filetype", "audio/wav")],
        None,
    )
    .await
    .unwrap();
    let id = path.rsplit('/').next().unwrap();
    let theirs = std::fs::read(store_dir.path().join(id)).unwrap();
    let cuts = proxy.cuts.load(Ordering::SeqCst);
    let ratio = proxy.sent() as f64 / data.len() as f64;
    let _ = node.kill();
    let _ = node.wait();
    assert!(cuts >= 5, "the proxy cut {cuts} times");
    assert_eq!(theirs.len(), data.len());
    assert!(
        theirs == data,
        "the file on @tus/server's disk differs from ours"
    );
    println!("@tus/server through the cutting proxy: {cuts} cuts, {ratio:.3}x the file sent");
    assert!(ratio <= 1.15, "sent {ratio:.3}x");
}
