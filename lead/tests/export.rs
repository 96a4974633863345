//! Exports from a folder pulled from a real server: a story is in an export only when
//! its consent covers the scope, in every format; names only with `credit_by_name`;
//! contacts only when asked for and `recontact` was granted; every OHMS file validates
//! against the published OHMS 5.4 schema with xmllint.

mod support;

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use support::*;
use tellus_lead::export::{ExportOptions, Format, export};
use tellus_lead::pull::NoProgress;
use tellus_lead::{ExportScope, PullOptions, PulledFolder, pull};

const FORMATS: [Format; 3] = [Format::Csv, Format::Json, Format::Ohms];
const SCOPES: [ExportScope; 3] = [ExportScope::All, ExportScope::Research, ExportScope::Public];

struct Pulled {
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    named: Delivered,
    research: Delivered,
    record_only: Delivered,
    public: Delivered,
    odd: Delivered,
}

const ODD_TITLE: &str = "<b>\"Fish & chips\"</b> ]]> 'quoted' \u{FFFE}nonchar ünïcödé 🎙";

/// Six stories with different consent, pulled; then two local edits a stale or
/// tampered folder could hold: a withdrawn consent on one story, and an identity file
/// beside a story whose consent allows no name and no contact.
async fn pulled_folder() -> Pulled {
    let server = TestServer::start().await;
    let reporter = server.reporter().await;
    let named = reporter
        .deliver(
            &StorySpec::new(
                "Named and public",
                &[
                    "record",
                    "share_publicly",
                    "research_use",
                    "credit_by_name",
                    "recontact",
                ],
            )
            .name("Amina K.")
            .contact("amina@example.org"),
        )
        .await;
    let research = reporter
        .deliver(&StorySpec::new(
            "Research only story",
            &["record", "research_use"],
        ))
        .await;
    let record_only = reporter
        .deliver(&StorySpec::new("Record only story", &["record"]))
        .await;
    let public = reporter
        .deliver(&StorySpec::new(
            "Public anonymous story",
            &["record", "share_publicly"],
        ))
        .await;
    let mut odd_spec = StorySpec::new(ODD_TITLE, &["record", "share_publicly"]);
    odd_spec
        .notes
        .push(("marker", "a <marker> & \"more\"".into(), Some(5_999), None));
    odd_spec.tags = vec!["access".into(), "trust".into()];
    let odd = reporter.deliver(&odd_spec).await;
    let withdrawn = reporter
        .deliver(&StorySpec::new(
            "Withdrawn story",
            &["record", "share_publicly"],
        ))
        .await;
    reporter.withdraw(&withdrawn.story_id).await;
    let token = server.lead_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    pull(&PullOptions::new(&server.base, &token, &out), &NoProgress)
        .await
        .unwrap();
    server.stop().await;

    let story_dir = |d: &Delivered| out.join("stories").join(&d.story_id);
    // A consent that says withdrawn, yet still lists items: never exported.
    let consent_path = story_dir(&record_only).join("consent.json");
    let consent = fs::read_to_string(&consent_path)
        .unwrap()
        .replace("\"active\"", "\"withdrawn\"")
        .replace(
            "\"record\"",
            "\"record\", \"share_publicly\", \"research_use\"",
        );
    fs::write(&consent_path, consent).unwrap();
    // A name and contact the consent does not allow: never exported.
    fs::write(
        story_dir(&public).join("identity.json"),
        r#"{"name": "Ghost Name", "contact": "ghost@example.org"}"#,
    )
    .unwrap();
    Pulled {
        _dir: dir,
        out,
        named,
        research,
        record_only,
        public,
        odd,
    }
}

fn run(
    out: &Path,
    scope: ExportScope,
    format: Format,
    include_contacts: bool,
) -> Vec<(String, Vec<u8>)> {
    let folder = PulledFolder::read(out).unwrap();
    let options = ExportOptions {
        scope,
        format,
        include_contacts,
    };
    export(&folder, &options).unwrap().files
}

fn text(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("== {name}\n{}", String::from_utf8_lossy(bytes)))
        .collect()
}

