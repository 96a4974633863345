//! Where the SQLite connection (`Db`, data/sqlite/conn.rs) is reached by code that has
//! not moved behind the data layer yet (tests and tools read `server.db` through it too),
//! and `blocking`, which runs blocking work off the async threads.

use crate::error::{Error, Result};

pub use crate::data::sqlite::conn::Db;

/// Runs blocking work (SQLite, file hashing, fsync) off the async threads.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("a blocking task failed: {e}")))?
}
