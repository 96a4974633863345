//! A real tellus-server in the test's process, on 127.0.0.1 with a port of its own,
//! holding the sample project: plain HTTP, or HTTPS when the test gives it a
//! certificate (`tls_cert`/`tls_key` in [`ServerOptions::start_with`]'s adjustment).
//!
//! [`ServerOptions`] says where its data lives: the embedded default, a SQLite file and
//! an audio folder in a temp folder, or PostgreSQL ([`Database::Postgres`]) and a bucket
//! ([`Storage::Bucket`]), so that suites can run against either backend without a copy.
//! Several servers on one database and one bucket are replicas
//! ([`ServerOptions::replica`]); the operator's commands on PostgreSQL block, so tests
//! that use it run on tokio's multi-threaded runtime.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tellus_server::data::Data;
use tellus_server::{App, Db, Running, ServerConfig, admin};
use tempfile::TempDir;

use crate::sample::SAMPLE_PROJECT;

/// Where the server keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// The embedded default: a SQLite file in the data folder.
    #[default]
    Sqlite,
    /// PostgreSQL at this URL (`services::postgres::Postgres::url`).
    Postgres(String),
}

/// Where the server keeps audio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// The embedded default: a folder in the data folder.
    #[default]
    Folder,
    /// An object store at this `storage` URL (`services::seaweed::Seaweed::storage_url`).
    Bucket(String),
}

/// How to start a [`TestServer`]: its data folder and its backends.
#[derive(Debug, Default)]
pub struct ServerOptions {
    dir: Option<TempDir>,
    database: Database,
    storage: Storage,
    replica: bool,
}

impl ServerOptions {
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }

    /// Serves from `dir` (its `server` folder), as a server restarted on data it kept;
    /// the sample project may already be there.
    pub fn in_dir(mut self, dir: TempDir) -> ServerOptions {
        self.dir = Some(dir);
        self
    }

    pub fn database(mut self, database: Database) -> ServerOptions {
        self.database = database;
        self
    }

    pub fn storage(mut self, storage: Storage) -> ServerOptions {
        self.storage = storage;
        self
    }

    /// Another replica of a server already started on the same database and bucket:
    /// the sample project is there already.
    pub fn replica(mut self) -> ServerOptions {
        self.replica = true;
        self
    }

    pub async fn start(self) -> TestServer {
        self.start_with(|_| {}).await
    }

    /// Starts the server with its configuration changed by `adjust` (limits, TLS, ...).
    pub async fn start_with(self, adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let reused = self.dir.is_some();
        let dir = match self.dir {
            Some(dir) => dir,
            None => tempfile::tempdir().expect("a temp folder for the server's data"),
        };
        let mut config = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.path().join("server"),
            ..ServerConfig::default()
        };
        match self.database {
            Database::Sqlite => {}
            Database::Postgres(url) => config.database = Some(url),
        }
        match self.storage {
            Storage::Folder => {}
            Storage::Bucket(url) => config.storage = Some(url),
        }
        adjust(&mut config);
        let store = AdminStore::open(&config);
        let created = admin::create_project(&store, SAMPLE_PROJECT);
        // A data folder the test hands back in, or a database another replica uses,
        // holds the project already.
        if !reused && !self.replica {
            created.expect("the sample project loads into a new server");
        }
        let mut server = TestServer::run(dir, config).await;
        // SQLite is opened afresh for each command, as before; PostgreSQL's pool is kept.
        if let AdminStore::Shared(_) = store {
            server.store = Some(store);
        }
        server
    }
}

/// Where the operator's commands of a test act: the server's SQLite file, or its
/// PostgreSQL database through a data layer of the test's own.
#[derive(Clone)]
pub enum AdminStore {
    Sqlite(Db),
    Shared(Arc<dyn Data>),
}

