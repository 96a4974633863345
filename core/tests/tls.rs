//! The core's HTTPS client (HttpTransport over tellus-net) against the real project
//! server serving TLS itself on loopback, with certificates made in the test: the
//! default trust (a CA's certificate), a self-signed server trusted through the pin its
//! invite carries, a wrong pin refused, an expired certificate refused; a refusal
//! changes nothing on the phone and spends no invite; a sync cancelled mid-upload asks
//! a pinned server what it holds under the same pin.

#[path = "../../tests/support/pki.rs"]
mod pki;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::proxy::Proxy;
use support::{PROJECT, Phone, Server, wait_until};
use tellus_core::Store;
use tellus_core::net::{CertificateDer, CertificatePin, Invite};
use tellus_core::sync::{DeliveryState, HttpTransport, SyncError, SyncProgress, Transport};
use tellus_server::Role;

/// The real server serving `cert` over HTTPS.
async fn https_server(cert: &pki::Issued) -> (Server, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = cert.write(files.path(), "server");
    let server = Server::start_with(|c| {
        c.tls_cert = Some(cert_path);
        c.tls_key = Some(key_path);
    })
    .await;
    assert!(server.base.starts_with("https://"));
    (server, files)
}

fn trusting(ca: &pki::TestCa) -> Arc<dyn Transport> {
    Arc::new(
        HttpTransport::new()
            .unwrap()
            .with_root(CertificateDer::from(ca.cert.cert_der.clone())),
    )
}

fn plain() -> Arc<dyn Transport> {
    Arc::new(HttpTransport::new().unwrap())
}

fn link(server: &Server, code: String, pin: Option<CertificatePin>) -> String {
    Invite {
        server: Some(server.base.clone()),
        code,
        pin,
    }
    .to_link()
}

/// Tries to enrol a fresh phone; on refusal, checks nothing changed anywhere.
async fn enrol_refused(server: &Server, transport: Arc<dyn Transport>, invite: String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = tellus_core::sync::enrol(&store, transport, "", &invite, "phone")
        .await
        .unwrap_err();
    let SyncError::ServerNotTrusted(why) = &err else {
        panic!("expected ServerNotTrusted, got {err:?}");
    };
    assert!(
        store.sync_account().unwrap().is_none(),
        "no account was kept"
    );
    assert!(store.device_token().unwrap().is_none(), "no token was kept");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL"),
        0,
        "the invite was not spent"
    );
    why.clone()
}

#[tokio::test]
async fn with_the_default_trust_a_certificate_from_a_trusted_authority_syncs() {
    let ca = pki::TestCa::new();
    let (server, _files) = https_server(&ca.server(-1, 30)).await;
    // Mozilla's roots alone do not know the test CA.
    let why = enrol_refused(
        &server,
        plain(),
        link(&server, server.invite(PROJECT, Role::Reporter), None),
    )
    .await;
    assert!(
        why.contains("not from an authority this device trusts"),
        "{why}"
    );

    let phone = Phone::enrolled_through(&server, &server.base, trusting(&ca)).await;
    assert_eq!(
        phone.store.sync_account().unwrap().unwrap().server_pin,
        None
    );
    let (story, recording) = phone.story_with_recording(3_000_000, 1);
    phone.engine.sync().await.unwrap();
    assert!(phone.delivered(story));
    assert_eq!(
        server.audio_bytes(recording.id).await,
        std::fs::read(phone.audio_path(&recording)).unwrap()
    );
}

#[tokio::test]
async fn a_self_signed_server_is_trusted_through_the_pin_its_invite_carries() {
    let community = pki::self_signed();
    let pin = CertificatePin::of_certificate(&community.cert_der).unwrap();
    let (server, _files) = https_server(&community).await;

    // The bare code, without the pin: refused, the invite unspent.
    let code = server.invite(PROJECT, Role::Reporter);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = tellus_core::sync::enrol(&store, plain(), &server.base, &code, "phone")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::ServerNotTrusted(ref why) if why.contains("self-signed")),
        "{err:?}"
    );

    // The link of its QR code carries the server and the pin: enrolled, and every later
    // sync trusts that key (the pin is kept with the enrolment).
    let phone = Phone::with_store(dir, store, plain());
    tellus_core::sync::enrol(
        &phone.store,
        phone.counter.clone(),
        "",
        &link(&server, code, Some(pin)),
        "phone",
    )
    .await
    .unwrap();
    let account = phone.store.sync_account().unwrap().unwrap();
    assert_eq!(account.server_pin, Some(pin.to_string()));
    assert_eq!(account.server_url, server.base);
    let (story, _) = phone.story_with_recording(500_000, 2);
    phone.engine.sync().await.unwrap();
    assert!(phone.delivered(story));

    // Reopened (a new process), the same pin is used.
    let Phone { dir, .. } = phone;
    let store = Store::open(dir.path()).unwrap();
    let reopened = Phone::with_store(dir, store, plain());
    let (story, _) = reopened.story_with_recording(100_000, 3);
    reopened.engine.sync().await.unwrap();
    assert!(reopened.delivered(story));
}

