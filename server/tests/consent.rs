//! Consent on the server: no audio without `record`, a withdrawal deletes the audio
//! (stored and in progress) and leaves a tombstone that the feed reports; real names
//! only with `credit_by_name`.

mod support;

use reqwest::{Method, StatusCode};
use support::*;
use tellus_server::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_record_consent_is_refused_before_any_byte_is_stored() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let data = audio(10_000, 1);

    // No consent at all (the story is not even known).
    let unknown = new_id();
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            metadata(&unknown, &new_id(), &sha256_hex(&data)),
        )
        .header("Content-Type", "application/offset+octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "consent_required");

    // A story document without any consent event: not kept at all (issue 15).
    let story = new_id();
    assert_eq!(
        reporter
            .req(Method::PUT, &format!("/api/v1/stories/{story}"))
            .json(&story_doc(&story, 1, "draft"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = reporter.create_upload(&story, &new_id(), &data).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.upload_rows(), 0);
    assert_eq!(server.audio_files().await, 0);

    // Consent without 'record' cannot even be given.
    let r = reporter.consent(&story, "given", &["research_use"]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // With it, the same upload is accepted.
    assert_eq!(
        reporter
            .consent(&story, "given", &["record"])
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        reporter
            .create_upload(&story, &new_id(), &data)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_deletes_the_audio_and_the_feed_shows_the_tombstone() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let data = audio(120_000, 2);
    let delivered = reporter.upload(&story, &data, 50_000).await;
    assert!(server.audio_exists(&delivered).await);
    // A second recording half-way through its upload.
    let second = audio(80_000, 3);
    let in_progress = reporter.new_upload(&story, &new_id(), &second).await;
    reporter
        .patch(&in_progress, 0, &second[..30_000], None)
        .await;
    assert_eq!(server.spooled_uploads().await, 1);
    let before = lead.changes("").await;

    let r = reporter.consent(&story, "withdrawn", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["consent"]["status"], "withdrawn");

    assert!(
        !server.audio_exists(&delivered).await,
        "stored audio deleted from disk"
    );
    assert_eq!(
        server.spooled_uploads().await,
        0,
        "the upload in progress is deleted too"
    );
    assert_eq!(server.upload_rows(), 0);
    let r = reporter
        .tus(Method::HEAD, &in_progress)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let feed = lead.changes(before["next_cursor"].as_str().unwrap()).await;
    let changes = feed["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["kind"], "withdrawal");
    assert_eq!(changes[0]["story_id"], story.as_str());

    let r = lead.get(&format!("/api/v1/stories/{story}")).await;
    assert_eq!(r.status(), StatusCode::GONE);
    let r = lead
        .get(&format!("/api/v1/recordings/{delivered}/audio"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // No new audio and no new text for a withdrawn story.
    assert_eq!(
        reporter
            .create_upload(&story, &new_id(), &data)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reporter.put_story(&story, 2).await.status(),
        StatusCode::GONE
    );
    // Nothing of the story's text is left in the database.
    let text = server.text(&format!(
        "SELECT document FROM stories WHERE id = '{story}'"
    ));
    assert_eq!(text, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_name_is_kept_only_with_credit_by_name_and_erased_when_it_goes() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = new_id();
    reporter.consent(&story, "given", &["record"]).await;
    let mut doc = story_doc(&story, 1, "ready");
    doc["identity"] = serde_json::json!({ "name": "Amina K." });
    let put = |doc: serde_json::Value| {
        reporter
            .req(Method::PUT, &format!("/api/v1/stories/{story}"))
            .json(&doc)
            .send()
    };
    let r = put(doc.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "consent_required"
    );

    reporter
        .consent(&story, "amended", &["record", "credit_by_name"])
        .await;
    assert_eq!(put(doc.clone()).await.unwrap().status(), StatusCode::OK);
    let read: serde_json::Value = lead
        .get(&format!("/api/v1/stories/{story}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["identity"]["name"], "Amina K.");

    reporter.consent(&story, "amended", &["record"]).await;
    let read: serde_json::Value = lead
        .get(&format!("/api/v1/stories/{story}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("identity").is_none(), "{read}");
    let identity = server.text(&format!(
        "SELECT identity FROM stories WHERE id = '{story}'"
    ));
    assert_eq!(
        identity, None,
        "the name is erased from the database, not only hidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_events_are_idempotent_by_id() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let event = consent_event(&story, "given", &["record"]);
    let post = |e: serde_json::Value| {
        reporter
            .req(Method::POST, &format!("/api/v1/stories/{story}/consent"))
            .json(&e)
            .send()
    };
    assert_eq!(
        post(event.clone()).await.unwrap().status(),
        StatusCode::CREATED
    );
    let again = post(event.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["new"], false);
    assert_eq!(body["consent"]["events"], 1);
    let mut changed = event.clone();
    changed["granted"] = serde_json::json!(["record", "share_publicly"]);
    assert_eq!(post(changed).await.unwrap().status(), StatusCode::CONFLICT);
}
