//! The storyteller's side of consent on the server (issue 21): the reporter's phone reads
//! a story's whole consent log back, so changes made elsewhere reach it.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::*;
use tellus_server::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reads_the_whole_consent_log_in_order_and_no_one_else_learns_it_exists() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let amended = consent_event(&story, "amended", &["record"]);
    let r = reporter.post_consent(&amended).await;
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

fn code_hash(code: &str) -> String {
    tellus_protocol::storyteller_code::code_hash(PROJECT, code).unwrap()
}

fn stored_code(server: &Server, story: &str) -> Option<String> {
    server.text(&format!(
        "SELECT code_hash FROM storyteller_codes WHERE story_id = '{story}'"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_the_latest_code_hash_of_a_story_and_a_code_opens_one_story() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let first = code_hash("AAAAA-AAAAA-AAAAA-AAAAA");
    let mut given = consent_event(&story, "given", &["record", "share_publicly"]);
    given["code_hash"] = first.clone().into();
    assert_eq!(
        reporter.post_consent(&given).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(stored_code(&server, &story), Some(first.clone()));

    // A malformed hash changes nothing.
    let mut bad = consent_event(&story, "amended", &["record"]);
    bad["code_hash"] = "NOT-A-HASH".into();
    assert_eq!(
        reporter.post_consent(&bad).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(stored_code(&server, &story), Some(first.clone()));

    // An amendment with a new code replaces the old one.
    let second = code_hash("BBBBB-BBBBB-BBBBB-BBBBB");
    let mut amended = consent_event(&story, "amended", &["record"]);
    amended["code_hash"] = second.clone().into();
    assert_eq!(
        reporter.post_consent(&amended).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(stored_code(&server, &story), Some(second.clone()));
    // One without a code keeps it.
    assert_eq!(
        reporter
            .consent(&story, "amended", &["record", "research_use"])
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(stored_code(&server, &story), Some(second.clone()));

    // Another story cannot take a code that opens this one, and its event is not kept.
    let other = new_id();
    let mut stolen = consent_event(&other, "given", &["record"]);
    stolen["code_hash"] = second.clone().into();
    let r = reporter.post_consent(&stolen).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "code_in_use");
    let log = reporter
        .get(&format!("/api/v1/stories/{other}/consent"))
        .await;
    assert_eq!(
        log.status(),
        StatusCode::NOT_FOUND,
        "nothing of it was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_cannot_write_in_the_storytellers_name() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let path = format!("/api/v1/stories/{story}/consent");
    let before: tellus_protocol::ConsentLog = reporter.get(&path).await.json().await.unwrap();

    // Only the portal may record an event "by the storyteller with their personal code":
    // a reporter's token claiming it would forge the audit log, whatever the kind.
    for kind in ["amended", "withdrawn"] {
        let granted: &[&str] = if kind == "withdrawn" {
            &[]
        } else {
            &["record"]
        };
        let mut forged = consent_event(&story, kind, granted);
        forged["method"] = serde_json::json!({ "kind": "storyteller" });
        let r = reporter.post_consent(&forged).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{kind}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "storyteller_method_reserved"
        );
    }
    let fresh = new_id();
    let mut forged = consent_event(&fresh, "given", &["record"]);
    forged["method"] = serde_json::json!({ "kind": "storyteller" });
    let r = reporter.post_consent(&forged).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let after: tellus_protocol::ConsentLog = reporter.get(&path).await.json().await.unwrap();
    assert_eq!(after.events.len(), before.events.len(), "nothing was kept");
    assert!(
        after
            .events
            .iter()
            .all(|e| e.method != tellus_protocol::ConsentMethod::Storyteller)
    );
    assert_eq!(
        reporter
            .get(&format!("/api/v1/stories/{fresh}/consent"))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "no stub of the refused story either"
    );
}
