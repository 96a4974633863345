//! The tus spool in the bucket (issue 19, docs/deploy.md "Resumable uploads across
//! replicas"): two in-process servers share one data folder (SQLite in WAL mode stands in
//! for the shared database) and one prefix of a real SeaweedFS bucket, and an upload begun
//! on replica A finishes on replica B.

mod support;

use std::sync::Arc;

use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reqwest::{Method, StatusCode};
use support::*;
use tellus_server::Role;
use tellus_testkit::proxy::{Faults, Proxy};
use tellus_testkit::services::seaweed::{self, Seaweed, keys, object};
use tellus_testkit::services::{ObjectService, object_stores};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;

async fn info(store: &Arc<dyn ObjectStore>, upload: &str) -> serde_json::Value {
    serde_json::from_slice(&object(store, &format!("tus/{upload}/info.json")).await).unwrap()
}

/// A second server on A's database (its data folder's SQLite file, or its PostgreSQL
/// database) and A's bucket prefix.
async fn replica_b(service: &dyn ObjectService, prefix: &str, a: &Server) -> Server {
    let url = service.storage_url(prefix);
    let data_dir = a.config.data_dir.clone();
    let database = a.config.database.clone();
    Server::start_in(tempfile::tempdir().unwrap(), move |c| {
        c.data_dir = data_dir;
        c.database = database;
        c.storage = Some(url);
    })
    .await
}

