//! Two replicas as real processes (issue 19, docs/deploy.md "Several replicas"): two
//! `tellus serve` on ONE real PostgreSQL database and ONE prefix of a real SeaweedFS
//! bucket, behind testkit's round-robin loopback balancer (a connection per turn, no
//! stickiness; a replica that refuses connections is passed over), and a phone (the real
//! core, in this process) syncing through a throttled proxy in front of the balancer.
//!
//! The phone's whole-file PATCH is cut on one replica; the phone's next connection goes to
//! the other, which resumes from what the first kept (the tus spool is in the bucket).
//! That replica is then killed with SIGKILL in the middle of a chunk, and the phone's
//! sync, tried again as the app's background sync does, finishes on the first one.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{server_address, story_with_recording, tellus};
use tellus_core::Store;
use tellus_core::sync::{DeliveryState, HttpTransport, SyncEngine, Transport};
use tellus_testkit::balancer::RoundRobin;
use tellus_testkit::proxy::{Faults, Proxy};
use tellus_testkit::services::or_skip;
use tellus_testkit::services::postgres::Postgres;
use tellus_testkit::services::seaweed::{self, Seaweed};
use tellus_testkit::wait;

const PROJECT: &str = "coproduction-stories-2026";
const MIB: u64 = 1024 * 1024;
/// The recording: long enough for a cut, a chunk, a kill mid-chunk and the rest.
const RECORDING_BYTES: u64 = 30 * MIB + 4321;
/// Where the proxy cuts the phone's first connection (the whole-file PATCH on it).
const CUT_AT: u64 = 10 * MIB;
/// The phone's link: a chunk of 8 MiB takes about three seconds, time to kill a replica
/// in the middle of it.
const LINK_BYTES_PER_SEC: u64 = 3 * MIB;
/// The least a PATCH after a cut carries (the core's first chunk after a failure).
const CHUNK: u64 = 8 * MIB;

/// A `tellus serve` child process; killed with SIGKILL and reaped when dropped.
struct Replica {
    child: Child,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
}

