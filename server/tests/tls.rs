//! HTTPS of the server's own (rustls): HSTS on every answer, the plain-HTTP listener that
//! only redirects, a certificate renewed on disk taken up without a restart (and a
//! half-written renewal never served), and a certificate that does not load refused at
//! start with its file named, and an early answer to a body the server stops reading
//! read by the client over HTTPS as over plain HTTP (the lingering close sits beneath
//! TLS). The client is tellus-net's, the one every Tellus client uses, with
//! certificates made in the test.

#[path = "../../tests/support/pki.rs"]
mod pki;

use std::path::Path;
use std::time::Duration;

use tellus_net::http::{bytes_body, empty_body, http, read_body};
use tellus_net::{CertificateDer, CertificatePin, HttpClient, NetError, Trust};
use tellus_server::{Running, ServerConfig};

fn config(dir: &Path, cert: &Path, key: &Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("server"),
        tls_cert: Some(cert.to_path_buf()),
        tls_key: Some(key.to_path_buf()),
        ..ServerConfig::default()
    }
}

async fn get(trust: &Trust, url: &str) -> Result<http::Response<Vec<u8>>, NetError> {
    get_with_cookie(trust, url, None).await
}

async fn get_with_cookie(
    trust: &Trust,
    url: &str,
    cookie: Option<&str>,
) -> Result<http::Response<Vec<u8>>, NetError> {
    let client = HttpClient::new(trust, Duration::from_secs(5))?;
    let mut request = http::Request::get(url);
    if let Some(cookie) = cookie {
        request = request.header(http::header::COOKIE, cookie);
    }
    let response = client.send(request.body(empty_body()).unwrap()).await?;
    let (parts, body) = response.into_parts();
    let body = read_body(body).await?.to_vec();
    Ok(http::Response::from_parts(parts, body))
}

fn root(ca: &pki::TestCa) -> CertificateDer<'static> {
    CertificateDer::from(ca.cert.cert_der.clone())
}

#[tokio::test]
async fn https_answers_carry_hsts_and_plain_http_is_redirected() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::TestCa::new();
    let (cert, key) = ca.server(-1, 30).write(dir.path(), "server");
    let mut config = config(dir.path(), &cert, &key);
    config.redirect_http_from = Some("127.0.0.1:0".parse().unwrap());
    let running = Running::start(config).await.unwrap();
    assert!(running.url().starts_with("https://"), "{}", running.url());
    let trust = Trust::web_pki().with_root(root(&ca));
    for path in ["/api/v1/nothing", "/lead/sign-in", "/api/v1/uploads", "/s"] {
        let r = get(&trust, &format!("{}{path}", running.url()))
            .await
            .unwrap();
        assert_eq!(
            r.headers()[http::header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000",
            "{path}"
        );
    }
    // The storytellers' portal marks its cookies Secure over HTTPS.
    let portal = get(&trust, &format!("{}/s", running.url())).await.unwrap();
    let cookie = portal.headers()[http::header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // So does the lead's page (here the cookie of a token the server does not know,
    // cleared): one rule for both, the server's own TLS counting as HTTPS.
    let lead = get_with_cookie(
        &trust,
        &format!("{}/lead", running.url()),
        Some("tellus_lead=tellus_notatokenthisserverknows"),
    )
    .await
    .unwrap();
    assert_eq!(lead.status(), http::StatusCode::UNAUTHORIZED);
    let cookie = lead.headers()[http::header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("tellus_lead=;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    let plain = running.redirect_addr().unwrap();
    let r = get(&trust, &format!("http://{plain}/lead?scope=all"))
        .await
        .unwrap();
    assert_eq!(r.status(), http::StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.headers()[http::header::LOCATION],
        format!("https://127.0.0.1:{}/lead?scope=all", running.addr().port()).as_str()
    );
    assert!(
        !r.headers()
            .contains_key(http::header::STRICT_TRANSPORT_SECURITY)
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_half_written_one_never_is() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::TestCa::new();
    let first = ca.server(-1, 30);
    let (cert, key) = first.write(dir.path(), "server");
    let mut config = config(dir.path(), &cert, &key);
    config.tls_reload_check_secs = 1;
    let running = Running::start(config).await.unwrap();
    let url = format!("{}/api/v1/nothing", running.url());
    let pinned =
        |c: &pki::Issued| Trust::pinned(CertificatePin::of_certificate(&c.cert_der).unwrap());
    get(&pinned(&first), &url).await.unwrap();

    // A renewal half written: a new certificate with the old key. Never served; the
    // old pair goes on.
    let renewed = ca.server(-1, 60);
    std::fs::write(&cert, &renewed.cert_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    get(&pinned(&first), &url).await.unwrap();

    // The key follows: the new pair is served from the next connection on.
    std::fs::write(&key, &renewed.key_pem).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while get(&pinned(&renewed), &url).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(
        get(&pinned(&first), &url).await,
        Err(NetError::NotTrusted(_))
    ));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_certificate_that_does_not_load_is_refused_at_start_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::TestCa::new();
    let (cert, key) = ca.server(-1, 30).write(dir.path(), "server");
    let (_, other_key) = ca.server(-1, 30).write(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (c, k, named) in [
        (&garbage, &key, "garbage.pem"),
        (&cert, &other_key, "does not fit"),
        (&cert, &dir.path().join("missing.key"), "missing.key"),
    ] {
        let err = Running::start(config(dir.path(), c, k))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains(named), "{err}");
    }
    let mut half = config(dir.path(), &cert, &key);
    half.tls_key = None;
    let err = Running::start(half).await.err().unwrap();
    assert!(err.to_string().contains("go together"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_the_server_stops_reading_still_gets_its_answer_over_https() {
    // As limits.rs's plain-HTTP test: 1 MiB JSON limit, bodies of 8 and 32 MiB, the 413
    // sent before the body is read. Without the lingering close beneath TLS the client
    // gets a reset ("Broken pipe") instead of the answer.
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::TestCa::new();
    let (cert, key) = ca.server(-1, 30).write(dir.path(), "server");
    let running = Running::start(config(dir.path(), &cert, &key))
        .await
        .unwrap();
    let client = HttpClient::new(
        &Trust::web_pki().with_root(root(&ca)),
        Duration::from_secs(5),
    )
    .unwrap();
    for size in [8usize << 20, 32 << 20, 8 << 20, 32 << 20] {
        let body = serde_json::json!({
            "invite_code": "ABCD-EFGH-JKLM-NPQR",
            "device_label": "x".repeat(size),
        });
        let request = http::Request::post(format!("{}/api/v1/enrol", running.url()))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes_body(body.to_string()))
            .unwrap();
        let response = client
            .send(request)
            .await
            .unwrap_or_else(|e| panic!("{size} bytes: no answer: {e:?}"));
        assert_eq!(response.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let answer: serde_json::Value =
            serde_json::from_slice(&read_body(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(answer["code"], "too_large");
    }
    running.stop().await.unwrap();
}
