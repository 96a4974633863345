//! A recording's representations (issue 20, docs/data-saver.md): a lossless FLAC and an
//! Ogg Opus listening copy of one recording, each its own upload, receipt, feed entry
//! and Range download; the server decodes what it is sent and keeps nothing that is not
//! the audio it claims to be. Real files made with tellus-media, a real server.

mod support;

use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use support::*;
use tellus_server::Role;

fn recording_rows(server: &Server) -> i64 {
    server.count("SELECT COUNT(*) FROM recordings")
}

async fn refusal(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// The lossless copy as the phone sends it after issue 20.
async fn send_flac(reporter: &Device, story: &str, recording: &str, copies: &Copies) {
    let r = reporter
        .upload_copy(
            story,
            recording,
            &copies.flac,
            "audio/flac",
            &[
                ("representation", "lossless"),
                ("pcm_sha256", &copies.pcm_sha256),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
}

async fn send_opus(reporter: &Device, story: &str, recording: &str, copies: &Copies) {
    let r = reporter
        .upload_copy(
            story,
            recording,
            &copies.opus,
            "audio/ogg",
            &[("representation", "listening")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
}

#[tokio::test]
async fn a_flac_and_an_opus_copy_have_their_own_receipts_feed_entries_and_range_downloads() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let copies = Copies::make(3, 48_000, 1);
    let recording = new_id();
    // The listening copy first, as on a metered network.
    send_opus(&reporter, &story, &recording, &copies).await;
    send_flac(&reporter, &story, &recording, &copies).await;

    for (representation, data, format, pcm) in [
        (
            "lossless",
            &copies.flac,
            "flac",
            Some(copies.pcm_sha256.as_str()),
        ),
        ("listening", &copies.opus, "opus", None),
    ] {
        for who in [&reporter, &lead] {
            let r = who.receipt_of(&recording, representation).await;
            assert_eq!(r.status(), StatusCode::OK, "{representation}");
            let receipt: Value = r.json().await.unwrap();
            assert_eq!(receipt["representation"], representation);
            assert_eq!(receipt["format"], format);
            assert_eq!(receipt["sha256"], sha256_hex(data).as_str());
            assert_eq!(receipt["bytes"], data.len() as u64);
            assert_eq!(receipt["pcm_sha256"].as_str(), pcm, "{representation}");
        }
    }
    // No parameter is the lossless copy, as for every client before issue 20.
    let plain: Value = lead.receipt(&recording).await.json().await.unwrap();
    assert_eq!(plain["representation"], "lossless");

    let page = lead.changes("0").await;
    let announced: Vec<(String, String, Option<String>)> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "recording")
        .map(|c| {
            (
                c["representation"].as_str().unwrap().to_string(),
                c["format"].as_str().unwrap().to_string(),
                c["pcm_sha256"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        announced,
        [
            ("listening".into(), "opus".into(), None),
            (
                "lossless".into(),
                "flac".into(),
                Some(copies.pcm_sha256.clone())
            ),
        ]
    );

    for (representation, data, content_type) in [
        ("lossless", &copies.flac, "audio/flac"),
        ("listening", &copies.opus, "audio/ogg"),
    ] {
        let path = format!("/api/v1/recordings/{recording}/audio?representation={representation}");
        let r = lead.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], content_type);
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(etag, format!("\"{}\"", sha256_hex(data)));
        assert_eq!(&r.bytes().await.unwrap()[..], &data[..]);
        let r = lead
            .req(Method::GET, &path)
            .header(header::RANGE, "bytes=100-")
            .header(header::IF_RANGE, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes 100-{}/{}", data.len() - 1, data.len()).as_str()
        );
        assert_eq!(&r.bytes().await.unwrap()[..], &data[100..]);
    }
    assert_eq!(
        server.audio_keys().await.len(),
        2,
        "{:?}",
        server.audio_keys().await
    );
}

#[tokio::test]
async fn the_story_a_lead_reads_marks_each_copy_delivered() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let copies = Copies::make(2, 16_000, 2);
    let recording = new_id();
    let mut doc = story_doc(&story, 2, "ready");
    doc["recordings"] = serde_json::json!([{
        "id": recording, "format": "wav", "sample_rate": 16000, "channels": 1,
        "frames": 32000, "bytes": copies.wav.len(), "sha256": sha256_hex(&copies.wav),
        "duration_ms": 2000, "created_at": "2026-11-22T10:00:00Z",
        "pcm_sha256": copies.pcm_sha256,
        "representations": [
            { "representation": "lossless", "format": "flac", "bytes": copies.flac.len(), "sha256": sha256_hex(&copies.flac) },
            { "representation": "listening", "format": "opus", "bytes": copies.opus.len(), "sha256": sha256_hex(&copies.opus) }
        ]
    }]);
    let r = reporter
        .req(Method::PUT, &format!("/api/v1/stories/{story}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let delivered = |doc: &Value| -> (bool, Vec<(String, bool)>) {
        let rec = &doc["recordings"][0];
        (
            rec["delivered"].as_bool().unwrap(),
            rec["representations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["representation"].as_str().unwrap().to_string(),
                        m["delivered"].as_bool().unwrap(),
                    )
                })
                .collect(),
        )
    };
    let read = || async {
        lead.get(&format!("/api/v1/stories/{story}"))
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        delivered(&read().await),
        (
            false,
            vec![("lossless".into(), false), ("listening".into(), false)]
        )
    );
    // The lead's web page plays the best copy there is and says which.
    let page = || async {
        server
            .http
            .get(server.url(&format!("/lead/stories/{story}")))
            .header("cookie", format!("tellus_lead={}", lead.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(
        page()
            .await
            .contains("No recording of this story has been delivered yet")
    );
    send_opus(&reporter, &story, &recording, &copies).await;
    assert_eq!(
        delivered(&read().await),
        (
            false,
            vec![("lossless".into(), false), ("listening".into(), true)]
        ),
        "only the listening copy is here: the recording is not delivered (lossless) yet"
    );
    let html = page().await;
    let listening_src =
        format!("src=\"/lead/recordings/{recording}/audio?representation=listening\"");
    assert!(html.contains(&listening_src), "{html}");
    assert!(
        html.contains("Plays: Listening copy (smaller, Opus)"),
        "{html}"
    );
    send_flac(&reporter, &story, &recording, &copies).await;
    assert_eq!(
        delivered(&read().await),
        (
            true,
            vec![("lossless".into(), true), ("listening".into(), true)]
        )
    );
    let html = page().await;
    let lossless_src = format!("src=\"/lead/recordings/{recording}/audio\"");
    assert!(html.contains(&lossless_src), "{html}");
    assert!(html.contains("Plays: Lossless (FLAC)"), "{html}");
    assert!(html.contains("Recording 1 (FLAC, lossless,"), "{html}");
    assert!(
        html.contains("Recording 1 (Opus, listening copy,"),
        "{html}"
    );
}

#[tokio::test]
async fn a_flac_that_is_not_the_declared_audio_is_refused_and_nothing_is_kept() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let copies = Copies::lossless(2, 16_000, 3);
    let other = Copies::lossless(2, 16_000, 4);
    assert_ne!(copies.pcm_sha256, other.pcm_sha256);
    let recording = new_id();
    // A whole-file SHA-256 that matches, but the PCM of another recording declared.
    let r = reporter
        .upload_copy(
            &story,
            &recording,
            &copies.flac,
            "audio/flac",
            &[("pcm_sha256", &other.pcm_sha256)],
        )
        .await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "pcm_mismatch".into())
    );
    // Bytes that are no FLAC at all.
    let garbage = audio(5_000, 9);
    let r = reporter
        .upload_copy(&story, &recording, &garbage, "audio/flac", &[])
        .await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "undecodable".into())
    );
    // A FLAC cut short: its frames do not add up.
    let cut = &copies.flac[..copies.flac.len() / 2];
    let r = reporter
        .upload_copy(
            &story,
            &recording,
            cut,
            "audio/flac",
            &[("pcm_sha256", &copies.pcm_sha256)],
        )
        .await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "undecodable".into())
    );
    assert_eq!(
        server.audio_keys().await,
        Vec::<String>::new(),
        "nothing stored"
    );
    assert_eq!(server.spooled_uploads().await, 0, "no spool file left");
    assert_eq!(server.upload_rows(), 0, "no upload left to resume");
    assert_eq!(recording_rows(&server), 0);
    assert_eq!(
        reporter.receipt(&recording).await.status(),
        StatusCode::NOT_FOUND
    );

    // The right file then goes through.
    send_flac(&reporter, &story, &recording, &copies).await;
    assert_eq!(server.audio_keys().await, [recording]);
}

