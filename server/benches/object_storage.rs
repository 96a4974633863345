//! A 200 MiB recording uploaded over tus to a real server on loopback, its audio going to
//! a real S3-compatible store (SeaweedFS `weed mini`, tellus-testkit's services) against
//! the same upload to the local folder (the baseline), alternating, in one run. Timed
//! from the tus creation to the last PATCH's answer; the last PATCH's extra time over the
//! median PATCH is what completion costs (hash, audio check, move into storage). On the
//! bucket the tus spool is in the bucket too (tus/bucket.rs): parts as the PATCHes
//! arrive, then assembly, a read back for the audio check and a copy to the key.
//!
//! Then a resume across replicas: an upload cut part-way on replica A is finished on
//! replica B (same database and bucket); what B reads from the bucket to resume (the
//! state object and the tail it names) against what A had received.
//!
//! Run: `scripts/bench-object-storage.sh` (installs `weed`), or with TELLUS_WEED set:
//! `cargo bench -p tellus-server --bench object_storage` (TELLUS_BENCH_MIB, _ROUNDS).

use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tellus_server::Role;
use tellus_testkit::fixtures::{audio, new_id};
use tellus_testkit::services::seaweed;
use tellus_testkit::tus::checksum;
use tellus_testkit::{PROJECT, TestServer as Server};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One upload of `data` in `chunk`-sized PATCHes (a phone's): the whole time, and the
/// last PATCH's time over the median of the others (completion).
async fn upload_once(server: &Server, data: &[u8], chunk: usize) -> (Duration, Duration) {
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let started = Instant::now();
    let path = reporter.new_upload(&story, &new_id(), data).await;
    let mut patches = Vec::new();
    let mut offset = 0;
    for piece in data.chunks(chunk) {
        let at = Instant::now();
        let r = reporter
            .patch(&path, offset, piece, Some(checksum("sha256", piece)))
            .await;
        assert_eq!(r.status(), 204, "{:?}", r.text().await);
        patches.push(at.elapsed());
        offset += piece.len() as u64;
    }
    let total = started.elapsed();
    let last = patches.pop().unwrap_or_default();
    let typical = if patches.is_empty() {
        Duration::ZERO
    } else {
        median(patches)
    };
    (total, last.saturating_sub(typical))
}

/// An upload of `data` cut after `cut` bytes on `a`, finished on a second replica: what
/// the resume read from the bucket, and how long the resuming PATCH took.
async fn resume_elsewhere(
    seaweed: &seaweed::Seaweed,
    prefix: &str,
    a: &Server,
    data: &[u8],
    cut: usize,
) -> (u64, u64, u64, Duration) {
    let reporter = a.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let path = reporter.new_upload(&story, &new_id(), data).await;
    let id = path.rsplit('/').next().unwrap_or_default().to_string();
    let mut stream = reporter.raw_patch(&path, None, data.len()).await;
    stream.write_all(&data[..cut]).await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    let kept = tellus_testkit::wait::until_async(Duration::from_secs(60), || async {
        reporter.offset(&path).await == cut as u64
    })
    .await;
    assert!(kept, "A keeps what arrived");
    let store = seaweed.store(prefix);
    let info = store
        .get(&ObjectPath::from(format!("tus/{id}/info.json")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&info).unwrap();
    let tail = state["tail"]["bytes"].as_u64().unwrap_or(0);
    let url = seaweed.storage_url(prefix);
    let data_dir = a.config.data_dir.clone();
    let b = Server::start_in(tempfile::tempdir().unwrap(), move |c| {
        c.data_dir = data_dir;
        c.storage = Some(url);
    })
    .await;
    let phone_on_b = b.device(&reporter.token, &reporter.id);
    let started = Instant::now();
    let offset = phone_on_b.offset(&path).await as usize;
    let rest = &data[offset..];
    let r = phone_on_b
        .patch(&path, offset as u64, rest, Some(checksum("sha256", rest)))
        .await;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    (cut as u64, info.len() as u64, tail, started.elapsed())
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
    let data = audio(mib * MIB, 5);
    let object = {
        let url = seaweed.storage_url("bench");
        Server::start_with(move |c| c.storage = Some(url)).await
    };
    let local = Server::start().await;
    let (mut to_object, mut to_folder) = (Vec::new(), Vec::new());
    let (mut completing_object, mut completing_folder) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (o, oc) = upload_once(&object, &data, chunk).await;
        let (l, lc) = upload_once(&local, &data, chunk).await;
        println!(
            "round {}: object store {:.2} s (completion {:.2} s), local folder {:.2} s (completion {:.2} s)",
            round + 1,
            o.as_secs_f64(),
            oc.as_secs_f64(),
            l.as_secs_f64(),
            lc.as_secs_f64()
        );
        to_object.push(o);
        to_folder.push(l);
        completing_object.push(oc);
        completing_folder.push(lc);
    }
    let (o, l) = (median(to_object), median(to_folder));
    let (oc, lc) = (median(completing_object), median(completing_folder));
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("| storage and spool | median s | MiB/s | completion s |\n|---|---|---|---|");
    println!(
        "| local folder, local spool (baseline) | {:.2} | {:.0} | {:.2} |",
        l.as_secs_f64(),
        rate(l),
        lc.as_secs_f64()
    );
    println!(
        "| S3 (SeaweedFS on loopback), spool in the bucket | {:.2} | {:.0} | {:.2} |",
        o.as_secs_f64(),
        rate(o),
        oc.as_secs_f64()
    );
    println!(
        "{mib} MiB, {rounds} rounds, {} MiB PATCHes: the object store takes {:.2}x the local folder's time",
        chunk / MIB,
        o.as_secs_f64() / l.as_secs_f64()
    );

    // Cut 3 MiB past the middle part boundary, so that the tail is not empty.
    let cut = (mib / 2 / 8 * 8 + 3) * MIB;
    if cut < data.len() {
        let (received, info, tail, took) =
            resume_elsewhere(&seaweed, "bench", &object, &data, cut).await;
        println!(
            "resume on another replica after {:.1} MiB: read {info} bytes of state and a {:.1} MiB tail ({:.2}% of what was received); its PATCH of the remaining {:.1} MiB took {:.2} s",
            received as f64 / MIB as f64,
            tail as f64 / MIB as f64,
            100.0 * (info + tail) as f64 / received as f64,
            (data.len() as u64 - received) as f64 / MIB as f64,
            took.as_secs_f64()
        );
    }
}
