//! The store's rules, through its public API on real SQLite files.

use std::sync::mpsc;

use rusqlite::Connection;
use tellus_core::model::{
    ConsentDraft, ConsentKind, ConsentMethod, ConsentStatus, NewNote, NewStory, StoryEdit, StoryId,
    StoryStatus, items, sample_project,
};
use tellus_core::store::DATABASE_FILE;
use tellus_core::{Error, Store};

fn project_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_project(&sample_project()).unwrap();
    (dir, store)
}

fn new_story(store: &Store, title: &str) -> StoryId {
    store
        .create_story(&NewStory {
            title: title.into(),
            ..Default::default()
        })
        .unwrap()
        .id
}

fn by_reporter(mut draft: ConsentDraft) -> ConsentDraft {
    draft.captured_by = "Reporter R".into();
    draft
}

fn give(version: u32, granted: &[&str]) -> ConsentDraft {
    by_reporter(ConsentDraft::give(
        "storyteller-consent",
        version,
        "en",
        granted,
    ))
}

/// Asserts that `result` failed and that nothing in the database changed.
fn refused<T: std::fmt::Debug>(store: &Store, f: impl FnOnce() -> Result<T, Error>) -> Error {
    let before = store.testing_dump().unwrap();
    let err = f().expect_err("the call should have been refused");
    assert_eq!(
        store.testing_dump().unwrap(),
        before,
        "a refused call changed the database"
    );
    err
}

#[test]
fn consent_folds_through_give_amend_withdraw_and_give_again() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "A story");
    assert_eq!(store.consent(story).unwrap().status, ConsentStatus::None);

    let mut first = give(
        1,
        &[items::RECORD, items::SHARE_PUBLICLY, items::CREDIT_BY_NAME],
    );
    first.name = Some("Amina".into());
    store.record_consent(story, &first).unwrap();
    let now = store.consent(story).unwrap();
    assert!(now.grants(items::SHARE_PUBLICLY) && now.grants(items::CREDIT_BY_NAME));
    assert_eq!(
        store.identity(story).unwrap().name.as_deref(),
        Some("Amina")
    );

    store
        .record_consent(story, &by_reporter(ConsentDraft::amend(&[items::RECORD])))
        .unwrap();
    let now = store.consent(story).unwrap();
    assert!(now.grants(items::RECORD) && !now.grants(items::SHARE_PUBLICLY));
    assert_eq!(
        store.identity(story).unwrap().name,
        None,
        "the name must go as soon as credit_by_name is no longer granted"
    );

    store
        .record_consent(story, &by_reporter(ConsentDraft::withdraw(true)))
        .unwrap();
    let now = store.consent(story).unwrap();
    assert_eq!(now.status, ConsentStatus::Withdrawn);
    assert!(!now.grants(items::RECORD));

    let mut again = give(2, &[items::RECORD, items::RESEARCH_USE]);
    again.language = Some("es".into());
    again.method = ConsentMethod::Verbal {
        at: "0:42"
            .parse::<tellus_core::AudioPosition>()
            .unwrap()
            .as_millis(),
    };
    store.record_consent(story, &again).unwrap();
    let now = store.consent(story).unwrap();
    assert_eq!(now.status, ConsentStatus::Active);
    assert_eq!(
        (now.form_version, now.language.as_deref()),
        (Some(2), Some("es"))
    );
    assert!(now.grants(items::RESEARCH_USE) && !now.grants(items::SHARE_PUBLICLY));

    let events = store.consent_events(story).unwrap();
    let kinds: Vec<ConsentKind> = events.iter().map(|e| e.kind).collect();
    use ConsentKind::*;
    assert_eq!(kinds, [Given, Amended, Withdrawn, Given]);
    let form = sample_project();
    let shown = form
        .form("storyteller-consent", 2)
        .unwrap()
        .text_sha256("es");
    assert_eq!(
        events[3].text_sha256, shown,
        "the event records the exact text shown"
    );
    assert!(events[2].erase_audio);
}

#[test]
fn a_story_becomes_ready_only_with_record_granted() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Gate");
    let err = refused(&store, || store.mark_ready(story));
    assert!(
        matches!(err, Error::ConsentRequired(ref m) if m.contains("record")),
        "{err}"
    );

    store
        .record_consent(story, &give(2, &[items::RECORD]))
        .unwrap();
    let ready = store.mark_ready(story).unwrap();
    assert_eq!(ready.status, StoryStatus::Ready);

    let other = new_story(&store, "Withdrawn");
    store
        .record_consent(other, &give(2, &[items::RECORD]))
        .unwrap();
    store
        .record_consent(other, &by_reporter(ConsentDraft::withdraw(false)))
        .unwrap();
    let err = refused(&store, || store.mark_ready(other));
    assert!(
        matches!(err, Error::ConsentRequired(ref m) if m.contains("withdrew")),
        "{err}"
    );
}

