//! The leads' web page over real HTTP: signing in (and who is refused), escaping of
//! hostile text, the filters, full-text search kept in step with updates and
//! withdrawals, the story page (consent in the form's words, player, markers,
//! downloads consistent with the JSON API and the CSV export) and tombstones.

mod support;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::*;
use tellus_server::{Role, admin};

/// A browser that does not follow redirects, so each answer can be checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Page {
    status: StatusCode,
    headers: header::HeaderMap,
    body: String,
}

async fn fetch(server: &Server, path: &str, cookie: Option<&str>) -> Page {
    let mut req = browser().get(server.url(path));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let r = req.send().await.unwrap();
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    }
}

async fn sign_in(server: &Server, token: &str) -> Page {
    let r = browser()
        .post(server.url("/lead/sign-in"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}", urlencode(token)))
        .send()
        .await
        .unwrap();
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    }
}

/// Signs a lead in through the form and returns the cookie the browser would send.
async fn signed_in(server: &Server, lead: &Device) -> String {
    let page = sign_in(server, &lead.token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// Stores a story with the given fields over the reporter API.
async fn put(reporter: &Device, id: &str, revision: u32, change: impl FnOnce(&mut Value)) {
    let mut doc = story_doc(id, revision, "ready");
    change(&mut doc);
    let r = reporter
        .req(Method::PUT, &format!("/api/v1/stories/{id}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
}

async fn story_with(
    reporter: &Device,
    granted: &[&str],
    change: impl FnOnce(&mut Value),
) -> String {
    let id = new_id();
    assert_eq!(
        reporter.consent(&id, "given", granted).await.status(),
        StatusCode::CREATED
    );
    put(reporter, &id, 1, change).await;
    id
}

fn titled(title: &str) -> impl FnOnce(&mut Value) + '_ {
    move |doc| doc["title"] = json!(title)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_lead_token_signs_in_and_the_cookie_is_httponly_and_strict() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let revoked = server.enrol(PROJECT, Role::Lead).await;
    admin::revoke(&server.store(), &revoked.id).unwrap();

    // Not signed in: the sign-in form, labelled.
    let page = fetch(&server, "/lead", None).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body
            .contains(r#"<label for="token">Lead token</label>"#)
    );

    // A reporter's token is refused plainly, and no cookie is set.
    let page = sign_in(&server, &reporter.token).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("This is a reporter&#39;s token")
            || page.body.contains("This is a reporter's token"),
        "{}",
        page.body
    );
    assert!(page.headers.get(header::SET_COOKIE).is_none());
    // So are a revoked lead, an unknown token and something that is not a token.
    let page = sign_in(&server, &revoked.token).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("revoked"), "{}", page.body);
    assert!(page.headers.get(header::SET_COOKIE).is_none());
    let page = sign_in(&server, "tellus_notarealtoken").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("not known"));
    let page = sign_in(&server, "x\r\nSet-Cookie: evil=1").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.headers.get(header::SET_COOKIE).is_none());

    // A lead: 303 to the list with an HttpOnly, SameSite=Strict cookie on /lead.
    let page = sign_in(&server, &lead.token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/lead");
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/lead"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let page = fetch(&server, "/lead", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>Stories</h1>"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );

    // A reporter's token put into the cookie by hand does not open the page either.
    let page = fetch(
        &server,
        "/lead",
        Some(&format!("tellus_lead={}", reporter.token)),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.body.contains("<h1>Stories</h1>"));

    // Sign-out is a POST that clears the cookie; from another site it is refused.
    let r = browser()
        .post(server.url("/lead/sign-out"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser()
        .post(server.url("/lead/sign-out"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = browser()
        .get(server.url("/lead/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "no change of state on GET"
    );

    // Revoking the lead's device shuts the page on the next request.
    admin::revoke(&server.store(), &lead.id).unwrap();
    let page = fetch(&server, "/lead", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_escaped_everywhere_it_is_shown() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    let hostile = r#"<script>alert("t")</script>"#;
    let story = story_with(&reporter, &["record"], |doc| {
        doc["title"] = json!(hostile);
        doc["summary"] = json!("<img src=x onerror=alert(1)>");
        doc["tags"] = json!(["\"><b>tag</b>"]);
        doc["storyteller"]["label"] = json!("<i>P</i>");
        doc["notes"][1]["text"] = json!("damp <svg onload=alert(2)> everywhere");
        doc["demographics"] = json!({ "<u>k</u>": "<u>v</u>" });
    })
    .await;
    let escaped = "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;";
    for path in [
        "/lead".to_string(),
        "/lead?q=damp".to_string(),
        format!("/lead/stories/{story}"),
        format!("/lead?q={}", urlencode(hostile)),
    ] {
        let page = fetch(&server, &path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for raw in [
            "<script>alert",
            "<img src=x",
            "<svg",
            "<b>tag",
            "<i>P",
            "<u>",
        ] {
            assert!(!page.body.contains(raw), "{path} holds raw {raw}");
        }
        if path != "/lead?q=damp" {
            assert!(page.body.contains(escaped), "{path}");
        }
    }
    // The search snippet marks the match and escapes the rest.
    let page = fetch(&server, "/lead?q=damp", Some(&cookie)).await;
    assert!(
        page.body
            .contains("<mark>damp</mark> &lt;svg onload=alert(2)&gt;"),
        "{}",
        page.body
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The titles of the stories a list page shows, in order.
fn titles(body: &str) -> Vec<String> {
    body.split("<h3 id=\"t-")
        .skip(1)
        .filter_map(|card| {
            let start = card.find("\">")? + 2;
            let link = &card[start..];
            let text_start = link.find('>')? + 1;
            let end = link.find("</a>")?;
            Some(link[text_start..end].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stories_filter_by_tag_reporter_date_and_consent() {
    let server = Server::start().await;
    let amina = server.enrol(PROJECT, Role::Reporter).await;
    let bo = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    story_with(&amina, &["record", "share_publicly"], |doc| {
        doc["title"] = json!("Housing in March");
        doc["tags"] = json!(["housing"]);
        doc["created_at"] = json!("2026-03-10T09:00:00Z");
    })
    .await;
    story_with(&amina, &["record", "research_use"], |doc| {
        doc["title"] = json!("Transport in June");
        doc["tags"] = json!(["transport", "access"]);
        doc["created_at"] = json!("2026-06-02T09:00:00Z");
    })
    .await;
    story_with(&bo, &["record"], |doc| {
        doc["title"] = json!("Housing in September");
        doc["tags"] = json!(["housing", "trust"]);
        doc["created_at"] = json!("2026-09-20T09:00:00Z");
    })
    .await;
    let gone = story_with(&bo, &["record", "share_publicly"], titled("Gone")).await;
    assert_eq!(
        bo.consent(&gone, "withdrawn", &[]).await.status(),
        StatusCode::CREATED
    );
    // Another project's story never shows.
    let other = server.other_project();
    let stranger = server.enrol(other, Role::Reporter).await;
    story_with(&stranger, &["record"], titled("Elsewhere")).await;

    let list = |query: String| {
        let server = &server;
        let cookie = cookie.clone();
        async move {
            let page = fetch(server, &format!("/lead{query}"), Some(&cookie)).await;
            assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
            (titles(&page.body), page.body)
        }
    };
    let (all, body) = list(String::new()).await;
    assert_eq!(
        all,
        [
            "Housing in September",
            "Transport in June",
            "Housing in March",
            "Withdrawn story"
        ],
        "newest first, the tombstone last"
    );
    assert!(!body.contains("Elsewhere"));
    assert_eq!(
        list("?tag=housing".into()).await.0,
        ["Housing in September", "Housing in March"]
    );
    assert_eq!(
        list(format!("?reporter={}", amina.id)).await.0,
        ["Transport in June", "Housing in March"]
    );
    assert_eq!(
        list("?from=2026-04-01&to=2026-09-20".into()).await.0,
        ["Housing in September", "Transport in June"]
    );
    assert_eq!(
        list("?consent=share_publicly".into()).await.0,
        ["Housing in March"]
    );
    assert_eq!(
        list("?consent=research_use".into()).await.0,
        ["Transport in June"]
    );
    assert_eq!(
        list("?consent=withdrawn".into()).await.0,
        ["Withdrawn story"]
    );
    assert_eq!(
        list("?tag=housing&consent=share_publicly&reporter=".into())
            .await
            .0,
        ["Housing in March"]
    );
    let (none, body) = list("?tag=housing&from=2026-10-01".into()).await;
    assert!(none.is_empty());
    assert!(body.contains("No story matches"));
    // The form shows the filters that are applied.
    let (_, body) = list("?tag=trust".into()).await;
    assert!(body.contains(r#"<option value="trust" selected>trust</option>"#));

    // Issue 18: dates are typed and shown as the page writes them ("1 Apr 2026"), not in
    // the browser's own date format; the ISO form still works.
    let (written, body) = list("?from=1+Apr+2026&to=20+sep+2026".into()).await;
    assert_eq!(written, ["Housing in September", "Transport in June"]);
    assert!(
        body.contains(r#"value="1 Apr 2026""#),
        "the field shows the page's words"
    );
    assert!(body.contains(r#"value="20 Sep 2026""#));
    assert!(!body.contains(r#"type="date""#));
    let (_, body) = list("?from=2026-04-01".into()).await;
    assert!(body.contains(r#"value="1 Apr 2026""#));

    let page = fetch(&server, "/lead?from=22/11/2026", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("like 22 Nov 2026"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_words_in_notes_and_forgets_what_was_changed_or_withdrawn() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    let mould = story_with(&reporter, &["record"], |doc| {
        doc["title"] = json!("The flat on Elm Street");
        doc["summary"] = json!("Waiting for repairs");
        doc["notes"][1]["text"] = json!("Black mould in the children's bedroom");
    })
    .await;
    story_with(&reporter, &["record"], |doc| {
        doc["title"] = json!("Buses after dark");
        doc["summary"] = json!("The last bus leaves at nine");
    })
    .await;
    let search = |q: &str| {
        let path = format!("/lead?q={}", urlencode(q));
        let server = &server;
        let cookie = cookie.clone();
        async move {
            let page = fetch(server, &path, Some(&cookie)).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
            titles(&page.body)
        }
    };
    assert_eq!(
        search("mould").await,
        ["The flat on Elm Street"],
        "a word in a note"
    );
    assert_eq!(search("MOULD bedroom").await, ["The flat on Elm Street"]);
    assert_eq!(
        search("childr").await,
        ["The flat on Elm Street"],
        "word prefixes match"
    );
    assert_eq!(
        search("nine").await,
        ["Buses after dark"],
        "a word in a summary"
    );
    assert_eq!(
        search("elm").await,
        ["The flat on Elm Street"],
        "a word in a title"
    );
    assert!(
        search("mould buses").await.is_empty(),
        "every word must match"
    );
    for syntax in [r#"mould" OR "bus"#, "title:buses", "NEAR(", "*", "\"", "-"] {
        search(syntax).await; // FTS5 syntax in the box is text, never a 500
    }

    // A new revision without the word is no longer found by it.
    put(&reporter, &mould, 2, |doc| {
        doc["title"] = json!("The flat on Elm Street");
        doc["notes"][1]["text"] = json!("Repaired in the end");
    })
    .await;
    assert!(search("mould").await.is_empty());
    assert_eq!(search("repaired").await, ["The flat on Elm Street"]);

    // A withdrawal empties the index for that story.
    reporter.consent(&mould, "withdrawn", &[]).await;
    assert!(search("repaired").await.is_empty());
    assert!(search("elm").await.is_empty());
    let rows = server.count(&format!(
        "SELECT COUNT(*) FROM story_search WHERE story_id = '{mould}'"
    ));
    assert_eq!(rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_page_shows_consent_in_the_forms_words_the_player_markers_and_downloads() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    let story = new_id();
    reporter
        .consent(
            &story,
            "given",
            &["record", "research_use", "credit_by_name"],
        )
        .await;
    let data = audio(48_000, 7);
    let recording = reporter.upload(&story, &data, 20_000).await;
    put(&reporter, &story, 1, |doc| {
        doc["recordings"] = json!([{
            "id": recording, "format": "wav", "sample_rate": 16000, "channels": 1,
            "frames": 24000, "bytes": 48000, "sha256": sha256_hex(&data),
            "duration_ms": 1500, "created_at": "2026-11-22T10:00:00Z"
        }]);
        doc["identity"] = json!({ "name": "Amina K." });
    })
    .await;

    let page = fetch(&server, &format!("/lead/stories/{story}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    // Consent beside the story, item by item in the form's own words.
    assert!(body.contains("<aside class=\"consent card\""));
    assert!(body.contains("Form “storyteller-consent”, version 2, read in English."));
    let item = |answer: &str, label: &str| {
        format!(
            "<span class=\"answer\" lang=\"en\">{answer}</span><span class=\"label\">{label}</span>"
        )
    };
    assert!(body.contains(&item("Yes", "My story may be used for research and service improvement by the project&#39;s partners.")) || body.contains(&item("Yes", "My story may be used for research and service improvement by the project's partners.")), "{body}");
    assert!(body.contains(&item("No", "My story may be shared publicly, for example in reports, on the project&#39;s website or at events.")) || body.contains(&item("No", "My story may be shared publicly, for example in reports, on the project's website or at events.")));
    assert!(body.contains("Given on 22 Nov 2026 with the checkboxes in the app"));
    assert!(body.contains("Credit as: <strong>Amina K.</strong>"));
    // The player, and markers as buttons that name where they play from.
    assert!(body.contains(&format!(
        "<audio id=\"player-{recording}\" controls preload=\"metadata\" src=\"/lead/recordings/{recording}/audio\""
    )));
    assert!(body.contains(&format!(
        "<button class=\"seek\" type=\"button\" data-player=\"player-{recording}\" data-seek-ms=\"270000\" aria-label=\"Play from 4 minutes 30 seconds: Marker, question 3\">"
    )), "{body}");
    assert!(body.contains("Guide question: Was there a moment when you felt listened to"));

    // The audio plays from the page's own route, with Range, for this lead only.
    let r = browser()
        .get(server.url(&format!("/lead/recordings/{recording}/audio")))
        .header(header::COOKIE, &cookie)
        .header(header::RANGE, "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[100..200]);
    let r = browser()
        .get(server.url(&format!("/lead/recordings/{recording}/audio?download=1")))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
    let r = browser()
        .get(server.url(&format!("/lead/recordings/{recording}/audio")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no audio without signing in"
    );

    // The story's exports agree with the JSON API and the project's CSV export.
    let json_download: Value = serde_json::from_str(
        &fetch(
            &server,
            &format!("/lead/stories/{story}/story.json"),
            Some(&cookie),
        )
        .await
        .body,
    )
    .unwrap();
    let api: Value = lead
        .get(&format!("/api/v1/stories/{story}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json_download, api);
    let csv_download = fetch(
        &server,
        &format!("/lead/stories/{story}/story.csv"),
        Some(&cookie),
    )
    .await
    .body;
    let export = lead
        .get("/api/v1/export.csv?scope=all")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv_download, export, "one story: the same header and row");
    assert!(csv_download.contains("\"Amina K.\""));
    let page_export = fetch(&server, "/lead/export.csv?scope=research", Some(&cookie))
        .await
        .body;
    let api_export = lead
        .get("/api/v1/export.csv?scope=research")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page_export, api_export);

    // The lead of another project finds nothing here.
    let other = server.other_project();
    let stranger = server.enrol(other, Role::Lead).await;
    let stranger_cookie = signed_in(&server, &stranger).await;
    let page = fetch(
        &server,
        &format!("/lead/stories/{story}"),
        Some(&stranger_cookie),
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Elm"));
    // Issue 18: a signed-in lead's 404 keeps the page's header: their project's name
    // (the sample's, copied under another id), All stories and Sign out.
    let sample: serde_json::Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
    let name = sample["name"].as_str().unwrap();
    for expected in [name, "All stories", "Sign out"] {
        assert!(
            page.body.contains(expected),
            "the 404 page lacks {expected:?}"
        );
    }
    let r = browser()
        .get(server.url(&format!("/lead/recordings/{recording}/audio")))
        .header(header::COOKIE, &stranger_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_story_is_a_plain_tombstone_without_audio() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    let story = story_with(
        &reporter,
        &["record", "share_publicly"],
        titled("Withdrawn words"),
    )
    .await;
    let recording = reporter.upload(&story, &audio(4000, 2), 4000).await;
    assert_eq!(
        reporter.consent(&story, "withdrawn", &[]).await.status(),
        StatusCode::CREATED
    );
    let page = fetch(&server, &format!("/lead/stories/{story}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("This story was withdrawn"));
    assert!(page.body.contains("delete it now"));
    assert!(!page.body.contains("<audio"));
    assert!(!page.body.contains("Withdrawn words"));
    for path in [
        format!("/lead/recordings/{recording}/audio"),
        format!("/lead/stories/{story}/story.json"),
        format!("/lead/stories/{story}/story.csv"),
    ] {
        let page = fetch(&server, &path, Some(&cookie)).await;
        assert!(
            page.status == StatusCode::NOT_FOUND || page.status == StatusCode::GONE,
            "{path}: {}",
            page.status
        );
        assert!(!page.body.contains("Withdrawn words"));
    }
    let list = fetch(&server, "/lead", Some(&cookie)).await;
    assert!(list.body.contains("The storyteller withdrew this story on"));
    assert!(!list.body.contains("Withdrawn words"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_comes_in_pages_that_keep_the_filters() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let cookie = signed_in(&server, &lead).await;
    for n in 0..55 {
        story_with(&reporter, &["record"], |doc| {
            doc["title"] = json!(format!("Story {n:02}"));
            doc["created_at"] = json!(format!("2026-01-01T00:{n:02}:00Z"));
        })
        .await;
    }
    story_with(&reporter, &["record"], |doc| {
        doc["title"] = json!("Untagged");
        doc["tags"] = json!([]);
    })
    .await;
    let page = fetch(&server, "/lead?tag=housing", Some(&cookie)).await;
    let first = titles(&page.body);
    assert_eq!(first.len(), 50);
    assert_eq!(first[0], "Story 54", "newest first");
    assert!(page.body.contains("55 stories match"));
    assert!(page.body.contains("Page 1 of 2"));
    assert!(
        page.body.contains(r#"href="/lead?tag=housing&amp;page=2""#),
        "the next page keeps the filter"
    );
    let page = fetch(&server, "/lead?tag=housing&page=2", Some(&cookie)).await;
    let second = titles(&page.body);
    assert_eq!(
        second,
        ["Story 04", "Story 03", "Story 02", "Story 01", "Story 00"]
    );
    assert!(page.body.contains(r#"href="/lead?tag=housing&amp;page=1""#));
    // A page past the end shows the last one; a page that is not a number, the first.
    assert_eq!(
        titles(
            &fetch(&server, "/lead?tag=housing&page=99", Some(&cookie))
                .await
                .body
        ),
        second
    );
    assert_eq!(
        titles(
            &fetch(&server, "/lead?tag=housing&page=x", Some(&cookie))
                .await
                .body
        ),
        first
    );
}
