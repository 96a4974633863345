//! A real Azure Blob Storage for tests: Azurite, Microsoft's official emulator (npm
//! `azurite`, installed by server/tests/services/install-azurite.sh), its blob service
//! alone on 127.0.0.1 and a private port, telemetry off, its data in a temp folder;
//! stopped when the last test using it drops it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::{ObjectStore, RetryConfig};
use sha2::{Digest, Sha256};

/// Azurite's well-known development account and key (public, in Microsoft's docs).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "tellus-audio";
/// The REST API version the container is created with.
const API_VERSION: &str = "2021-08-06";

pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`, the account's blob endpoint.
    pub endpoint: String,
    dir: tempfile::TempDir,
}

/// One emulator shared by the tests of a binary that run at the same time; held while one
/// starts, so that two never pick ports at once.
static SHARED: tokio::sync::Mutex<Weak<Azurite>> = tokio::sync::Mutex::const_new(Weak::new());
/// Starts tried before giving up (a port taken between picking and binding).
const ATTEMPTS: usize = 3;

/// `azurite-blob`: $TELLUS_AZURITE, else where install-azurite.sh puts it, else the PATH.
fn azurite_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TELLUS_AZURITE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("TELLUS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("tellus")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tellus")));
    if let Some(installed) = cache.map(|c| c.join("azurite/node_modules/.bin/azurite-blob")) {
        if installed.is_file() {
            return Some(installed);
        }
    }
    super::on_path("azurite-blob")
}

impl Azurite {
    /// The running emulator, started if need be. None (with a message) when Azurite is
    /// not installed and TELLUS_REQUIRE_SERVICES is not set; with it set, a missing
    /// Azurite fails the test.
    pub async fn shared() -> Option<Arc<Azurite>> {
        let mut shared = SHARED.lock().await;
        if let Some(running) = shared.upgrade() {
            return Some(running);
        }
        let Some(azurite) = azurite_binary() else {
            if super::required() {
                panic!(
                    "TELLUS_REQUIRE_SERVICES is set but `azurite-blob` is not installed (server/tests/services/install-azurite.sh installs it)"
                );
            }
            eprintln!(
                "SKIPPED: `azurite-blob` (npm azurite) is not installed; server/tests/services/install-azurite.sh installs it"
            );
            return None;
        };
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Azurite::start(&azurite).await {
                Ok(started) => {
                    let started = Arc::new(started);
                    *shared = Arc::downgrade(&started);
                    return Some(started);
                }
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "azurite-blob did not start in {ATTEMPTS} tries:\n{}",
            failures.join("\n----\n")
        );
    }

    /// One try: started, answering and with the container made, or why not (its log).
    async fn start(azurite: &std::path::Path) -> Result<Azurite, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("a temp folder: {e}"))?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let port = super::seaweed::free_ports(1)[0];
        let log = |name: &str| {
            std::fs::File::create(dir.path().join(name))
                .map_err(|e| format!("{name} in {}: {e}", dir.path().display()))
        };
        let child = Command::new(azurite)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&data)
            .args([
                "--disableTelemetry",
                // The account is the URL's first path segment, never guessed from the host.
                "--disableProductStyleUrl",
                // object_store's API version may be newer than this Azurite knows.
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log("azurite.log")?)
            .stderr(log("azurite.err")?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", azurite.display()))?;
        let mut emulator = Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            dir,
        };
        emulator.wait_ready().await?;
        Ok(emulator)
    }

    /// Polls until the container can be made (or already exists): the blob service is up
    /// and takes the account's key.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "azurite-blob exited ({status}):\n{}",
                    self.log_tail()
                ));
            }
            let why = match self.create_container(&http, CONTAINER).await {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "azurite-blob not ready in 60 s: {why}\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates `container` (Create Container, signed with the account's shared key:
    /// object_store has no call for it); one that exists is fine.
    async fn create_container(
        &self,
        http: &reqwest::Client,
        container: &str,
    ) -> Result<(), String> {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
        );
        let key = BASE64
            .decode(ACCOUNT_KEY)
            .map_err(|e| format!("the account key: {e}"))?;
        let signature = BASE64.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        let answer = http
            .put(format!("{}/{container}?restype=container", self.endpoint))
            .header("x-ms-date", date)
            .header("x-ms-version", API_VERSION)
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match answer.status().as_u16() {
            201 | 409 => Ok(()),
            status => Err(format!(
                "create container {container}: {status} {}",
                answer.text().await.unwrap_or_default()
            )),
        }
    }

    /// How many uncommitted blocks the blob `name` (its whole name in the test container)
    /// holds: parts of an upload sent and not yet committed. object_store cannot list
    /// them, so this is one signed Get Block List request; 0 when the blob is unknown.
    pub async fn uncommitted_blocks(&self, name: &str) -> usize {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let string_to_sign = format!(
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}/{name}\nblocklisttype:uncommitted\ncomp:blocklist"
        );
        let key = BASE64.decode(ACCOUNT_KEY).expect("the account key");
        let signature = BASE64.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        let answer = reqwest::Client::new()
            .get(format!(
                "{}/{CONTAINER}/{name}?comp=blocklist&blocklisttype=uncommitted",
                self.endpoint
            ))
            .header("x-ms-date", date)
            .header("x-ms-version", API_VERSION)
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .send()
            .await
            .expect("Azurite answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        match status {
            200 => text.matches("<Block>").count(),
            404 => 0,
            _ => panic!("get block list of {name}: {status} {text}"),
        }
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        for name in ["azurite.log", "azurite.err"] {
            let log = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let start = log.len().saturating_sub(3000);
            text.push_str(log.get(start..).unwrap_or_default());
        }
        text
    }

    /// A client of the test container (`retries` 0: one try per call).
    pub fn client(&self, retries: usize) -> MicrosoftAzure {
        MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(ACCOUNT_KEY)
            .with_container_name(CONTAINER)
            .with_endpoint(self.endpoint.clone())
            .with_allow_http(true)
            .with_http_connector(tellus_server::storage::RustlsConnector)
            .with_retry(RetryConfig {
                max_retries: retries,
                ..RetryConfig::default()
            })
            .build()
            .expect("a client of Azurite's container")
    }

    /// The server's `storage` URL for the test container under `prefix` (one per test).
    pub fn storage_url(&self, prefix: &str) -> String {
        // A base64 key as a query value (`+`, `/` and `=` escaped).
        let key: String = url::form_urlencoded::byte_serialize(ACCOUNT_KEY.as_bytes()).collect();
        format!(
            "az://{CONTAINER}/{prefix}?account={ACCOUNT}&access_key={key}&endpoint={}",
            self.endpoint
        )
    }

    /// The container, seen from under `prefix`.
    pub fn store(&self, prefix: &str) -> Arc<dyn ObjectStore> {
        Arc::new(object_store::prefix::PrefixStore::new(
            self.client(3),
            prefix,
        ))
    }
}

/// HMAC-SHA256 (RFC 2104), for the one request object_store cannot make.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

impl std::fmt::Debug for Azurite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azurite")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
