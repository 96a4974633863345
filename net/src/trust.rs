//! The one TLS trust decision of every Tellus client (phone, CLI, lead's pull), the same
//! on every platform:
//!
//! - **No pin** (a server with a certificate from a public authority): the chain must
//!   lead to one of Mozilla's roots, bundled in the binary (webpki-roots), for the
//!   server's name, within its dates. Not the platform's store: on Android that would
//!   need the platform initialised from Kotlin before the first connection (what
//!   rustls-platform-verifier asks), and the decision would differ between platforms.
//! - **A pin** from the invite (a community server with a self-signed certificate): the
//!   server must present the pinned key, and prove it holds it in the handshake; nothing
//!   else is trusted for it, not even a certificate from a public authority. Names and
//!   dates are not consulted, as SSH does with host keys: whoever holds the key can mint
//!   a self-signed certificate with any name and dates, so they would protect nothing,
//!   while a lapsed date would stop every phone until the operator noticed.
//!
//! Debug builds also trust the CA certificates in the PEM file named by
//! `TELLUS_DEBUG_TRUST_CA` (for tests with a CA made in the test, as Android's
//! `<debug-overrides>` does); release builds never read it.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::pin::CertificatePin;

/// The environment variable a debug build reads for extra trusted CAs.
pub const DEBUG_TRUST_CA_ENV: &str = "TELLUS_DEBUG_TRUST_CA";

/// Whom a client trusts for one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pin: Option<CertificatePin>,
    extra_roots: Vec<CertificateDer<'static>>,
}

/// Why a server's certificate was refused, in words for the person who sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotTrusted(pub String);

/// The server presented a key other than the pinned one.
#[derive(Debug)]
struct PinMismatch {
    expected: CertificatePin,
    found: Option<CertificatePin>,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.found {
            Some(found) => write!(
                f,
                "the server's key ({found}) is not the one the invite pinned ({}); if the server's operator changed its key, enrol again with a new invite",
                self.expected
            ),
            None => write!(f, "the server's certificate cannot be read"),
        }
    }
}

impl std::error::Error for PinMismatch {}

/// rustls with ring: small, no cmake, builds with the NDK and Xcode as it is (aws-lc-rs
/// needs cmake or prebuilt bindings per target and is several times larger).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Trust {
    /// Mozilla's roots (and, in a debug build, `TELLUS_DEBUG_TRUST_CA`).
    pub fn web_pki() -> Trust {
        Trust {
            pin: None,
            extra_roots: debug_roots(),
        }
    }

    /// Only the server holding the pinned key.
    pub fn pinned(pin: CertificatePin) -> Trust {
        Trust {
            pin: Some(pin),
            extra_roots: Vec::new(),
        }
    }

    /// Pinned when there is a pin, else the web PKI.
    pub fn for_server(pin: Option<CertificatePin>) -> Trust {
        pin.map_or_else(Trust::web_pki, Trust::pinned)
    }

    /// Also trusts `root` (DER) for servers without a pin: a private CA's root, given in
    /// Rust only (tests, embedders); the phones' shells cannot reach it.
    pub fn with_root(mut self, root: CertificateDer<'static>) -> Trust {
        self.extra_roots.push(root);
        self
    }

    pub fn pin(&self) -> Option<CertificatePin> {
        self.pin
    }

    /// The rustls client configuration that applies this decision.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, NotTrusted> {
        let provider = crypto_provider();
        let verifier = self.verifier(provider.clone())?;
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| NotTrusted(format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn verifier(&self, provider: Arc<CryptoProvider>) -> Result<Arc<Verifier>, NotTrusted> {
        let web_pki = match self.pin {
            Some(_) => None,
            None => {
                let mut roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                for root in &self.extra_roots {
                    roots
                        .add(root.clone())
                        .map_err(|e| NotTrusted(format!("a trusted root does not load: {e}")))?;
                }
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| NotTrusted(format!("cannot set up the trusted roots: {e}")))?,
                )
            }
        };
        Ok(Arc::new(Verifier {
            pin: self.pin,
            web_pki,
            provider,
        }))
    }

    /// The same decision for a chain another TLS stack received (the iOS shell's
    /// URLSession delegate asks this): `chain` starts with the server's certificate, in
    /// DER. The other stack has already checked that the server holds the certificate's
    /// key (the handshake signature).
    pub fn check_chain(
        &self,
        host: &str,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), NotTrusted> {
        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or_else(|| NotTrusted("the server presented no certificate".into()))?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| NotTrusted(format!("{host:?} is not a server name")))?;
        self.verifier(crypto_provider())?
            .verify_server_cert(end_entity, intermediates, &name, &[], now)
            .map(|_| ())
            .map_err(|e| explain(host, &e))
    }
}

fn debug_roots() -> Vec<CertificateDer<'static>> {
    if !cfg!(debug_assertions) {
        return Vec::new();
    }
    let Some(path) = std::env::var_os(DEBUG_TRUST_CA_ENV) else {
        return Vec::new();
    };
    match CertificateDer::pem_file_iter(&path).map(|certs| certs.collect::<Result<Vec<_>, _>>()) {
        Ok(Ok(roots)) => {
            tracing::warn!(
                file = %std::path::Path::new(&path).display(),
                count = roots.len(),
                "debug build: also trusting these CA certificates"
            );
            roots
        }
        _ => {
            tracing::warn!(
                file = %std::path::Path::new(&path).display(),
                "debug build: {DEBUG_TRUST_CA_ENV} names no readable PEM file; ignored"
            );
            Vec::new()
        }
    }
}

#[derive(Debug)]
struct Verifier {
    pin: Option<CertificatePin>,
    web_pki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match (self.pin, &self.web_pki) {
            (Some(expected), _) => {
                let found = CertificatePin::of_certificate(end_entity).ok();
                if found == Some(expected) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                        OtherError(Arc::new(PinMismatch { expected, found })),
                    )))
                }
            }
            (None, Some(web_pki)) => web_pki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            (None, None) => Err(rustls::Error::General("no trust configured".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A refused certificate in words: what is wrong and what would fix it.
pub fn explain(host: &str, e: &rustls::Error) -> NotTrusted {
    let date = |t: &UnixTime| {
        time::OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("{} s after 1970", t.as_secs()))
    };
    let why = match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => {
                    "its certificate is self-signed, not from an authority this device trusts (a server with a self-signed certificate needs the invite that carries its pin)".to_string()
                }
                Some(e) => format!("its certificate was refused ({e:?})"),
                None => other.to_string(),
            },
            CertificateError::Expired => "its certificate has expired".to_string(),
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("its certificate expired on {}", date(not_after))
            }
            CertificateError::NotValidYet => "its certificate is not valid yet".to_string(),
            CertificateError::NotValidYetContext { not_before, .. } => {
                format!("its certificate is valid only from {}", date(not_before))
            }
            CertificateError::UnknownIssuer => {
                "its certificate is not from an authority this device trusts (a server with a self-signed certificate needs the invite that carries its pin)".to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("its certificate is not for the name {host}")
            }
            CertificateError::Revoked => "its certificate was revoked".to_string(),
            other => format!("its certificate was refused ({other:?})"),
        },
        other => format!("the secure connection failed ({other})"),
    };
    NotTrusted(format!("the server at {host} is not trusted: {why}"))
}