#[test]
fn consent_without_the_required_item_is_refused() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Required");
    let err = refused(&store, || {
        store.record_consent(story, &give(2, &[items::RESEARCH_USE]))
    });
    assert!(matches!(err, Error::ConsentRequired(_)), "{err}");
}

#[test]
fn consent_rows_cannot_be_rewritten_or_deleted() {
    let (dir, store) = project_store();
    let story = new_story(&store, "Append only");
    store
        .record_consent(story, &give(1, &[items::RECORD]))
        .unwrap();
    // The store's API has no way to change an event; the database refuses it too, for
    // any code that would try.
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    for sql in [
        "UPDATE consent_events SET granted_json = '[\"record\",\"share_publicly\"]'",
        "DELETE FROM consent_events",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let events = store.consent_events(story).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].granted.len(), 1);
}

#[test]
fn names_and_contacts_are_kept_only_with_the_matching_item() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Identity");
    let mut no_credit = give(2, &[items::RECORD]);
    no_credit.name = Some("Joe Bloggs".into());
    let err = refused(&store, || store.record_consent(story, &no_credit));
    assert!(matches!(err, Error::ConsentRequired(ref m) if m.contains("credit_by_name")));

    let mut no_recontact = give(2, &[items::RECORD, items::CREDIT_BY_NAME]);
    no_recontact.contact = Some("joe@example.org".into());
    refused(&store, || store.record_consent(story, &no_recontact));

    let mut both = give(2, &[items::RECORD, items::CREDIT_BY_NAME, items::RECONTACT]);
    both.name = Some("Joe Bloggs".into());
    both.contact = Some("07700 900123".into());
    store.record_consent(story, &both).unwrap();
    let identity = store.identity(story).unwrap();
    assert_eq!(identity.name.as_deref(), Some("Joe Bloggs"));
    assert_eq!(identity.contact.as_deref(), Some("07700 900123"));
    let full = store.story(story).unwrap();
    let as_json = serde_json::to_string(&full).unwrap();
    assert!(
        !as_json.contains("Joe Bloggs") && !as_json.contains("07700"),
        "kept apart from the story"
    );

    store
        .record_consent(story, &by_reporter(ConsentDraft::withdraw(false)))
        .unwrap();
    assert_eq!(
        store.identity(story).unwrap(),
        Default::default(),
        "withdrawal erases them"
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Target");
    let unknown = StoryId::new();

    let err = refused(&store, || store.mark_ready(unknown));
    assert!(
        matches!(err, Error::NotFound { what: "story", .. }),
        "{err}"
    );
    refused(&store, || {
        store.add_note(unknown, &NewNote::note("x", None))
    });
    refused(&store, || {
        store.record_consent(unknown, &give(1, &[items::RECORD]))
    });
    refused(&store, || store.add_tags(unknown, &["housing".into()]));

    let err = refused(&store, || {
        store.record_consent(story, &give(7, &[items::RECORD]))
    });
    assert!(
        err.to_string()
            .contains("no consent form storyteller-consent version 7"),
        "{err}"
    );

    let err = refused(&store, || {
        store.create_story(&NewStory {
            title: "   ".into(),
            ..Default::default()
        })
    });
    assert!(err.to_string().contains("title cannot be empty"), "{err}");
    refused(&store, || {
        store.edit_story(
            story,
            &StoryEdit {
                title: Some(String::new()),
                ..Default::default()
            },
        )
    });
    refused(&store, || store.add_note(story, &NewNote::note(" ", None)));
    refused(&store, || {
        store.add_note(
            story,
            &NewNote::marker("", "1:00".parse().unwrap(), Some("q9")),
        )
    });
    let err = refused(&store, || {
        store.add_tags(story, &["housing".into(), "nonsense".into()])
    });
    assert!(err.to_string().contains("'nonsense'"), "{err}");
    refused(&store, || {
        store.record_consent(story, &by_reporter(ConsentDraft::amend(&[items::RECORD])))
    });
    let mut nobody = give(1, &[items::RECORD]);
    nobody.captured_by = String::new();
    refused(&store, || store.record_consent(story, &nobody));
}

#[test]
fn notes_markers_and_tags() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Notes");
    store
        .add_note(story, &NewNote::note("no position", None))
        .unwrap();
    store
        .add_note(
            story,
            &NewNote::note("later", Some("12:34".parse().unwrap())),
        )
        .unwrap();
    let marker = store
        .add_note(
            story,
            &NewNote::marker("", "0:30".parse().unwrap(), Some("q2")),
        )
        .unwrap();
    assert_eq!(marker.text, sample_project().question("q2").unwrap().text);
    let texts: Vec<String> = store
        .notes(story)
        .unwrap()
        .into_iter()
        .map(|n| n.text)
        .collect();
    assert_eq!(texts[1..], ["later".to_string(), "no position".to_string()]);

    let before = store.story(story).unwrap().revision;
    store
        .add_tags(story, &["housing".into(), "trust".into()])
        .unwrap();
    let after = store.add_tags(story, &["housing".into()]).unwrap();
    assert_eq!(after.tags, ["housing", "trust"]);
    assert_eq!(
        after.revision,
        before + 1,
        "adding a tag already there changes nothing"
    );
}

