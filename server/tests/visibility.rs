//! What a lead may see, over every lead-facing route of the router × every consent state
//! a story can be in (issue 15). The one rule (server/src/visibility.rs): a story is
//! visible only while its consent grants `record`, a withdrawn story is a tombstone, a
//! story with no consent is invisible. Each probe reads a route as a lead would and says
//! whether anything of the story came back; the table of routes is checked against the
//! routes the server's source declares, so a new route that is not listed here (as
//! lead-facing with a probe, or as not lead-facing with the reason) fails this test.

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::*;
use tellus_server::Role;
use tellus_testkit::server::sql_text;

/// Every route the server declares: `.route("PATH"` in the files that build the router
/// (lib.rs nests the API and the tus routes under /api/v1; web/mod.rs is the lead page).
fn declared_routes() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    for (file, prefix) in [
        ("lib.rs", "/api/v1"),
        ("tus/mod.rs", "/api/v1"),
        ("web/mod.rs", ""),
        ("portal/mod.rs", ""),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let open = rest.find('"').unwrap();
            let close = rest[open + 1..].find('"').unwrap();
            out.insert(format!("{prefix}{}", &rest[open + 1..open + 1 + close]));
        }
    }
    // Nothing else may add routes: a `.nest(` or `.merge(` of an unknown router would
    // hide them from this list.
    for file in ["lib.rs", "web/mod.rs", "tus/mod.rs", "portal/mod.rs"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for call in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
            for (at, _) in text.match_indices(call) {
                let line = &text[at..text[at..].find('\n').map_or(text.len(), |n| at + n)];
                assert!(
                    line.contains("API_PREFIX, api")
                        || line.contains("tus::routes()")
                        || line.contains("web::routes()")
                        || line.contains("portal::routes()"),
                    "{file}: an unlisted router is added ({line}); list its routes here"
                );
            }
        }
    }
    out
}

/// Routes that are not lead-facing, and why.
const NOT_LEAD_FACING: &[(&str, &str)] = &[
    ("/api/v1/enrol", "takes an invite code; returns no story"),
    (
        "/api/v1/project",
        "the project's configuration, no story in it",
    ),
    ("/api/v1/admin/projects", "admin only"),
    ("/api/v1/admin/invites", "admin only"),
    ("/api/v1/admin/revoke/{id}", "admin only"),
    (
        "/api/v1/transcribe/claim",
        "admin (transcription workers) only; a lead is refused",
    ),
    (
        "/api/v1/transcribe/jobs/{id}/audio",
        "admin (the worker holding the claim) only; serve_audio asks the rule",
    ),
    (
        "/api/v1/transcribe/jobs/{id}/vtt",
        "admin (the worker holding the claim) only; returns no story",
    ),
    (
        "/api/v1/transcribe/jobs/{id}/failed",
        "admin (the worker holding the claim) only; returns no story",
    ),
    (
        "/api/v1/stories/{id}/consent",
        "reporters post consent and read their own story's log; a lead is refused",
    ),
    ("/api/v1/uploads", "reporters' uploads; a lead is refused"),
    (
        "/api/v1/uploads/{id}",
        "reporters' uploads; a lead is refused",
    ),
    ("/", "a redirect"),
    ("/lead/", "a redirect"),
    ("/lead/sign-in", "the sign-in form"),
    ("/lead/sign-out", "signing out"),
    (
        "/api/v1/lead/sign-in-link",
        "a lead's one-time sign-in link, no story in it",
    ),
    ("/lead/link/{secret}", "signing in with that link"),
    ("/lead/assets/style.css", "a static asset"),
    ("/lead/assets/player.js", "a static asset"),
    ("/lead/assets/transcript.js", "a static asset"),
    (
        "/lead/transcript-flags/{id}",
        "a lead accepts or rejects a storyteller's flag (POST); transcripts::flags::decide asks the rule and answers with a redirect, no story text",
    ),
    (
        "/s",
        "the storytellers' portal: a code opens one story, to its storyteller",
    ),
    ("/s/story", "the storyteller's own story, with its code"),
    ("/s/narrow", "the storyteller narrows their own consent"),
    ("/s/withdraw", "the storyteller withdraws their own story"),
    ("/s/leave", "closing the storyteller's session"),
    (
        "/s/audio/{id}",
        "the storyteller's own recording, only while it grants record",
    ),
    (
        "/s/transcript/{id}",
        "the storyteller's own transcript, only while it grants record",
    ),
    (
        "/s/flag",
        "the storyteller suggests a correction of their own transcript",
    ),
    ("/s/assets/portal.css", "a static asset"),
    ("/s/assets/portal.js", "a static asset"),
];