#[tokio::test]
async fn a_copy_in_a_format_its_representation_does_not_allow_is_refused_with_415() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let copies = Copies::lossless(1, 16_000, 5);
    for (content_type, representation) in [
        ("audio/flac", "listening"),
        ("audio/wav", "listening"),
        ("audio/ogg", "lossless"),
    ] {
        let r = reporter
            .upload_copy(
                &story,
                &new_id(),
                &copies.flac,
                content_type,
                &[("representation", representation)],
            )
            .await;
        let (status, code) = refusal(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "format_not_allowed"),
            "{representation} as {content_type}"
        );
    }
    let r = reporter
        .upload_copy(
            &story,
            &new_id(),
            &copies.flac,
            "audio/flac",
            &[("representation", "preview")],
        )
        .await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::BAD_REQUEST, "invalid_representation".into())
    );
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
    // Reading a copy by an unknown name is a clear error too.
    let r = reporter.receipt_of(&new_id(), "preview").await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::BAD_REQUEST, "invalid_representation".into())
    );
}

#[tokio::test]
async fn a_listening_copy_that_is_not_ogg_opus_is_refused_and_nothing_is_kept() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let copies = Copies::make(1, 16_000, 6);
    let recording = new_id();
    for bad in [
        audio(3_000, 1),
        copies.opus[..copies.opus.len() - 40].to_vec(),
    ] {
        let r = reporter
            .upload_copy(
                &story,
                &recording,
                &bad,
                "audio/ogg",
                &[("representation", "listening")],
            )
            .await;
        assert_eq!(
            refusal(r).await,
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_opus".into())
        );
    }
    assert_eq!(server.audio_keys().await, Vec::<String>::new());
    assert_eq!(server.upload_rows(), 0);
    send_opus(&reporter, &story, &recording, &copies).await;
    assert_eq!(
        server.audio_keys().await,
        [format!("{recording}.listening")]
    );
}

