//! Timeouts and limits at every stage (issue 16): a request head that never ends, a
//! request body that never ends, connections over the caps (overall and per client
//! address), guessing at invite codes and sign-in tokens, and a shutdown that does not
//! wait for any of them past its deadline.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use support::*;
use tellus_server::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn addr_of(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A raw connection to the server from `from` (any 127.x.y.z address reaches loopback).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits (up to `limit`) for the server to close `stream`; how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // An answer (a 408, say) before the close.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Whether the connection is still open and served: a whole GET answered on it.
async fn served(stream: &mut TcpStream) -> bool {
    let request = b"GET /api/v1/nothing HTTP/1.1\r\nHost: t\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buf)).await,
        Ok(Ok(_)) if buf.starts_with(b"HTTP/1.1 404")
    )
}

#[tokio::test]
async fn a_request_head_that_never_ends_and_a_silent_connection_are_closed() {
    let server = Server::start_with(|c| c.header_read_timeout_secs = 1).await;
    let to = addr_of(&server);
    let mut half = connect_from([127, 0, 0, 1], to).await;
    half.write_all(b"GET /api/v1/project HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = connect_from([127, 0, 0, 1], to).await;
    // Another trickles a byte every 300 ms: a total timer, not an idle one, ends it.
    let mut trickle = connect_from([127, 0, 0, 1], to).await;
    trickle.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let trickler = tokio::spawn(async move {
        for _ in 0..30 {
            if trickle.write_all(b"X").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    });
    assert!(
        closed_within(&mut half, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        trickler.await.unwrap(),
        "a head sent one byte at a time was still open after 9 s"
    );

    // A keep-alive connection gets the same time for its next request head.
    let mut kept = connect_from([127, 0, 0, 1], to).await;
    assert!(served(&mut kept).await);
    assert!(
        closed_within(&mut kept, Duration::from_secs(5))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_request_body_that_never_ends_is_408_in_json() {
    let server = Server::start_with(|c| c.request_timeout_secs = 1).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let mut stream = connect_from([127, 0, 0, 1], addr_of(&server)).await;
    let head = format!(
        "PUT /api/v1/stories/{} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":",
        new_id(),
        reporter.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    assert!(read.await.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

#[tokio::test]
async fn connections_over_the_caps_are_refused_or_held_back_and_others_still_get_in() {
    let server = Server::start_with(|c| {
        c.max_connections = 6;
        c.max_connections_per_client = 3;
    })
    .await;
    let to = addr_of(&server);
    let mut mallory = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from([127, 0, 0, 2], to).await;
        assert!(served(&mut s).await, "within the per-client cap");
        mallory.push(s);
    }
    let mut fourth = connect_from([127, 0, 0, 2], to).await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2))
            .await
            .is_some(),
        "a fourth from one address was kept open"
    );
    // Another address still gets in, up to the total.
    let mut others = Vec::new();
    for last in 3..6 {
        let mut s = connect_from([127, 0, 0, last], to).await;
        assert!(served(&mut s).await, "127.0.0.{last}");
        others.push(s);
    }
    // Over the total, a newcomer waits (the server stops accepting; the kernel holds
    // it): no answer while all six are open, served as soon as one ends.
    let mut seventh = connect_from([127, 0, 0, 9], to).await;
    seventh
        .write_all(b"GET /api/v1/nothing HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), seventh.read_exact(&mut buf))
            .await
            .is_err(),
        "a seventh connection was served over the total of six"
    );
    drop(mallory.pop());
    let answered = tokio::time::timeout(Duration::from_secs(5), seventh.read_exact(&mut buf)).await;
    assert!(
        matches!(answered, Ok(Ok(_))) && buf.starts_with(b"HTTP/1.1 404"),
        "the waiting connection was not served when a place came back"
    );
}

async fn enrol_attempt(
    server: &Server,
    code: &str,
    forwarded_for: Option<IpAddr>,
) -> reqwest::Response {
    let mut request = server
        .http
        .post(server.url("/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "phone" }));
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip.to_string());
    }
    request.send().await.unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn guessing_invite_codes_gets_429_with_retry_after_per_address_and_per_code() {
    let server = Server::start().await;
    let good = server.invite(PROJECT, Role::Reporter);
    for i in 0..10 {
        let r = enrol_attempt(&server, &format!("WRONG-CODE-{i:04}"), None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "attempt {i}");
    }
    let r = enrol_attempt(&server, "WRONG-CODE-9999", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=6).contains(&retry_after(&r)));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    // The right code is refused too from this address now, and not spent by that.
    let r = enrol_attempt(&server, &good, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let used = server.count("SELECT COUNT(*) FROM invites WHERE used_at IS NOT NULL");
    assert_eq!(used, 0, "a refused attempt spent the invite");
    drop(server);

    // One code tried from many addresses (behind a proxy the server trusts).
    let server =
        Server::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    for i in 0..5u8 {
        let r = enrol_attempt(
            &server,
            "SAME-WRONG-CODE",
            Some(IpAddr::from([203, 0, 113, i])),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "attempt {i}");
    }
    let r = enrol_attempt(
        &server,
        "same wrong code",
        Some(IpAddr::from([203, 0, 113, 99])),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the same code, typed differently"
    );
    assert!((1..=60).contains(&retry_after(&r)));
    // Another address with another code is not held up by either.
    let good = server.invite(PROJECT, Role::Reporter);
    let r = enrol_attempt(&server, &good, Some(IpAddr::from([203, 0, 113, 100]))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn guessing_lead_tokens_on_the_sign_in_page_gets_429_with_retry_after() {
    let server = Server::start().await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |token: String| {
        browser
            .post(server.url("/lead/sign-in"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    for i in 0..10 {
        let r = sign_in(format!("tellus_guess{i}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = sign_in(lead.token.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=6).contains(&retry_after(&r)));
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("Too many sign-in attempts"), "{page}");
}

#[tokio::test]
async fn stopping_drops_what_is_still_open_after_the_grace_period() {
    let server = Server::start_with(|c| {
        c.shutdown_grace_secs = 1;
        c.header_read_timeout_secs = 60;
    })
    .await;
    let to = addr_of(&server);
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = connect_from([127, 0, 0, 1], to).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;
    assert!(
        stopped.is_ok(),
        "stop() waited past its deadline for half-sent requests"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(2)).await.is_some());
    }
}
