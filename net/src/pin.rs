//! A certificate pin: the SHA-256 of a server certificate's public key (its DER
//! SubjectPublicKeyInfo, as HPKP and curl's `--pinnedpubkey` pin it). Pinning the key,
//! not the certificate, lets a self-hosted server renew its certificate with the same
//! key without every phone enrolling again.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// Written `sha256:` and 43 characters of URL-safe base64: short enough for a QR code
/// and safe in a URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificatePin([u8; 32]);

const PREFIX: &str = "sha256:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PinError(String);

impl CertificatePin {
    /// The pin of a certificate's key (the certificate in DER).
    pub fn of_certificate(der: &[u8]) -> Result<CertificatePin, PinError> {
        let cert = CertificateDer::from(der);
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| PinError(format!("not an X.509 certificate: {e}")))?;
        let spki = parsed.subject_public_key_info();
        Ok(CertificatePin(Sha256::digest(spki.as_ref()).into()))
    }

    /// The pin of the first certificate in a PEM file (a server's certificate chain
    /// starts with its own).
    pub fn of_pem_file(path: &Path) -> Result<CertificatePin, PinError> {
        let first = CertificateDer::pem_file_iter(path)
            .map_err(|e| PinError(format!("cannot read {}: {e}", path.display())))?
            .next()
            .ok_or_else(|| PinError(format!("{} holds no certificate", path.display())))?
            .map_err(|e| PinError(format!("{} is not a PEM certificate: {e}", path.display())))?;
        CertificatePin::of_certificate(&first)
    }
}

impl fmt::Display for CertificatePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for CertificatePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for CertificatePin {
    type Err = PinError;

    fn from_str(text: &str) -> Result<Self, PinError> {
        let refused = || {
            PinError(format!(
                "{:?} is not a certificate pin (sha256: followed by 43 characters)",
                text.chars().take(80).collect::<String>()
            ))
        };
        let encoded = text.trim().strip_prefix(PREFIX).ok_or_else(refused)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| refused())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| refused())?;
        Ok(CertificatePin(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_reads_back_what_it_writes_and_refuses_anything_else() {
        let pin = CertificatePin([7; 32]);
        let text = pin.to_string();
        assert!(
            text.starts_with("sha256:") && text.len() == 7 + 43,
            "{text}"
        );
        assert_eq!(text.parse::<CertificatePin>().unwrap(), pin);
        for bad in ["", "sha256:", "sha1:AAAA", &text[..40], &format!("{text}A")] {
            assert!(bad.parse::<CertificatePin>().is_err(), "{bad:?}");
        }
    }
}