/// Sends `data` from byte `from` to its end in one PATCH with its checksum, as a phone
/// does: the upload must finish with the receipt of the whole of `data`.
async fn finish(device: &Device, path: &str, data: &[u8], from: usize) {
    let rest = &data[from..];
    let r = device
        .patch(path, from as u64, rest, Some(checksum("sha256", rest)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    assert_eq!(
        r.headers()["tellus-receipt-sha256"],
        sha256_hex(data).as_str()
    );
}

fn upload_id(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

/// Sends `body` as the first `body.len()` bytes of a PATCH from offset 0 that announces
/// `announced` bytes, then hangs up.
async fn cut_patch(device: &Device, path: &str, body: &[u8], announced: usize) {
    let mut stream = device.raw_patch(path, None, announced).await;
    stream.write_all(body).await.unwrap();
    stream.flush().await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_on_one_replica_resumes_on_another_from_its_tail() {
    for service in object_stores().await {
        eprintln!("on {}", service.name());
        resumes_on_another_replica_from_its_tail(service.as_ref()).await;
    }
}

/// On Azure Blob the part is an uncommitted block of the blob (not listed either).
async fn resumes_on_another_replica_from_its_tail(service: &dyn ObjectService) {
    let prefix = format!("resume-{}", new_id());
    let a = server_on(service, &prefix).await;
    let reporter = a.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(20 * MIB + 4321, 19);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    let id = upload_id(&path);

    cut_patch(&reporter, &path, &data[..12 * MIB], data.len()).await;
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            reporter.offset(&path).await == (12 * MIB) as u64
        })
        .await,
        "A keeps the 12 MiB that arrived: offset {}",
        reporter.offset(&path).await
    );
    let store = service.store(&prefix);
    let tail = format!("tus/{id}/tail-{}", 12 * MIB);
    assert_eq!(
        keys(&store).await,
        [format!("tus/{id}/info.json"), tail.clone()],
        "one whole part in the multipart upload, the rest as the tail"
    );
    let saved = info(&store, &id).await;
    assert_eq!(saved["offset"], 12 * MIB);
    assert_eq!(saved["parts"].as_array().unwrap().len(), 1);
    assert_eq!(saved["tail"]["bytes"], 4 * MIB);
    assert_eq!(
        store.head(&ObjectPath::from(tail)).await.unwrap().size,
        4 * MIB as u64
    );

    let b = replica_b(service, &prefix, &a).await;
    let phone_on_b = b.device(&reporter.token, &reporter.id);
    assert_eq!(phone_on_b.offset(&path).await, (12 * MIB) as u64);
    finish(&phone_on_b, &path, &data, 12 * MIB).await;
    let receipt: serde_json::Value = phone_on_b.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&data));
    let receipt_on_a: serde_json::Value = reporter.receipt(&recording).await.json().await.unwrap();
    assert_eq!(receipt_on_a["sha256"], sha256_hex(&data));

    assert_eq!(
        keys(&store).await,
        [recording.as_str()],
        "only the audio stays"
    );
    let stored = store
        .get(&ObjectPath::from(recording.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&data));
    assert_eq!(a.upload_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_body_loses_only_what_it_had_not_saved() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("killed-{}", new_id());
    // Replica A on a runtime of its own, so that it can be killed: shutting the runtime
    // down drops every task of A where it stands, with no cleanup.
    let a_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = seaweed.storage_url(&prefix);
    let a = a_runtime
        .spawn(async move { Server::start_with(move |c| c.storage = Some(url)).await })
        .await
        .unwrap();
    let reporter = a.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(30 * MIB + 77, 23);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    let id = upload_id(&path);

    // A body is saved part by part while it streams, with the checksum a phone sends
    // (still unverifiable when A dies) as without one.
    let sent = checksum("sha256", &data);
    let mut stream = reporter.raw_patch(&path, Some(sent), data.len()).await;
    stream.write_all(&data[..20 * MIB]).await.unwrap();
    stream.flush().await.unwrap();
    let offset_in_db = || a.count(&format!("SELECT \"offset\" FROM uploads WHERE id = '{id}'"));
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            offset_in_db() >= (8 * MIB) as i64
        })
        .await,
        "A saves the first part while the body streams"
    );
    a_runtime.shutdown_background();
    drop(stream);

    let b = replica_b(seaweed.as_ref(), &prefix, &a).await;
    let phone_on_b = b.device(&reporter.token, &reporter.id);
    let offset = phone_on_b.offset(&path).await as usize;
    assert!(
        (8 * MIB..20 * MIB).contains(&offset) && offset.is_multiple_of(8 * MIB),
        "B resumes from the last part A saved: {offset}"
    );
    finish(&phone_on_b, &path, &data, offset).await;
    let store = seaweed.store(&prefix);
    assert_eq!(keys(&store).await, [recording.as_str()]);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_fails_its_checksum_leaves_the_bucket_as_it_was() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("checksum-{}", new_id());
    let server = server_on(seaweed.as_ref(), &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(30 * MIB, 29);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    let id = upload_id(&path);
    let first = &data[..9 * MIB];
    let r = reporter
        .patch(&path, 0, first, Some(checksum("sha256", first)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let store = seaweed.store(&prefix);
    let before = (keys(&store).await, info(&store, &id).await);
    assert_eq!(before.1["offset"], 9 * MIB);

    // Checkpointed mid-body (two parts: the first is saved with the state, and the
    // state before names a tail that must outlive the checkpoint), crossing a part
    // boundary (a part is sent while it streams) and not crossing one.
    for (len, algorithm) in [(16 * MIB, "sha256"), (11 * MIB, "sha256"), (MIB, "sha1")] {
        let chunk = &data[9 * MIB..9 * MIB + len];
        let mut wrong = chunk.to_vec();
        wrong[len / 2] ^= 1;
        let r = reporter
            .patch(
                &path,
                (9 * MIB) as u64,
                &wrong,
                Some(checksum(algorithm, chunk)),
            )
            .await;
        assert_eq!(r.status().as_u16(), 460, "{len}");
        assert_eq!(reporter.offset(&path).await, (9 * MIB) as u64);
        assert_eq!(
            (keys(&store).await, info(&store, &id).await),
            before,
            "nothing of the refused chunk is named in the bucket"
        );
    }
    finish(&reporter, &path, &data, 9 * MIB).await;
    assert_eq!(keys(&store).await, [recording.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_deletes_the_multipart_upload_and_the_tail() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("expiry-{}", new_id());
    let url = seaweed.storage_url(&prefix);
    let server = Server::start_with(move |c| {
        c.storage = Some(url);
        c.upload_expiry_secs = 0;
    })
    .await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(10 * MIB, 31);
    // Created with its first bytes (creation-with-upload), expired at once.
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            metadata(&story, &new_id(), &sha256_hex(&data)),
        )
        .header("Content-Type", "application/offset+octet-stream")
        .body(data[..9 * MIB].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let id = upload_id(&path);
    let store = seaweed.store(&prefix);
    let saved = info(&store, &id).await;
    assert_eq!(saved["offset"], 9 * MIB);
    let multipart_id = saved["multipart_id"].as_str().unwrap().to_string();
    assert_eq!(keys(&store).await.len(), 2, "the state and the tail");
    let r = reporter.tus(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);

    // The sweep at start (as the periodic one) removes it: row, tail, state, parts.
    let server = server.restart().await;
    assert_eq!(server.upload_rows(), 0);
    assert_eq!(keys(&store).await, Vec::<String>::new());
    let s3 = seaweed.client(seaweed::BUCKET, 0);
    let data_path = ObjectPath::from(format!("{prefix}/tus/{id}/data"));
    let sent = s3
        .put_part(
            &data_path,
            &multipart_id,
            1,
            PutPayload::from(vec![1u8; 10]),
        )
        .await;
    assert!(
        sent.is_err(),
        "the multipart upload is aborted, its parts gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_mid_upload_and_the_sweep_at_start_clear_the_bucket_spool() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    let prefix = format!("withdrawn-{}", new_id());
    let server = server_on(seaweed.as_ref(), &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(12 * MIB, 37);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let first = &data[..9 * MIB];
    let r = reporter.patch(&path, 0, first, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let store = seaweed.store(&prefix);
    assert_eq!(keys(&store).await.len(), 2, "the state and the tail");

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            keys(&store).await.is_empty()
        })
        .await,
        "the withdrawn upload's objects are deleted: {:?}",
        keys(&store).await
    );
    assert_eq!(server.upload_rows(), 0);

    // Objects of an upload the database does not hold (a replica stopped between
    // forgetting it and deleting them) go at the next start; a key of anything else stays.
    let orphan = new_id();
    for name in ["info.json", "tail-100"] {
        store
            .put(
                &ObjectPath::from(format!("tus/{orphan}/{name}")),
                PutPayload::from(vec![0u8; 100]),
            )
            .await
            .unwrap();
    }
    store
        .put(&ObjectPath::from("notes.txt"), PutPayload::from("keep"))
        .await
        .unwrap();
    let _server = server.restart().await;
    assert_eq!(keys(&store).await, ["notes.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_whole_in_one_body_crosses_to_the_bucket_once() {
    let Some(seaweed) = Seaweed::shared().await else {
        return;
    };
    // The server reaches the bucket through a proxy that counts what it sends.
    let endpoint = seaweed
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(endpoint, Faults::default()).await;
    let prefix = format!("whole-{}", new_id());
    let url = seaweed
        .storage_url(&prefix)
        .replace(&seaweed.endpoint, &proxy.url());
    let server = Server::start_with(move |c| c.storage = Some(url)).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(6 * MIB + 123, 31);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;

    let before = proxy.sent();
    finish(&reporter, &path, &data, 0).await;
    let sent = proxy.sent() - before;
    // Stored as the assembled object at once: not as a tail, then sent again as a part.
    assert!(
        sent < (data.len() + MIB) as u64,
        "the server sent the bucket {sent} bytes for a file of {}",
        data.len()
    );
    let store = seaweed.store(&prefix);
    assert_eq!(keys(&store).await, [recording.as_str()]);
    assert_eq!(
        sha256_hex(&object(&store, &recording).await),
        sha256_hex(&data)
    );
}
