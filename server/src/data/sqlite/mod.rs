//! The embedded backend: one SQLite file (`server.db`) under the data folder.

mod accounts;
pub mod conn;
pub mod consent;
pub mod feed;
mod holds;
pub mod portal;
mod portal_sessions;
mod schema;
pub mod search;
pub mod stories;
pub mod transcripts;
mod uploads;
pub mod visibility;
pub mod web;

use crate::db::Db;

/// The SQLite implementation of the data layer's traits.
#[derive(Clone)]
pub struct SqliteData {
    db: Db,
}

impl SqliteData {
    pub fn new(db: Db) -> Self {
        SqliteData { db }
    }

    /// The connection, for the operations of this backend.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