impl Replica {
    /// `tellus serve` on a data folder of its own, `database` and `storage`, on a free
    /// loopback port.
    fn start(database: &str, storage: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let mut cmd = tellus(&dir.path().join("data"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database", database, "--storage", storage])
            .env_remove("TELLUS_SERVER_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log);
        // A test process that is itself killed takes its replicas with it (dropping the
        // guard covers every other way out).
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let mut replica = Replica {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            dir,
        };
        let url = server_address(&mut replica.child);
        replica.addr = url.trim_start_matches("http://").parse().unwrap();
        replica
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no request finishes, nothing is flushed or released by the process.
    fn kill(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.kill().unwrap(); // SIGKILL on Unix
        let status = self.child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the replica was running until the SIGKILL: {status:?}"
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The services and the two replicas. Fields drop in order: the replicas stop before the
/// database and the bucket they use.
struct Cluster {
    replicas: Vec<Replica>,
    balancer: RoundRobin,
    /// The data folder `tellus admin` runs on (the database is PostgreSQL's).
    admin: tempfile::TempDir,
    store: Arc<dyn ObjectStore>,
    postgres: Postgres,
    _seaweed: Arc<Seaweed>,
}

impl Cluster {
    async fn start(test: &str) -> Option<Cluster> {
        let postgres = or_skip(Postgres::start(), test)?;
        let seaweed = Seaweed::shared().await?;
        let prefix = format!("cli-replicas-{}", uuid::Uuid::now_v7());
        let storage = seaweed.storage_url(&prefix);
        let admin = tempfile::tempdir().unwrap();
        // The sample project, made once in the one database both replicas use.
        let created = tellus(admin.path())
            .args(["admin", "project", "create"])
            .env("TELLUS_DATABASE", postgres.url())
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let replicas = vec![
            Replica::start(postgres.url(), &storage),
            Replica::start(postgres.url(), &storage),
        ];
        let balancer = RoundRobin::start(replicas.iter().map(|r| r.addr).collect()).await;
        Some(Cluster {
            replicas,
            balancer,
            admin,
            store: seaweed.store(&prefix),
            postgres,
            _seaweed: seaweed,
        })
    }

    /// A single-use invite code for `role`, made by `tellus admin invite` on the database.
    fn invite(&self, role: &str) -> String {
        let out = tellus(self.admin.path())
            .args(["--json", "admin", "invite", "--project", PROJECT])
            .args(["--role", role])
            .env("TELLUS_DATABASE", self.postgres.url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let invite: Value = serde_json::from_slice(&out.stdout).unwrap();
        invite["code"].as_str().unwrap().to_string()
    }

    /// The upload's offset in the database (0 before it exists, and after it completed).
    fn offset(&self) -> u64 {
        let text = self
            .postgres
            .psql("SELECT COALESCE(MAX(\"offset\"), 0) FROM uploads")
            .unwrap();
        text.parse().unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.postgres.psql(sql).unwrap().parse().unwrap()
    }

    /// Bytes the balancer relayed to each replica so far.
    fn sent(&self) -> Vec<u64> {
        self.balancer.sent()
    }
}

/// A phone: the real core on a store of its own, enrolled through `url`, with one ready
/// story (consent given) and its recording.
struct Phone {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    engine: SyncEngine,
    story: tellus_core::model::StoryId,
    recording: tellus_core::model::Recording,
}

impl Phone {
    async fn enrolled(url: &str, code: &str) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        // Cut links are noticed at once; a stall is given up after 10 s.
        let transport: Arc<dyn Transport> =
            Arc::new(HttpTransport::with_stall_timeout(Duration::from_secs(10)).unwrap());
        {
            let store = Store::open(dir.path()).unwrap();
            tellus_core::sync::enrol(&store, transport.clone(), url, code, "phone")
                .await
                .unwrap();
        }
        let (_, recording) = story_with_recording(dir.path(), RECORDING_BYTES as usize);
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let engine = SyncEngine::new(store.clone(), transport);
        Phone {
            story: recording.story_id,
            recording,
            store,
            engine,
            _dir: dir,
        }
    }

    fn delivered(&self) -> bool {
        matches!(
            self.store.delivery_state(self.story).unwrap(),
            DeliveryState::Delivered { .. }
        )
    }
}

/// The phone syncs until its story is delivered, as the app's background sync does
/// (again after a failed sync, once its wait is over), for at most `limit`; the result of
/// every sync.
async fn sync_until_delivered(
    phone: Arc<Phone>,
    limit: Duration,
) -> Vec<Result<tellus_core::sync::SyncReport, tellus_core::sync::SyncError>> {
    let mut results = Vec::new();
    let deadline = std::time::Instant::now() + limit;
    while !phone.delivered() && std::time::Instant::now() < deadline {
        results.push(phone.engine.sync().await);
        if !phone.delivered() {
            // The retry waits of a failed item are seconds; ask again shortly.
            wait::until(Duration::from_millis(500), || phone.delivered()).await;
        }
    }
    results
}

fn other(replica: usize) -> usize {
    1 - replica
}

fn log_tails(cluster: &Cluster) -> String {
    cluster
        .replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let log = r.log();
            let start = log.len().saturating_sub(2000);
            format!(
                "--- replica {i} (pid {}):\n{}",
                r.pid(),
                log.get(start..).unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_cut_on_one_replica_resumes_on_the_other_and_survives_a_sigkill_of_it() {
    let Some(mut cluster) = Cluster::start("cli replicas: cut and SIGKILL").await else {
        return;
    };
    // The phone's link: throttled, and its first connection cut once after CUT_AT bytes.
    let link = Proxy::start(
        cluster.balancer.addr,
        Faults {
            cut_every: CUT_AT,
            max_cuts: 1,
            bytes_per_sec: LINK_BYTES_PER_SEC,
            ..Faults::default()
        },
    )
    .await;
    let phone = Arc::new(Phone::enrolled(&link.url(), &cluster.invite("reporter")).await);
    let recording = phone.recording.clone();
    let syncing = tokio::spawn(sync_until_delivered(
        phone.clone(),
        Duration::from_secs(180),
    ));

    // 1. The whole-file PATCH is cut on one replica, which keeps what arrived.
    let cut = || link.cuts.load(std::sync::atomic::Ordering::SeqCst) == 1;
    assert!(
        wait::until(Duration::from_secs(60), || cut()
            && cluster.sent().iter().any(|&b| b >= CUT_AT))
        .await,
        "the link was never cut; relayed {:?}\n{}",
        cluster.sent(),
        log_tails(&cluster)
    );
    let at_cut = cluster.sent();
    let cut_on = if at_cut[0] > at_cut[1] { 0 } else { 1 };
    assert!(
        at_cut[cut_on] >= CUT_AT && at_cut[other(cut_on)] < MIB,
        "the first connection, with the PATCH, went to one replica: {at_cut:?}"
    );

    // 2. The phone's next connection goes to the other replica, which resumes there: one
    //    chunk is answered (the next one is sent only then), the next one is on its way.
    let resumed_on = other(cut_on);
    assert!(
        wait::until(Duration::from_secs(60), || cluster.sent()[resumed_on]
            >= at_cut[resumed_on] + CHUNK + MIB / 2)
        .await,
        "the upload never went on on the other replica: relayed {:?} (at the cut {at_cut:?})\n{}",
        cluster.sent(),
        log_tails(&cluster)
    );
    assert_eq!(
        cluster.sent()[cut_on],
        at_cut[cut_on],
        "nothing more went to the replica the cut was on"
    );

    // 3. SIGKILL the replica receiving the upload, in the middle of a chunk.
    let killed = resumed_on;
    cluster.replicas[killed].kill();
    let received_by_killed = cluster.sent()[killed] - at_cut[killed];
    assert!(!phone.delivered(), "killed before the upload finished");
    // What the database holds after the kill: the cut prefix the first replica kept plus
    // the chunks the killed one finished. More than the killed replica ever received, so
    // it resumed from the first one's prefix rather than starting over.
    let held = cluster.offset();
    assert!(
        held >= CUT_AT - MIB + CHUNK && held > received_by_killed && held < RECORDING_BYTES,
        "held {held} after the kill; the killed replica received {received_by_killed}"
    );

    // 4. The phone's sync, tried again as the background sync does, finishes on the
    //    surviving replica: the balancer passes over the dead one.
    let results = syncing.await.unwrap();
    assert!(
        phone.delivered(),
        "not delivered after {} syncs: {results:?}\n{}",
        results.len(),
        log_tails(&cluster)
    );
    let survivor = other(killed);
    let after_kill = cluster.sent()[survivor] - at_cut[survivor];
    assert!(
        after_kill >= RECORDING_BYTES - held,
        "the rest went to the survivor: {after_kill} bytes for {} left",
        RECORDING_BYTES - held
    );
    // Resumed, not restarted: in all the phone sent the file once, plus the part of the
    // chunk the kill lost (at most one chunk) and the requests' headers.
    let sent = link.sent();
    assert!(
        (RECORDING_BYTES..RECORDING_BYTES + CHUNK + 256 * 1024).contains(&sent),
        "the phone sent {sent} bytes for a file of {RECORDING_BYTES}"
    );

    // The receipt the phone holds is the recording's; so is the object in the bucket,
    // and nothing of the upload's spool is left there.
    let receipts = phone.store.receipts().unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0].recording_id, recording.id.to_string());
    assert_eq!(receipts[0].sha256, recording.sha256);
    assert_eq!(receipts[0].bytes, RECORDING_BYTES);
    let keys = seaweed::keys(&cluster.store).await;
    assert_eq!(
        keys,
        [recording.id.to_string()],
        "the audio only: no tus/ spool objects"
    );
    let object = seaweed::object(&cluster.store, &recording.id.to_string()).await;
    assert_eq!(sha256_hex(&object), recording.sha256);
    assert_eq!(cluster.count("SELECT COUNT(*) FROM uploads"), 0);
    assert_eq!(
        cluster.count(&format!(
            "SELECT COUNT(*) FROM recordings WHERE id = '{}'",
            recording.id
        )),
        1
    );

    // A lead reading the feed from the survivor finds the recording exactly once.
    let survivor_url = format!("http://{}", cluster.replicas[survivor].addr);
    let lead = enrol_lead(&survivor_url, &cluster.invite("lead")).await;
    let feed = lead_feed(&survivor_url, &lead).await;
    let arrivals: Vec<&Value> = feed
        .iter()
        .filter(|c| c["kind"] == "recording")
        .filter(|c| c["recording_id"] == recording.id.to_string().as_str())
        .collect();
    assert_eq!(
        arrivals.len(),
        1,
        "the recording is in the feed once: {feed:?}"
    );
    assert_eq!(arrivals[0]["sha256"], recording.sha256.as_str());
    eprintln!(
        "cut on replica {cut_on} at {at_cut:?} relayed; replica {killed} killed after receiving \
         {received_by_killed} bytes, the database holding {held}; the phone sent {sent} bytes \
         for {RECORDING_BYTES} in {} sync(s)",
        results.len()
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A lead's token, enrolled with `code` at `base`.
async fn enrol_lead(base: &str, code: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "lead" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// Every change in the project's feed, read page by page.
async fn lead_feed(base: &str, token: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let (mut changes, mut after) = (Vec::new(), "0".to_string());
    loop {
        let r = http
            .get(format!("{base}/api/v1/changes?after={after}&limit=50"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.unwrap();
        changes.extend(page["changes"].as_array().cloned().unwrap_or_default());
        after = page["next_cursor"].as_str().unwrap().to_string();
        if page["more"] != true {
            return changes;
        }
    }
}
