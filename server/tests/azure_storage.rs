//! Azure Blob Storage's own checks (issue 19, docs/deploy.md): a wrong `az://` URL
//! refuses to start, against Azurite, Microsoft's official emulator, on loopback
//! (`tellus_testkit::services::azurite`). Uploads, ranges and withdrawals
//! (`object_storage.rs`) and an upload cut on one replica resuming on another
//! (`bucket_spool.rs`) run against every object store, Azurite among them. Azurite only:
//! no test here reaches the real Azure.

mod support;

use reqwest::StatusCode;
use support::*;
use tellus_server::Role;
use tellus_testkit::services::azurite::{self, Azurite};
use tellus_testkit::services::seaweed::{free_ports, keys};

const MIB: usize = 1024 * 1024;

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
        let message = refused_start(url.clone()).await;
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
        let message = refused_start(url.clone()).await;
        assert!(message.contains("does not answer"), "{url}: {message}");
        assert!(!message.contains(key), "{message}");
        assert!(!message.contains("Eby8vdM02"), "{message}");
    }
}

#[tokio::test]
async fn a_withdrawal_mid_upload_leaves_no_uncommitted_block_behind() {
    let Some(azurite) = Azurite::shared().await else {
        return;
    };
    let prefix = format!("withdrawn-{}", new_id());
    let server = server_on(azurite.as_ref(), &prefix).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(12 * MIB, 41);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let id = path.rsplit('/').next().unwrap().to_string();
    let r = reporter.patch(&path, 0, &data[..9 * MIB], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The upload's blob: one 8 MiB part sent as a block, not committed (not listed).
    let blob = format!("{prefix}/tus/{id}/data");
    assert_eq!(azurite.uncommitted_blocks(&blob).await, 1);

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        wait_until(std::time::Duration::from_secs(20), || async {
            keys(&azurite.store(&prefix)).await.is_empty()
        })
        .await,
        "the withdrawn upload's blobs are deleted"
    );
    // Azure has no abort of a block blob's uncommitted blocks: the withdrawn story's
    // audio must not wait there for Azure's week-long clean-up.
    assert_eq!(azurite.uncommitted_blocks(&blob).await, 0);
}
