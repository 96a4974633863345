//! The PostgreSQL backend (issue 19): the same traits as `sqlite/`, for servers that run
//! as several replicas. sqlx's PostgreSQL driver (sqlx-core + sqlx-postgres: the `sqlx`
//! facade cannot sit beside rusqlite, both name the native `sqlite3` library). The schema
//! is the numbered files of `server/migrations/postgres/`, embedded at build time
//! (`MIGRATIONS`) and applied at connect under sqlx's migration lock, so replicas may
//! start together; queries are checked at run time, by the suites run on this backend.
//!
//! The data layer's traits are synchronous and called on blocking threads
//! (`App::data`), so this backend owns a small runtime of its own and blocks on it: the
//! pool's connections live on that runtime whichever runtime (or none, for `tellus
//! admin`) the caller has. Never call it from an async task.

#[macro_use]
mod tx;
mod reads;
#[cfg(test)]
mod testdb;
pub mod transcripts;
mod tsquery;

use std::future::Future;

use futures_util::future::BoxFuture;
use sqlx_core::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx_postgres::{PgPool, PgPoolOptions};

use crate::error::{Error, Result};

/// The schema, step by step (append a step, never edit a shipped one).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "schema",
    include_str!("../../../migrations/postgres/0001_schema.sql"),
)];

/// The embedded migrations as sqlx's migrator reads them.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> BoxFuture<'static, std::result::Result<Vec<Migration>, sqlx_core::error::BoxDynError>>
    {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        (*name).into(),
                        MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The PostgreSQL implementation of the data layer's traits.
pub struct PgData {
    pool: PgPool,
    runtime: Option<tokio::runtime::Runtime>,
}

impl PgData {
    /// Connects to `url` (`postgres://user:password@host:port/database`), and brings the
    /// schema up to date (every replica may do this at start: migrations take a lock).
    pub fn connect(url: &str) -> Result<PgData> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tellus-pg")
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the database runtime", e))?;
        let pool = runtime.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await
                .map_err(|e| Error::Config(format!("cannot connect to the database: {e}")))?;
            let migrator = Migrator::new(Embedded)
                .await
                .map_err(|e| Error::internal(format!("the embedded schema: {e}")))?;
            migrator
                .run(&pool)
                .await
                .map_err(|e| Error::Config(format!("cannot migrate the database: {e}")))?;
            Ok::<_, Error>(pool)
        })?;
        Ok(PgData {
            pool,
            runtime: Some(runtime),
        })
    }

    /// Runs `f` to completion on this backend's runtime (from a blocking thread).
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(f),
            None => unreachable!("the runtime lives until drop"),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Drop for PgData {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; let it wind down on its own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl From<sqlx_core::Error> for Error {
    fn from(e: sqlx_core::Error) -> Self {
        Error::internal(format!("database: {e}"))
    }
}
