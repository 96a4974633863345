//! tellus-net: how every Tellus client (the phone's sync, the CLI, the lead's pull)
//! reaches its project server. One TLS trust decision (`trust`), the same on every
//! platform and needing nothing initialised by a shell; the pin an invite carries for a
//! server with a self-signed certificate (`pin`, `invite`); and the HTTP client on hyper
//! that applies it (`http`). rustls with ring: no OpenSSL, no cmake, no platform verifier.

pub mod http;
pub mod invite;
pub mod pin;
pub mod trust;

pub use http::{HttpClient, NetError, RequestBody};
pub use invite::{Invite, InviteError};
pub use pin::{CertificatePin, PinError};
pub use trust::{DEBUG_TRUST_CA_ENV, NotTrusted, Trust};

/// Re-exported so callers name the same types this crate does.
pub use rustls::pki_types::{CertificateDer, UnixTime};
