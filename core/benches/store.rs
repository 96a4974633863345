//! Store benchmark: 10,000 stories with 5 notes each; a page of the 50 newest stories and
//! opening one story with its notes and consent, each against a plain SQL baseline on
//! the same database file in the same run.
//!
//! Run: `cargo bench -p tellus-core --bench store`

use std::hint::black_box;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tellus_core::Store;
use tellus_core::model::{ConsentDraft, NewNote, NewStory, StoryId, items, sample_project};

const STORIES: usize = 10_000;
const NOTES_PER_STORY: usize = 5;
const ROUNDS: usize = 2_000;

struct Timing {
    median: Duration,
    p99: Duration,
}

fn measure(rounds: usize, mut f: impl FnMut(usize)) -> Timing {
    for i in 0..rounds / 10 {
        f(i); // warm the page cache and statement caches
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    samples.sort();
    Timing {
        median: samples[rounds / 2],
        p99: samples[rounds * 99 / 100],
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = Store::open(dir.path()).expect("open store");
    store.set_project(&sample_project()).expect("project");

    let start = Instant::now();
    let mut ids: Vec<StoryId> = Vec::with_capacity(STORIES);
    for n in 0..STORIES {
        let story = store
            .create_story(&NewStory {
                title: format!("Story {n}: waiting times at the walk-in centre"),
                summary: "A storyteller describes their experience of local services. ".repeat(4),
                storyteller_label: format!("Participant {n}"),
            })
            .expect("create story");
        let mut consent = ConsentDraft::give(
            "storyteller-consent",
            2,
            "en",
            &[items::RECORD, items::RESEARCH_USE],
        );
        consent.captured_by = "Bench reporter".into();
        store.record_consent(story.id, &consent).expect("consent");
        for k in 0..NOTES_PER_STORY {
            let at = format!("{}:{:02}", k * 3, (n + k) % 60)
                .parse()
                .expect("position");
            store
                .add_note(
                    story.id,
                    &NewNote::note(format!("Note {k} about what was said"), Some(at)),
                )
                .expect("note");
        }
        ids.push(story.id);
    }
    let populate = start.elapsed();
    let writes = STORIES * (2 + NOTES_PER_STORY);

    let raw = Connection::open(store.database_path()).expect("baseline connection");
    let mut page_sql = raw
        .prepare("SELECT id, title FROM stories ORDER BY id DESC LIMIT 50")
        .expect("baseline page");
    let mut row_sql = raw
        .prepare("SELECT id, title, summary FROM stories WHERE id = ?1")
        .expect("baseline row");

    let page = measure(ROUNDS, |_| {
        black_box(store.list_stories(50, None).expect("page"));
    });
    let page_base = measure(ROUNDS, |_| {
        let rows: Vec<(String, String)> = page_sql
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        black_box(rows);
    });
    let open = measure(ROUNDS, |i| {
        let id = ids[(i * 7919) % ids.len()];
        black_box(store.story_with_details(id).expect("story"));
    });
    let open_base = measure(ROUNDS, |i| {
        let id = ids[(i * 7919) % ids.len()].to_string();
        let row: (String, String, String) = row_sql
            .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("row");
        black_box(row);
    });

    // The limits at input (issue 24): every note is checked with the whole story's
    // document, so adding one to a story near the document limit (about 1 MiB of notes)
    // is measured against adding one to a small story. Each round adds a note and
    // deletes it again, so the story stays the same size.
    let full = ids[0];
    let near_limit = store.limits().expect("limits").document_bytes * 95 / 100;
    while store.story_size(full).expect("size").document_bytes < near_limit - 20_000 {
        store
            .add_note(full, &NewNote::note("n".repeat(10_000), None))
            .expect("filling note");
    }
    let small = ids[1];
    let add_and_delete = |story: StoryId| {
        let note = store
            .add_note(story, &NewNote::note("One more thing that was said", None))
            .expect("note");
        store.delete_note(note.id).expect("delete");
    };
    let near = measure(ROUNDS / 10, |_| add_and_delete(full));
    let small_story = measure(ROUNDS / 10, |_| add_and_delete(small));
    // The check alone (what every such write adds), without the durable commit.
    let check_near = measure(ROUNDS / 10, |_| {
        black_box(store.story_size(full).expect("size"));
    });
    let check_small = measure(ROUNDS / 10, |_| {
        black_box(store.story_size(small).expect("size"));
    });

    println!("Store benchmark: {STORIES} stories x {NOTES_PER_STORY} notes, consent on each");
    println!(
        "populate: {writes} durable write transactions in {:.1} s ({:.0} µs each)",
        populate.as_secs_f64(),
        micros(populate) / writes as f64
    );
    println!("| operation | median µs | p99 µs | baseline median µs | ratio |");
    println!("|---|---|---|---|---|");
    for (name, ours, base) in [
        ("page of 50 newest stories", &page, &page_base),
        ("open a story with notes and consent", &open, &open_base),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1}x |",
            micros(ours.median),
            micros(ours.p99),
            micros(base.median),
            micros(ours.median) / micros(base.median)
        );
    }
    println!(
        "| add + delete a note, story near the 1 MiB limit ({} notes) | {:.1} | {:.1} | {:.1} (story with {NOTES_PER_STORY} notes) | {:.1}x |",
        store.story_size(full).expect("size").notes,
        micros(near.median),
        micros(near.p99),
        micros(small_story.median),
        micros(near.median) / micros(small_story.median)
    );
    println!(
        "| the input check alone, story near the limit | {:.1} | {:.1} | {:.1} (story with {NOTES_PER_STORY} notes) | {:.1}x |",
        micros(check_near.median),
        micros(check_near.p99),
        micros(check_small.median),
        micros(check_near.median) / micros(check_small.median)
    );
}
