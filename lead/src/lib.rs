//! tellus-lead: what a project lead does with the stories the server holds (DESIGN.md
//! §1.7): pull them into a folder incrementally and verifiably (`pull`), check that
//! folder again at any time (`manifest::verify`), and export from it with the
//! storytellers' consent enforced (`export`). The `tellus pull` and `tellus export`
//! commands are thin over this crate.

pub mod accounts;
mod client;
mod error;
pub mod export;
pub mod folder;
mod fsutil;
pub mod layout;
pub mod manifest;
pub mod pull;
pub mod scope;
mod state;
mod story_files;
pub mod transcribe_client;
pub mod transcripts;
pub mod withdrawals;

mod download;

pub use accounts::{LeadAccount, LeadAccounts};
pub use client::LeadClient;
pub use error::{Error, Result};
pub use export::{ExportOptions, Format};
pub use folder::{PulledFolder, PulledStory};
pub use manifest::{Manifest, VerifyReport, verify};
pub use pull::{PullOptions, PullProgress, PullReport, pull};
pub use scope::ExportScope;
