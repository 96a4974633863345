//! What may be sent on the network the phone has now. The shell knows the network; the
//! core decides what to send on it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// No connection: nothing is tried.
    None,
    /// Mobile data or a hotspot: metadata goes, audio only if the settings allow.
    Metered,
    /// Wi-Fi or a wired link.
    Unmetered,
}

/// The reporter's sync settings, persisted in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSettings {
    /// Hold audio until the phone is on an unmetered network.
    pub audio_on_unmetered_only: bool,
    /// Delete a recording's local file once the server's receipt matches it.
    pub remove_local_audio_after_delivery: bool,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            audio_on_unmetered_only: true,
            remove_local_audio_after_delivery: false,
        }
    }
}

impl SyncSettings {
    /// Whether metadata (story documents, consent events) may go now. It never waits for
    /// a better network.
    pub fn metadata_allowed(&self, network: Network) -> bool {
        network != Network::None
    }

    /// Whether audio may go now.
    pub fn audio_allowed(&self, network: Network) -> bool {
        match network {
            Network::None => false,
            Network::Metered => !self.audio_on_unmetered_only,
            Network::Unmetered => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_waits_for_unmetered_when_asked_and_metadata_never_waits() {
        let held = SyncSettings::default();
        assert!(held.metadata_allowed(Network::Metered));
        assert!(!held.audio_allowed(Network::Metered));
        assert!(held.audio_allowed(Network::Unmetered));
        assert!(!held.metadata_allowed(Network::None));
        let any = SyncSettings {
            audio_on_unmetered_only: false,
            ..held
        };
        assert!(any.audio_allowed(Network::Metered));
        assert!(!any.audio_allowed(Network::None));
    }
}
