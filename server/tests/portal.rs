//! The storyteller's portal over real HTTP (issue 21): a code opens one story; narrowing
//! and withdrawing are consent events with method `storyteller` that propagate exactly as
//! a reporter's do; a withdrawal asked before the story arrived is applied the moment its
//! consent does; forms need their CSRF token; wrong codes are throttled per address.

mod support;

use std::collections::HashMap;
use std::net::IpAddr;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::*;
use tellus_protocol::storyteller_code::{code_from_random, code_hash, display_code};
use tellus_server::Role;
use tellus_testkit::services::{or_skip, postgres};
use tellus_testkit::{Database, ServerOptions};

/// A browser without script: keeps cookies, follows nothing by itself.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc = |t: &str| {
                t.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser::from(server, None)
    }

    fn from(server: &Server, local: Option<IpAddr>) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .build()
            .unwrap();
        Browser {
            http,
            base: server.base.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = req.header("Cookie", cookie).send().await.unwrap();
        for set in r.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), v.into());
            }
        }
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        self.send(req).await
    }

    /// Opens the entry page and sends `code`.
    async fn enter(&mut self, code: &str) -> Page {
        let entry = self.get("/s").await;
        assert_eq!(entry.status, StatusCode::OK);
        let csrf = entry.csrf();
        self.post("/s", &[("csrf", &csrf), ("code", code), ("lang", "en")])
            .await
    }
}

/// A fresh code; `seed` only tells tests' codes apart when read.
fn new_code(seed: u8) -> String {
    let mut bytes: [u8; 13] = rand::random();
    bytes[12] = seed;
    code_from_random(bytes)
}

/// A story whose consent (record, share_publicly, research_use) carries `code`'s hash,
/// with its document and one delivered recording.
async fn story_with_code(reporter: &Device, code: &str) -> (String, String) {
    let story = new_id();
    let mut given = consent_event(
        &story,
        "given",
        &["record", "share_publicly", "research_use"],
    );
    given["code_hash"] = code_hash(PROJECT, code).unwrap().into();
    let r = reporter.post_consent(&given).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(reporter.put_story(&story, 1).await.status(), StatusCode::OK);
    let recording = reporter.upload(&story, &audio(6000, 3), 6000).await;
    (story, recording)
}

