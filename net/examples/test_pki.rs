//! Writes the certificates the Kotlin and Python TLS tests use into a folder (made for
//! this run, by rcgen, as the Rust tests make theirs) and prints their pins as shell
//! assignments: `cargo run -p tellus-net --example test_pki -- DIR`.
//!
//! ca.pem                 the test CA (a debug build trusts it through TELLUS_DEBUG_TRUST_CA)
//! ca-signed.pem/.key     a server certificate from it for 127.0.0.1 and localhost
//! expired.pem/.key       the same, expired yesterday
//! self-signed.pem/.key   a community server's self-signed certificate
//! other.pem/.key         another self-signed one (a wrong pin)

#[path = "../../tests/support/pki.rs"]
mod pki;

use tellus_net::CertificatePin;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: test_pki DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = pki::TestCa::new();
    std::fs::write(dir.join("ca.pem"), &ca.cert.cert_pem).unwrap();
    ca.server(-1, 30).write(&dir, "ca-signed");
    ca.server(-30, -1).write(&dir, "expired");
    let community = pki::self_signed();
    community.write(&dir, "self-signed");
    let other = pki::self_signed();
    other.write(&dir, "other");
    let pin = |c: &pki::Issued| CertificatePin::of_certificate(&c.cert_der).unwrap();
    println!("TELLUS_TLS_SELF_PIN={}", pin(&community));
    println!("TELLUS_TLS_OTHER_PIN={}", pin(&other));
}