#[tokio::test]
async fn a_wrong_pin_is_refused_and_names_both_keys() {
    let community = pki::self_signed();
    let (server, _files) = https_server(&community).await;
    let other = CertificatePin::of_certificate(&pki::self_signed().cert_der).unwrap();
    let why = enrol_refused(
        &server,
        plain(),
        link(&server, server.invite(PROJECT, Role::Reporter), Some(other)),
    )
    .await;
    let actual = CertificatePin::of_certificate(&community.cert_der).unwrap();
    assert!(why.contains("not the one the invite pinned"), "{why}");
    assert!(
        why.contains(&actual.to_string()) && why.contains(&other.to_string()),
        "{why}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_its_date() {
    let ca = pki::TestCa::new();
    let (server, _files) = https_server(&ca.server(-60, -1)).await;
    let why = enrol_refused(
        &server,
        trusting(&ca),
        link(&server, server.invite(PROJECT, Role::Reporter), None),
    )
    .await;
    assert!(why.contains("expired on"), "{why}");
}

#[tokio::test]
async fn a_pinned_phone_refuses_a_server_whose_key_changed_and_keeps_everything() {
    let community = pki::self_signed();
    let pin = CertificatePin::of_certificate(&community.cert_der).unwrap();
    let (server, files) = https_server(&community).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let phone = Phone::with_store(dir, store, plain());
    tellus_core::sync::enrol(
        &phone.store,
        phone.counter.clone(),
        "",
        &link(&server, server.invite(PROJECT, Role::Reporter), Some(pin)),
        "phone",
    )
    .await
    .unwrap();
    // Someone else's key on the same address (a server replaced, or a machine in the
    // middle): the same data folder restarted with another certificate.
    pki::self_signed().write(files.path(), "server");
    let server = server.restart().await;
    let (story, _) = phone.story_with_recording(200_000, 4);
    let err = phone.engine.sync().await.unwrap_err();
    assert!(
        matches!(err, SyncError::ServerNotTrusted(ref why) if why.contains("not the one the invite pinned")),
        "{err:?}"
    );
    assert!(!phone.delivered(story));
    assert_eq!(
        server.count("SELECT COUNT(*) FROM stories"),
        0,
        "nothing reached it"
    );
    assert!(
        phone.store.parked_items().unwrap().is_empty(),
        "nothing was parked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_cancelled_mid_upload_shows_what_a_pinned_server_holds() {
    // The cancel asks the server for its offset in one HEAD (issue 24); to a pinned
    // server that HEAD must go under the pin too, or it is refused and the story shows
    // a stale percent.
    let community = pki::self_signed();
    let pin = CertificatePin::of_certificate(&community.cert_der).unwrap();
    let (server, _files) = https_server(&community).await;
    let proxy = Proxy::throttled(server.addr, 8 * 1024 * 1024).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let phone = Phone::with_store(dir, store, plain());
    let invite = Invite {
        server: Some(format!("https://{}", proxy.addr)),
        code: server.invite(PROJECT, Role::Reporter),
        pin: Some(pin),
    };
    tellus_core::sync::enrol(
        &phone.store,
        phone.counter.clone(),
        "",
        &invite.to_link(),
        "phone",
    )
    .await
    .unwrap();
    let (story, recording) = phone.story_with_recording(24 * 1024 * 1024, 6);
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let _sub = phone.engine.subscribe_progress(move |p: SyncProgress| {
        s.store(p.bytes_sent, Ordering::SeqCst);
    });
    let engine = phone.engine.clone();
    let running = tokio::spawn(async move { engine.sync().await });
    assert!(
        wait_until(Duration::from_secs(30), || seen.load(Ordering::SeqCst)
            > 2 << 20)
        .await
    );
    assert!(phone.engine.cancel());
    assert_eq!(running.await.unwrap(), Err(SyncError::Cancelled));
    let held = server.count("SELECT MAX(\"offset\") FROM uploads") as u64;
    let expected = (held * 100 / recording.bytes) as u8;
    assert!(expected > 0 && held < recording.bytes, "{held}");
    assert_eq!(
        phone.engine.delivery_state(story).unwrap(),
        DeliveryState::Cancelled { percent: expected }
    );
}
