//! The server's tests use the shared harness (tellus-testkit): a real tellus-server on
//! 127.0.0.1:0 in this process, a real SQLite file in a temp folder, and devices that
//! talk real HTTP to it. Nothing here is the server's own.
#![allow(dead_code, unused_imports)]

pub use tellus_testkit::consent::consent_event;
pub use tellus_testkit::fixtures::{Copies, audio, new_id, sha256_hex};
pub use tellus_testkit::story::story_doc;
pub use tellus_testkit::tus::{checksum, copy_metadata, metadata};
pub use tellus_testkit::wait::until_async as wait_until;
pub use tellus_testkit::{Device, PROJECT, SAMPLE_PROJECT, TestServer as Server};

/// Why a server on `storage` (a `storage` URL) refuses to start: it must.
pub async fn refused_start(storage: String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = tellus_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        storage: Some(storage),
        ..tellus_server::ServerConfig::default()
    };
    match tellus_server::Running::start(config).await {
        Ok(running) => panic!("a server started on {}", running.url()),
        Err(e) => e.to_string(),
    }
}

/// A server keeping its audio (and tus spool) in `service`'s bucket under `prefix`.
pub async fn server_on(
    service: &dyn tellus_testkit::services::ObjectService,
    prefix: &str,
) -> Server {
    let url = service.storage_url(prefix);
    Server::start_with(move |c| c.storage = Some(url)).await
}