#[tokio::test]
async fn a_wav_sent_without_representation_works_as_before_and_gets_its_pcm_identity() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let copies = Copies::lossless(2, 48_000, 7);
    // The metadata every phone before issue 20 sends, in PATCHes.
    let recording = reporter.upload(&story, &copies.wav, 64 * 1024).await;
    let receipt: Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["representation"], "lossless");
    assert_eq!(receipt["format"], "wav");
    assert_eq!(receipt["sha256"], sha256_hex(&copies.wav).as_str());
    assert_eq!(receipt["pcm_sha256"], copies.pcm_sha256.as_str());
    let r = lead
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(&r.bytes().await.unwrap()[..], &copies.wav[..]);
    // The same recording's FLAC is another copy of the same audio, not a second
    // lossless one.
    let r = reporter
        .upload_copy(
            &story,
            &recording,
            &copies.flac,
            "audio/flac",
            &[("pcm_sha256", &copies.pcm_sha256)],
        )
        .await;
    assert_eq!(
        refusal(r).await,
        (StatusCode::CONFLICT, "already_delivered".into())
    );
    assert_eq!(server.audio_keys().await, [recording]);
}

#[tokio::test]
async fn a_withdrawal_removes_every_copy_and_a_restart_sweeps_orphans_of_either() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let copies = Copies::make(2, 16_000, 8);
    let recording = new_id();
    send_flac(&reporter, &story, &recording, &copies).await;
    send_opus(&reporter, &story, &recording, &copies).await;
    assert_eq!(
        server.audio_keys().await,
        [recording.clone(), format!("{recording}.listening")]
    );
    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        wait_until(std::time::Duration::from_secs(10), || async {
            server.audio_keys().await.is_empty()
        })
        .await,
        "both copies are deleted: {:?}",
        server.audio_keys().await
    );
    for representation in ["lossless", "listening"] {
        assert_eq!(
            lead.receipt_of(&recording, representation).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(recording_rows(&server), 0);

    // A crash between the database and the files leaves files no row names: a start
    // deletes them, whichever copy they are, and keeps those a row names.
    let kept_story = reporter.consented_story().await;
    let kept = new_id();
    send_opus(&reporter, &kept_story, &kept, &copies).await;
    let orphan = new_id();
    server.put_audio(&orphan, b"x").await;
    server.put_audio(format!("{orphan}.listening"), b"x").await;
    server.put_audio(&kept, b"x").await;
    let dir = server.stop().await;
    let server = Server::start_in(dir, |_| {}).await;
    assert_eq!(server.audio_keys().await, [format!("{kept}.listening")]);
}
