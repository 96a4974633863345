//! tellus-ffi: the one library the Android and iOS shells link. It wraps tellus-core in
//! uniffi proc-macro types; no app logic lives here.

uniffi::setup_scaffolding!();

/// The version of the core this library was built from, so a shell can log it.
#[uniffi::export]
pub fn core_version() -> String {
    tellus_core::VERSION.to_string()
}
