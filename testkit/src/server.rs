//! A real tellus-server in the test's process, on 127.0.0.1 with a port of its own,
//! holding the sample project: plain HTTP, or HTTPS when the test gives it a
//! certificate (`tls_cert`/`tls_key` in [`ServerOptions::start_with`]'s adjustment).
//!
//! [`ServerOptions`] says where its data lives: by default a SQLite file and an audio
//! folder in a temp folder; [`Database::Postgres`] a fresh database of its own on the
//! test process's shared PostgreSQL (`shared_postgres.rs`). `TELLUS_TEST_DATABASE=postgres`
//! makes PostgreSQL the default, so every suite runs against either backend without a
//! copy; a test that reads `server.db` itself asks [`sqlite_only`] first.
//!
//! [`Storage`] says where its audio (and tus spool) lives: the audio folder, or with
//! [`Storage::Seaweed`] a prefix of its own in the test process's shared SeaweedFS bucket
//! (`shared_seaweed.rs`). `TELLUS_TEST_STORAGE=s3` makes the bucket the default. Tests
//! look at stored audio and spooled uploads through [`TestServer::audio_bytes`] and its
//! siblings, which read the folder or the bucket; a test about the local folder itself
//! (a full disk) asks for [`Storage::Folder`].

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;

use tellus_server::data::Data;
use tellus_server::{App, Db, Running, ServerConfig, admin};
use tempfile::TempDir;

use crate::sample::SAMPLE_PROJECT;
use crate::services::seaweed::Seaweed;
use crate::stored::Stored;

/// Where the server keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// The embedded default: a SQLite file in the data folder.
    Sqlite,
    /// A database of its own on the shared PostgreSQL on 127.0.0.1.
    Postgres,
}

/// Names the default [`Database`] of every test server: `postgres`, or (unset) `sqlite`.
pub const DATABASE_ENV: &str = "TELLUS_TEST_DATABASE";

impl Default for Database {
    /// `TELLUS_TEST_DATABASE`: `postgres` or `sqlite` (the default when unset). Anything
    /// else is a mistake in the test run's setup, and says so.
    fn default() -> Self {
        match std::env::var(DATABASE_ENV).as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => Database::Sqlite,
            Ok("postgres") => Database::Postgres,
            Ok(other) => panic!("{DATABASE_ENV}={other}: expected postgres or sqlite"),
        }
    }
}

/// For a test that reads or writes `server.db` itself (rusqlite): true, saying so on
/// stderr, when this run's servers keep their data in PostgreSQL, so the test returns
/// at once instead of reading a file no server writes.
pub fn sqlite_only(test: &str) -> bool {
    let postgres = Database::default() == Database::Postgres;
    if postgres {
        eprintln!("skipped {test} on PostgreSQL: it reads the SQLite file server.db itself");
    }
    postgres
}

/// `text` as an SQL string literal (for [`TestServer::execute`] and friends).
pub fn sql_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The file in a test server's temp folder naming its PostgreSQL database, so a server
/// restarted on that folder (`in_dir`) finds its data again.
const DATABASE_URL_FILE: &str = "postgres-url";

/// The file in a test server's temp folder naming its prefix in the shared bucket, so a
/// server restarted on that folder (`in_dir`) finds its audio again.
const STORAGE_PREFIX_FILE: &str = "storage-prefix";

/// Where the server keeps audio.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// The embedded default: a folder in the data folder.
    Folder,
    /// An object store at this `storage` URL (`services::seaweed::Seaweed::storage_url`).
    Bucket(String),
    /// A prefix of its own in the test process's shared SeaweedFS bucket (the uploads in
    /// progress there too).
    Seaweed,
}

/// Names the default [`Storage`] of every test server: `s3` (the shared SeaweedFS
/// bucket), or (unset) `folder`.
pub const STORAGE_ENV: &str = "TELLUS_TEST_STORAGE";

impl Default for Storage {
    /// `TELLUS_TEST_STORAGE`: `s3` or `folder` (the default when unset). Anything else is
    /// a mistake in the test run's setup, and says so. With `s3` and no `weed` installed
    /// the first server fails to start, whatever TELLUS_REQUIRE_SERVICES says: the run
    /// asked for a bucket.
    fn default() -> Self {
        match std::env::var(STORAGE_ENV).as_deref() {
            Err(_) | Ok("") | Ok("folder") => Storage::Folder,
            Ok("s3") => Storage::Seaweed,
            Ok(other) => panic!("{STORAGE_ENV}={other}: expected s3 or folder"),
        }
    }
}