/// Lead-facing routes, each read by `Probe::leaks` below.
const LEAD_FACING: &[&str] = &[
    "/api/v1/stories/{id}",
    "/api/v1/changes",
    "/api/v1/export.csv",
    "/api/v1/recordings/{id}/receipt",
    "/api/v1/recordings/{id}/audio",
    "/lead",
    "/lead/stories/{id}",
    "/lead/stories/{id}/story.json",
    "/lead/stories/{id}/story.csv",
    "/lead/recordings/{id}/audio",
    "/lead/export.csv",
    "/api/v1/recordings/{id}/transcript",
    "/api/v1/recordings/{id}/transcript.vtt",
    "/api/v1/recordings/{id}/transcript.srt",
    "/api/v1/transcripts/search",
    "/lead/recordings/{id}/transcript",
    "/lead/recordings/{id}/transcript.vtt",
    "/lead/recordings/{id}/transcript.srt",
    "/lead/transcripts",
];

#[test]
fn every_route_of_the_router_is_listed_as_lead_facing_or_not() {
    let declared = declared_routes();
    let listed: BTreeSet<String> = NOT_LEAD_FACING
        .iter()
        .map(|(r, _)| r.to_string())
        .chain(LEAD_FACING.iter().map(|r| r.to_string()))
        .collect();
    let unlisted: Vec<_> = declared.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "routes not in this test's table: {unlisted:?}; list each as lead-facing (with a probe) or not"
    );
    let gone: Vec<_> = listed.difference(&declared).collect();
    assert!(gone.is_empty(), "listed but not declared: {gone:?}");
}

/// A consent state a story can be in, and the events (after a first document) that
/// bring it there.
struct Case {
    name: String,
    /// Consent events in order: (kind, granted).
    events: Vec<(&'static str, Vec<&'static str>)>,
    /// What the rule says a lead sees.
    visible: bool,
    withdrawn: bool,
}

const OPTIONAL: &[&str] = &[
    "share_publicly",
    "research_use",
    "quote_anonymously",
    "credit_by_name",
    "recontact",
];

fn cases() -> Vec<Case> {
    let all: Vec<&str> = std::iter::once("record")
        .chain(OPTIONAL.iter().copied())
        .collect();
    let mut cases = vec![
        Case {
            name: "none".into(),
            events: vec![],
            visible: false,
            withdrawn: false,
        },
        Case {
            name: "given-record-only".into(),
            events: vec![("given", vec!["record"])],
            visible: true,
            withdrawn: false,
        },
    ];
    for left_out in OPTIONAL {
        cases.push(Case {
            name: format!("given-without-{left_out}"),
            events: vec![(
                "given",
                all.iter().copied().filter(|i| i != left_out).collect(),
            )],
            visible: true,
            withdrawn: false,
        });
    }
    cases.extend([
        Case {
            name: "amended".into(),
            events: vec![("given", all.clone()), ("amended", vec!["record"])],
            visible: true,
            withdrawn: false,
        },
        Case {
            name: "withdrawn".into(),
            events: vec![("given", all.clone()), ("withdrawn", vec![])],
            visible: false,
            withdrawn: true,
        },
        Case {
            name: "given-again".into(),
            events: vec![
                ("given", vec!["record"]),
                ("withdrawn", vec![]),
                ("given", vec!["record", "research_use"]),
            ],
            visible: true,
            withdrawn: false,
        },
    ]);
    cases
}

struct Story {
    case: Case,
    id: String,
    title: String,
    recording: Option<String>,
}

