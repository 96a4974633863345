//! Audio on Azure Blob Storage (issue 19, docs/deploy.md): Azurite, Microsoft's official
//! emulator, on loopback (`tellus_testkit::services::azurite`), a real server storing
//! into its container through `az://`, phones uploading over tus (parts become blocks of
//! a block blob) and leads reading back through the audio route. Each test has its own
//! prefix in the shared container. Azurite only: no test here reaches the real Azure.

mod support;

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use reqwest::{Method, StatusCode, header};
use support::*;
use tellus_server::{Role, Running, ServerConfig};
use tellus_testkit::services::azurite::{self, Azurite};
use tellus_testkit::services::seaweed::{free_ports, keys, object};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;

async fn server_on(azurite: &Azurite, prefix: &str) -> Server {
    let url = azurite.storage_url(prefix);
    Server::start_with(move |c| c.storage = Some(url)).await
}

#[tokio::test]
async fn an_upload_in_parts_lands_in_the_container_whole_and_reads_back_by_range() {
    let Some(azurite) = Azurite::shared().await else {
        return;
    };
    let prefix = format!("upload-{}", new_id());
    let server = server_on(&azurite, &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    // Sent 1 MiB at a time: two whole 8 MiB parts (blocks) and a tail.
    let data = audio(17 * MIB + 12_345, 7);
    let recording = reporter.upload(&story, &data, MIB).await;

    let r = reporter.receipt(&recording).await;
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data).as_str());
    assert_eq!(receipt["bytes"], data.len());

    let store = azurite.store(&prefix);
    assert_eq!(keys(&store).await, vec![recording.clone()]);
    let stored = object(&store, &recording).await;
    assert_eq!(stored.len(), data.len());
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
    assert_eq!(
        std::fs::read_dir(server.config.audio_dir()).map_or(0, |d| d.count()),
        0,
        "nothing kept in the folder"
    );

    let path = format!("/api/v1/recordings/{recording}/audio");
    let r = lead.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&data)));
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), sha256_hex(&data));

    // Across the first block boundary, from the end, and open-ended.
    let len = data.len();
    for (range, from, to) in [
        (
            format!("bytes={}-{}", 8 * MIB - 10, 8 * MIB + 9),
            8 * MIB - 10,
            8 * MIB + 9,
        ),
        ("bytes=-100".to_string(), len - 100, len - 1),
        (format!("bytes={}-", len - 5000), len - 5000, len - 1),
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_on_one_replica_resumes_on_another() {
    let Some(azurite) = Azurite::shared().await else {
        return;
    };
    let prefix = format!("resume-{}", new_id());
    let a = server_on(&azurite, &prefix).await;
    let reporter = a.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(20 * MIB + 4321, 19);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    let id = path.rsplit('/').next().unwrap().to_string();

    // 12 MiB of a PATCH that announced the whole file, then the phone hangs up.
    let mut stream = reporter.raw_patch(&path, None, data.len()).await;
    stream.write_all(&data[..12 * MIB]).await.unwrap();
    stream.flush().await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            reporter.offset(&path).await == (12 * MIB) as u64
        })
        .await,
        "A keeps the 12 MiB that arrived: offset {}",
        reporter.offset(&path).await
    );
    let store = azurite.store(&prefix);
    // The whole part is an uncommitted block (not listed); the rest is the tail.
    assert_eq!(
        keys(&store).await,
        [
            format!("tus/{id}/info.json"),
            format!("tus/{id}/tail-{}", 12 * MIB)
        ]
    );
    let info: serde_json::Value =
        serde_json::from_slice(&object(&store, &format!("tus/{id}/info.json")).await).unwrap();
    assert_eq!(info["parts"].as_array().unwrap().len(), 1, "{info}");

    // Replica B: A's database (its data folder's SQLite, or its PostgreSQL) and prefix.
    let url = azurite.storage_url(&prefix);
    let data_dir = a.config.data_dir.clone();
    let database = a.config.database.clone();
    let b = Server::start_in(tempfile::tempdir().unwrap(), move |c| {
        c.data_dir = data_dir;
        c.database = database;
        c.storage = Some(url);
    })
    .await;
    let phone_on_b = b.device(&reporter.token, &reporter.id);
    assert_eq!(phone_on_b.offset(&path).await, (12 * MIB) as u64);
    let rest = &data[12 * MIB..];
    let r = phone_on_b
        .patch(
            &path,
            (12 * MIB) as u64,
            rest,
            Some(checksum("sha256", rest)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"],
        sha256_hex(&data).as_str()
    );
    let receipt: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));

    assert_eq!(keys(&store).await, [recording.as_str()], "only the audio");
    let stored = store
        .get(&ObjectPath::from(recording.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
}

#[tokio::test]
async fn a_withdrawal_deletes_the_blobs() {
    let Some(azurite) = Azurite::shared().await else {
        return;
    };
    let prefix = format!("withdraw-{}", new_id());
    let server = server_on(&azurite, &prefix).await;
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
    let store = azurite.store(&prefix);
    assert_eq!(
        keys(&store).await,
        [recording.clone(), format!("{recording}.listening")]
    );
    assert_eq!(object(&store, &recording).await, copies.flac);

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            keys(&store).await.is_empty()
        })
        .await,
        "both blobs are deleted: {:?}",
        keys(&store).await
    );
    let r = lead
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Starts a server with `storage`; the error it refuses with.
async fn refusal(storage: String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        storage: Some(storage),
        ..ServerConfig::default()
    };
    match Running::start(config).await {
        Ok(running) => panic!("a server started on {}", running.url()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_wrong_or_unreachable_container_refuses_to_start_with_a_clear_error() {
    let key = "c2VjcmV0LWtleQ=="; // base64 of "secret-key"
    let closed = free_ports(1)[0];
    for (url, says) in [
        (format!("az://Audio?access_key={key}"), "container 'Audio'"),
        (
            format!("az://audio?access_key={key}&access_key_id=x"),
            "unknown key 'access_key_id'",
        ),
        (
            format!("az://audio?account=a&access_key={key}&endpoint=http://127.0.0.1:{closed}/a"),
            "does not answer",
        ),
    ] {
        let message = refusal(url.clone()).await;
        assert!(message.contains(says), "{url}: {message}");
        assert!(!message.contains(key), "{message}");
    }

    let Some(azurite) = Azurite::shared().await else {
        return;
    };
    let missing_container = azurite
        .storage_url("x")
        .replace(azurite::CONTAINER, &format!("no-such-{}", &new_id()[..8]));
    let wrong_key = format!(
        "az://{}?account={}&access_key={key}&endpoint={}",
        azurite::CONTAINER,
        azurite::ACCOUNT,
        azurite.endpoint
    );
    for url in [missing_container, wrong_key] {
        let message = refusal(url.clone()).await;
        assert!(message.contains("does not answer"), "{url}: {message}");
        assert!(!message.contains(key), "{message}");
        assert!(!message.contains("Eby8vdM02"), "{message}");
    }
}
