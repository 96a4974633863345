//! tellus-ffi: the one library the Android and iOS shells link. It wraps tellus-core in
//! uniffi proc-macro types; no app logic lives here. Objects hold `Arc`s to the core and
//! take `&self`; every error crosses as `TellusError` (a shell's secret store throws
//! `SecretStoreError`), mapped in `error.rs`.

uniffi::setup_scaffolding!();

mod app;
mod error;
mod logs;
mod observers;
mod recorder;
mod records;
mod secrets;
mod sync;
mod transport;

pub use app::{
    ConsentChoices, TellusApp, format_audio_position, parse_audio_position, sample_project_json,
};
pub use error::{SecretStoreError, TellusError};
pub use logs::{LogLevel, LogRecord, LogSink, set_log_sink};
pub use observers::{StoryObserver, SubscriptionHandle};
pub use recorder::*;
pub use records::*;
pub use secrets::PlatformSecretStore;
pub use sync::*;
pub use transport::{
    HttpHeader, PlatformRequest, PlatformResponse, PlatformTransport, check_server_certificate,
};

/// The version of the core this library was built from, so a shell can log it.
#[uniffi::export]
pub fn core_version() -> String {
    tellus_core::VERSION.to_string()
}
