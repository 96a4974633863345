//! The 200-device load (issue 19) in one run: every device enrols, consents, PUTs a story
//! and uploads a 5 MiB recording over tus (in its creation request), against one
//! server on SQLite with its local folder (the baseline), then against two replicas on
//! one real PostgreSQL and one bucket of a real SeaweedFS behind a round-robin loopback
//! balancer (a connection per request, so each device's requests alternate). Devices
//! run `TELLUS_BENCH_CONCURRENCY` at a time. Every receipt must match the file sent.
//! Reports total time and the p99 of the story PUT for each, and their ratios.
//!
//! Run: `scripts/bench-replicas.sh` (installs `weed`; needs PostgreSQL as the tests do),
//! or `cargo bench -p tellus-server --bench replicas` (TELLUS_BENCH_DEVICES, _MIB).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tellus_server::Role;
use tellus_testkit::balancer::RoundRobin;
use tellus_testkit::fixtures::{audio, new_id, sha256_hex};
use tellus_testkit::services::seaweed::Seaweed;
use tellus_testkit::story::{Reporter, StorySpec};
use tellus_testkit::{Database, Device, PROJECT, ServerOptions, Storage, TestServer as Server};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Load {
    total: Duration,
    puts: Vec<Duration>,
    receipts: usize,
}

impl Load {
    fn p99_put(&self) -> Duration {
        let mut puts = self.puts.clone();
        puts.sort();
        let at = (puts.len() * 99).div_ceil(100).max(1) - 1;
        puts[at]
    }
}

/// One device's whole session through `base`: enrol (with an invite `admin` made),
/// consent, PUT (timed), upload; the receipt is checked by `upload_copy`.
async fn device(base: String, code: String, mib: usize, seed: u8) -> Duration {
    let http = RoundRobin::client();
    let r = http
        .post(format!("{base}/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "bench device" }))
        .send()
        .await
        .expect("enrol");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.expect("enrolment");
    let reporter = Reporter {
        device: Device {
            token: body["token"].as_str().unwrap_or_default().to_string(),
            id: body["reporter_id"].as_str().unwrap_or_default().to_string(),
            base,
            http,
        },
    };
    let granted = ["record", "research_use"];
    let (story, recording) = (new_id(), new_id());
    reporter.consent(&story, "given", &granted).await;
    let data = audio(mib * 1024 * 1024, seed);
    let spec = StorySpec::new("Bench story", &granted).audio(vec![data.clone()]);
    let started = Instant::now();
    reporter
        .put_story(&story, 1, &spec, std::slice::from_ref(&recording))
        .await;
    let put = started.elapsed();
    let r = reporter
        .device
        .upload_copy(&story, &recording, &data, "audio/wav", &[])
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()
            .get("tellus-receipt-sha256")
            .and_then(|v| v.to_str().ok()),
        Some(sha256_hex(&data).as_str()),
        "the receipt is the file's"
    );
    put
}

async fn load(admin: &Server, base: &str, devices: usize, mib: usize, concurrency: usize) -> Load {
    let codes: Vec<String> = (0..devices)
        .map(|_| admin.invite(PROJECT, Role::Reporter))
        .collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let tasks: Vec<_> = codes
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            let (gate, base) = (gate.clone(), base.to_string());
            tokio::spawn(async move {
                let _turn = gate.acquire_owned().await.expect("the gate");
                device(base, code, mib, i as u8).await
            })
        })
        .collect();
    let mut puts = Vec::new();
    for task in tasks {
        puts.push(task.await.expect("a device's session"));
    }
    Load {
        total: started.elapsed(),
        receipts: puts.len(),
        puts,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let devices = env_number("TELLUS_BENCH_DEVICES", 200);
    let mib = env_number("TELLUS_BENCH_MIB", 5);
    let concurrency = env_number("TELLUS_BENCH_CONCURRENCY", 20).max(1);
    let Some(seaweed) = Seaweed::shared().await else {
        eprintln!("no `weed`: run scripts/bench-replicas.sh");
        std::process::exit(1);
    };

    // Every device comes from 127.0.0.1: lift the per-client limit on enrolment attempts.
    let one_address = |c: &mut tellus_server::ServerConfig| {
        c.attempts_burst_per_client = 1_000_000;
    };
    let single = Server::start_with(one_address).await;
    let baseline = load(&single, &single.base, devices, mib, concurrency).await;
    drop(single);

    let prefix = format!("bench-replicas-{}", new_id());
    let a = Server::options()
        .database(Database::Postgres)
        .storage(Storage::Bucket(seaweed.storage_url(&prefix)))
        .start_with(one_address)
        .await;
    let b = ServerOptions::replica_of(&a).start_with(one_address).await;
    let balancer = RoundRobin::start(vec![a.addr, b.addr]).await;
    let replicas = load(&a, &balancer.url(), devices, mib, concurrency).await;
    let served = balancer.counts();

    let secs = |d: Duration| d.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{devices} devices, {mib} MiB each, {concurrency} at a time; connections per replica {served:?}"
    );
    println!("| setup | receipts matching | total s | p99 story PUT ms |\n|---|---|---|---|");
    println!(
        "| one replica, SQLite + folder (baseline) | {}/{devices} | {:.1} | {:.1} |",
        baseline.receipts,
        secs(baseline.total),
        ms(baseline.p99_put())
    );
    println!(
        "| two replicas, PostgreSQL + S3, round-robin | {}/{devices} | {:.1} | {:.1} |",
        replicas.receipts,
        secs(replicas.total),
        ms(replicas.p99_put())
    );
    println!(
        "ratios (two replicas / baseline): total {:.2}x, p99 story PUT {:.2}x",
        secs(replicas.total) / secs(baseline.total),
        ms(replicas.p99_put()) / ms(baseline.p99_put())
    );
}
