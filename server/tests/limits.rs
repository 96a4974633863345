//! The limits the server enforces (issue 24) are the ones it tells phones, in the
//! project configuration; every story beyond one of them is refused with 413
//! `over_limit` and changes nothing; and a body the server stops reading early still
//! gets its answer to the client.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{PROJECT, Server, new_id, story_doc};
use tellus_protocol::Limits;
use tellus_server::Role;

fn small() -> Limits {
    Limits {
        title_chars: 20,
        summary_chars: 50,
        label_chars: 12,
        note_chars: 30,
        notes_per_story: 3,
        fields_per_story: 2,
        field_chars: 10,
        recordings_per_story: 2,
        document_bytes: 4_000,
        recording_bytes: 50_000,
    }
}

#[tokio::test]
async fn the_configured_limits_travel_with_the_project_configuration() {
    let server = Server::start_with(|c| c.limits = small()).await;
    let phone = server.enrol(PROJECT, Role::Reporter).await;
    let response = phone.get("/api/v1/project").await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let config: Value = response.json().await.unwrap();
    let sent: Limits = serde_json::from_value(config["limits"].clone()).unwrap();
    assert_eq!(sent, small());
    assert_eq!(
        config["id"], PROJECT,
        "the project's own keys are still there"
    );

    // Other limits, same project: another ETag, so a phone's next sync fetches them.
    let dir = server.stop().await;
    let server = Server::start_in(dir, |c| c.limits = Limits::default()).await;
    let response = server
        .device(&phone.token, &phone.id)
        .req(Method::GET, "/api/v1/project")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["limits"]["title_chars"], 200);
}

#[tokio::test]
async fn an_enrolling_device_label_is_held_to_the_label_limit_and_spends_nothing() {
    let server = Server::start_with(|c| c.limits = small()).await;
    let code = server.invite(PROJECT, Role::Reporter);
    let enrol = |label: String| {
        server
            .http
            .post(server.url("/api/v1/enrol"))
            .json(&json!({ "invite_code": code, "device_label": label }))
            .send()
    };
    let over = enrol("l".repeat(13)).await.unwrap();
    assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["code"], "over_limit");
    assert!(body["message"].as_str().unwrap().contains("12"), "{body}");
    // The invite was not spent: the same code enrols a label at the limit.
    let at = enrol("l".repeat(12)).await.unwrap();
    assert_eq!(at.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_story_at_every_limit_is_stored_and_one_over_any_of_them_is_refused() {
    let server = Server::start_with(|c| c.limits = small()).await;
    let phone = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let consent = phone.consent(&story, "given", &["record"]).await;
    assert_eq!(consent.status(), StatusCode::CREATED);
    let at_limit = || {
        let mut doc = story_doc(&story, 1, "ready");
        doc["title"] = json!("t".repeat(20));
        doc["summary"] = json!("s".repeat(50));
        doc["storyteller"]["label"] = json!("l".repeat(12));
        doc["demographics"] = json!({ "a".repeat(12): "v".repeat(10), "b": "w" });
        doc["notes"] = json!((0..3)
            .map(|n| json!({ "id": new_id(), "kind": "note", "text": format!("{n}").repeat(30), "created_at": "2026-11-22T10:00:00Z" }))
            .collect::<Vec<_>>());
        doc
    };
    let put = |doc: Value| {
        let phone = &phone;
        let story = story.clone();
        async move {
            phone
                .req(Method::PUT, &format!("/api/v1/stories/{story}"))
                .json(&doc)
                .send()
                .await
                .unwrap()
        }
    };
    type Over = Box<dyn Fn(&mut Value)>;
    let overs: Vec<(&str, Over)> = vec![
        ("title", Box::new(|d| d["title"] = json!("t".repeat(21)))),
        (
            "summary",
            Box::new(|d| d["summary"] = json!("s".repeat(51))),
        ),
        (
            "label",
            Box::new(|d| d["storyteller"]["label"] = json!("l".repeat(13))),
        ),
        (
            "note",
            Box::new(|d| d["notes"][0]["text"] = json!("n".repeat(31))),
        ),
        (
            "notes",
            Box::new(|d| {
                let extra = d["notes"][0].clone();
                d["notes"].as_array_mut().unwrap().push(extra)
            }),
        ),
        (
            "field",
            Box::new(|d| d["demographics"]["b"] = json!("w".repeat(11))),
        ),
        ("fields", Box::new(|d| d["demographics"]["c"] = json!("x"))),
        ("control", Box::new(|d| d["title"] = json!("a\u{0}b"))),
        (
            "document",
            Box::new(|d| d["padding"] = json!("p".repeat(4_000))),
        ),
    ];
    for (what, over) in overs {
        let mut doc = at_limit();
        over(&mut doc);
        let response = put(doc).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{what}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["code"] == "over_limit" || body["code"] == "too_large",
            "{what}: {body}"
        );
    }
    let stored = server.count("SELECT count(*) FROM stories WHERE document IS NOT NULL");
    assert_eq!(stored, 0, "a refused story was stored");
    let response = put(at_limit()).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.text().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_the_server_stops_reading_still_gets_its_answer() {
    // 1 MiB JSON limit, bodies of 8 and 32 MiB: the answer (413) goes out before the
    // body is read; the connection lingers so the client reads it instead of a reset.
    let server = Server::start().await;
    let client = reqwest::Client::new();
    for size in [8usize << 20, 32 << 20, 8 << 20, 32 << 20] {
        let body =
            json!({ "invite_code": "ABCD-EFGH-JKLM-NPQR", "device_label": "x".repeat(size) });
        let response = client
            .post(server.url("/api/v1/enrol"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{size} bytes: no answer: {e:?}"));
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "too_large");
    }
}