async fn consent_log(reporter: &Device, story: &str) -> Vec<Value> {
    let r = reporter
        .get(&format!("/api/v1/stories/{story}/consent"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let log: Value = r.json().await.unwrap();
    log["events"].as_array().unwrap().clone()
}

async fn export_has(lead: &Device, scope: &str, story: &str) -> bool {
    let r = lead.get(&format!("/api/v1/export.csv?scope={scope}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap().contains(story)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storyteller_narrows_listens_and_withdraws_with_their_code() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let code = new_code(1);
    let (story, recording) = story_with_code(&reporter, &code).await;
    assert!(export_has(&lead, "public", &story).await);

    let mut browser = Browser::new(&server);
    let entry = browser.get("/s").await;
    for (name, want) in [
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(entry.headers[name], want, "{name}");
    }
    let csp = entry.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    let cookie = entry.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(
        cookie.contains("Path=/s;") && !cookie.contains("Secure"),
        "plain HTTP here; tls.rs sees Secure"
    );

    // Typed as a person would: lower case with spaces.
    let typed = display_code(&code).to_lowercase().replace('-', " ");
    let opened = browser.enter(&typed).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    assert!(opened.location().starts_with("/s/story"));
    let page = browser.get("/s/story").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("My story may be shared publicly"),
        "the form's own words"
    );
    assert!(page.body.contains("/s/audio/"), "their recording to play");
    let spanish = browser.get("/s/story?lang=es").await;
    assert!(spanish.body.contains("lang=\"es\""));
    assert!(spanish.body.contains("Lo que usted aceptó"));
    let csrf = page.csrf();

    // Listening: Range-served, only their own recording.
    let r = browser
        .send(
            browser
                .http
                .get(format!("{}/s/audio/{recording}", server.base))
                .header("Range", "bytes=0-99"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let other_story = reporter.consented_story().await;
    let other_recording = reporter.upload(&other_story, &audio(500, 9), 500).await;
    let r = browser.get(&format!("/s/audio/{other_recording}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A form without its token, or from another site, changes nothing.
    let r = browser.post("/s/narrow", &[("lang", "en")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = browser
        .send(
            browser
                .http
                .post(format!("{}/s/narrow", server.base))
                .header("Origin", "https://evil.example")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_body(&[("csrf", &csrf), ("keep_research_use", "yes")])),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(consent_log(&reporter, &story).await.len(), 1);

    // Narrow: stop public sharing; asking to keep what was never granted adds nothing.
    let r = browser
        .post(
            "/s/narrow",
            &[
                ("csrf", &csrf),
                ("lang", "en"),
                ("keep_research_use", "yes"),
                ("keep_recontact", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("done=saved"));
    let log = consent_log(&reporter, &story).await;
    let last = log.last().unwrap();
    assert_eq!(last["kind"], "amended");
    assert_eq!(last["method"]["kind"], "storyteller");
    assert_eq!(
        last["granted"],
        serde_json::json!(["record", "research_use"])
    );
    assert!(
        !export_has(&lead, "public", &story).await,
        "no longer public"
    );
    assert!(export_has(&lead, "research", &story).await);
    let lead_story: Value = lead
        .get(&format!("/api/v1/stories/{story}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        lead_story["consent"]["granted"],
        serde_json::json!(["record", "research_use"])
    );

    // The lead's web page shows the change in the story's history, as the storyteller's.
    let mut lead_browser = Browser::new(&server);
    let signed = lead_browser
        .post("/lead/sign-in", &[("token", &lead.token)])
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let history = lead_browser.get(&format!("/lead/stories/{story}")).await;
    assert_eq!(history.status, StatusCode::OK);
    assert!(
        history
            .body
            .contains("by the storyteller, with their personal code"),
        "the lead's history names the storyteller's change"
    );

    // Withdraw with erasure: purged, tombstoned, in the feed, and no more listening.
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &csrf), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let log = consent_log(&reporter, &story).await;
    let last = log.last().unwrap();
    assert_eq!(last["kind"], "withdrawn");
    assert_eq!(last["method"]["kind"], "storyteller");
    assert_eq!(last["erase_audio"], true);
    assert!(
        !server.audio_exists(&recording).await,
        "the audio is purged"
    );
    let r = lead
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    assert!(matches!(
        r.status(),
        StatusCode::NOT_FOUND | StatusCode::GONE
    ));
    assert_eq!(
        lead.get(&format!("/api/v1/stories/{story}")).await.status(),
        StatusCode::GONE
    );
    let feed = lead.changes("").await;
    assert!(
        feed.to_string().contains("withdrawal"),
        "the tombstone is in the feed: {feed}"
    );
    let r = browser.get(&format!("/s/audio/{recording}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let page = browser.get("/s/story").await;
    assert!(page.body.contains("You have withdrawn this story"));
    // Withdrawing twice records nothing more.
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &csrf), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(consent_log(&reporter, &story).await.len(), log.len());

    // Leaving ends the session.
    let r = browser.post("/s/leave", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = browser.get("/s/story").await;
    assert!(r.location().contains("done=expired"));
}

/// Two replicas on one PostgreSQL database, behind a balancer with no stickiness: a
/// session opened on one is served by the other, with its story and its CSRF token, and
/// closed on one it is closed on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_on_one_replica_is_served_by_another() {
    let test = "portal sessions across replicas";
    if or_skip(postgres::bin_dir().map(|_| ()), test).is_none() {
        return;
    }
    let a = Server::options().database(Database::Postgres).start().await;
    let b = ServerOptions::replica_of(&a).start().await;
    assert_eq!(a.config.database, b.config.database, "one database");
    let reporter = a.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(11);
    let (story, _) = story_with_code(&reporter, &code).await;

    // The code is entered on A; the story is read and narrowed on B.
    let mut browser = Browser::new(&a);
    let opened = browser.enter(&code).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    browser.base = b.base.clone();
    let page = browser.get("/s/story").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.location());
    assert!(page.body.contains("My story may be shared publicly"));
    let csrf = page.csrf();
    let r = browser
        .post(
            "/s/narrow",
            &[
                ("csrf", &csrf),
                ("lang", "en"),
                ("keep_research_use", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("done=saved"), "{}", r.location());
    let log = consent_log(&reporter, &story).await;
    assert_eq!(log.last().unwrap()["method"]["kind"], "storyteller");

    // Left on B, the session is gone on A too.
    let r = browser.post("/s/leave", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    browser.base = a.base.clone();
    let r = browser.get("/s/story").await;
    assert!(r.location().contains("done=expired"));

    // A code that opens nothing yet: entered on B, its withdrawal asked on A.
    let later = new_code(12);
    let mut browser = Browser::new(&b);
    let page = browser.enter(&later).await;
    assert_eq!(page.status, StatusCode::OK);
    browser.base = a.base.clone();
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Your request is recorded"));
    let late = new_id();
    let mut given = consent_event(&late, "given", &["record"]);
    given["code_hash"] = code_hash(PROJECT, &later).unwrap().into();
    let r = reporter.post_consent(&given).await;
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["consent"]["status"], "withdrawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_code_replaces_the_old_and_unknown_codes_all_get_the_same_page() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let old = new_code(2);
    let (story, _) = story_with_code(&reporter, &old).await;
    let new = new_code(3);
    let mut amended = consent_event(&story, "amended", &["record", "share_publicly"]);
    amended["code_hash"] = code_hash(PROJECT, &new).unwrap().into();
    let r = reporter.post_consent(&amended).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let strip = |page: &Page| page.body.replace(&page.csrf(), "");
    let old_page = Browser::new(&server).enter(&old).await;
    let never = Browser::new(&server).enter(&new_code(4)).await;
    assert_eq!(old_page.status, StatusCode::OK);
    assert_eq!(old_page.status, never.status);
    assert_eq!(
        strip(&old_page),
        strip(&never),
        "the same words for every unknown code"
    );
    assert!(
        old_page
            .body
            .contains("No story can be opened with this code")
    );
    let opened = Browser::new(&server).enter(&new).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);

    // Without the entry form's token, nothing is even looked up.
    let mut stranger = Browser::new(&server);
    let r = stranger
        .post("/s", &[("code", &new), ("csrf", "forged")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Not a code at all: said so, nothing else.
    let r = Browser::new(&server).enter("hello").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("That is not a personal code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_asked_before_the_story_arrived_is_applied_before_any_audio() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(5);

    let mut browser = Browser::new(&server);
    let page = browser.enter(&code).await;
    assert_eq!(page.status, StatusCode::OK);
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Your request is recorded"));

    // The phone syncs: its consent arrives with the code's hash, and is withdrawn at once.
    let story = new_id();
    let mut given = consent_event(&story, "given", &["record", "research_use"]);
    given["code_hash"] = code_hash(PROJECT, &code).unwrap().into();
    let r = reporter.post_consent(&given).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["consent"]["status"], "withdrawn");
    let log = consent_log(&reporter, &story).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["kind"], "withdrawn");
    assert_eq!(log[1]["method"]["kind"], "storyteller");
    assert_eq!(log[1]["erase_audio"], true);

    // No audio, no document.
    let r = reporter
        .create_upload(&story, &new_id(), &audio(100, 1))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(
        reporter.put_story(&story, 1).await.status(),
        StatusCode::GONE
    );

    // Applied once: the same code later opens the (withdrawn) story, no second event.
    let page = Browser::new(&server).enter(&code).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(consent_log(&reporter, &story).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawing_during_an_upload_refuses_the_rest_and_purges_the_part() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(6);
    let story = new_id();
    let mut given = consent_event(&story, "given", &["record"]);
    given["code_hash"] = code_hash(PROJECT, &code).unwrap().into();
    let r = reporter.post_consent(&given).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let data = audio(20_000, 7);
    let path = reporter.new_upload(&story, &new_id(), &data).await;
    let r = reporter.patch(&path, 0, &data[..10_000], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.upload_rows(), 1);

    let mut browser = Browser::new(&server);
    let opened = browser.enter(&code).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    let page = browser.get("/s/story").await;
    assert!(page.body.contains("has not reached the project yet"));
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "no")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    let r = reporter.patch(&path, 10_000, &data[10_000..], None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the rest is refused");
    assert_eq!(server.upload_rows(), 0);
    assert_eq!(server.spooled_uploads().await, 0, "the part is purged");
    let r = reporter.create_upload(&story, &new_id(), &data).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_wrong_codes_from_one_address_are_throttled_and_a_storyteller_still_gets_in() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(8);
    story_with_code(&reporter, &code).await;

    let mut guesser = Browser::new(&server);
    let entry = guesser.get("/s").await;
    let csrf = entry.csrf();
    let cookie = guesser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    const GUESSES: usize = 10_000;
    const AT_ONCE: usize = 32;
    let http = guesser.http.clone();
    let url = server.url("/s");
    let mut tasks = Vec::new();
    for worker in 0..AT_ONCE {
        let (http, url, cookie, csrf) = (http.clone(), url.clone(), cookie.clone(), csrf.clone());
        tasks.push(tokio::spawn(async move {
            let mut counts: HashMap<u16, usize> = HashMap::new();
            for i in (worker..GUESSES).step_by(AT_ONCE) {
                let mut bytes = [0u8; 13];
                bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
                bytes[12] = 0xa5;
                let guess = code_from_random(bytes);
                let r = http
                    .post(&url)
                    .header("Cookie", &cookie)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form_body(&[("csrf", &csrf), ("code", &guess)]))
                    .send()
                    .await
                    .unwrap();
                *counts.entry(r.status().as_u16()).or_default() += 1;
            }
            counts
        }));
    }
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for t in tasks {
        for (status, n) in t.await.unwrap() {
            *counts.entry(status).or_default() += n;
        }
    }
    assert_eq!(counts.values().sum::<usize>(), GUESSES);
    assert_eq!(
        counts.get(&303),
        None,
        "no guess opened a story: {counts:?}"
    );
    let looked_up = counts.get(&200).copied().unwrap_or(0);
    assert!(
        looked_up <= 20,
        "only the first few were even looked up: {counts:?}"
    );
    assert!(counts.get(&429).copied().unwrap_or(0) >= GUESSES - 20);

    // The real storyteller, from another address, gets in.
    let mut storyteller = Browser::from(&server, Some("127.0.0.2".parse().unwrap()));
    let r = storyteller.enter(&code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // And the guesser's address is still held back even with the right code.
    let r = guesser
        .post("/s", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_tried_from_many_addresses_is_throttled_per_code() {
    // Behind a trusted proxy each request names its client; the code's own quota holds.
    let server =
        Server::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(9);
    story_with_code(&reporter, &code).await;
    let wrong = new_code(10);
    let mut browser = Browser::new(&server);
    let csrf = browser.get("/s").await.csrf();
    let mut statuses = Vec::new();
    for i in 0..8u8 {
        let req = browser
            .http
            .post(server.url("/s"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&[("csrf", &csrf), ("code", &wrong)]));
        statuses.push(browser.send(req).await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        5,
        "five tries of one code, then none: {statuses:?}"
    );
    assert!(
        statuses[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Another code from one of those addresses is still looked at.
    let req = browser
        .http
        .post(server.url("/s"))
        .header("X-Forwarded-For", "198.51.100.1")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", &csrf), ("code", &code)]));
    assert_eq!(browser.send(req).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_belongs_to_its_project_another_project_cannot_squat_it_or_take_its_withdrawal() {
    let server = Server::start().await;
    let other = server.other_project();
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let squatter = server.enrol(other, Role::Reporter).await;
    let code = new_code(9);
    let hash = code_hash(PROJECT, &code).unwrap();

    // The storyteller asks for the withdrawal before their story arrived.
    let mut browser = Browser::new(&server);
    let page = browser.enter(&code).await;
    let r = browser
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // A reporter of another project who learnt the hash sends it first: it is only a
    // hash in their project, neither the storyteller's withdrawal nor their code.
    let squat = new_id();
    let mut given = consent_event(&squat, "given", &["record"]);
    given["code_hash"] = hash.clone().into();
    let r = squatter
        .req(Method::POST, &format!("/api/v1/stories/{squat}/consent"))
        .json(&given)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["consent"]["status"], "active", "{accepted}");

    // The storyteller's own phone is not refused, and gets the withdrawal.
    let story = new_id();
    let mut given = consent_event(&story, "given", &["record"]);
    given["code_hash"] = hash.into();
    let r = reporter.post_consent(&given).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["consent"]["status"], "withdrawn", "{accepted}");

    // And the code opens the storyteller's story, not the squatter's.
    let page = Browser::new(&server).enter(&code).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let mut browser = Browser::new(&server);
    browser.enter(&code).await;
    let page = browser.get("/s/story?lang=en").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("withdr"), "{}", page.body);
}

/// Enters `code` (unknown to the server) and asks for the withdrawal of its story.
async fn ask_withdrawal_before_arrival(browser: &mut Browser, code: &str) -> Page {
    let page = browser.enter(code).await;
    assert_eq!(page.status, StatusCode::OK);
    browser
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "yes")],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_asks_for_few_withdrawals_a_day_and_a_full_table_never_undoes_a_withdrawal() {
    // Code attempts are let through freely here, to reach the daily quota of asks.
    let server = Server::start_with(|c| c.attempts_burst_per_client = 10_000).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let mut asker = Browser::new(&server);
    let mut asked = 0;
    let refused = loop {
        let page = ask_withdrawal_before_arrival(&mut asker, &new_code(1)).await;
        if page.status != StatusCode::OK {
            break page;
        }
        asked += 1;
        assert!(asked <= 100, "one address filled the table unchecked");
    };
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        asked >= 5,
        "a few genuine asks from one address get through: {asked}"
    );
    // Another address still may.
    let mut neighbour = Browser::from(&server, Some("127.0.0.2".parse().unwrap()));
    let page = ask_withdrawal_before_arrival(&mut neighbour, &new_code(2)).await;
    assert_eq!(page.status, StatusCode::OK);

    // The table full: a storyteller who entered their code before the story arrived
    // still withdraws it once it has.
    let code = new_code(3);
    let mut storyteller = Browser::from(&server, Some("127.0.0.3".parse().unwrap()));
    let page = storyteller.enter(&code).await;
    assert_eq!(page.status, StatusCode::OK);
    if tellus_testkit::Database::default() == tellus_testkit::Database::Postgres {
        server.text(
            "INSERT INTO pending_withdrawals (project_id, code_hash, erase_audio, asked_at, expires_at)
             SELECT 'filler', lpad(to_hex(i), 64, '0'), false, 0, 9000000000000
             FROM generate_series(1, 100002) AS i ON CONFLICT DO NOTHING",
        );
    } else {
        server
            .db()
            .with(|c| {
                c.execute_batch(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i <= 100001)
                     INSERT OR IGNORE INTO pending_withdrawals (project_id, code_hash, erase_audio, asked_at, expires_at)
                     SELECT 'filler', printf('%064x', i), 0, 0, 9000000000000 FROM n",
                )?;
                Ok(())
            })
            .unwrap();
    }
    assert!(
        server.count("SELECT COUNT(*) FROM pending_withdrawals") > 100_000,
        "the table is full"
    );
    let (story, _) = story_with_code(&reporter, &code).await;
    let r = storyteller
        .post(
            "/s/withdraw",
            &[("csrf", &page.csrf()), ("lang", "en"), ("erase", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let log = consent_log(&reporter, &story).await;
    assert_eq!(log.last().unwrap()["kind"], "withdrawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audio_is_sandboxed_and_only_a_trusted_proxy_says_https() {
    let server =
        Server::start_with(|c| c.trusted_proxies = vec!["127.0.0.2".parse().unwrap()]).await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(4);
    let (_, recording) = story_with_code(&reporter, &code).await;

    // Anyone may send X-Forwarded-Proto; only the trusted proxy's counts.
    let session_cookie = |page: &Page| {
        page.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("tellus_portal="))
            .unwrap()
    };
    let mut secure = Vec::new();
    for local in ["127.0.0.1", "127.0.0.2"] {
        let mut browser = Browser::from(&server, Some(local.parse().unwrap()));
        let entry = browser.get("/s").await;
        let req = browser
            .http
            .post(format!("{}/s", browser.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Forwarded-Proto", "https")
            .body(form_body(&[
                ("csrf", &entry.csrf()),
                ("code", &code),
                ("lang", "en"),
            ]));
        let page = browser.send(req).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{local}");
        secure.push(session_cookie(&page).contains("Secure"));

        // The recording is served with a sandbox, as a lead's is.
        let r = browser.get(&format!("/s/audio/{recording}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("sandbox"), "{csp}");
    }
    assert_eq!(secure, [false, true]);
}

/// Issue 20: a storyteller whose phone has so far sent only the listening copy hears it
/// on the portal; once the lossless copy is there, that is what plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_plays_the_best_copy_delivered() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let code = new_code(7);
    let story = new_id();
    let mut given = consent_event(&story, "given", &["record"]);
    given["code_hash"] = code_hash(PROJECT, &code).unwrap().into();
    assert_eq!(
        reporter.post_consent(&given).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(reporter.put_story(&story, 1).await.status(), StatusCode::OK);
    let copies = Copies::make(1, 16_000, 21);
    let recording = new_id();
    let r = reporter
        .upload_copy(
            &story,
            &recording,
            &copies.opus,
            "audio/ogg",
            &[("representation", "listening")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let mut browser = Browser::new(&server);
    let opened = browser.enter(&display_code(&code)).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let page = browser.get("/s/story").await;
    assert!(page.body.contains(&format!("/s/audio/{recording}")));
    let played = |browser: &Browser| {
        browser
            .http
            .get(format!("{}/s/audio/{recording}", server.base))
    };
    let r = browser.send(played(&browser)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "audio/ogg");

    let r = reporter
        .upload_copy(
            &story,
            &recording,
            &copies.flac,
            "audio/flac",
            &[("pcm_sha256", &copies.pcm_sha256)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = browser.send(played(&browser)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "audio/flac");
}

/// Issue 22: the storyteller reads the transcript of their recording on the portal and
/// suggests what they said; the lead sees the suggestion on the story page and accepts
/// it (the text changes, in a new revision) or rejects it (nothing changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storytellers_suggestion_accepted_by_the_lead_changes_the_transcript() {
    use tellus_server::transcripts::model::Segment;
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let code = new_code(7);
    let (story, recording) = story_with_code(&reporter, &code).await;
    // The document names its recording, so that the lead's page shows its player.
    let mut doc = story_doc(&story, 2, "ready");
    doc["recordings"] = serde_json::json!([{
        "id": recording, "format": "wav", "sample_rate": 16000, "channels": 1,
        "frames": 3000, "bytes": 6000, "sha256": "0".repeat(64),
        "duration_ms": 3000, "created_at": "2026-11-22T10:00:00Z"
    }]);
    let r = reporter
        .req(reqwest::Method::PUT, &format!("/api/v1/stories/{story}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The machine draft, as a worker keeps it (claimed "later than any job's due time").
    let store = server.store();
    let claimed = store
        .claim_transcript_job("test-worker", i64::MAX / 2, 60_000)
        .unwrap();
    assert_eq!(claimed.map(|j| j.recording_id).as_ref(), Some(&recording));
    {
        let segments = [
            Segment {
                start_ms: 0,
                end_ms: 1500,
                text: "We moved here in ninety two".into(),
                speaker: None,
            },
            Segment {
                start_ms: 1500,
                end_ms: 3000,
                text: "the mill was still open".into(),
                speaker: None,
            },
        ];
        assert!(
            store
                .finish_transcript_job("test-worker", &recording, "en", &segments)
                .unwrap()
        );
    }

    let mut browser = Browser::new(&server);
    assert_eq!(browser.enter(&code).await.status, StatusCode::SEE_OTHER);
    let page = browser.get("/s/story").await;
    assert!(
        page.body.contains(&format!("/s/transcript/{recording}")),
        "a link to the text"
    );
    // In the storyteller's language, like every portal page.
    let spanish = browser
        .get(&format!("/s/transcript/{recording}?lang=es"))
        .await;
    assert_eq!(spanish.status, StatusCode::OK);
    for words in ["Lo que se escribió", "Lo que dije", "Proponer esto"] {
        assert!(spanish.body.contains(words), "{words}");
    }
    assert!(!spanish.body.contains("What I said"));
    let page = browser.get(&format!("/s/transcript/{recording}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("the mill was still open"));
    assert!(page.body.contains("What I said"));
    let csrf = page.csrf();

    // Without the form's token nothing is filed.
    let refused = browser
        .post(
            "/s/flag",
            &[
                ("csrf", "wrong"),
                ("recording", &recording),
                ("start_ms", "0"),
                ("suggested", "x"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let flag = |start: &str, text: &str| {
        [
            ("csrf", csrf.clone()),
            ("lang", "en".to_string()),
            ("recording", recording.clone()),
            ("start_ms", start.to_string()),
            ("suggested", text.to_string()),
        ]
    };
    for (start, text) in [
        ("0", "We moved here in nineteen ninety-two"),
        ("1500", "the mill was closed"),
    ] {
        let fields = flag(start, text);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sent = browser.post("/s/flag", &fields).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        assert!(sent.location().contains("done=flagged"));
    }
    // A passage that does not exist is refused.
    let fields = flag("999", "x");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        browser.post("/s/flag", &fields).await.status,
        StatusCode::BAD_REQUEST
    );

    // The lead sees both on the story page.
    let lead_page = |path: String| {
        server
            .http
            .get(server.url(&path))
            .header("cookie", format!("tellus_lead={}", lead.token))
            .send()
    };
    let body = lead_page(format!("/lead/stories/{story}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Machine draft"), "the draft is labelled");
    let flag_ids: Vec<String> = body
        .match_indices("action=\"/lead/transcript-flags/")
        .map(|(at, m)| {
            let rest = &body[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert_eq!(flag_ids.len(), 2, "{body}");
    assert!(body.contains("We moved here in nineteen ninety-two"));

    let decide = |id: String, decision: &'static str| {
        server
            .http
            .post(server.url(&format!("/lead/transcript-flags/{id}")))
            .header("cookie", format!("tellus_lead={}", lead.token))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("decision={decision}"))
            .send()
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    drop(client);
    let r = decide(flag_ids[0].clone(), "accept").await.unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let r = decide(flag_ids[1].clone(), "reject").await.unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    // Deciding twice is refused.
    let r = decide(flag_ids[1].clone(), "accept").await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let t: Value = lead
        .get(&format!("/api/v1/recordings/{recording}/transcript"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["revision"], 2);
    assert_eq!(t["source"], "person");
    assert_eq!(
        t["segments"][0]["text"],
        "We moved here in nineteen ninety-two"
    );
    assert_eq!(
        t["segments"][1]["text"], "the mill was still open",
        "the rejected one changed nothing"
    );
    let body = lead_page(format!("/lead/stories/{story}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("/lead/transcript-flags/"),
        "no open flag left"
    );
}
