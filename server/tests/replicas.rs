//! The server as several replicas (issue 19, docs/deploy.md "Several replicas"): two
//! in-process servers on ONE real PostgreSQL and ONE bucket prefix of a real SeaweedFS,
//! each with a data folder of its own, behind a round-robin loopback balancer that sends
//! every new connection to the next replica (devices open a connection per request, so
//! their requests alternate between the replicas).

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;
use tellus_protocol::{ChangeKind, ChangesPage};
use tellus_server::Role;
use tellus_testkit::balancer::RoundRobin;
use tellus_testkit::services::or_skip;
use tellus_testkit::services::postgres;
use tellus_testkit::services::seaweed::Seaweed;
use tellus_testkit::story::{Delivered, Reporter, StorySpec};
use tellus_testkit::{Database, ServerOptions, Storage};
use tokio::io::AsyncWriteExt;

struct Replicas {
    // Servers first: they stop before the services they use.
    servers: Vec<Server>,
    balancer: RoundRobin,
    store: Arc<dyn ObjectStore>,
    _seaweed: Arc<Seaweed>,
}

impl Replicas {
    async fn start(test: &str) -> Option<Replicas> {
        // The test servers' PostgreSQL (a database of this test's own on it).
        or_skip(postgres::bin_dir().map(|_| ()), test)?;
        let seaweed = Seaweed::shared().await?;
        let prefix = format!("replicas-{}", new_id());
        let a = Server::options()
            .database(Database::Postgres)
            .storage(Storage::Bucket(seaweed.storage_url(&prefix)))
            .start()
            .await;
        let b = ServerOptions::replica_of(&a).start().await;
        assert_eq!(a.config.database, b.config.database, "one database");
        assert_eq!(a.config.storage, b.config.storage, "one bucket prefix");
        assert_ne!(a.config.data_dir, b.config.data_dir, "a data folder each");
        let balancer = RoundRobin::start(vec![a.addr, b.addr]).await;
        Some(Replicas {
            servers: vec![a, b],
            balancer,
            store: seaweed.store(&prefix),
            _seaweed: seaweed,
        })
    }

