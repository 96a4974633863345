//! What a lead reads: the feed in order and paged, the story document, the audio with
//! Range and ETag, the CSV export by consent scope; and story revisions.

mod support;

use reqwest::{Method, StatusCode};
use support::*;
use tellus_server::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_pages_in_order_with_a_cursor() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let mut expected = Vec::new();
    for _ in 0..5 {
        let story = reporter.consented_story().await;
        expected.push((story.clone(), "story"));
        let recording = reporter.upload(&story, &audio(1000, 1), 1000).await;
        expected.push((story.clone(), "recording"));
        let _ = recording;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let r = lead
            .get(&format!("/api/v1/changes?after={cursor}&limit=3"))
            .await;
        let page: serde_json::Value = r.json().await.unwrap();
        pages += 1;
        for c in page["changes"].as_array().unwrap() {
            seen.push((
                c["story_id"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            ));
        }
        cursor = page["next_cursor"].as_str().unwrap().to_string();
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(s, k)| (s, k.to_string()))
        .collect();
    assert_eq!(seen, expected);
    let r = lead.get("/api/v1/changes?after=banana").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_download_honours_range_and_etag() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let data = audio(70_000, 4);
    let recording = reporter.upload(&story, &data, 70_000).await;
    let path = format!("/api/v1/recordings/{recording}/audio");

    let r = lead.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&data)));
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());

    for (range, start, end) in [
        ("bytes=100-199", 100, 199),
        ("bytes=69000-", 69_000, 69_999),
        ("bytes=-500", 69_500, 69_999),
    ] {
        let r = lead
            .req(Method::GET, &path)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{end}/70000").as_str()
        );
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            &data[start..=end],
            "{range}"
        );
    }
    let r = lead
        .req(Method::GET, &path)
        .header("Range", "bytes=80000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = lead
        .req(Method::GET, &path)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_document_round_trips_and_older_revisions_are_409() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    assert_eq!(reporter.put_story(&story, 3).await.status(), StatusCode::OK);
    let r = reporter.put_story(&story, 2).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "stale_revision"
    );
    let read: serde_json::Value = lead
        .get(&format!("/api/v1/stories/{story}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["revision"], 3);
    assert_eq!(read["notes"][0]["kind"], "marker");
    assert_eq!(read["notes"][0]["at_ms"], 270000);
    assert_eq!(read["notes"][0]["question_id"], "q3");
    assert_eq!(read["consent"]["status"], "active");
    let r = reporter
        .req(Method::PUT, &format!("/api/v1/stories/{story}"))
        .header("Content-Type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "invalid_json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_json_is_413() {
    // A story document's bytes are limited by `limits.document_bytes` (each of its
    // texts within its own limit here, the whole over it).
    let server = Server::start_with(|c| {
        c.limits.document_bytes = 10_000;
        c.limits.recordings_per_story = 1;
    })
    .await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = new_id();
    let mut doc = story_doc(&story, 1, "draft");
    doc["summary"] = serde_json::json!("x".repeat(9_000));
    doc["notes"][1]["text"] = serde_json::json!("y".repeat(5_000));
    let r = reporter
        .req(Method::PUT, &format!("/api/v1/stories/{story}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "too_large"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_holds_only_what_consent_allows() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let public = new_id();
    reporter
        .consent(
            &public,
            "given",
            &["record", "share_publicly", "research_use"],
        )
        .await;
    reporter.put_story(&public, 1).await;
    let research = new_id();
    reporter
        .consent(&research, "given", &["record", "research_use"])
        .await;
    reporter.put_story(&research, 1).await;
    let internal = new_id();
    reporter.consent(&internal, "given", &["record"]).await;
    reporter.put_story(&internal, 1).await;
    let withdrawn = new_id();
    reporter
        .consent(&withdrawn, "given", &["record", "share_publicly"])
        .await;
    reporter.put_story(&withdrawn, 1).await;
    reporter.consent(&withdrawn, "withdrawn", &[]).await;

    let export = |scope: &'static str| {
        let lead = lead.clone();
        async move {
            let r = lead.get(&format!("/api/v1/export.csv?scope={scope}")).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/csv")
            );
            r.text().await.unwrap()
        }
    };
    let has = |csv: &str, id: &str| csv.contains(id);
    let all = export("all").await;
    assert!(
        has(&all, &public)
            && has(&all, &research)
            && has(&all, &internal)
            && !has(&all, &withdrawn)
    );
    let res = export("research").await;
    assert!(has(&res, &public) && has(&res, &research) && !has(&res, &internal));
    let pb = export("public").await;
    assert!(
        has(&pb, &public) && !has(&pb, &research) && !has(&pb, &internal) && !has(&pb, &withdrawn)
    );
    assert_eq!(pb.lines().count(), 2, "header and one story: {pb}");
    let r = lead.get("/api/v1/export.csv?scope=everyone").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_amendment_enters_the_feed_as_a_story_change() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let before = lead.changes("").await;
    let r = reporter.consent(&story, "amended", &["record"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let feed = lead.changes(before["next_cursor"].as_str().unwrap()).await;
    let changes = feed["changes"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        1,
        "a lead's copy must learn of the narrower consent"
    );
    assert_eq!(changes[0]["kind"], "story");
    assert_eq!(changes[0]["story_id"], story.as_str());
    assert_eq!(changes[0]["revision"], 1);
}
