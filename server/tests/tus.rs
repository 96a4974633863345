//! tus 1.0 against the real server over loopback: a whole upload with its receipt,
//! chunk checksums, offsets, concurrency, deferred length, termination, limits, and a
//! body cut mid-way.

mod support;

use reqwest::{Method, StatusCode};
use support::*;
use tellus_server::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_advertises_the_extensions_and_algorithms() {
    let server = Server::start().await;
    let r = server
        .http
        .request(Method::OPTIONS, server.url("/api/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-resumable"], "1.0.0");
    let ext = h["tus-extension"].to_str().unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "checksum",
        "termination",
        "expiration",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} missing from {ext}");
    }
    assert_eq!(h["tus-checksum-algorithm"], "sha1,sha256");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_chunks_ends_with_a_verified_receipt_and_in_the_feed() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let data = audio(300_000, 1);
    let recording = reporter.upload(&story, &data, 64 * 1024).await;

    let r = reporter.receipt(&recording).await;
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));
    assert_eq!(receipt["bytes"], data.len() as u64);
    assert_eq!(server.audio_bytes(&recording).await, data);
    assert_eq!(
        server.spooled_uploads().await,
        0,
        "the spool is empty once delivered"
    );

    let feed = lead.changes("").await;
    let kinds: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["story", "recording"]);
    assert_eq!(feed["changes"][1]["sha256"], sha256_hex(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_gets_460_and_the_offset_is_unchanged() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(100_000, 2);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let first = &data[..40_000];
    assert_eq!(
        reporter
            .patch(&path, 0, first, Some(checksum("sha1", first)))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let second = &data[40_000..80_000];
    let mut corrupted = second.to_vec();
    corrupted[123] ^= 0xff;
    for algorithm in ["sha1", "sha256"] {
        let r = reporter
            .patch(&path, 40_000, &corrupted, Some(checksum(algorithm, second)))
            .await;
        assert_eq!(r.status().as_u16(), 460);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "checksum_mismatch");
        assert_eq!(reporter.offset(&path).await, 40_000);
    }
    assert_eq!(
        server.spooled_bytes().await,
        40_000,
        "the bad chunk was discarded from disk"
    );

    let r = reporter
        .patch(
            &path,
            40_000,
            &data[40_000..],
            Some(checksum("sha256", &data[40_000..])),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"].to_str().unwrap(),
        sha256_hex(&data)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_offset_is_409_and_changes_nothing() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(10_000, 3);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    assert_eq!(
        reporter
            .patch(&path, 0, &data[..5_000], None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    for wrong in [0, 4_999, 5_001, 20_000] {
        let r = reporter.patch(&path, wrong, &data[5_000..], None).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "offset {wrong}");
    }
    assert_eq!(reporter.offset(&path).await, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_patching_one_upload_leave_a_correct_file() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(2_000_000, 4);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    // Two writers race over the same upload, each asking the server for the offset and
    // sending the next chunk from there, like two tus clients resuming at once. The
    // server serialises them (423 while busy, 409 on a stale offset).
    let writer = |device: Device, path: String, data: Vec<u8>| async move {
        let mut refusals = 0;
        loop {
            // A connection the server closed after refusing a PATCH may fail the next
            // request on it; ask again.
            let Ok(head) = device.tus(Method::HEAD, &path).send().await else {
                continue;
            };
            if head.status() == StatusCode::NOT_FOUND {
                return refusals; // completed by the other writer
            }
            let offset: usize = head.headers()["upload-offset"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let end = (offset + 100_000).min(data.len());
            let chunk = &data[offset..end];
            // A refused PATCH may also see its connection closed before its body is sent
            // (the server answers without reading it): that is a refusal too.
            let sent = device
                .tus(Method::PATCH, &path)
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", offset.to_string())
                .header("Upload-Checksum", checksum("sha256", chunk))
                .body(chunk.to_vec())
                .send()
                .await;
            let Ok(r) = sent else {
                refusals += 1;
                continue;
            };
            match r.status() {
                StatusCode::NO_CONTENT => {}
                StatusCode::CONFLICT | StatusCode::LOCKED => refusals += 1,
                StatusCode::NOT_FOUND => return refusals,
                other => panic!("unexpected {other}: {:?}", r.text().await),
            }
        }
    };
    let a = tokio::spawn(writer(reporter.clone(), path.clone(), data.clone()));
    let b = tokio::spawn(writer(reporter.clone(), path.clone(), data.clone()));
    let (ra, rb) = (a.await.unwrap(), b.await.unwrap());
    eprintln!("refusals: {ra} + {rb}");
    let r = reporter.receipt(&recording).await;
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));
    assert_eq!(server.audio_bytes(&recording).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_and_deferred_length() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(50_000, 5);
    let recording = new_id();
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Defer-Length", "1")
        .header(
            "Upload-Metadata",
            metadata(&story, &recording, &sha256_hex(&data)),
        )
        .header("Content-Type", "application/offset+octet-stream")
        .body(data[..20_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["upload-offset"], "20000");
    assert!(r.headers().contains_key("upload-expires"));
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let head = reporter.tus(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(head.headers()["upload-defer-length"], "1");
    assert_eq!(head.headers()["cache-control"], "no-store");

    let r = reporter
        .tus(Method::PATCH, &path)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "20000")
        .header("Upload-Length", data.len().to_string())
        .body(data[20_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let receipt: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_deletes_the_upload_and_its_bytes() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(10_000, 6);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    reporter.patch(&path, 0, &data[..1000], None).await;
    assert_eq!(server.spooled_uploads().await, 1);
    let r = reporter.tus(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
    let r = reporter.tus(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_is_413_with_a_readable_message_before_any_byte() {
    let server = Server::start_with(|c| c.limits.recording_bytes = 1_000_000).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", "5000000")
        .header(
            "Upload-Metadata",
            metadata(&story, &new_id(), &sha256_hex(b"x")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_large");
    assert!(
        body["message"].as_str().unwrap().contains("5.0 MB"),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("1.0 MB"),
        "{body}"
    );
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);

    // A PATCH past the declared length is refused and keeps nothing of itself.
    let data = audio(1000, 7);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let r = reporter.patch(&path, 0, &audio(1500, 7), None).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reporter.offset(&path).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_file_mismatch_keeps_nothing() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(20_000, 8);
    let recording = new_id();
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            metadata(&story, &recording, &sha256_hex(b"something else")),
        )
        .send()
        .await
        .unwrap();
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let r = reporter.patch(&path, 0, &data, None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "file_mismatch");
    assert_eq!(
        reporter.receipt(&recording).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!server.audio_exists(&recording).await);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_mid_way_keeps_the_bytes_that_arrived() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    // Half-closed (the client stops sending and waits) and hung up outright (the socket
    // dropped, as a phone losing its network does).
    for hang_up in [false, true] {
        let story = reporter.consented_story().await;
        let data = audio(3_000_000, 9);
        let recording = new_id();
        let path = reporter.new_upload(&story, &recording, &data).await;
        // A raw connection that announces the whole body, sends part of it and stops.
        let sent = 1_500_000;
        let mut stream = reporter.raw_patch(&path, None, data.len()).await;
        stream.write_all(&data[..sent]).await.unwrap();
        stream.flush().await.unwrap();
        if hang_up {
            drop(stream);
        } else {
            stream.shutdown().await.unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        }
        // The server commits the prefix once it notices the cut; poll for it with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut offset = reporter.offset(&path).await;
        while offset != sent as u64 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            offset = reporter.offset(&path).await;
        }
        assert_eq!(
            offset, sent as u64,
            "the received prefix is kept (hang_up: {hang_up})"
        );
        let rest = &data[sent..];
        let r = reporter
            .patch(&path, sent as u64, rest, Some(checksum("sha1", rest)))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let receipt: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
        assert_eq!(receipt["sha256"], sha256_hex(&data));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_checksummed_body_is_checkpointed_as_it_streams_and_taken_back_if_it_does_not_match()
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MIB: usize = 1024 * 1024;
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(24 * MIB, 23);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    // The whole file in one PATCH with its SHA-256, but one byte past 20 MiB differs.
    let mut corrupted = data.clone();
    corrupted[20 * MIB + 7] ^= 0xff;
    let mut stream = reporter
        .raw_patch(&path, Some(checksum("sha256", &data)), data.len())
        .await;
    stream.write_all(&corrupted[..18 * MIB]).await.unwrap();
    stream.flush().await.unwrap();
    // While the body is still open, the server commits what it holds (a crash now would
    // cost the client at most a checkpoint's worth of sending again): every 8 MiB in the
    // spool folder; in a bucket after each 8 MiB part, a part behind the one in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut offset = reporter.offset(&path).await;
    while offset < 8 * MIB as u64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        offset = reporter.offset(&path).await;
    }
    assert!(
        (8 * MIB as u64..=18 * MIB as u64).contains(&offset),
        "checkpoints committed mid-body: {offset}"
    );
    // The rest arrives; the whole body does not match its checksum.
    stream.write_all(&corrupted[18 * MIB..]).await.unwrap();
    let mut answer = vec![0u8; 12];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 460");
    drop(stream);
    assert_eq!(
        reporter.offset(&path).await,
        0,
        "the checkpoints were taken back"
    );
    assert_eq!(server.spooled_bytes().await, 0);

    // Sent again whole and right: delivered, and the receipt is the file's SHA-256.
    let r = reporter
        .patch(&path, 0, &data, Some(checksum("sha256", &data)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"].to_str().unwrap(),
        sha256_hex(&data)
    );
    assert_eq!(server.audio_bytes(&recording).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tus_headers_are_400s() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(1000, 10);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let create = |length: &'static str, meta: String| {
        reporter
            .tus(Method::POST, "/api/v1/uploads")
            .header("Upload-Length", length)
            .header("Upload-Metadata", meta)
    };
    let good_meta = metadata(&story, &new_id(), &sha256_hex(&data));
    for (what, req) in [
        ("negative length", create("-1", good_meta.clone())),
        ("length with a sign", create("+5", good_meta.clone())),
        (
            "huge length",
            create("99999999999999999999999", good_meta.clone()),
        ),
        ("metadata not base64", create("10", "story_id !!!".into())),
        ("metadata without keys", create("10", "".into())),
        (
            "metadata repeats a key",
            create("10", format!("{good_meta},story_id YQ==")),
        ),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{what}: {body}"
        );
    }
    let patch = |offset: &'static str, checksum: &'static str| {
        reporter
            .tus(Method::PATCH, &path)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .header("Upload-Checksum", checksum)
            .body(data.clone())
    };
    for (what, req) in [
        (
            "offset not a number",
            patch("ten", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ),
        (
            "offset negative",
            patch("-1", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ),
        (
            "unknown algorithm",
            patch("0", "md5 AAAAAAAAAAAAAAAAAAAAAA=="),
        ),
        ("digest of the wrong size", patch("0", "sha256 AAAA")),
        ("digest not base64", patch("0", "sha1 ***")),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    let r = reporter
        .req(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::PRECONDITION_FAILED,
        "no Tus-Resumable"
    );
    assert_eq!(reporter.offset(&path).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_goes_silent_counts_as_cut_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start_with(|c| c.body_idle_timeout_secs = 1).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(500_000, 11);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    // A link that dies without a reset: part of the body, then silence, socket open.
    let mut stream = reporter.raw_patch(&path, None, data.len()).await;
    stream.write_all(&data[..200_000]).await.unwrap();
    stream.flush().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut offset = reporter.offset(&path).await;
    while offset != 200_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        offset = reporter.offset(&path).await;
    }
    assert_eq!(
        offset, 200_000,
        "the prefix is committed and the upload is free again"
    );
    let r = reporter.patch(&path, 200_000, &data[200_000..], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    drop(stream);
    let receipt: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_upload_is_gone_and_swept_on_restart() {
    let server = Server::start_with(|c| c.upload_expiry_secs = 0).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(1000, 12);
    let r = reporter.create_upload(&story, &new_id(), &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("upload-expires"));
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let r = reporter.tus(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let r = reporter.patch(&path, 0, &data, None).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(server.spooled_uploads().await, 1);
    // A restart sweeps it away, file and row.
    let dir = server.stop().await;
    let server = Server::start_in(dir, |c| c.upload_expiry_secs = 0).await;
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let server = Server::start().await;
    let r = server
        .http
        .get(server.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "no_route"
    );
    let r = server
        .http
        .delete(server.url("/api/v1/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "method_not_allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_the_whole_body_delivers_at_once_or_keeps_nothing() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(30_000, 13);
    let create = |declared: String| {
        reporter
            .tus(Method::POST, "/api/v1/uploads")
            .header("Upload-Length", data.len().to_string())
            .header("Upload-Metadata", declared)
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.clone())
            .send()
    };
    let recording = new_id();
    let r = create(metadata(&story, &recording, &sha256_hex(&data)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"].to_str().unwrap(),
        sha256_hex(&data)
    );
    assert_eq!(reporter.receipt(&recording).await.status(), StatusCode::OK);

    let wrong = new_id();
    let r = create(metadata(&story, &wrong, &sha256_hex(b"not this")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reporter.receipt(&wrong).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_one_recording_never_overwrite_a_delivered_file() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let recording = new_id();
    let first = audio(20_000, 14);
    let second = audio(20_000, 15);
    // Both created before either finishes (the second is not refused as delivered yet).
    let a = reporter.new_upload(&story, &recording, &first).await;
    let b = reporter.new_upload(&story, &recording, &second).await;
    let c = reporter.new_upload(&story, &recording, &first).await;
    assert_eq!(
        reporter.patch(&a, 0, &first, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = reporter.patch(&b, 0, &second, None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "already_delivered"
    );
    // The same bytes again: the receipt stands.
    let r = reporter.patch(&c, 0, &first, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.audio_bytes(&recording).await, first);
    let receipt: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&first));
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
}

/// PATCHes whose bodies stall half-way must not hold the blocking pool that every other
/// request needs (SQLite, file writes): with a pool of 2 threads and 3 stalled checksummed
/// PATCHes, another device's request still gets its answer.
#[test]
fn stalled_bodies_do_not_starve_other_requests() {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scenario = async {
        let server = Server::start_with(|c| c.body_idle_timeout_secs = 600).await;
        let reporter = server.enrol(PROJECT, Role::Reporter).await;
        let story = reporter.consented_story().await;
        let data = audio(4_000_000, 9);
        let mut stalled = Vec::new();
        let mut paths = Vec::new();
        for _ in 0..3 {
            let path = reporter.new_upload(&story, &new_id(), &data).await;
            paths.push(path.clone());
            let mut tcp = reporter
                .raw_patch(&path, Some(checksum("sha256", &data)), data.len())
                .await;
            // A part of the body, then nothing: the link went quiet.
            tcp.write_all(&data[..200_000]).await.unwrap();
            stalled.push(tcp);
        }
        // Every stalled PATCH is being received: its upload is locked (another PATCH
        // waits its turn briefly, then gets 423).
        for path in &paths {
            let locked = wait_until(std::time::Duration::from_secs(30), || async {
                let probe = reporter.patch(path, 0, &[], None);
                let answer = tokio::time::timeout(std::time::Duration::from_secs(10), probe).await;
                matches!(answer, Ok(r) if r.status() == StatusCode::LOCKED)
            })
            .await;
            assert!(locked, "the PATCH on {path} never started");
        }
        let answered = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let other = server.enrol(PROJECT, Role::Reporter).await;
            let story = other.consented_story().await;
            other.put_story(&story, 2).await.status()
        })
        .await;
        assert!(
            matches!(answered, Ok(status) if status.is_success()),
            "another device's requests went unanswered while bodies stalled: {answered:?}"
        );
        drop(stalled);
    };
    // Starved, even creating the uploads would wait forever: a deadline over it all.
    let finished = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), scenario).await
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    assert!(finished.is_ok(), "requests hung while bodies stalled");
}