impl AdminStore {
    fn open(config: &ServerConfig) -> AdminStore {
        if config.database.is_some() {
            let data = tokio::task::block_in_place(|| App::open_data(config))
                .expect("connect to the test server's database");
            AdminStore::Shared(data)
        } else {
            AdminStore::Sqlite(App::open_db(config).expect("open the test server's database"))
        }
    }
}

impl admin::Store for AdminStore {
    fn run<R>(
        &self,
        f: impl FnOnce(&dyn Data) -> tellus_server::Result<R>,
    ) -> tellus_server::Result<R> {
        match self {
            AdminStore::Sqlite(db) => db.run(f),
            // PostgreSQL's calls block on a runtime of their own.
            AdminStore::Shared(data) => tokio::task::block_in_place(|| f(&**data)),
        }
    }
}

/// A running in-process server, its data folder and a plain HTTP client for requests.
pub struct TestServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS itself.
    pub base: String,
    pub config: ServerConfig,
    pub dir: TempDir,
    pub http: reqwest::Client,
    running: Option<Running>,
    store: Option<AdminStore>,
}

impl TestServer {
    pub fn options() -> ServerOptions {
        ServerOptions::new()
    }

    pub async fn start() -> TestServer {
        ServerOptions::new().start().await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        ServerOptions::new().start_with(adjust).await
    }

    /// Starts on the data kept in `dir` (see [`ServerOptions::in_dir`]).
    pub async fn start_in(dir: TempDir, adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        ServerOptions::new().in_dir(dir).start_with(adjust).await
    }

    async fn run(dir: TempDir, config: ServerConfig) -> TestServer {
        let running = Running::start(config.clone())
            .await
            .expect("the test server starts");
        TestServer {
            addr: running.addr(),
            base: running.url(),
            config,
            dir,
            http: reqwest::Client::new(),
            running: Some(running),
            store: None,
        }
    }

    /// Stops serving (finishing requests in flight) and keeps the data folder.
    pub async fn stop(mut self) -> TempDir {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("the test server stops");
        }
        self.dir
    }

    /// Stops the server and starts it again on the same address and data folder.
    pub async fn restart(self) -> TestServer {
        let addr = self.addr;
        let mut config = self.config.clone();
        let store = self.store.clone();
        let dir = self.stop().await;
        config.listen = addr;
        let mut server = TestServer::run(dir, config).await;
        server.store = store;
        server
    }

    /// The server's address followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn db(&self) -> Db {
        App::open_db(&self.config).expect("open the test server's database")
    }

    /// Where the operator's commands act (`admin::*`), whichever the database.
    pub fn store(&self) -> AdminStore {
        match &self.store {
            Some(store) => store.clone(),
            None => AdminStore::open(&self.config),
        }
    }

    /// The number a `SELECT COUNT(...)`-like query gives.
    pub fn count(&self, sql: &str) -> i64 {
        self.db()
            .with(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Uploads the server holds open.
    pub fn upload_rows(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM uploads")
    }

    pub fn spool_files(&self) -> usize {
        std::fs::read_dir(self.config.spool_dir()).unwrap().count()
    }

    /// The one upload's spool file.
    pub fn spool_file(&self) -> PathBuf {
        let mut files = std::fs::read_dir(self.config.spool_dir()).unwrap();
        let spool = files.next().unwrap().unwrap().path();
        assert!(files.next().is_none(), "one upload's spool file");
        spool
    }

    pub fn audio_files(&self) -> usize {
        std::fs::read_dir(self.config.audio_dir()).unwrap().count()
    }

    /// Where the server keeps a delivered recording.
    pub fn audio_path(&self, recording_id: impl Display) -> PathBuf {
        self.config.audio_dir().join(recording_id.to_string())
    }

    /// A second project, for "the lead of another project".
    pub fn other_project(&self) -> &'static str {
        let mut config: serde_json::Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
        config["id"] = serde_json::json!("other-project");
        let _ = admin::create_project(&self.store(), &config.to_string());
        "other-project"
    }
}