/// Builds the story of `case`: its consent events, its document (when the server keeps
/// one) and a delivered recording while `record` is granted.
async fn build(server: &Server, reporter: &Device, case: Case) -> Story {
    let id = new_id();
    let title = format!(
        "Marker {} {}",
        case.name.replace('-', ""),
        &id[id.len() - 8..]
    );
    let mut doc = story_doc(&id, 1, "ready");
    doc["title"] = Value::from(title.clone());
    let mut revision = 1;
    let mut recording = None;
    if case.events.is_empty() {
        // The server refuses a document without consent...
        let r = reporter
            .req(Method::PUT, &format!("/api/v1/stories/{id}"))
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", case.name);
        // ...but one an older server kept (the hole of issue 15) must not leak either:
        // stored as it was then, in the feed and the search index.
        let text = doc.to_string();
        let (sid, project, reporter_id) =
            (sql_text(&id), sql_text(PROJECT), sql_text(&reporter.id));
        server.execute(&format!(
            "INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at, story_date)
             VALUES ({sid}, {project}, {reporter_id}, 1, {}, 0, '2026-11-22T10:00:00Z')",
            sql_text(&text)
        ));
        server.execute(&format!(
            "INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES ({project}, 'story', {sid}, 1, 0)"
        ));
        let parsed: tellus_protocol::StoryDocument = serde_json::from_str(&text).unwrap();
        server.execute(&format!(
            "INSERT INTO story_search (story_id, title, summary, notes) VALUES ({sid}, {}, {}, {})",
            sql_text(&parsed.title),
            sql_text(&parsed.summary),
            sql_text(&tellus_server::search::notes_text(&parsed))
        ));
        return Story {
            case,
            id,
            title,
            recording,
        };
    }
    for (kind, granted) in &case.events {
        let r = reporter.consent(&id, kind, granted).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{} {kind}", case.name);
        if *kind != "withdrawn" {
            let r = reporter
                .req(Method::PUT, &format!("/api/v1/stories/{id}"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{} {kind}", case.name);
            revision += 1;
            doc["revision"] = Value::from(revision);
            if recording.is_none() {
                let delivered = reporter.upload(&id, &audio(4_000, 7), 4_000).await;
                // And its listening copy (issue 20): the rule covers every copy.
                let r = reporter
                    .upload_copy(
                        &id,
                        &delivered,
                        &listening_copy().opus,
                        "audio/ogg",
                        &[("representation", "listening")],
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::CREATED, "{}", case.name);
                // Its transcript says the title, so that search can find it.
                // Kept as a worker keeps a draft (claimed "later than any job's due time").
                let segments = [tellus_server::transcripts::model::Segment {
                    start_ms: 0,
                    end_ms: 1000,
                    text: title.clone(),
                    speaker: None,
                }];
                let store = server.store();
                let claimed = store
                    .claim_transcript_job("test-worker", i64::MAX / 2, 60_000)
                    .unwrap();
                assert_eq!(
                    claimed.map(|j| j.recording_id).as_ref(),
                    Some(&delivered),
                    "{}",
                    case.name
                );
                assert!(
                    store
                        .finish_transcript_job("test-worker", &delivered, "en", &segments)
                        .unwrap()
                );
                recording = Some(delivered);
            }
        } else {
            recording = None;
        }
    }
    Story {
        case,
        id,
        title,
        recording,
    }
}

/// One real listening copy (tellus-media), made once for every story of the test.
fn listening_copy() -> &'static Copies {
    static COPY: std::sync::OnceLock<Copies> = std::sync::OnceLock::new();
    COPY.get_or_init(|| Copies::make(1, 16_000, 11))
}

/// A signed-in lead on the web page (the cookie is the lead's token).
fn web(server: &Server, lead: &Device, path: &str) -> reqwest::RequestBuilder {
    server
        .http
        .get(server.url(path))
        .header("cookie", format!("tellus_lead={}", lead.token))
}

/// Whether anything of `story` beyond a tombstone came back from `route`: its title, its
/// notes, its id in a listing or feed entry that is not a withdrawal, or its audio.
async fn leaks(
    server: &Server,
    lead: &Device,
    route: &str,
    story: &Story,
    representation: &str,
) -> bool {
    let id = &story.id;
    let body_has = |body: &str| body.contains(&story.title) || body.contains(id);
    let rec = story.recording.clone().unwrap_or_else(new_id);
    match route {
        "/api/v1/stories/{id}" => {
            let r = lead.get(&format!("/api/v1/stories/{id}")).await;
            let status = r.status();
            let body = r.text().await.unwrap();
            if story.case.withdrawn {
                assert_eq!(status, StatusCode::GONE, "{}", story.case.name);
            }
            status == StatusCode::OK && body_has(&body)
        }
        "/api/v1/changes" => {
            let page = lead.changes("0").await;
            page["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["story_id"] == id.as_str() && c["kind"] != "withdrawal")
        }
        "/api/v1/export.csv" => {
            let mut any = false;
            for scope in ["all", "research", "public"] {
                let body = lead
                    .get(&format!("/api/v1/export.csv?scope={scope}"))
                    .await
                    .text()
                    .await
                    .unwrap();
                any |= body_has(&body);
            }
            any
        }
        "/api/v1/recordings/{id}/receipt" => {
            lead.receipt_of(&rec, representation).await.status() == StatusCode::OK
        }
        "/api/v1/recordings/{id}/audio" => {
            lead.get(&format!(
                "/api/v1/recordings/{rec}/audio?representation={representation}"
            ))
            .await
            .status()
                == StatusCode::OK
        }
        "/lead" => {
            let mut any = false;
            // Its own word, so that a match shows on the first page.
            let search = format!("?q={}", story.title.split(' ').nth(1).unwrap_or("none"));
            for query in [
                "",
                "?q=housing",
                search.as_str(),
                "?tag=housing",
                "?consent=record",
            ] {
                let r = web(server, lead, &format!("/lead{query}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body = r.text().await.unwrap();
                any |= body.contains(&story.title);
            }
            any
        }
        "/lead/stories/{id}" => {
            let r = web(server, lead, &format!("/lead/stories/{id}"))
                .send()
                .await
                .unwrap();
            let body = r.text().await.unwrap();
            body.contains(&story.title)
        }
        "/lead/stories/{id}/story.json" | "/lead/stories/{id}/story.csv" => {
            let path = route.replace("{id}", id);
            let r = web(server, lead, &path).send().await.unwrap();
            let status = r.status();
            status == StatusCode::OK && body_has(&r.text().await.unwrap())
        }
        "/lead/recordings/{id}/audio" => {
            web(
                server,
                lead,
                &format!("/lead/recordings/{rec}/audio?representation={representation}"),
            )
            .send()
            .await
            .unwrap()
            .status()
                == StatusCode::OK
        }
        "/api/v1/recordings/{id}/transcript" => {
            let r = lead
                .get(&format!("/api/v1/recordings/{rec}/transcript"))
                .await;
            r.status() == StatusCode::OK && body_has(&r.text().await.unwrap())
        }
        "/api/v1/recordings/{id}/transcript.vtt" | "/api/v1/recordings/{id}/transcript.srt" => {
            let r = lead.get(&route.replace("{id}", &rec)).await;
            r.status() == StatusCode::OK && r.text().await.unwrap().contains(&story.title)
        }
        "/api/v1/transcripts/search" => {
            let marker = story.title.split(' ').nth(1).unwrap_or("none");
            let r = lead
                .get(&format!("/api/v1/transcripts/search?q={marker}"))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            body_has(&r.text().await.unwrap())
        }
        "/lead/recordings/{id}/transcript" => {
            let r = web(server, lead, &format!("/lead/recordings/{rec}/transcript"))
                .send()
                .await
                .unwrap();
            r.status() == StatusCode::OK && body_has(&r.text().await.unwrap())
        }
        "/lead/recordings/{id}/transcript.vtt" | "/lead/recordings/{id}/transcript.srt" => {
            let r = web(server, lead, &route.replace("{id}", &rec))
                .send()
                .await
                .unwrap();
            r.status() == StatusCode::OK && r.text().await.unwrap().contains(&story.title)
        }
        "/lead/transcripts" => {
            let marker = story.title.split(' ').nth(1).unwrap_or("none");
            let r = web(server, lead, &format!("/lead/transcripts?q={marker}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            body_has(&r.text().await.unwrap())
        }
        "/lead/export.csv" => {
            let mut any = false;
            for scope in ["all", "research", "public"] {
                let r = web(server, lead, &format!("/lead/export.csv?scope={scope}"))
                    .send()
                    .await
                    .unwrap();
                any |= body_has(&r.text().await.unwrap());
            }
            any
        }
        other => panic!("no probe for {other}"),
    }
}

/// Every probe must also see each visible story (a probe that never sees anything
/// proves nothing), so a route is held to the rule both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_a_story_reaches_a_lead_unless_its_consent_grants_record() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let mut stories = Vec::new();
    for case in cases() {
        stories.push(build(&server, &reporter, case).await);
    }
    let mut failures = Vec::new();
    for route in LEAD_FACING {
        // A recording route is probed for each copy of the recording.
        let representations: &[&str] = if route.contains("recordings") {
            &["lossless", "listening"]
        } else {
            &["lossless"]
        };
        for story in &stories {
            for representation in representations {
                let leaked = leaks(&server, &lead, route, story, representation).await;
                // A recording route can only show a story that has a recording.
                let expected = story.case.visible
                    && (story.recording.is_some() || !route.contains("recordings"));
                if leaked != expected {
                    failures.push(format!(
                        "{route} ({representation}) × {}: a lead {} it",
                        story.case.name,
                        if leaked { "sees" } else { "does not see" }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_without_consent_is_refused_with_a_clear_error() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let id = new_id();
    for status in ["draft", "ready"] {
        let r = reporter
            .req(Method::PUT, &format!("/api/v1/stories/{id}"))
            .json(&story_doc(&id, 1, status))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "consent_required");
        assert!(
            body["message"].as_str().unwrap().contains("'record'"),
            "{body}"
        );
    }
    let count: i64 = server.count("SELECT COUNT(*) FROM stories");
    assert_eq!(count, 0);
}
