//! A 200 MiB recording uploaded over tus to a real server on loopback, its audio going to
//! a real S3-compatible store (SeaweedFS `weed mini`, tests/support/seaweed.rs) against
//! the same upload to the local folder (the baseline), alternating, in one run. Timed
//! from the tus creation to the last PATCH's answer (spooled, hashed, checked and moved
//! into storage: a rename in the folder, a multipart upload to the bucket).
//!
//! Run: `scripts/bench-object-storage.sh` (installs `weed`), or with TELLUS_WEED set:
//! `cargo bench -p tellus-server --bench object_storage` (TELLUS_BENCH_MIB, _ROUNDS).

use std::time::{Duration, Instant};

use tellus_server::Role;
use tellus_testkit::fixtures::audio;
use tellus_testkit::services::seaweed;
use tellus_testkit::{PROJECT, TestServer as Server};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One upload of `data` in `chunk`-sized PATCHes (a phone's), timed.
async fn upload_once(server: &Server, data: &[u8], chunk: usize) -> Duration {
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let started = Instant::now();
    reporter.upload(&story, data, chunk).await;
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let mib = env_number("TELLUS_BENCH_MIB", 200);
    let rounds = env_number("TELLUS_BENCH_ROUNDS", 3).max(1);
    let chunk = 16 * 1024 * 1024;
    let Some(seaweed) = seaweed::Seaweed::shared().await else {
        eprintln!("no `weed`: run scripts/bench-object-storage.sh");
        std::process::exit(1);
    };
    let data = audio(mib * 1024 * 1024, 5);
    let object = {
        let url = seaweed.storage_url("bench");
        Server::start_with(move |c| c.storage = Some(url)).await
    };
    let local = Server::start().await;
    let (mut to_object, mut to_folder) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let o = upload_once(&object, &data, chunk).await;
        let l = upload_once(&local, &data, chunk).await;
        println!(
            "round {}: object store {:.2} s, local folder {:.2} s",
            round + 1,
            o.as_secs_f64(),
            l.as_secs_f64()
        );
        to_object.push(o);
        to_folder.push(l);
    }
    let (o, l) = (median(to_object), median(to_folder));
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("| storage | median s | MiB/s |\n|---|---|---|");
    println!(
        "| local folder (baseline) | {:.2} | {:.0} |",
        l.as_secs_f64(),
        rate(l)
    );
    println!(
        "| S3 (SeaweedFS on loopback) | {:.2} | {:.0} |",
        o.as_secs_f64(),
        rate(o)
    );
    println!(
        "{mib} MiB, {rounds} rounds, {} MiB PATCHes: the object store takes {:.2}x the local folder's time",
        chunk / (1024 * 1024),
        o.as_secs_f64() / l.as_secs_f64()
    );
}
