//! Ids of everything a device creates: UUIDv7, made on the device while offline, so that
//! every upload can be idempotent by id and ids sort by creation time.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! define_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The id of a ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// What this id names, for error messages.
            pub const WHAT: &'static str = $what;
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                Uuid::parse_str(text.trim()).map($name).map_err(|_| {
                    Error::invalid(format!(
                        "'{text}' is not a {} id (expected a UUID such as 0192f3a4-5b6c-7d8e-9f00-112233445566)",
                        $what
                    ))
                })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.to_string()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                Uuid::parse_str(text)
                    .map($name)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

define_id!(StoryId, "story");
define_id!(ParticipantId, "participant");
define_id!(ConsentEventId, "consent event");
define_id!(NoteId, "note");
define_id!(RecordingId, "recording");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_sort_by_creation() {
        let ids: Vec<StoryId> = (0..1000).map(|_| StoryId::new()).collect();
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
        let mut sorted = ids.clone();
        sorted.sort_by_key(|id| id.to_string());
        assert_eq!(sorted, ids, "text order must be creation order");
    }

    #[test]
    fn parsing_refuses_what_is_not_a_uuid() {
        assert!("not-an-id".parse::<StoryId>().is_err());
        let id = StoryId::new();
        assert_eq!(id.to_string().parse::<StoryId>().unwrap(), id);
    }
}
