//! Certificates made in the test (rcgen): a test CA and the server certificates the TLS
//! tests need, for 127.0.0.1 and localhost. Included by path (`#[path = ...] mod pki;`)
//! from the tests of tellus-net, the core, the server and the CLI, and from
//! `net/examples/test_pki.rs`, which writes them for the Kotlin and Python tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The names every test server certificate is for.
pub const NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A certificate and its key, in PEM and DER.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl Issued {
    /// Writes `NAME.pem` and `NAME.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A certificate authority made for one test run.
pub struct TestCa {
    pub cert: Issued,
    issuer: Issuer<'static, KeyPair>,
}

fn days_from_now(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "Tellus test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = days_from_now(-1);
        params.not_after = days_from_now(30);
        let cert = params.self_signed(&key).unwrap();
        let issued = Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        };
        TestCa {
            cert: issued,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `NAMES`, valid from `from_days` to `to_days` from now.
    pub fn server(&self, from_days: i64, to_days: i64) -> Issued {
        self.server_for(&NAMES, from_days, to_days)
    }

    pub fn server_for(&self, names: &[&str], from_days: i64, to_days: i64) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = days_from_now(from_days);
        params.not_after = days_from_now(to_days);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}

/// A self-signed server certificate as a community server's operator makes one with
/// `openssl req -x509` (which marks it a CA, and names nothing a client checks).
pub fn self_signed() -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["stories.invalid".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "community server");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = days_from_now(-1);
    params.not_after = days_from_now(3650);
    let cert = params.self_signed(&key).unwrap();
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    }
}