/// Writes the OHMS files and validates each with xmllint against the schema.
fn validate_ohms(files: &[(String, Vec<u8>)]) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        if let Err(complaint) = xmllint_ohms(&path) {
            panic!(
                "{name} does not validate:\n{complaint}\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_holds_exactly_the_stories_whose_consent_covers_it_in_every_format() {
    let p = pulled_folder().await;
    let ids = |ds: &[&Delivered]| ds.iter().map(|d| d.story_id.clone()).collect::<Vec<_>>();
    let everyone = ids(&[&p.named, &p.research, &p.record_only, &p.public, &p.odd]);
    let expected = |scope| match scope {
        ExportScope::Public => ids(&[&p.named, &p.public, &p.odd]),
        ExportScope::Research => ids(&[&p.named, &p.research]),
        ExportScope::All => ids(&[&p.named, &p.research, &p.public, &p.odd]),
    };
    for scope in SCOPES {
        for format in FORMATS {
            let files = run(&p.out, scope, format, false);
            let all = text(&files);
            for id in &everyone {
                let inside = expected(scope).contains(id);
                assert_eq!(
                    all.contains(id.as_str()),
                    inside,
                    "{scope:?} {format:?}: story {id}"
                );
            }
            // The record-only story's consent was made "withdrawn": in no scope at all.
            let research_title_allowed = matches!(scope, ExportScope::Research | ExportScope::All);
            assert_eq!(
                all.contains("Research only story"),
                research_title_allowed,
                "{scope:?} {format:?}"
            );
            assert!(!all.contains("Record only story"), "{scope:?} {format:?}");
            assert!(!all.contains("Withdrawn story"));
            if format == Format::Ohms {
                assert_eq!(
                    files.len(),
                    expected(scope).len(),
                    "one OHMS file per story"
                );
                validate_ohms(&files);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_only_with_credit_by_name_and_contacts_only_when_asked_and_granted() {
    let p = pulled_folder().await;
    for scope in SCOPES {
        for format in FORMATS {
            let all = text(&run(&p.out, scope, format, false));
            let named_inside = all.contains(&p.named.story_id);
            assert_eq!(
                all.contains("Amina K."),
                named_inside,
                "{scope:?} {format:?}: credited name"
            );
            assert!(
                !all.contains("Ghost Name"),
                "{scope:?} {format:?}: a name without credit_by_name"
            );
            assert!(
                !all.contains("@example.org"),
                "{scope:?} {format:?}: no contact unless asked"
            );
        }
        for format in [Format::Csv, Format::Json] {
            let all = text(&run(&p.out, scope, format, true));
            assert_eq!(
                all.contains("amina@example.org"),
                all.contains(&p.named.story_id),
                "{scope:?} {format:?}: recontact granted and asked for"
            );
            assert!(
                !all.contains("ghost@example.org"),
                "{scope:?} {format:?}: contact without recontact"
            );
        }
    }
    let folder = PulledFolder::read(&p.out).unwrap();
    let refused = export(
        &folder,
        &ExportOptions {
            scope: ExportScope::All,
            format: Format::Ohms,
            include_contacts: true,
        },
    )
    .unwrap_err();
    assert!(refused.to_string().contains("contact"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ohms_has_markers_and_timed_notes_as_index_points_and_tags_as_keywords() {
    let p = pulled_folder().await;
    let files = run(&p.out, ExportScope::Public, Format::Ohms, false);
    validate_ohms(&files);
    let (_, bytes) = files
        .iter()
        .find(|(name, _)| name.starts_with(&p.odd.story_id))
        .unwrap();
    let xml = String::from_utf8(bytes.clone()).unwrap();
    // Three timed entries (two from the spec, one odd marker); the untimed note is a user note.
    assert_eq!(xml.matches("<point>").count(), 3, "{xml}");
    let times: Vec<&str> = xml
        .match_indices("<time>")
        .map(|(i, _)| &xml[i + 6..i + 6 + xml[i + 6..].find('<').unwrap()])
        .collect();
    assert_eq!(times, ["5", "270", "754"], "whole seconds, in audio order");
    assert!(
        xml.contains("<title>Was there a moment when you felt listened to"),
        "a marker at q3 is titled by the guide's question"
    );
    assert!(xml.contains("<keyword>access</keyword>") && xml.contains("<keyword>trust</keyword>"));
    assert!(xml.contains("<keywords>access;trust</keywords>"));
    assert!(xml.contains("<user_notes>Follow up about the lunch club</user_notes>"));
    assert!(xml.contains("&lt;b&gt;&quot;Fish &amp; chips&quot;&lt;/b&gt; ]]&gt;"));
    assert!(
        !xml.contains('\u{FFFE}'),
        "a character XML cannot hold is dropped"
    );
    assert!(
        xml.contains("<interviewee>Participant 1</interviewee>"),
        "a label, not a name"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any title, note text and tags a phone could send give OHMS that validates.
    #[test]
    fn ohms_validates_whatever_the_text(
        title in "\\PC{0,40}",
        summary in any::<String>(),
        note in any::<String>(),
        tag in "[a-z<>&\"']{1,12}",
        at_ms in 0u64..10_000_000_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let story = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        let s = out.join("stories").join(story);
        fs::create_dir_all(&s).unwrap();
        fs::write(out.join("manifest.json"), r#"{"files":{}}"#).unwrap();
        let doc = serde_json::json!({
            "id": story, "revision": 1, "title": title, "summary": summary, "status": "ready",
            "tags": [tag], "storyteller": {"id": "p", "label": "Participant 1"},
            "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"
        });
        fs::write(s.join("story.json"), doc.to_string()).unwrap();
        let notes = serde_json::json!([
            {"id": "n1", "kind": "note", "text": note, "at_ms": at_ms, "created_at": "x"},
            {"id": "n2", "kind": "marker", "text": "", "at_ms": 0, "question_id": "zz", "created_at": "x"}
        ]);
        fs::write(s.join("notes.json"), notes.to_string()).unwrap();
        fs::write(s.join("consent.json"), r#"{"status":"active","form_id":"f","form_version":1,"language":"en","granted":["record","share_publicly"],"events":1}"#).unwrap();
        let files = run(out, ExportScope::Public, Format::Ohms, false);
        prop_assert_eq!(files.len(), 1);
        validate_ohms(&files);
    }
}
