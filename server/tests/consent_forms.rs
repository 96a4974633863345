//! The server checks every consent event against the project's consent forms with the
//! consent engine's own check (`ConsentSummary::check_event`, the one the phone's core
//! runs): an unknown form or version, an item the form does not have, a required item
//! not granted, a language the form has no text in — each a 422 with a stable code and
//! one line, and nothing stored.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;
use tellus_server::Role;

async fn post(reporter: &Device, story: &str, event: &Value) -> reqwest::Response {
    reporter
        .req(Method::POST, &format!("/api/v1/stories/{story}/consent"))
        .json(event)
        .send()
        .await
        .unwrap()
}

/// Posts `event` and checks it is refused with `code` in one line, and that the
/// server kept nothing of it: no event, no story stub, the earlier consent unchanged.
async fn assert_refused(server: &Server, reporter: &Device, story: &str, event: Value, code: &str) {
    let stored_before = stored(server, story);
    let r = post(reporter, story, &event).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{event}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "one line: {message:?}"
    );
    assert_eq!(stored(server, story), stored_before, "nothing is stored");
}

/// (consent events, story rows) the server keeps for `story`.
fn stored(server: &Server, story: &str) -> (i64, i64) {
    (
        server.count(&format!(
            "SELECT COUNT(*) FROM consent_events WHERE story_id = '{story}'"
        )),
        server.count(&format!(
            "SELECT COUNT(*) FROM stories WHERE id = '{story}'"
        )),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_on_a_form_or_version_the_project_does_not_have_is_refused() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let mut unknown_form = consent_event(&story, "given", &["record"]);
    unknown_form["form_id"] = json!("a-form-nobody-wrote");
    assert_refused(
        &server,
        &reporter,
        &story,
        unknown_form,
        "unknown_consent_form",
    )
    .await;
    let mut unknown_version = consent_event(&story, "given", &["record"]);
    unknown_version["form_version"] = json!(3);
    assert_refused(
        &server,
        &reporter,
        &story,
        unknown_version,
        "unknown_consent_form",
    )
    .await;
    assert_eq!(stored(&server, &story), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_granting_an_item_the_form_does_not_have_is_refused() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let given = consent_event(&story, "given", &["record", "sell_to_advertisers"]);
    assert_refused(&server, &reporter, &story, given, "unknown_consent_item").await;
    // An amendment is checked against the form in force.
    let given = consent_event(&story, "given", &["record"]);
    assert_eq!(
        post(&reporter, &story, &given).await.status(),
        StatusCode::CREATED
    );
    let amended = consent_event(&story, "amended", &["record", "sell_to_advertisers"]);
    assert_refused(&server, &reporter, &story, amended, "unknown_consent_item").await;
    assert_eq!(stored(&server, &story), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_without_a_required_item_of_the_form_is_refused() {
    let server = Server::start().await;
    // A project whose form also requires `research_use`.
    let mut config: Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
    config["id"] = json!("research-only");
    for form in config["consent_forms"].as_array_mut().unwrap() {
        for item in form["items"].as_array_mut().unwrap() {
            if item["key"] == "research_use" {
                item["required"] = json!(true);
            }
        }
    }
    tellus_server::admin::create_project(&server.store(), &config.to_string()).unwrap();
    let reporter = server.enrol("research-only", Role::Reporter).await;
    let story = new_id();
    let given = consent_event(&story, "given", &["record", "share_publicly"]);
    assert_refused(&server, &reporter, &story, given, "consent_item_required").await;
    let given = consent_event(&story, "given", &["record", "research_use"]);
    assert_eq!(
        post(&reporter, &story, &given).await.status(),
        StatusCode::CREATED
    );
    let amended = consent_event(&story, "amended", &["record"]);
    assert_refused(&server, &reporter, &story, amended, "consent_item_required").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_in_a_language_the_form_has_no_text_in_is_refused() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    // Version 1 of the sample form is in English only; version 2 also in Spanish.
    let mut spanish_v1 = consent_event(&story, "given", &["record"]);
    spanish_v1["form_version"] = json!(1);
    spanish_v1["language"] = json!("es");
    assert_refused(
        &server,
        &reporter,
        &story,
        spanish_v1,
        "unknown_consent_language",
    )
    .await;
    let mut spanish_v2 = consent_event(&story, "given", &["record"]);
    spanish_v2["language"] = json!("es");
    assert_eq!(
        post(&reporter, &story, &spanish_v2).await.status(),
        StatusCode::CREATED
    );
}

/// The forms are what every consent is checked against, so a project whose forms cannot
/// be read or are not whole is refused when it is created, not at its first consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_whose_consent_forms_are_missing_or_broken_is_refused_at_creation() {
    let server = Server::start().await;
    let base: Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut config = base.clone();
        config["id"] = json!("broken-forms");
        change(&mut config);
        config
    };
    let cases: [(&str, Value); 5] = [
        ("no forms", broken(&|c| c["consent_forms"] = json!([]))),
        (
            "forms missing",
            broken(&|c| {
                c.as_object_mut().unwrap().remove("consent_forms");
            }),
        ),
        (
            "not a form",
            broken(&|c| c["consent_forms"] = json!([{ "id": 7 }])),
        ),
        (
            "no required record",
            broken(&|c| {
                c["consent_forms"][0]["items"][0]["required"] = json!(false);
            }),
        ),
        (
            "a version twice",
            broken(&|c| {
                c["consent_forms"][1]["version"] = c["consent_forms"][0]["version"].clone();
            }),
        ),
    ];
    for (case, config) in cases {
        let err = tellus_server::admin::create_project(&server.store(), &config.to_string())
            .err()
            .unwrap_or_else(|| panic!("{case}: accepted"));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{case}");
        assert!(!err.to_string().contains('\n'), "{case}: one line");
    }
    let mut good = base.clone();
    good["id"] = json!("broken-forms");
    tellus_server::admin::create_project(&server.store(), &good.to_string()).unwrap();
}
