//! The consent engine's parity (issue 15): random sequences of consent events (give on
//! either form version, amend, withdraw, repeats, events for another story, and events
//! arriving out of order: an amendment or a withdrawal before any consent) go to the
//! phone's core (its store), to the FFI the shells call, and to a real server on
//! loopback. All three must accept and refuse the same events and fold them to the same
//! state. Events need not fit the project's forms: `given` draws an unknown form version
//! and a language the version has no text in, and any event may leave out `record` or
//! grant an item no form has; all three layers ask the engine's one check
//! (`ConsentSummary::check_event`), so they refuse the same ones.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use tellus_core::Store;
use tellus_core::model::{ConsentDraft, ConsentStatus, NewStory, ProjectConfig, StoryId};
use tellus_ffi::{ConsentChoices, ConsentFormView, ConsentHow, ConsentStatusView, TellusApp};
use tellus_protocol::ConsentSummary;
use tellus_server::{App, Role, Running, ServerConfig, admin};

const PROJECT: &str = "coproduction-stories-2026";
const FORM: &str = "storyteller-consent";
/// `record` (required), the form's optional items, then an item no form has.
const ITEMS: &[&str] = &[
    "record",
    "share_publicly",
    "research_use",
    "quote_anonymously",
    "credit_by_name",
    "recontact",
    "sell_to_advertisers",
];
/// The sample project's form has versions 1 (English) and 2 (English, Spanish).
const LANGUAGES: &[&str] = &["en", "es", "pl"];

#[derive(Debug, Clone)]
enum Op {
    Give {
        version: u32,
        language: &'static str,
        items: Vec<bool>,
    },
    Amend {
        items: Vec<bool>,
    },
    Withdraw,
}

/// An event for one of two stories: events for another story must not touch this one.
fn op() -> impl Strategy<Value = (usize, Op)> {
    // Mostly valid events, so that sequences get deep; refusals of every kind still show.
    let items = (
        proptest::bool::weighted(0.9),
        proptest::collection::vec(any::<bool>(), ITEMS.len() - 2),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(record, optional, unknown)| {
            std::iter::once(record)
                .chain(optional)
                .chain(std::iter::once(unknown))
                .collect::<Vec<bool>>()
        });
    let version = prop_oneof![3 => 1u32..=2, 1 => Just(3u32)];
    let language =
        prop_oneof![4 => Just(LANGUAGES[0]), 2 => Just(LANGUAGES[1]), 1 => Just(LANGUAGES[2])];
    let op = prop_oneof![
        (version, language, items.clone()).prop_map(|(version, language, items)| Op::Give {
            version,
            language,
            items
        }),
        items.prop_map(|items| Op::Amend { items }),
        Just(Op::Withdraw),
    ];
    (0usize..2, op)
}

fn granted(items: &[bool]) -> BTreeSet<String> {
    ITEMS
        .iter()
        .zip(items)
        .filter(|(_, on)| **on)
        .map(|(k, _)| k.to_string())
        .collect()
}

struct Server {
    _dir: tempfile::TempDir,
    running: Running,
    token: String,
    http: reqwest::Client,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("server"),
            ..ServerConfig::default()
        };
        let db = App::open_db(&config).unwrap();
        admin::create_project(&db, &tellus_ffi::sample_project_json()).unwrap();
        let code = admin::create_invite(&db, PROJECT, Role::Reporter, 3600)
            .unwrap()
            .code;
        drop(db);
        let running = Running::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let enrolled: Value = http
            .post(format!("{}/api/v1/enrol", running.url()))
            .json(&json!({ "invite_code": code, "device_label": "parity" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Server {
            _dir: dir,
            running,
            token: enrolled["token"].as_str().unwrap().to_string(),
            http,
        }
    }

    /// Posts one event; the state after it when accepted, None when refused.
    async fn post(&self, story: &str, op: &Op) -> Option<ConsentSummary> {
        let (kind, version, language, granted) = match op {
            Op::Give {
                version,
                language,
                items,
            } => ("given", Some(*version), Some(*language), granted(items)),
            Op::Amend { items } => ("amended", None, None, granted(items)),
            Op::Withdraw => ("withdrawn", None, None, BTreeSet::new()),
        };
        let event = json!({
            "id": uuid::Uuid::now_v7().to_string(),
            "story_id": story,
            "participant_id": uuid::Uuid::now_v7().to_string(),
            "kind": kind,
            "form_id": version.map(|_| FORM),
            "form_version": version,
            "language": language,
            "granted": granted,
            "method": { "kind": "app_checkbox" },
            "captured_by": "parity",
            "captured_at": "2026-12-01T10:00:00Z",
            "erase_audio": false
        });
        let r = self
            .http
            .post(format!(
                "{}/api/v1/stories/{story}/consent",
                self.running.url()
            ))
            .bearer_auth(&self.token)
            .json(&event)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => {
                let body: Value = r.json().await.unwrap();
                Some(serde_json::from_value(body["consent"].clone()).unwrap())
            }
            // 409: cannot follow the consent in force; 422: does not fit the forms.
            409 | 422 => None,
            other => panic!("the server answered {other}: {}", r.text().await.unwrap()),
        }
    }
}

