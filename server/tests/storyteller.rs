//! The storyteller's side of consent on the server (issue 21): the reporter's phone reads
//! a story's whole consent log back, so changes made elsewhere reach it.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::*;
use tellus_server::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reads_the_whole_consent_log_in_order_and_no_one_else_learns_it_exists() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let amended = consent_event(&story, "amended", &["record"]);
    let r = reporter
        .req(Method::POST, &format!("/api/v1/stories/{story}/consent"))
        .json(&amended)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        reporter.consent(&story, "withdrawn", &[]).await.status(),
        StatusCode::CREATED
    );

    let path = format!("/api/v1/stories/{story}/consent");
    let r = reporter.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let log: tellus_protocol::ConsentLog = r.json().await.unwrap();
    let kinds: Vec<&str> = log.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["given", "amended", "withdrawn"],
        "the log survives the withdrawal, in order"
    );
    assert_eq!(log.events[1].id, amended["id"].as_str().unwrap());
    assert_eq!(log.events[0].story_id, story);

    // Another reporter's story and an unknown one answer alike.
    let other = server.enrol(PROJECT, Role::Reporter).await;
    let theirs = other.get(&path).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let theirs: Value = theirs.json().await.unwrap();
    let unknown = reporter
        .get(&format!("/api/v1/stories/{}/consent", new_id()))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(
        theirs, unknown,
        "the same answer, so existence does not leak"
    );

    // Leads and admins do not read reporters' consent logs; no token at all is refused.
    let lead = server.enrol(PROJECT, Role::Lead).await;
    assert_eq!(lead.get(&path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.admin().get(&path).await.status(),
        StatusCode::FORBIDDEN
    );
    let anonymous = server.http.get(server.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad = reporter.get("/api/v1/stories/not-a-uuid/consent").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
