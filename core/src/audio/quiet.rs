//! Keeps the C audio libraries' own messages off stderr (Linux). alsa-lib prints every
//! device it cannot open while devices are listed or opened, and libjack, loaded by
//! ALSA's JACK plugin, prints that no JACK server runs: 8 to 16 lines before the one
//! error that matters. They are logged instead, at debug level under the target
//! `tellus_core::audio::library` (`TELLUS_LOG=tellus_core::audio::library=debug` shows
//! them). Installed once, before the first call into ALSA.

use std::ffi::{CStr, c_char};
use std::sync::Once;

unsafe extern "C" {
    fn tellus_quiet_audio_libraries();
}

/// Called from csrc/quiet_audio.c with each message, already formatted.
#[unsafe(no_mangle)]
extern "C" fn tellus_audio_library_message(library: *const c_char, message: *const c_char) {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: the C side passes NUL-terminated strings that live for this call.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let (library, message) = (text(library), text(message));
    tracing::debug!(target: "tellus_core::audio::library", library, "{}", message.trim_end());
}

/// Routes alsa-lib's and libjack's messages to the log; once per process.
pub(crate) fn quiet_audio_libraries() {
    static ONCE: Once = Once::new();
    // SAFETY: sets alsa-lib's process-wide error handler and libjack's message
    // functions to the C shims above, which only format and forward.
    ONCE.call_once(|| unsafe { tellus_quiet_audio_libraries() });
}