    /// A device enrolled through the balancer, whose every request opens a connection
    /// (and so goes to the next replica).
    async fn enrol(&self, role: Role) -> Device {
        let code = self.servers[0].invite(PROJECT, role);
        let http = RoundRobin::client();
        let r = http
            .post(format!("{}/api/v1/enrol", self.balancer.url()))
            .json(&json!({ "invite_code": code, "device_label": "replica test" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        Device {
            token: body["token"].as_str().unwrap().to_string(),
            id: body["reporter_id"].as_str().unwrap().to_string(),
            base: self.balancer.url(),
            http,
        }
    }
}

/// The same device, talking to one replica directly.
fn on(device: &Device, server: &Server) -> Device {
    Device {
        base: server.base.clone(),
        ..device.clone()
    }
}

async fn page(lead: &Device, after: &str, limit: u32) -> ChangesPage {
    let r = lead
        .get(&format!("/api/v1/changes?after={after}&limit={limit}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The whole feed read page by page (small pages, each on whichever replica).
async fn whole_feed(lead: &Device) -> Vec<(String, ChangeKind, String, Option<String>)> {
    let (mut out, mut after) = (Vec::new(), "0".to_string());
    loop {
        let p = page(lead, &after, 7).await;
        out.extend(
            p.changes
                .into_iter()
                .map(|c| (c.cursor, c.kind, c.story_id, c.recording_id)),
        );
        after = p.next_cursor;
        if !p.more {
            return out;
        }
    }
}

/// Consent, the story's PUT, then its recording over tus in one request
/// (creation-with-upload), whose answer carries the receipt: each request may land on
/// either replica. (An upload whose PATCHes land on different replicas resumes once
/// the spool is in the bucket.)
async fn deliver(reporter: &Reporter, title: &str, data: &[u8]) -> Delivered {
    let granted = ["record", "research_use"];
    let story_id = new_id();
    let recording = new_id();
    reporter.consent(&story_id, "given", &granted).await;
    let spec = StorySpec::new(title, &granted).audio(vec![data.to_vec()]);
    reporter
        .put_story(&story_id, 1, &spec, std::slice::from_ref(&recording))
        .await;
    reporter
        .upload_copy(&story_id, &recording, data, "audio/wav", &[])
        .await;
    Delivered {
        story_id,
        recordings: vec![recording],
    }
}

fn seq(cursor: &str) -> u64 {
    cursor.parse().expect("a cursor is the feed's number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_stories_from_ten_devices_through_two_replicas_arrive_once_in_one_feed_order() {
    let Some(replicas) = Replicas::start("replicas: 100 stories").await else {
        return;
    };
    let lead = replicas.enrol(Role::Lead).await;
    let mut devices = Vec::new();
    for _ in 0..10 {
        devices.push(Reporter {
            device: replicas.enrol(Role::Reporter).await,
        });
    }

    // While the devices deliver, the lead follows the feed page by page, as its pull
    // does: what it reads then must be exactly the feed read afterwards, in its order.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let (lead, done) = (lead.clone(), done.clone());
        tokio::spawn(async move {
            let (mut seen, mut after) = (Vec::new(), "0".to_string());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let p = page(&lead, &after, 5).await;
                seen.extend(p.changes.into_iter().map(|c| c.cursor));
                after = p.next_cursor;
                if finished && !p.more {
                    return seen;
                }
            }
        })
    };

    let deliveries = devices.into_iter().enumerate().map(|(d, reporter)| {
        tokio::spawn(async move {
            let mut delivered = Vec::new();
            for s in 0..10u8 {
                let data = audio(20_000 + 97 * usize::from(s), 10 * d as u8 + s);
                let story = deliver(&reporter, &format!("Story {d}-{s}"), &data).await;
                delivered.push((reporter.clone(), story, sha256_hex(&data)));
            }
            delivered
        })
    });
    let mut delivered = Vec::new();
    for task in deliveries {
        delivered.extend(task.await.expect("a device's deliveries"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let followed = follower.await.expect("the lead's pull");
    assert_eq!(delivered.len(), 100);

    // Every receipt, asked of either replica, is the delivered file's.
    let mut expected: HashMap<String, String> = HashMap::new();
    for (i, (reporter, story, sha256)) in delivered.iter().enumerate() {
        let recording = &story.recordings[0];
        let server = &replicas.servers[i % 2];
        let r = on(reporter, server).receipt(recording).await;
        assert_eq!(r.status(), StatusCode::OK);
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(
            receipt["sha256"].as_str(),
            Some(sha256.as_str()),
            "{receipt}"
        );
        expected.insert(recording.clone(), sha256.clone());
    }

    // Every object in the bucket is one delivered recording, whole.
    let keys: Vec<String> = replicas
        .store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let keys: HashSet<String> = keys.into_iter().collect();
    let wanted: HashSet<String> = expected.keys().cloned().collect();
    assert_eq!(
        keys, wanted,
        "the bucket holds the hundred recordings, nothing else"
    );
    for (key, sha256) in &expected {
        let bytes = replicas
            .store
            .get(&ObjectPath::from(key.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&sha256_hex(&bytes), sha256, "object {key}");
    }

    // The feed: every story and recording once, numbers strictly rising, the same from
    // either replica, and what the lead followed during the writes is all of it.
    let feed = whole_feed(&lead).await;
    let cursors: Vec<String> = feed.iter().map(|c| c.0.clone()).collect();
    assert!(
        cursors.windows(2).all(|w| seq(&w[0]) < seq(&w[1])),
        "one rising order"
    );
    let recordings: Vec<&String> = feed
        .iter()
        .filter(|c| c.1 == ChangeKind::Recording)
        .filter_map(|c| c.3.as_ref())
        .collect();
    assert_eq!(recordings.len(), 100, "each recording delivered once");
    assert_eq!(
        recordings
            .iter()
            .map(|r| (*r).clone())
            .collect::<HashSet<_>>(),
        wanted
    );
    let stories: HashSet<&String> = feed
        .iter()
        .filter(|c| c.1 == ChangeKind::Story)
        .map(|c| &c.2)
        .collect();
    assert_eq!(stories.len(), 100, "every story is in the feed");
    for server in &replicas.servers {
        assert_eq!(
            whole_feed(&on(&lead, server)).await,
            feed,
            "each replica serves the one feed"
        );
    }
    assert_eq!(
        followed, cursors,
        "read page by page during the writes: no gap, nothing out of order"
    );
    let counts = replicas.balancer.counts();
    assert!(
        counts.iter().all(|&n| n > 300),
        "both replicas served the devices: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_on_one_replica_keeps_the_other_out_with_423() {
    let Some(replicas) = Replicas::start("replicas: 423").await else {
        return;
    };
    let (a, b) = (&replicas.servers[0], &replicas.servers[1]);
    let device = replicas.enrol(Role::Reporter).await;
    let story = device.consented_story().await;
    // Larger than the server's write buffer, so that what A receives reaches its spool.
    let data = audio(3_000_000, 7);
    let path = on(&device, a).new_upload(&story, &new_id(), &data).await;

    // Replica A is receiving a PATCH body (half of it sent, the connection open).
    let mut writing = on(&device, a).raw_patch(&path, None, data.len()).await;
    writing.write_all(&data[..2_000_000]).await.unwrap();
    writing.flush().await.unwrap();
    // A holds the upload (a session advisory lock in the shared database, keyed by the
    // hash of its name) while it receives the body; its spool is in the bucket, so that
    // lock is what to wait for.
    let upload_id = path.rsplit('/').next().unwrap_or_default();
    let name = tellus_server::data::holds::Exclusive::Upload(upload_id).name();
    let held = format!(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND objid::bigint = (hashtext('{name}')::bigint + 4294967296) % 4294967296"
    );
    assert!(
        wait_until(Duration::from_secs(30), || async { a.count(&held) > 0 }).await,
        "replica A is writing"
    );

    // Replica B, asked to write the same upload, waits, then answers 423 as one replica
    // does.
    let r = on(&device, b)
        .patch(&path, 0, &data, Some(checksum("sha256", &data)))
        .await;
    assert_eq!(r.status(), StatusCode::LOCKED, "{:?}", r.text().await);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "upload_busy");

    // A's client hangs up: A keeps what arrived and lets go; the upload resumes on A.
    drop(writing);
    let device_a = on(&device, a);
    assert!(
        wait_until(Duration::from_secs(30), || {
            let (device_a, path) = (device_a.clone(), path.clone());
            async move { device_a.offset(&path).await > 0 }
        })
        .await,
        "A committed the prefix it received"
    );
    let offset = device_a.offset(&path).await;
    let rest = &data[offset as usize..];
    let r = device_a
        .patch(&path, offset, rest, Some(checksum("sha256", rest)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"].to_str().unwrap(),
        sha256_hex(&data)
    );
}
