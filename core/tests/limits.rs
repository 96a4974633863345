//! The limits at input (issue 24): every write that changes what a story's document holds
//! goes through the same check inside its transaction. Each path is driven one step past
//! a limit and must be refused as input, changing nothing at all; at the limit it is
//! taken.

use tellus_core::model::{
    ConsentDraft, FieldDef, NewNote, NewStory, ProjectConfig, StoryEdit, sample_project,
};
use tellus_core::protocol::Limits;
use tellus_core::{AudioPosition, Error, Store};

fn small() -> Limits {
    Limits {
        title_chars: 10,
        summary_chars: 20,
        label_chars: 8,
        note_chars: 30,
        notes_per_story: 3,
        fields_per_story: 1,
        field_chars: 5,
        recordings_per_story: 1,
        document_bytes: 3_000,
        recording_bytes: 10_000,
    }
}

fn store_with(limits: Limits) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .set_project(&ProjectConfig {
            limits,
            // The fields these tests fill in (a project holds only its own fields).
            fields: ["age", "other"]
                .map(|key| FieldDef {
                    key: key.into(),
                    label: key.into(),
                    options: Vec::new(),
                })
                .to_vec(),
            ..sample_project()
        })
        .unwrap();
    (dir, store)
}

fn story(store: &Store) -> tellus_core::model::StoryId {
    store
        .create_story(&NewStory {
            title: "Ten chars!".into(),
            summary: String::new(),
            storyteller_label: "P".into(),
        })
        .unwrap()
        .id
}

fn edit(title: Option<&str>, summary: Option<&str>, field: Option<(&str, &str)>) -> StoryEdit {
    StoryEdit {
        title: title.map(str::to_string),
        summary: summary.map(str::to_string),
        demographics: field
            .map(|(k, v)| [(k.to_string(), Some(v.to_string()))].into_iter().collect())
            .unwrap_or_default(),
    }
}

fn give_with(name: &str) -> ConsentDraft {
    let mut draft = ConsentDraft::give(
        "storyteller-consent",
        2,
        "en",
        &["record", "credit_by_name"],
    );
    draft.captured_by = "R".into();
    draft.name = Some(name.into());
    draft
}

/// Runs `over`, which must be refused as input and change nothing, then `at`, which
/// must be taken.
fn refused_then_taken<T: std::fmt::Debug, U: std::fmt::Debug>(
    store: &Store,
    what: &str,
    over: impl FnOnce() -> tellus_core::Result<T>,
    at: impl FnOnce() -> tellus_core::Result<U>,
) {
    let before = store.testing_dump().unwrap();
    match over() {
        Err(Error::InvalidInput(_)) => {}
        other => panic!("{what}: one over the limit gave {other:?}"),
    }
    assert_eq!(
        store.testing_dump().unwrap(),
        before,
        "{what}: a refusal changed something"
    );
    at().unwrap_or_else(|e| panic!("{what}: at the limit: {e}"));
}

