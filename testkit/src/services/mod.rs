//! Real services started for a test on 127.0.0.1, stopped when the test drops them.
//!
//! A service that is not installed is a skip, not a failure, on a developer's machine:
//! [`or_skip`] says so on stderr. `scripts/test.sh` installs the services and sets
//! `TELLUS_REQUIRE_SERVICES=1`, and then a missing service fails the test.

pub mod azurite;
pub mod postgres;
pub mod seaweed;

use std::path::PathBuf;

/// Why a service did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{service} is not installed ({hint})")]
    NotInstalled { service: &'static str, hint: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {output}")]
    Command { what: String, output: String },
    #[error("{service} did not become ready in {seconds} s; its log:\n{log}")]
    NotReady {
        service: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("{0}")]
    Setup(String),
}

impl ServiceError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
        let what = what.into();
        move |source| ServiceError::Io { what, source }
    }
}

/// Whether tests must fail, rather than skip, when a service is not installed
/// (`TELLUS_REQUIRE_SERVICES` set to anything but empty or `0`).
pub fn required() -> bool {
    std::env::var("TELLUS_REQUIRE_SERVICES").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The started service; `None` (after saying why on stderr) when it is not installed and
/// services are not [`required`]. Any other failure to start fails the test.
pub fn or_skip<T>(started: Result<T, ServiceError>, test: &str) -> Option<T> {
    skip_or_fail(started, test, required())
}

fn skip_or_fail<T>(started: Result<T, ServiceError>, test: &str, required: bool) -> Option<T> {
    match started {
        Ok(service) => Some(service),
        Err(e @ ServiceError::NotInstalled { .. }) if !required => {
            eprintln!("skipped {test}: {e}; set TELLUS_REQUIRE_SERVICES=1 to fail instead");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// An object store the tests start, seen as a server's `storage` URL and as a client,
/// each under a prefix of the test's own. Tests about audio in a store run against each
/// one installed ([`object_stores`]), so a store cannot pass where another fails.
pub trait ObjectService: Send + Sync {
    /// Which store, for failure messages.
    fn name(&self) -> &'static str;
    fn storage_url(&self, prefix: &str) -> String;
    fn store(&self, prefix: &str) -> std::sync::Arc<dyn object_store::ObjectStore>;
}

impl ObjectService for seaweed::Seaweed {
    fn name(&self) -> &'static str {
        "S3 (SeaweedFS)"
    }
    fn storage_url(&self, prefix: &str) -> String {
        seaweed::Seaweed::storage_url(self, prefix)
    }
    fn store(&self, prefix: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        seaweed::Seaweed::store(self, prefix)
    }
}

impl ObjectService for azurite::Azurite {
    fn name(&self) -> &'static str {
        "Azure Blob (Azurite)"
    }
    fn storage_url(&self, prefix: &str) -> String {
        azurite::Azurite::storage_url(self, prefix)
    }
    fn store(&self, prefix: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        azurite::Azurite::store(self, prefix)
    }
}

/// Every object store service installed, started (shared per test process): SeaweedFS's
/// S3 and Azurite's Azure Blob. One not installed is skipped with a message, or fails
/// the test under `TELLUS_REQUIRE_SERVICES`.
pub async fn object_stores() -> Vec<std::sync::Arc<dyn ObjectService>> {
    let mut stores: Vec<std::sync::Arc<dyn ObjectService>> = Vec::new();
    if let Some(s3) = seaweed::Seaweed::shared().await {
        stores.push(s3);
    }
    if let Some(azure) = azurite::Azurite::shared().await {
        stores.push(azure);
    }
    stores
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; the service binds it next).
pub(crate) fn free_loopback_port() -> Result<u16, ServiceError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(ServiceError::io("bind a loopback port"))?;
    let port = listener
        .local_addr()
        .map_err(ServiceError::io("read the loopback port"))?
        .port();
    Ok(port)
}

/// `program` in the folders of `PATH`, if there.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing() -> Result<(), ServiceError> {
        Err(ServiceError::NotInstalled {
            service: "PostgreSQL",
            hint: "test".into(),
        })
    }

    #[test]
    fn a_missing_service_is_a_skip_unless_services_are_required() {
        assert_eq!(skip_or_fail(Ok(7), "t", true), Some(7));
        assert_eq!(skip_or_fail(missing(), "t", false), None);
    }

    #[test]
    #[should_panic(expected = "PostgreSQL is not installed")]
    fn a_missing_service_fails_the_test_when_services_are_required() {
        skip_or_fail(missing(), "t", true);
    }

    #[test]
    #[should_panic(expected = "broken")]
    fn a_service_that_fails_to_start_fails_the_test_even_when_not_required() {
        let broken: Result<(), ServiceError> = Err(ServiceError::Setup("broken".into()));
        skip_or_fail(broken, "t", false);
    }
}
