//! Holds on SQLite: one replica owns the file, and its requests are already serialised
//! per upload and per copy in process (`tus::Locks`), so every hold is granted at once.

use std::time::Duration;

use super::SqliteData;
use crate::data::holds::{Exclusive, Held, Holds};
use crate::error::Result;

/// Granted, holding nothing beyond the in-process lock its caller took.
struct InProcess;

impl Held for InProcess {}

impl Holds for SqliteData {
    fn hold(&self, _what: Exclusive<'_>, _wait: Duration) -> Result<Option<Box<dyn Held>>> {
        Ok(Some(Box::new(InProcess)))
    }
}
