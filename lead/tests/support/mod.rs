//! The lead's tests use the shared harness (tellus-testkit): a real tellus-server on
//! 127.0.0.1:0 in this process (real SQLite in a temp folder), a reporter that delivers
//! stories to it over real HTTP, real copies of a recording, and independent checks of
//! what a pull leaves (sha256sum, xmllint). Nothing here is the lead's own.
#![allow(dead_code, unused_imports)]

pub use tellus_testkit::checks::{OHMS_XSD, files_under, sha256sum_check, xmllint_ohms};
pub use tellus_testkit::fixtures::{Copies, audio, new_id, sha256_hex};
pub use tellus_testkit::story::{Delivered, Reporter, StorySpec};
pub use tellus_testkit::{PROJECT, TestServer};
