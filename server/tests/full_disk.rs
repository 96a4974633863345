//! A full disk: the PATCH that does not fit gets 507 with a JSON error, the offset and
//! the spool file are back where they were, and the upload completes once there is
//! space. Uses a real full file system (a small tmpfs), so it needs root; it says so and
//! skips without. The disk that fills is the local spool folder's, so the server keeps
//! its audio in the folder whatever storage the run's servers use by default (with a
//! bucket the spool is in the bucket and no local disk fills).

mod support;

#[path = "../../tests/support/tmpfs.rs"]
mod tmpfs;

use tmpfs::Tmpfs;

use reqwest::StatusCode;
use support::*;
use tellus_server::Role;
use tellus_testkit::Storage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_and_nothing_is_half_written() {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(mount_point.path(), "3m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let dir = tempfile::tempdir_in(mount_point.path()).unwrap();
    let server = Server::options()
        .in_dir(dir)
        .storage(Storage::Folder)
        .start()
        .await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(5_000_000, 1);
    let recording = new_id();
    let path = reporter.new_upload(&story, &recording, &data).await;
    assert_eq!(
        reporter
            .patch(&path, 0, &data[..1_000_000], None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let r = reporter
        .patch(&path, 1_000_000, &data[1_000_000..], None)
        .await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "storage_full");
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    assert_eq!(reporter.offset(&path).await, 1_000_000);
    assert_eq!(
        server.spooled_bytes().await,
        1_000_000,
        "the spool file is back at the offset"
    );
    let spool = server.config.spool_dir();
    let spooled: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert_eq!(spooled.len(), 1, "one upload's spool file");
    assert_eq!(
        std::fs::read(spooled[0].as_ref().unwrap().path()).unwrap(),
        &data[..1_000_000]
    );

    // The server keeps working: another, smaller story's upload fits.
    let small = audio(200_000, 2);
    let other = reporter.upload(&story, &small, 100_000).await;
    let receipt: serde_json::Value = reporter.receipt(&other).await.json().await.unwrap();
    assert_eq!(receipt["sha256"], sha256_hex(&small));
}