fn keys(items: &[bool]) -> Vec<String> {
    granted(items).into_iter().collect()
}

fn core_apply(store: &Store, story: StoryId, op: &Op) -> bool {
    let mut draft = match op {
        Op::Give {
            version,
            language,
            items,
        } => {
            let keys = keys(items);
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            ConsentDraft::give(FORM, *version, language, &keys)
        }
        Op::Amend { items } => {
            let keys = keys(items);
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            ConsentDraft::amend(&keys)
        }
        Op::Withdraw => ConsentDraft::withdraw(false),
    };
    draft.captured_by = "parity".into();
    // Crediting by name needs a name; the server never sees it (it comes with the story).
    if draft.granted.contains("credit_by_name") {
        draft.name = Some("Amina".into());
    }
    store.record_consent(story, &draft).is_ok()
}

fn ffi_apply(app: &TellusApp, story: &str, op: &Op) -> bool {
    let choices = |items: &[bool]| ConsentChoices {
        granted: keys(items),
        how: ConsentHow::AppCheckbox,
        captured_by: "parity".into(),
        name: Some("Amina".into()),
        contact: None,
    };
    let done = match op {
        Op::Give {
            version,
            language,
            items,
        } => {
            let mut form: ConsentFormView = app.consent_form(vec!["en".into()]).unwrap();
            form.version = *version;
            form.language = language.to_string();
            app.give_consent(story.into(), form, choices(items))
        }
        Op::Amend { items } => app.amend_consent(story.into(), choices(items)),
        Op::Withdraw => app.withdraw_consent(
            story.into(),
            ConsentHow::AppCheckbox,
            "parity".into(),
            false,
        ),
    };
    done.is_ok()
}

fn status_of(view: ConsentStatusView) -> ConsentStatus {
    match view {
        ConsentStatusView::NotRecorded => ConsentStatus::None,
        ConsentStatusView::Given => ConsentStatus::Active,
        ConsentStatusView::Withdrawn => ConsentStatus::Withdrawn,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_ffi_and_server_accept_the_same_consent_events_and_fold_them_alike(
        ops in proptest::collection::vec(op(), 1..10)
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(Server::start());
        let phone = tempfile::tempdir().unwrap();
        let store = Store::open(phone.path()).unwrap();
        store
            .set_project(&ProjectConfig::from_json(&tellus_ffi::sample_project_json()).unwrap())
            .unwrap();
        let ffi_dir = tempfile::tempdir().unwrap();
        let app = TellusApp::open(ffi_dir.path().to_str().unwrap().into()).unwrap();
        app.set_project_json(tellus_ffi::sample_project_json()).unwrap();

        let new = || NewStory {
            title: "Parity".into(),
            summary: String::new(),
            storyteller_label: "P".into(),
        };
        let core_stories = [
            store.create_story(&new()).unwrap().id,
            store.create_story(&new()).unwrap().id,
        ];
        let ffi_stories = [
            app.create_story("Parity".into(), "P".into()).unwrap().id,
            app.create_story("Parity".into(), "P".into()).unwrap().id,
        ];
        let server_stories = [uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string()];
        let mut server_state = [ConsentSummary::default(), ConsentSummary::default()];

        for (i, (which, op)) in ops.iter().enumerate() {
            let by_core = core_apply(&store, core_stories[*which], op);
            let by_ffi = ffi_apply(&app, &ffi_stories[*which], op);
            let by_server = rt.block_on(server.post(&server_stories[*which], op));
            prop_assert_eq!(by_core, by_ffi, "event {} {:?}: core and FFI disagree", i, op);
            prop_assert_eq!(
                by_core,
                by_server.is_some(),
                "event {} {:?}: core and server disagree",
                i,
                op
            );
            if let Some(after) = by_server {
                server_state[*which] = after;
            }
        }
        for which in 0..2 {
            let core = store.consent(core_stories[which]).unwrap().current;
            let ffi = app.story(ffi_stories[which].clone()).unwrap().consent;
            prop_assert_eq!(&core, &server_state[which], "story {}: core and server fold differently", which);
            prop_assert_eq!(status_of(ffi.status), core.status);
            prop_assert_eq!(ffi.form_version, core.form_version);
            prop_assert_eq!(ffi.granted.iter().cloned().collect::<BTreeSet<_>>(), core.granted.clone());
            prop_assert_eq!(ffi.event_count as usize, core.events);
        }
        rt.block_on(server.running.stop()).unwrap();
    }
}

/// The two holes of the server's old check, shown directly: a withdrawal with no consent
/// and a repeated `given` on the same form version are refused (as the phone does).
#[test]
fn a_withdrawal_with_no_consent_and_a_repeated_give_are_refused_by_the_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Server::start());
    let story = uuid::Uuid::now_v7().to_string();
    assert!(rt.block_on(server.post(&story, &Op::Withdraw)).is_none());
    let mut items = vec![false; ITEMS.len()];
    items[0] = true;
    let give = Op::Give {
        version: 2,
        language: "en",
        items,
    };
    assert!(rt.block_on(server.post(&story, &give)).is_some());
    assert!(rt.block_on(server.post(&story, &give)).is_none());
    rt.block_on(server.running.stop()).unwrap();
}
