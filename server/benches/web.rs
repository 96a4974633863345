//! The leads' web page under load: 5,000 stories with 5 notes each in a real server on
//! loopback. Each page is timed over real HTTP against a baseline measured in the same
//! run: the list page against the JSON changes feed of as many rows, the story page
//! against the same story from the JSON API, a search against a LIKE scan of the same
//! documents on the same file.
//!
//! Run: `cargo bench -p tellus-server --bench web`

use std::hint::black_box;
use std::time::{Duration, Instant};

use rusqlite::params;
use serde_json::json;
use tellus_protocol::StoryDocument;
use tellus_server::{App, Role, ServerConfig, admin, search};

const STORIES: usize = 5_000;
const NOTES: usize = 5;
const ROUNDS: usize = 200;
const PROJECT: &str = tellus_testkit::SAMPLE_PROJECT;

/// Made-up words, so that every story has its own text and a word matches a few.
fn word(n: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ren", "sa", "tu", "vel", "do", "pri", "na", "gor", "e", "shi", "ab",
        "wen", "ti",
    ];
    let mut n = n;
    let mut out = String::new();
    for _ in 0..3 {
        out.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    out
}

fn text(seed: usize, words: usize) -> String {
    (0..words)
        .map(|i| word(seed.wrapping_mul(7919).wrapping_add(i * 104_729) % 4096))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Timing {
    median: Duration,
    p99: Duration,
}

async fn measure<F, Fut>(rounds: usize, mut f: F) -> Timing
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..rounds / 10 {
        f(i).await;
    }
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let start = Instant::now();
        f(i).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    Timing {
        median: samples[rounds / 2],
        p99: samples[rounds * 99 / 100],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, page: &Timing, baseline_name: &str, baseline: &Timing) {
    println!(
        "| {what} | {:.2} | {:.2} | {baseline_name} | {:.2} | {:.1}x |",
        ms(page.median),
        ms(page.p99),
        ms(baseline.median),
        page.median.as_secs_f64() / baseline.median.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().join("server"),
        ..ServerConfig::default()
    };
    let db = App::open_db(&config).expect("database");
    admin::create_project(&db, PROJECT).expect("project");
    let project = "coproduction-stories-2026";
    let reporter = admin::create_invite(&db, project, Role::Reporter, 3600).expect("invite");
    let reporter = admin::enrol(&db, &reporter.code, "bench phone", None).expect("enrol");
    let lead = admin::create_invite(&db, project, Role::Lead, 3600).expect("invite");
    let lead = admin::enrol(&db, &lead.code, "bench lead", None).expect("enrol");

    // Stories go straight into the database, in one transaction, through the same
    // indexing call the PUT route makes (the PUT route itself is in bench-server.sh).
    let populate = Instant::now();
    let mut ids = Vec::with_capacity(STORIES);
    db.write(|tx| {
        for n in 0..STORIES {
            let id = uuid::Uuid::now_v7().to_string();
            let mut notes: Vec<_> = (0..NOTES)
                .map(|k| {
                    json!({ "id": uuid::Uuid::now_v7().to_string(), "kind": if k == 0 { "marker" } else { "note" },
                        "text": text(n * NOTES + k, 8), "at_ms": k as u64 * 60_000,
                        "created_at": "2026-11-22T10:00:00Z" })
                })
                .collect();
            if n == STORIES / 2 {
                notes.push(json!({ "id": uuid::Uuid::now_v7().to_string(), "kind": "note",
                    "text": "the kaleidoscope in the waiting room", "at_ms": 1000,
                    "created_at": "2026-11-22T10:00:00Z" }));
            }
            let doc: StoryDocument = serde_json::from_value(json!({
                "id": id, "revision": 1, "title": format!("Story {n}: {}", text(n, 4)),
                "summary": text(n + 17, 30), "status": "ready",
                "tags": ["housing", if n % 3 == 0 { "transport" } else { "health" }],
                "storyteller": { "id": uuid::Uuid::now_v7().to_string(), "label": format!("Participant {n}") },
                "notes": notes,
                "created_at": format!("2026-{:02}-{:02}T10:00:00Z", n % 12 + 1, n % 28 + 1),
                "updated_at": "2026-11-22T10:00:00Z"
            }))
            .expect("a story document");
            let event = json!({
                "id": uuid::Uuid::now_v7().to_string(), "story_id": id,
                "participant_id": uuid::Uuid::now_v7().to_string(), "kind": "given",
                "form_id": "storyteller-consent", "form_version": 2, "language": "en",
                "granted": ["record", "research_use"], "method": { "kind": "app_checkbox" },
                "captured_by": "bench", "captured_at": "2026-11-22T10:00:00Z"
            });
            tx.execute(
                // Its consent grants `record`: visible to a lead (server/src/visibility.rs).
                "INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at, lead_visibility)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, 'visible')",
                params![id, project, reporter.reporter_id, serde_json::to_string(&doc).expect("json"), n as i64],
            )?;
            tx.execute(
                "INSERT INTO consent_events (id, story_id, body, received_at) VALUES (?1, ?2, ?3, 0)",
                params![event["id"].as_str(), id, event.to_string()],
            )?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES (?1, 'story', ?2, 1, 0)",
                params![project, id],
            )?;
            search::index_story(tx, &id, &doc)?;
            ids.push(id);
        }
        Ok(())
    })
    .expect("populate");
    let populated = populate.elapsed();
    drop(db);

    let server = tellus_server::Running::start(config.clone())
        .await
        .expect("serve");
    let base = server.url();
    let http = reqwest::Client::new();
    let cookie = format!("tellus_lead={}", lead.token);
    let page = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        let cookie = cookie.clone();
        async move {
            let r = http
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("request");
            assert!(r.status().is_success(), "{}", r.status());
            black_box(r.bytes().await.expect("body"));
        }
    };
    let api = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        let token = lead.token.clone();
        async move {
            let r = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            assert!(r.status().is_success(), "{}", r.status());
            black_box(r.bytes().await.expect("body"));
        }
    };

    println!(
        "{STORIES} stories with {NOTES} notes each, populated in {:.1} s; {ROUNDS} rounds each, over HTTP on loopback",
        populated.as_secs_f64()
    );
    println!();
    println!("| request | median ms | p99 ms | baseline | baseline median ms | ratio |");
    println!("|---|---|---|---|---|---|");
    let list = measure(ROUNDS, |_| page("/lead".into())).await;
    let feed = measure(ROUNDS, |_| api("/api/v1/changes?limit=50".into())).await;
    row(
        "list page (50 newest of 5,000)",
        &list,
        "JSON feed page of 50",
        &feed,
    );
    let filtered = measure(ROUNDS, |_| {
        page("/lead?tag=transport&consent=research_use&from=2026-03-01&to=2026-05-31".into())
    })
    .await;
    row(
        "list page, tag + consent + dates",
        &filtered,
        "JSON feed page of 50",
        &feed,
    );
    let story = measure(ROUNDS, |i| {
        page(format!("/lead/stories/{}", ids[i % STORIES]))
    })
    .await;
    let story_api = measure(ROUNDS, |i| {
        api(format!("/api/v1/stories/{}", ids[i % STORIES]))
    })
    .await;
    row("story page", &story, "the story's JSON", &story_api);
    let rare = measure(ROUNDS, |_| page("/lead?q=kaleidoscope".into())).await;
    row(
        "search, a word in one note",
        &rare,
        "the story's JSON",
        &story_api,
    );
    let some_word = word(100);
    let some = measure(ROUNDS, |_| page(format!("/lead?q={some_word}"))).await;
    row(
        &format!("search, a word in ~2% of stories (\"{some_word}\")"),
        &some,
        "JSON feed page of 50",
        &feed,
    );
    let every = measure(ROUNDS, |_| page("/lead?q=story".into())).await;
    row(
        "search, a word in every title (\"story\")",
        &every,
        "JSON feed page of 50",
        &feed,
    );
    let last_page = measure(ROUNDS, |_| page("/lead?page=100".into())).await;
    row(
        "list page 100 of 100",
        &last_page,
        "JSON feed page of 50",
        &feed,
    );

    // The index against a scan, on the same file, without HTTP.
    let db = App::open_db(&config).expect("database");
    let fts = measure(ROUNDS, |_| {
        let ids = db
            .with(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT story_id FROM story_search WHERE story_search MATCH '\"kaleidoscope\"*'",
                )?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(ids)
            })
            .expect("fts");
        assert_eq!(ids.len(), 1);
        async {}
    })
    .await;
    let scan = measure(ROUNDS / 4, |_| {
        let ids = db
            .with(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id FROM stories WHERE document LIKE '%kaleidoscope%'",
                )?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(ids)
            })
            .expect("scan");
        assert_eq!(ids.len(), 1);
        async {}
    })
    .await;
    println!();
    println!(
        "FTS5 query {:.3} ms vs LIKE scan of the documents {:.3} ms (median): the index takes {:.3}x the scan's time",
        ms(fts.median),
        ms(scan.median),
        fts.median.as_secs_f64() / scan.median.as_secs_f64()
    );
}
