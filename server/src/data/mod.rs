//! The server's data layer (issue 19): the one module that knows how projects,
//! principals, invites, stories, consent, uploads, recordings, the feed, web links, the
//! portal's codes and sessions, and transcripts are stored. Routes, tus, the web pages,
//! the portal and the transcription queue call its named operations; there is no SQL
//! outside `data/`.
//!
//! Shape (the contract both backends implement):
//! - One trait per area, each a set of *domain operations* (`withdraw_story`,
//!   `complete_upload`, `claim_transcript_job`…), not table accessors: an operation that
//!   must be atomic (read, decide, write) is one method, and its implementation owns the
//!   transaction. Rules that decide (consent, visibility, merging) stay pure functions
//!   outside the backends, and the backends call them, so both apply the same rule.
//! - The traits are synchronous and object-safe: every storage call already runs on a
//!   blocking thread (`App::data`), and a `dyn Data` lets `App` hold either backend.
//! - `sqlite/` is the embedded default (the file `server.db`, its migration ladder in
//!   `PRAGMA user_version`); `postgres/` implements the same traits for replicas.
//! - Values crossing the interface are plain Rust types (protocol types, or small
//!   structs in the area's module), never a backend's row or connection type.
//! - A stored value that cannot be read back, a poisoned lock or a failed blocking task
//!   is `Error::Internal`, not `Error::Config`.

pub mod accounts;
pub mod feed;
pub mod holds;
pub mod migrate;
pub mod portal;
pub mod postgres;
pub mod sqlite;
pub mod stories;
pub mod transcripts;
pub mod uploads;
pub mod web;

pub use sqlite::SqliteData;

/// Everything the server stores, whichever backend holds it. Each area's trait is added
/// to this list as it moves behind the interface.
pub trait Data:
    accounts::Accounts
    + feed::Feed
    + holds::Holds
    + portal::Portal
    + stories::Stories
    + transcripts::Transcripts
    + uploads::Uploads
    + web::WebPages
    + Send
    + Sync
    + 'static
{
}

impl Data for SqliteData {}
impl Data for postgres::PgData {}