#[test]
fn every_path_that_writes_a_story_is_held_to_the_limits() {
    let (_dir, store) = store_with(small());
    let new = |title: &str, label: &str| NewStory {
        title: title.into(),
        summary: String::new(),
        storyteller_label: label.into(),
    };
    refused_then_taken(
        &store,
        "create: title",
        || store.create_story(&new("a".repeat(11).as_str(), "P")),
        || store.create_story(&new(&"é".repeat(10), "P")),
    );
    refused_then_taken(
        &store,
        "create: label",
        || store.create_story(&new("T", &"l".repeat(9))),
        || store.create_story(&new("T", &"l".repeat(8))),
    );
    refused_then_taken(
        &store,
        "create: control character",
        || store.create_story(&new("\0", "P")),
        || store.create_story(&new("T", "P")),
    );
    let id = story(&store);
    refused_then_taken(
        &store,
        "edit: title",
        || store.edit_story(id, &edit(Some(&"t".repeat(11)), None, None)),
        || store.edit_story(id, &edit(Some(&"t".repeat(10)), None, None)),
    );
    refused_then_taken(
        &store,
        "edit: summary",
        || store.edit_story(id, &edit(None, Some(&"s".repeat(21)), None)),
        || store.edit_story(id, &edit(None, Some(&"s\n".repeat(10)), None)),
    );
    refused_then_taken(
        &store,
        "edit: field value",
        || store.edit_story(id, &edit(None, None, Some(("age", "123456")))),
        || store.edit_story(id, &edit(None, None, Some(("age", "12345")))),
    );
    refused_then_taken(
        &store,
        "edit: field name",
        || store.edit_story(id, &edit(None, None, Some(("n".repeat(9).as_str(), "1")))),
        || store.edit_story(id, &edit(None, None, Some(("age", "1")))),
    );
    refused_then_taken(
        &store,
        "edit: fields",
        || store.edit_story(id, &edit(None, None, Some(("other", "1")))),
        || store.edit_story(id, &edit(None, None, Some(("age", "2")))),
    );
    refused_then_taken(
        &store,
        "note: text",
        || store.add_note(id, &NewNote::note("n".repeat(31), None)),
        || store.add_note(id, &NewNote::note("n".repeat(30), None)),
    );
    refused_then_taken(
        &store,
        "marker: text",
        || {
            store.add_note(
                id,
                &NewNote::marker("m".repeat(31), AudioPosition::from_millis(5), None),
            )
        },
        || {
            store.add_note(
                id,
                &NewNote::marker("m", AudioPosition::from_millis(5), None),
            )
        },
    );
    store.add_note(id, &NewNote::note("third", None)).unwrap();
    refused_then_taken(
        &store,
        "notes",
        || store.add_note(id, &NewNote::note("fourth", None)),
        || store.story_size(id),
    );
    refused_then_taken(
        &store,
        "consent: a name",
        || store.record_consent(id, &give_with("\u{7}")),
        || store.record_consent(id, &give_with("Amina")),
    );
}

#[test]
fn the_document_is_held_to_its_size_to_the_byte() {
    let (_dir, store) = store_with(Limits {
        note_chars: 10_000,
        notes_per_story: 100,
        ..small()
    });
    let id = story(&store);
    let mut consent = give_with("");
    consent.name = None;
    // Crediting by name needs a name (the consent form's rule); this story keeps none.
    consent.granted.remove("credit_by_name");
    store.record_consent(id, &consent).unwrap();
    // Measured on a second note: the first one has no comma before it.
    store.add_note(id, &NewNote::note("w", None)).unwrap();
    let before = store.story_size(id).unwrap().document_bytes;
    store.add_note(id, &NewNote::note("x", None)).unwrap();
    let overhead = store.story_size(id).unwrap().document_bytes - before - 1;
    let room = 3_000 - store.story_size(id).unwrap().document_bytes;
    let fits = (room - overhead) as usize;
    refused_then_taken(
        &store,
        "document",
        || store.add_note(id, &NewNote::note("y".repeat(fits + 1), None)),
        || store.add_note(id, &NewNote::note("y".repeat(fits), None)),
    );
    assert_eq!(store.story_size(id).unwrap().document_bytes, 3_000);
    // Full: a tag or a longer title is refused too; a withdrawal never is.
    assert!(matches!(
        store.add_tags(id, &["health".into()]),
        Err(Error::InvalidInput(_))
    ));
    store
        .edit_story(id, &edit(Some("Ten chars?"), None, None))
        .unwrap();
    assert!(matches!(
        store.edit_story(id, &edit(None, Some("s"), None)),
        Err(Error::InvalidInput(_))
    ));
    let mut with_name = give_with("A");
    with_name.kind = tellus_core::model::ConsentKind::Amended;
    (
        with_name.form_id,
        with_name.form_version,
        with_name.language,
    ) = (None, None, None);
    match store.record_consent(id, &with_name) {
        Err(Error::InvalidInput(why)) => assert!(why.contains("too large"), "{why}"),
        other => panic!("a name that does not fit: {other:?}"),
    }
    let mut withdraw = ConsentDraft::withdraw(false);
    withdraw.captured_by = "R".into();
    store.record_consent(id, &withdraw).unwrap();
}