#[test]
fn a_form_version_with_recorded_consent_cannot_be_dropped() {
    let (_dir, store) = project_store();
    let story = new_story(&store, "Old form");
    store
        .record_consent(story, &give(1, &[items::RECORD]))
        .unwrap();
    let mut newer = sample_project();
    newer.consent_forms.retain(|f| f.version != 1);
    let err = refused(&store, || store.set_project(&newer));
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn pages_of_stories_newest_first() {
    let (_dir, store) = project_store();
    let ids: Vec<StoryId> = (0..25)
        .map(|n| new_story(&store, &format!("Story {n}")))
        .collect();
    let first = store.list_stories(10, None).unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(first[0].id, ids[24]);
    let second = store.list_stories(10, Some(first[9].id)).unwrap();
    assert_eq!(second[0].id, ids[14]);
    let third = store.list_stories(10, Some(second[9].id)).unwrap();
    assert_eq!(third.len(), 5);
    assert_eq!(third[4].id, ids[0]);
    assert!(store.list_stories(0, None).is_err());
}

#[test]
fn a_reader_keeps_its_snapshot_while_a_long_write_runs() {
    let (_dir, store) = project_store();
    for n in 0..3 {
        new_story(&store, &format!("Committed {n}"));
    }
    let store = std::sync::Arc::new(store);
    let (seen_tx, seen_rx) = mpsc::channel();
    let reader_store = store.clone();
    store
        .testing_write_stories_then(2_000, || {
            // 2,000 rows are written but not committed: another thread reading now must
            // see exactly the last committed state, on every read.
            let reader = std::thread::spawn(move || {
                let counts = (
                    reader_store.count_stories().unwrap(),
                    reader_store.list_stories(500, None).unwrap().len(),
                );
                seen_tx.send(counts).unwrap();
            });
            reader.join().unwrap();
        })
        .unwrap();
    assert_eq!(seen_rx.recv().unwrap(), (3, 3));
    assert_eq!(store.count_stories().unwrap(), 2_003);
}

#[test]
fn a_damaged_database_is_moved_aside_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let garbage = b"this is not a database, but somebody's data might be in it".repeat(100);
    std::fs::write(&path, &garbage).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let report = store.open_report().clone();
    let moved = report
        .damaged_database_moved_to
        .expect("must report the move");
    assert_eq!(
        std::fs::read(&moved).unwrap(),
        garbage,
        "kept byte for byte"
    );
    assert!(report.damage.is_some());
    store.set_project(&sample_project()).unwrap();
    new_story(&store, "Life goes on");
    assert_eq!(store.count_stories().unwrap(), 1);
}

#[test]
fn a_truncated_database_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_project(&sample_project()).unwrap();
        for n in 0..300 {
            let id = new_story(&store, &format!("Story {n} {}", "x".repeat(150)));
            store
                .add_note(id, &NewNote::note("y".repeat(400), None))
                .unwrap();
        }
    }
    // Closing the last connection checkpoints the WAL into the main file.
    let path = dir.path().join(DATABASE_FILE);
    let full = std::fs::read(&path).unwrap();
    assert!(full.len() > 100_000, "the database should span many pages");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let moved = store.open_report().damaged_database_moved_to.clone();
    let moved = moved.expect("a truncated database must be noticed");
    assert_eq!(std::fs::read(moved).unwrap().len(), full.len() / 2);
    assert_eq!(
        store.project().err().map(|e| e.to_string()),
        Some(Error::NoProject.to_string())
    );
}

#[test]
fn the_phone_never_records_an_event_in_the_storytellers_name() {
    // Method 'storyteller' means "on the portal with their personal code": the server
    // refuses it from a phone, so a `given` recorded with it would leave the story's
    // consent stuck forever. The one draft check refuses it, for every kind.
    let (_dir, store) = project_store();
    let story = new_story(&store, "Portal only");
    let as_storyteller = |mut draft: ConsentDraft| {
        draft.method = ConsentMethod::Storyteller;
        draft
    };
    for draft in [
        as_storyteller(give(2, &[items::RECORD])),
        as_storyteller(by_reporter(ConsentDraft::withdraw(true))),
    ] {
        let err = refused(&store, || store.record_consent(story, &draft));
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("storyteller"), "{err}");
        let err = store.check_consent(story, &draft).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }
    store
        .record_consent(story, &give(2, &[items::RECORD]))
        .unwrap();
    for draft in [
        as_storyteller(by_reporter(ConsentDraft::amend(&[items::RECORD]))),
        as_storyteller(by_reporter(ConsentDraft::withdraw(false))),
    ] {
        let err = refused(&store, || store.record_consent(story, &draft));
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }
    assert_eq!(store.consent_events(story).unwrap().len(), 1);
}
