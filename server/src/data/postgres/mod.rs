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
//! admin`) the caller has. Called from an async task it blocks that task's thread: the
//! server never does (`App::data`); a test's admin helper may.

/// Runs `$body` (an expression that may `.await`) with `$tx`, a `&mut PgConnection` in
/// one transaction of `$data`'s pool, on its runtime; committed when the body gives a
/// value, rolled back (dropped uncommitted) when it fails.
macro_rules! in_tx {
    ($data:expr, |$tx:ident| $body:expr) => {
        $data.run(async {
            let mut transaction = $data.pool().begin().await?;
            let $tx: &mut sqlx_postgres::PgConnection = &mut transaction;
            let out = $body;
            transaction.commit().await?;
            Ok::<_, $crate::error::Error>(out)
        })
    };
}

/// Runs `$body` with `$conn`, one connection of `$data`'s pool (reads that need no
/// transaction), on its runtime.
macro_rules! with_conn {
    ($data:expr, |$conn:ident| $body:expr) => {
        $data.run(async {
            let mut pooled = $data.pool().acquire().await?;
            let $conn: &mut sqlx_postgres::PgConnection = &mut pooled;
            Ok::<_, $crate::error::Error>($body)
        })
    };
}

mod accounts;
pub mod consent;
pub mod feed;
pub mod holds;
pub mod hooks;
mod portal;
mod portal_sessions;
pub mod search;
pub mod stories;
#[cfg(test)]
mod testdb;
pub mod transcripts;
mod uploads;
pub mod visibility;
mod web;

use std::future::Future;

use futures_util::future::BoxFuture;
use sqlx_core::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx_core::query::Query;
use sqlx_postgres::{PgArguments, PgPool, PgPoolOptions, Postgres};

use crate::error::{Error, Result};

/// The schema, step by step (append a step, never edit a shipped one).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "portal sessions",
        include_str!("../../../migrations/postgres/0002_portal_sessions.sql"),
    ),
];

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
    /// Connections that hold advisory locks for a while (`holds`).
    holds: PgPool,
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
        let pool = block_on(&runtime, async {
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
            let holds = PgPoolOptions::new()
                .max_connections(holds::HOLD_CONNECTIONS)
                .connect_lazy_with((*pool.connect_options()).clone());
            Ok::<_, Error>((pool, holds))
        })?;
        let (pool, holds) = pool;
        Ok(PgData {
            pool,
            holds,
            runtime: Some(runtime),
        })
    }

    /// Runs `f` to completion with this backend's runtime (from a blocking thread).
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => block_on(runtime, f),
            None => unreachable!("the runtime lives until drop"),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn holds_pool(&self) -> &PgPool {
        &self.holds
    }

    /// This backend's runtime, for work a drop hands off (`holds`).
    fn runtime_handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => unreachable!("the runtime lives until drop"),
        }
    }
}

/// Polls `f` on the calling thread until it is done, with `runtime` as the context its
/// sockets and timers register with (the runtime's own threads drive them and wake this
/// one). Unlike `Runtime::block_on`, this works on a thread that is itself running a
/// runtime (an async test calling `tellus admin`'s functions, say): it only blocks that
/// thread, which the data layer's callers do anyway.
///
/// The future runs outside tokio's cooperative budget: called from inside a task (a
/// test, a bench), it would otherwise inherit that task's budget, and once the budget is
/// spent every poll of a semaphore or socket answers "not yet" and wakes itself at once,
/// and this loop would spin for ever (the budget only refills when the outer task yields,
/// which it cannot while blocked here).
fn block_on<F: Future>(runtime: &tokio::runtime::Runtime, f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let _context = runtime.enter();
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(tokio::task::unconstrained(f));
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        // A wake-up that came before this park makes it return at once.
        std::thread::park();
    }
}

/// A query on this backend (sqlx's `query`, named once for the modules here).
pub fn q(sql: &str) -> Query<'_, Postgres, PgArguments> {
    sqlx_core::query::query(sql)
}

/// A count or size kept as BIGINT, read back as the unsigned type the interface uses.
pub fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| Error::internal(format!("a stored {what} is out of range")))
}

/// An unsigned count or size as BIGINT (sizes beyond i64 are refused long before here).
pub fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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

#[cfg(test)]
mod block_on_tests {
    use std::time::Duration;

    /// Spends far more than a task's cooperative budget (128) inside `block_on` called
    /// from a task: it must finish rather than spin (it did, stalling the replicas bench
    /// once a test helper had made a few hundred calls in one poll).
    #[test]
    fn a_task_that_spent_its_budget_can_still_block_on_the_database_runtime() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outer = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let inner = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            outer.block_on(async {
                for _ in 0..1_000 {
                    super::block_on(&inner, tokio::task::consume_budget());
                }
            });
            let _ = done.send(());
            inner.shutdown_background();
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(30)).is_ok(),
            "block_on spun once the calling task's budget was spent"
        );
    }
}