/// How to start a [`TestServer`]: its data folder and its backends.
#[derive(Debug, Default)]
pub struct ServerOptions {
    dir: Option<TempDir>,
    database: Database,
    storage: Storage,
    /// Another replica: the database URL and storage of a server already running.
    replica_of: Option<(String, Option<String>)>,
    /// Kept running as long as the server that uses it.
    seaweed: Option<Arc<Seaweed>>,
}

impl ServerOptions {
    /// Another replica of `server` (which keeps its data in PostgreSQL): the same
    /// database and audio storage, a data folder of its own; the sample project is there
    /// already.
    pub fn replica_of(server: &TestServer) -> ServerOptions {
        let database = server
            .config
            .database
            .clone()
            .expect("replicas share a PostgreSQL database");
        ServerOptions {
            replica_of: Some((database, server.config.storage.clone())),
            // Not the run's defaults: no fresh database or bucket prefix is made for it.
            database: Database::Sqlite,
            storage: Storage::Folder,
            seaweed: server.seaweed.clone(),
            ..ServerOptions::default()
        }
    }

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
            Database::Postgres => {
                let file = dir.path().join(DATABASE_URL_FILE);
                let url = match std::fs::read_to_string(&file) {
                    Ok(url) if reused => url,
                    _ => {
                        let url = crate::shared_postgres::fresh_database();
                        std::fs::write(&file, &url).expect("note the test server's database");
                        url
                    }
                };
                config.database = Some(url);
            }
        }
        let mut seaweed = self.seaweed;
        match self.storage {
            Storage::Folder => {}
            Storage::Bucket(url) => config.storage = Some(url),
            Storage::Seaweed => {
                let shared = crate::shared_seaweed::pinned().await;
                let file = dir.path().join(STORAGE_PREFIX_FILE);
                let prefix = match std::fs::read_to_string(&file) {
                    Ok(prefix) if reused => prefix,
                    _ => {
                        let prefix = crate::shared_seaweed::fresh_prefix();
                        std::fs::write(&file, &prefix).expect("note the test server's prefix");
                        prefix
                    }
                };
                config.storage = Some(shared.storage_url(&prefix));
                seaweed = Some(shared);
            }
        }
        let replica = self.replica_of.is_some();
        if let Some((database, storage)) = self.replica_of {
            config.database = Some(database);
            config.storage = storage;
        }
        adjust(&mut config);
        let opening = config.clone();
        // On a blocking thread: PostgreSQL's backend blocks on a runtime of its own.
        let created = tokio::task::spawn_blocking(move || {
            let data = App::open_data(&opening).expect("open the test server's database");
            admin::create_project(&data, SAMPLE_PROJECT)
        })
        .await
        .expect("the sample project's task");
        // A data folder the test hands back in, or another replica's database, holds the
        // project already.
        if !reused && !replica {
            created.expect("the sample project loads into a new server");
        }
        TestServer::run(dir, config, seaweed).await
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
    /// The data layer [`TestServer::store`] hands out, opened once: on PostgreSQL each
    /// opening is a pool, a runtime and a migration check.
    data: std::sync::OnceLock<Arc<dyn Data>>,
    /// The SeaweedFS holding its audio, when it is the shared one: running while used.
    seaweed: Option<Arc<Seaweed>>,
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

    async fn run(dir: TempDir, config: ServerConfig, seaweed: Option<Arc<Seaweed>>) -> TestServer {
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
            data: std::sync::OnceLock::new(),
            seaweed,
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
        let seaweed = self.seaweed.clone();
        let dir = self.stop().await;
        config.listen = addr;
        TestServer::run(dir, config, seaweed).await
    }

    /// The server's address followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The server's data layer, whichever backend holds it, for the operator's commands
    /// (`admin::create_invite(&server.store(), …)`).
    pub fn store(&self) -> Arc<dyn Data> {
        self.data
            .get_or_init(|| App::open_data(&self.config).expect("open the test server's database"))
            .clone()
    }

    /// The SQLite file itself, for a test that asked [`sqlite_only`] first.
    pub fn db(&self) -> Db {
        assert!(
            self.config.database.is_none(),
            "this server keeps its data in PostgreSQL: ask sqlite_only() before db()"
        );
        App::open_db(&self.config).expect("open the test server's database")
    }

    /// The number a `SELECT COUNT(...)`-like query gives (SQL both backends read alike),
    /// from SQLite, or from PostgreSQL through `psql`.
    pub fn count(&self, sql: &str) -> i64 {
        match &self.config.database {
            Some(url) => crate::shared_postgres::scalar(url, sql)
                .parse()
                .unwrap_or_else(|e| panic!("{sql}: not a number: {e}")),
            None => self
                .db()
                .with(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// The first column of the first row `sql` gives, as text (None for NULL or no
    /// row), from either backend; for SQL both read alike, a text column.
    pub fn text(&self, sql: &str) -> Option<String> {
        match &self.config.database {
            Some(url) => crate::shared_postgres::text(url, sql),
            None => self
                .db()
                .with(|c| {
                    let mut stmt = c.prepare(sql)?;
                    let mut rows = stmt.query([])?;
                    Ok(match rows.next()? {
                        Some(row) => row.get::<_, Option<String>>(0)?,
                        None => None,
                    })
                })
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs `sql` (one statement both backends read alike) on the server's database, as
    /// an older server or a hand at the database would have written it.
    pub fn execute(&self, sql: &str) {
        match &self.config.database {
            Some(url) => {
                crate::shared_postgres::scalar(url, sql);
            }
            None => self
                .db()
                .with(|c| Ok(c.execute_batch(sql)?))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Uploads the server holds open.
    pub fn upload_rows(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM uploads")
    }

    /// What it holds in its audio storage and spool, wherever they are.
    fn stored(&self) -> Stored {
        Stored::of(&self.config)
    }

    /// The uploads whose bytes are spooled: spool files, or uploads' objects in the
    /// bucket.
    pub async fn spooled_uploads(&self) -> usize {
        self.stored().spooled_uploads().await.len()
    }

    /// How many bytes the one upload spooled holds (its spool file's length, or the
    /// offset of the parts and tail it kept in the bucket).
    pub async fn spooled_bytes(&self) -> u64 {
        let stored = self.stored();
        let uploads = stored.spooled_uploads().await;
        let [upload] = uploads.as_slice() else {
            panic!("one upload spooled, not {uploads:?}")
        };
        stored.spooled_bytes(upload).await
    }

    /// The keys of every stored audio copy (a recording's id, `<id>.listening`), sorted.
    pub async fn audio_keys(&self) -> Vec<String> {
        self.stored().audio_keys().await
    }

    /// How many audio copies it stores.
    pub async fn audio_files(&self) -> usize {
        self.audio_keys().await.len()
    }

    /// The stored lossless copy of a delivered recording; None when there is none.
    pub async fn audio(&self, recording_id: impl Display) -> Option<Vec<u8>> {
        self.stored().audio(&recording_id.to_string()).await
    }

    /// The stored lossless copy of a delivered recording, which must be there.
    pub async fn audio_bytes(&self, recording_id: impl Display) -> Vec<u8> {
        let id = recording_id.to_string();
        self.audio(&id)
            .await
            .unwrap_or_else(|| panic!("recording {id}'s audio is not stored"))
    }

    /// Stores `bytes` as the audio copy `key` behind the server's back, as a crash or an
    /// operator's hand would leave it.
    pub async fn put_audio(&self, key: impl Display, bytes: &[u8]) {
        self.stored().put_audio(&key.to_string(), bytes).await
    }

    /// Whether the lossless copy of a recording is stored.
    pub async fn audio_exists(&self, recording_id: impl Display) -> bool {
        let id = recording_id.to_string();
        self.audio_keys().await.contains(&id)
    }

    /// A second project, for "the lead of another project".
    pub fn other_project(&self) -> &'static str {
        let mut config: serde_json::Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
        config["id"] = serde_json::json!("other-project");
        let _ = admin::create_project(&self.store(), &config.to_string());
        "other-project"
    }
}
