//! The trust decision against real TLS servers on loopback (tokio-rustls), with
//! certificates made in the test: a CA's certificate trusted through a root, a
//! self-signed one through its pin, and every refusal in words. The same verdicts from
//! `Trust::check_chain`, which a platform's TLS stack (iOS URLSession) asks.

#[path = "../../tests/support/pki.rs"]
mod pki;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pki::{Issued, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tellus_net::http::{bytes_body, empty_body, read_body};
use tellus_net::{CertificatePin, HttpClient, NetError, Trust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server on 127.0.0.1 presenting `cert`, answering every request "ok".
async fn tls_server(cert: &Issued) -> SocketAddr {
    let chain = vec![CertificateDer::from(cert.cert_der.clone())];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

async fn get(trust: &Trust, url: &str) -> Result<String, NetError> {
    let client = HttpClient::new(trust, Duration::from_secs(5))?;
    let request = http::Request::get(url).body(empty_body()).unwrap();
    let response = client.send(request).await?;
    let body = read_body(response.into_body()).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn refusal(result: Result<String, NetError>) -> String {
    match result {
        Err(NetError::NotTrusted(why)) => why.0,
        other => panic!("expected a trust refusal, got {other:?}"),
    }
}

fn root(ca: &TestCa) -> CertificateDer<'static> {
    CertificateDer::from(ca.cert.cert_der.clone())
}

fn chain_of(cert: &Issued) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from(cert.cert_der.clone())]
}

#[tokio::test]
async fn a_certificate_from_a_trusted_authority_is_accepted_for_its_names_and_dates() {
    let ca = TestCa::new();
    let good = ca.server(-1, 30);
    let addr = tls_server(&good).await;
    let trust = Trust::web_pki().with_root(root(&ca));
    for url in [
        format!("https://127.0.0.1:{}/", addr.port()),
        format!("https://localhost:{}/", addr.port()),
    ] {
        assert_eq!(get(&trust, &url).await.unwrap(), "ok", "{url}");
    }
    // Without the test CA among the roots: Mozilla's roots only.
    let why = refusal(
        get(
            &Trust::web_pki(),
            &format!("https://127.0.0.1:{}/", addr.port()),
        )
        .await,
    );
    assert!(
        why.contains("not from an authority this device trusts"),
        "{why}"
    );
    assert!(
        why.contains("pin"),
        "the refusal says what would help: {why}"
    );

    // The same verdicts for a chain a platform's TLS stack received.
    let now = UnixTime::now();
    trust
        .check_chain("127.0.0.1", &chain_of(&good), now)
        .unwrap();
    let why = Trust::web_pki()
        .check_chain("127.0.0.1", &chain_of(&good), now)
        .unwrap_err();
    assert!(why.0.contains("not from an authority"), "{why}");
    let why = trust
        .check_chain("stories.example.org", &chain_of(&good), now)
        .unwrap_err();
    assert!(
        why.0.contains("not for the name stories.example.org"),
        "{why}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_its_date() {
    let ca = TestCa::new();
    let expired = ca.server(-30, -2);
    let addr = tls_server(&expired).await;
    let trust = Trust::web_pki().with_root(root(&ca));
    let why = refusal(get(&trust, &format!("https://127.0.0.1:{}/", addr.port())).await);
    assert!(why.contains("expired on"), "{why}");
    let why = trust
        .check_chain("127.0.0.1", &chain_of(&expired), UnixTime::now())
        .unwrap_err();
    assert!(why.0.contains("expired on"), "{why}");
    let not_yet = ca.server(5, 30);
    let addr = tls_server(&not_yet).await;
    let why = refusal(get(&trust, &format!("https://127.0.0.1:{}/", addr.port())).await);
    assert!(why.contains("valid only from"), "{why}");
}

#[tokio::test]
async fn a_self_signed_server_is_trusted_through_its_pin_and_nothing_else_is() {
    let community = pki::self_signed();
    let pin = CertificatePin::of_certificate(&community.cert_der).unwrap();
    let addr = tls_server(&community).await;
    let url = format!("https://127.0.0.1:{}/", addr.port());
    // Its names ("stories.invalid") and CA flag do not matter: the key does.
    assert_eq!(get(&Trust::pinned(pin), &url).await.unwrap(), "ok");
    assert_eq!(
        get(&Trust::for_server(Some(pin)), &url).await.unwrap(),
        "ok"
    );

    // Unpinned, it is refused.
    let why = refusal(get(&Trust::web_pki(), &url).await);
    assert!(why.contains("self-signed"), "{why}");
    assert!(why.contains("not from an authority"), "{why}");

    // Another key under the pin is refused, even one a trusted authority vouches for.
    let ca = TestCa::new();
    let vouched = ca.server(-1, 30);
    let other = tls_server(&vouched).await;
    let why = refusal(
        get(
            &Trust::pinned(pin).with_root(root(&ca)),
            &format!("https://127.0.0.1:{}/", other.port()),
        )
        .await,
    );
    let found = CertificatePin::of_certificate(&vouched.cert_der).unwrap();
    assert!(
        why.contains(&found.to_string()) && why.contains(&pin.to_string()),
        "the refusal names both keys: {why}"
    );
    assert!(why.contains("enrol again"), "{why}");

    let now = UnixTime::now();
    Trust::pinned(pin)
        .check_chain("127.0.0.1", &chain_of(&community), now)
        .unwrap();
    let why = Trust::pinned(pin)
        .check_chain("127.0.0.1", &chain_of(&vouched), now)
        .unwrap_err();
    assert!(why.0.contains("not the one the invite pinned"), "{why}");
}

#[tokio::test]
async fn plain_http_still_works_and_a_dead_port_is_the_network_not_trust() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpClient::new(&Trust::web_pki(), Duration::from_secs(2)).unwrap();
    let request = http::Request::post(format!("http://{addr}/"))
        .body(bytes_body(b"x".to_vec()))
        .unwrap();
    match client.send(request).await {
        Err(NetError::Network(why)) => assert!(why.to_lowercase().contains("refused"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A TLS client talking to a plain-HTTP port fails as the network, not as trust.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = plain.accept().await.unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    let result = get(&Trust::web_pki(), &format!("https://{plain_addr}/")).await;
    assert!(matches!(result, Err(NetError::Network(_))), "{result:?}");
}
