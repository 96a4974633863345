//! The storyteller's portal under `/s` (issue 21, docs/portal.md).

pub mod codes;
