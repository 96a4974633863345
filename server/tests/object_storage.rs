//! Audio on object storage (issue 19, docs/deploy.md): a real SeaweedFS (S3) and, where
//! the test is about any store, a real Azurite (Azure Blob) too, on loopback
//! (`tellus_testkit::services::object_stores`); a real server storing into them, phones
//! uploading over tus and leads reading back through the audio route. Each test has its
//! own prefix in the shared bucket or container.

mod support;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use reqwest::{Method, StatusCode, header};
use support::*;
use tellus_server::Role;
use tellus_testkit::Storage;
use tellus_testkit::services::seaweed::{self, Seaweed, keys, object};
use tellus_testkit::services::{ObjectService, object_stores};

fn local_audio_files(server: &Server) -> usize {
    std::fs::read_dir(server.config.audio_dir()).map_or(0, |d| d.count())
}

#[tokio::test]
async fn a_phone_upload_lands_in_the_bucket_whole_and_reads_back_by_range() {
    for service in object_stores().await {
        eprintln!("on {}", service.name());
        upload_lands_whole_and_reads_back_by_range(service.as_ref()).await;
    }
}

async fn upload_lands_whole_and_reads_back_by_range(service: &dyn ObjectService) {
    let prefix = format!("upload-{}", new_id());
    let server = server_on(service, &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    // Larger than two parts of the multipart upload, and not a multiple of one.
    let data = audio(17 * 1024 * 1024 + 12_345, 7);
    let recording = reporter.upload(&story, &data, 1024 * 1024).await;

    let r = reporter.receipt(&recording).await;
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data).as_str());
    assert_eq!(receipt["bytes"], data.len());

    let store = service.store(&prefix);
    assert_eq!(keys(&store).await, vec![recording.clone()]);
    let stored = object(&store, &recording).await;
    assert_eq!(stored.len(), data.len());
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
    assert_eq!(local_audio_files(&server), 0, "nothing kept in the folder");
    assert_eq!(
        server.spooled_uploads().await,
        0,
        "the spool file went into the bucket"
    );

    let path = format!("/api/v1/recordings/{recording}/audio");
    let r = lead.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&data)));
    assert_eq!(
        r.headers()[header::CONTENT_LENGTH],
        data.len().to_string().as_str()
    );
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), sha256_hex(&data));

    // Ranges across a part boundary, from the end, and open-ended.
    let part = 8 * 1024 * 1024;
    let len = data.len();
    for (range, from, to) in [
        (
            format!("bytes={}-{}", part - 10, part + 9),
            part - 10,
            part + 9,
        ),
        ("bytes=-100".to_string(), len - 100, len - 1),
        (format!("bytes={}-", len - 5000), len - 5000, len - 1),
        ("bytes=0-0".to_string(), 0, 0),
    ] {
        let r = lead
            .req(Method::GET, &path)
            .header(header::RANGE, &range)
            .header(header::IF_RANGE, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes {from}-{to}/{len}").as_str()
        );
        assert_eq!(&r.bytes().await.unwrap()[..], &data[from..=to], "{range}");
    }
    let r = lead
        .req(Method::GET, &path)
        .header(header::RANGE, format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = lead
        .req(Method::GET, &path)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_withdrawal_deletes_both_copies_from_the_bucket() {
    for service in object_stores().await {
        eprintln!("on {}", service.name());
        withdrawal_deletes_both_copies(service.as_ref()).await;
    }
}

async fn withdrawal_deletes_both_copies(service: &dyn ObjectService) {
    let prefix = format!("withdraw-{}", new_id());
    let server = server_on(service, &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let copies = Copies::make(2, 16_000, 3);
    let recording = new_id();
    for (data, content_type, more) in [
        (
            &copies.flac,
            "audio/flac",
            vec![
                ("representation", "lossless"),
                ("pcm_sha256", copies.pcm_sha256.as_str()),
            ],
        ),
        (
            &copies.opus,
            "audio/ogg",
            vec![("representation", "listening")],
        ),
    ] {
        let r = reporter
            .upload_copy(&story, &recording, data, content_type, &more)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }
    let store = service.store(&prefix);
    assert_eq!(
        keys(&store).await,
        [recording.clone(), format!("{recording}.listening")]
    );
    assert_eq!(object(&store, &recording).await, copies.flac);
    assert_eq!(
        object(&store, &format!("{recording}.listening")).await,
        copies.opus
    );
    let r = lead
        .get(&format!(
            "/api/v1/recordings/{recording}/audio?representation=listening"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&r.bytes().await.unwrap()[..], &copies.opus[..]);

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            keys(&store).await.is_empty()
        })
        .await,
        "both copies are deleted from the bucket: {:?}",
        keys(&store).await
    );
    for representation in ["lossless", "listening"] {
        let r = lead
            .get(&format!(
                "/api/v1/recordings/{recording}/audio?representation={representation}"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{representation}");
    }
}

#[tokio::test]
async fn a_restart_sweeps_orphan_objects_and_keeps_what_is_not_audio() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("sweep-{}", new_id());
    let server = server_on(seaweed.as_ref(), &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(300_000, 9);
    let kept = reporter.upload(&story, &data, 100_000).await;

    // A crash between the database and the bucket leaves objects no row names.
    let store = seaweed.store(&prefix);
    let orphan = new_id();
    let foreign = "operator-notes.txt";
    for key in [
        orphan.clone(),
        format!("{orphan}.listening"),
        foreign.into(),
    ] {
        store
            .put(
                &ObjectPath::from(key.as_str()),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
    }
    let dir = server.stop().await;
    let url = seaweed.storage_url(&prefix);
    let server = Server::start_in(dir, move |c| c.storage = Some(url)).await;
    let mut expected = vec![kept.clone(), foreign.to_string()];
    expected.sort();
    assert_eq!(keys(&store).await, expected);
    assert_eq!(object(&store, &kept).await, data);
    drop(server);
}

/// Starts a server with `storage`; the error it refuses with.

#[tokio::test]
async fn a_wrong_or_unreachable_storage_url_refuses_to_start_with_a_clear_error() {
    // Nothing listens on a port just freed.
    let closed = seaweed::free_ports(1)[0];
    for (url, says) in [
        ("gs://bucket".to_string(), "'gs://' is not supported"),
        ("s3://?endpoint=http://127.0.0.1:1".to_string(), "no bucket"),
        (
            format!("s3://b?endpoint=http://127.0.0.1:{closed}&colour=red"),
            "unknown key 'colour'",
        ),
        (
            format!(
                "s3://b?endpoint=http://127.0.0.1:{closed}&access_key_id=k&secret_access_key=s"
            ),
            "does not answer",
        ),
    ] {
        let message = refused_start(url.clone()).await;
        assert!(message.contains(says), "{url}: {message}");
        assert!(!message.contains("secret_access_key=s"), "{message}");
    }

    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let missing_bucket = format!(
        "s3://no-such-bucket-{}?endpoint={}&access_key_id={}&secret_access_key={}",
        &new_id()[..8],
        seaweed.endpoint,
        seaweed::ACCESS_KEY,
        seaweed::SECRET_KEY
    );
    let wrong_key = format!(
        "s3://{}?endpoint={}&access_key_id={}&secret_access_key=wrong",
        seaweed::BUCKET,
        seaweed.endpoint,
        seaweed::ACCESS_KEY
    );
    for url in [missing_bucket, wrong_key] {
        let message = refused_start(url.clone()).await;
        assert!(message.contains("does not answer"), "{url}: {message}");
        assert!(!message.contains("wrong"), "{message}");
    }
}

/// The transcription worker reads the audio from the bucket: the engine is handed the
/// delivered bytes, and its draft is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcription_worker_reads_the_audio_from_the_bucket() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("transcribe-{}", new_id());
    let seen = tempfile::tempdir().unwrap();
    let copy = seen.path().join("engine-input");
    // Run as `sh -c SCRIPT AUDIO MODEL LANGUAGE`: AUDIO is $0.
    let script = format!(
        "cp \"$0\" '{}' && printf 'WEBVTT\\n\\n00:00:00.000 --> 00:00:01.000\\nfrom the bucket\\n'",
        copy.display()
    );
    let url = seaweed.storage_url(&prefix);
    let server = Server::start_with(move |c| {
        c.storage = Some(url);
        c.transcribe = tellus_server::transcripts::TranscribeConfig {
            command: vec!["sh".into(), "-c".into(), script],
            model: Some(std::env::temp_dir()),
            language: "en".into(),
            timeout_secs: 60,
            retry_secs: 1,
            poll_millis: 20,
        };
    })
    .await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let data = audio(700_000, 4);
    let recording = reporter.upload(&story, &data, 256 * 1024).await;
    let path = format!("/api/v1/recordings/{recording}/transcript");
    assert!(
        wait_until(std::time::Duration::from_secs(120), || async {
            lead.get(&path).await.status() == StatusCode::OK
        })
        .await,
        "no draft"
    );
    let draft: serde_json::Value = lead.get(&path).await.json().await.unwrap();
    assert!(draft.to_string().contains("from the bucket"), "{draft}");
    assert_eq!(std::fs::read(&copy).unwrap(), data);
    assert_eq!(local_audio_files(&server), 0);
}

/// The prefix in the bucket a server's storage URL names.
fn prefix_of(server: &Server) -> String {
    let url = server.config.storage.as_deref().expect("a storage URL");
    match tellus_server::storage::StorageUrl::parse(url).unwrap() {
        tellus_server::storage::StorageUrl::S3(s3) => s3.prefix,
        other => panic!("not a bucket: {other:?}"),
    }
}

/// testkit's `Storage::Seaweed` (the default under `TELLUS_TEST_STORAGE=s3`): each server
/// a prefix of its own in the shared bucket, found again by a server restarted on its
/// data folder, and the backend-neutral views (`audio_*`, `spooled_*`) reading the bucket.
#[tokio::test]
async fn a_test_server_on_the_shared_bucket_keeps_its_own_prefix_across_a_restart() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let start = || Server::options().storage(Storage::Seaweed).start();
    let (server, other) = (start().await, start().await);
    let prefix = prefix_of(&server);
    assert_ne!(prefix, prefix_of(&other), "a prefix each");
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;

    let data = audio(300_000, 3);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    assert_eq!(server.spooled_uploads().await, 1, "the upload's state");
    let r = reporter.patch(&path, 0, &data[..100_000], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.spooled_bytes().await, 100_000);
    let r = reporter.patch(&path, 100_000, &data[100_000..], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(keys(&seaweed.store(&prefix)).await, vec![recording.clone()]);
    assert_eq!(local_audio_files(&server), 0, "nothing in the folder");
    assert_eq!(server.audio_keys().await, vec![recording.clone()]);
    assert_eq!(server.audio_bytes(&recording).await, data);
    assert!(
        !other.audio_exists(&recording).await,
        "not in another's prefix"
    );

    let dir = server.stop().await;
    let server = Server::options()
        .in_dir(dir)
        .storage(Storage::Seaweed)
        .start()
        .await;
    assert_eq!(
        prefix_of(&server),
        prefix,
        "the same prefix after a restart"
    );
    assert_eq!(server.audio_bytes(&recording).await, data);
    let r = server
        .enrol(PROJECT, Role::Lead)
        .await
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), data);
}
