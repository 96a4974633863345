//! Exclusive holds across replicas: one writer per upload, one completion per copy of a
//! recording, one sweeper at a time. Each replica already serialises its own requests
//! (`tus::Locks`); a hold is what keeps two replicas apart. On SQLite there is one
//! replica, so a hold is granted at once and holds nothing more; on PostgreSQL it is a
//! session advisory lock on a connection kept for the hold, which PostgreSQL releases
//! by itself when the replica holding it dies.

use std::time::Duration;

use crate::error::Result;

/// What a replica can hold alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusive<'a> {
    /// Writing to (or removing) one upload, by id.
    Upload(&'a str),
    /// Completing one copy of a recording, by its storage key (`storage::key`), or
    /// deciding it is an orphan.
    Copy(&'a str),
    /// Sweeping expired uploads and orphaned audio.
    Sweep,
}

impl Exclusive<'_> {
    /// A name unique across kinds (advisory locks are keyed by its hash).
    pub fn name(&self) -> String {
        match self {
            Exclusive::Upload(id) => format!("upload:{id}"),
            Exclusive::Copy(key) => format!("copy:{key}"),
            Exclusive::Sweep => "sweep".to_string(),
        }
    }
}

/// A hold; dropping it lets go.
pub trait Held: Send {}

pub trait Holds {
    /// Holds `what` for this replica alone, waiting up to `wait` (zero: one try) while
    /// another replica holds it; None when it is still held then.
    fn hold(&self, what: Exclusive<'_>, wait: Duration) -> Result<Option<Box<dyn Held>>>;
}
