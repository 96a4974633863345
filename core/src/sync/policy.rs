//! What may be sent on the network the phone has now. The shell knows the network; the
//! core decides what to send on it.

use serde::{Deserialize, Serialize};
use tellus_protocol::Representation;

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
    /// Delete a recording's local file once the server's receipt matches it (each file
    /// of it after its own receipt).
    pub remove_local_audio_after_delivery: bool,
    /// Keep the recorded WAV beside its verified FLAC (default: the FLAC only, to save
    /// space). Absent from settings saved before issue 20: false.
    #[serde(default)]
    pub keep_wav: bool,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            audio_on_unmetered_only: true,
            remove_local_audio_after_delivery: false,
            keep_wav: false,
        }
    }
}

impl SyncSettings {
    /// Whether metadata (story documents, consent events) may go now. It never waits for
    /// a better network.
    pub fn metadata_allowed(&self, network: Network) -> bool {
        network != Network::None
    }

    /// Whether the lossless copy of a recording may go now (the listening copy goes on
    /// any connection: `allows`).
    pub fn audio_allowed(&self, network: Network) -> bool {
        self.allows(network, Representation::Lossless)
    }

    /// Whether a file of this representation may go now. Metered: the listening copy
    /// goes, the lossless copy only when the reporter does not hold audio for Wi-Fi.
    pub fn allows(&self, network: Network, representation: Representation) -> bool {
        match (network, representation) {
            (Network::None, _) => false,
            (Network::Unmetered, _) => true,
            (Network::Metered, Representation::Listening) => true,
            (Network::Metered, Representation::Lossless) => !self.audio_on_unmetered_only,
        }
    }

    /// The order a story's files go in on `network`: the archive first when the data is
    /// free, the small listening copy first when it is paid for.
    pub fn upload_order(network: Network) -> [Representation; 2] {
        match network {
            Network::Metered => [Representation::Listening, Representation::Lossless],
            _ => [Representation::Lossless, Representation::Listening],
        }
    }
}

/// What decides whether a story counts as delivered and which bytes count toward it:
/// the reporter's settings and the project's upload policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub settings: SyncSettings,
    /// The project declared the listening copy enough (`upload_policy.listening_is_enough`):
    /// a story is delivered once every recording's listening copy is.
    pub listening_is_enough: bool,
}

impl DeliveryPolicy {
    /// Whether the file of this representation must be on the server for its story to
    /// count as delivered.
    pub fn counts(&self, representation: Representation) -> bool {
        !(self.listening_is_enough && representation == Representation::Lossless)
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

    #[test]
    fn metered_sends_the_listening_copy_first_and_the_lossless_only_when_allowed() {
        use Representation::{Listening, Lossless};
        let held = SyncSettings::default();
        assert!(held.allows(Network::Metered, Listening));
        assert!(!held.allows(Network::Metered, Lossless));
        assert!(held.allows(Network::Unmetered, Lossless));
        assert!(held.allows(Network::Unmetered, Listening));
        assert!(!held.allows(Network::None, Listening));
        let any = SyncSettings {
            audio_on_unmetered_only: false,
            ..held
        };
        assert!(any.allows(Network::Metered, Lossless));
        assert_eq!(
            SyncSettings::upload_order(Network::Metered),
            [Listening, Lossless]
        );
        assert_eq!(
            SyncSettings::upload_order(Network::Unmetered),
            [Lossless, Listening]
        );
    }

    #[test]
    fn listening_is_enough_makes_only_the_listening_copy_count() {
        use Representation::{Listening, Lossless};
        let archive = DeliveryPolicy::default();
        assert!(archive.counts(Lossless) && archive.counts(Listening));
        let enough = DeliveryPolicy {
            listening_is_enough: true,
            ..archive
        };
        assert!(!enough.counts(Lossless) && enough.counts(Listening));
    }

    #[test]
    fn settings_saved_before_keep_wav_existed_read_as_flac_only() {
        let old = r#"{"audio_on_unmetered_only":false,"remove_local_audio_after_delivery":true}"#;
        let read: SyncSettings = serde_json::from_str(old).unwrap();
        assert!(!read.keep_wav);
        assert!(!read.audio_on_unmetered_only);
        assert!(read.remove_local_audio_after_delivery);
    }
}
