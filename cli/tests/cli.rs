//! The `tellus` binary as a person or a script uses it, on a real data folder.

#[path = "../../tests/support/tmpfs.rs"]
mod tmpfs;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tellus_core::Store;

struct Tellus {
    dir: tempfile::TempDir,
}

impl Tellus {
    fn new() -> Self {
        let tellus = Tellus {
            dir: tempfile::tempdir().unwrap(),
        };
        tellus.ok(&["project", "init"]);
        tellus
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tellus"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("TELLUS_DATA_DIR")
            .env_remove("TELLUS_REPORTER")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tellus {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a command that must fail: one line on stderr, exit code 1, and the database
    /// exactly as it was. Returns the line.
    fn fails(&self, args: &[&str]) -> String {
        let before = dump(self.dir.path());
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "tellus {args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one clear line, got: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(
            dump(self.dir.path()),
            before,
            "tellus {args:?} changed the database"
        );
        stderr
    }

    fn new_story(&self, title: &str) -> String {
        let story = self.json(&["story", "new", "--title", title, "--storyteller", "P1"]);
        story["id"].as_str().unwrap().to_string()
    }
}

fn dump(dir: &Path) -> Vec<String> {
    Store::open(dir).unwrap().testing_dump().unwrap()
}

#[test]
fn a_reporter_records_a_story_from_the_command_line() {
    let t = Tellus::new();
    let id = t.new_story("Bus passes and the day centre");
    t.ok(&[
        "consent",
        "give",
        "--story",
        &id,
        "--grant",
        "record,research_use,credit_by_name",
        "--name",
        "Dee",
        "--by",
        "Sam",
    ]);
    t.ok(&[
        "note",
        "add",
        "--story",
        &id,
        "--at",
        "12:34",
        "The driver knew her by name",
    ]);
    t.ok(&[
        "note",
        "add",
        "--story",
        &id,
        "--at",
        "0:10",
        "--marker",
        "--question",
        "q1",
    ]);
    t.ok(&["tag", "add", "--story", &id, "transport", "older-people"]);
    t.ok(&[
        "story",
        "edit",
        &id,
        "--summary",
        "About getting to the day centre",
        "--set",
        "age_band=65-74",
    ]);
    let ready = t.json(&["story", "ready", &id]);
    assert_eq!(ready["status"], "ready");

    let shown = t.json(&["story", "show", &id]);
    assert_eq!(shown["story"]["title"], "Bus passes and the day centre");
    assert_eq!(shown["story"]["demographics"]["age_band"], "65-74");
    assert_eq!(
        shown["story"]["tags"],
        serde_json::json!(["older-people", "transport"])
    );
    assert_eq!(shown["identity"]["name"], "Dee");
    assert_eq!(shown["consent_events"][0]["captured_by"], "Sam");
    let notes = shown["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(
        (notes[0]["kind"].as_str(), notes[0]["at"].as_u64()),
        (Some("marker"), Some(10_000))
    );
    assert_eq!(notes[1]["at"], 754_000);

    let human = t.ok(&["story", "show", &id]);
    assert!(
        human.contains("12:34") && human.contains("credited as  Dee"),
        "{human}"
    );
    let list = t.json(&["story", "list"]);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["note_count"], 2);

    t.ok(&["consent", "withdraw", "--story", &id, "--erase-audio"]);
    let consent = t.json(&["consent", "show", "--story", &id]);
    assert_eq!(consent["current"]["status"], "withdrawn");
    assert_eq!(consent["identity"]["name"], Value::Null);
}

#[test]
fn bad_input_gets_one_clear_line_and_changes_nothing() {
    let t = Tellus::new();
    let id = t.new_story("A story");
    let unknown = "01936f5e-0000-7000-8000-000000000000";

    let line = t.fails(&["story", "show", unknown]);
    assert!(line.contains("no story with id"), "{line}");
    t.fails(&["story", "ready", unknown]);
    t.fails(&["note", "add", "--story", unknown, "hello"]);
    let line = t.fails(&["story", "show", "not-an-id"]);
    assert!(line.contains("not a story id"), "{line}");

    let line = t.fails(&["note", "add", "--story", &id, "--at", "12:7x", "text"]);
    assert!(line.contains("'12:7x' is not an audio position"), "{line}");
    let line = t.fails(&[
        "consent",
        "give",
        "--story",
        &id,
        "--form-version",
        "9",
        "--grant",
        "record",
    ]);
    assert!(line.contains("version 9"), "{line}");
    let line = t.fails(&["story", "new", "--title", ""]);
    assert!(line.contains("title cannot be empty"), "{line}");
    let line = t.fails(&["story", "ready", &id]);
    assert!(line.contains("'record'"), "{line}");
    let line = t.fails(&[
        "consent", "give", "--story", &id, "--grant", "record", "--name", "Al",
    ]);
    assert!(line.contains("credit_by_name"), "{line}");
    t.fails(&["tag", "add", "--story", &id, "not-a-theme"]);
    t.fails(&["consent", "withdraw", "--story", &id]);
    t.fails(&["story", "edit", &id]);
    // Issue 18: only the project's own fields, with their values when it lists them.
    let line = t.fails(&["story", "edit", &id, "--set", "shoe_size=9"]);
    assert!(
        line.contains("'shoe_size' is not one of this project's fields")
            && line.contains("age_band"),
        "{line}"
    );
    let line = t.fails(&["story", "edit", &id, "--set", "age_band=about 40"]);
    assert!(line.contains("35-44"), "{line}");
    t.ok(&["story", "edit", &id, "--set", "age_band=35-44"]);
}

/// Issue 18: the README promises one line and exit code 1 for every failure; a mistyped
/// command is one too, naming what is wrong and the help to read. Help itself is not
/// an error.
#[test]
fn a_mistyped_command_is_one_line_and_exit_code_1() {
    let t = Tellus::new();
    let line = t.fails(&["note", "add", "hello"]);
    assert!(line.contains("--story"), "{line}");
    assert!(line.contains("`tellus note add --help`"), "{line}");
    let line = t.fails(&["story", "lst"]);
    assert!(line.contains("'lst'"), "{line}");
    let line = t.fails(&["story", "list", "--limt", "3"]);
    assert!(line.contains("--limt"), "{line}");
    let help = t.run(&["story", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"));
}

#[test]
fn a_data_folder_without_a_project_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tellus"))
        .args(["story", "new", "--title", "x", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no project is set up"), "{stderr}");
}

/// Issue 18: a mistyped --data-dir given to a command that only reads is one clear line,
/// and no empty data folder is left behind under the mistyped name.
#[test]
fn a_mistyped_data_folder_is_not_created_by_a_command_that_only_reads() {
    let t = Tellus::new();
    t.new_story("A story");
    let typo = t.dir.path().join("tpyo");
    for args in [
        &["story", "list"][..],
        &["project", "show"][..],
        &["consent", "form"][..],
        &["sync", "status"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tellus"))
            .arg("--data-dir")
            .arg(&typo)
            .args(args)
            .env_remove("TELLUS_DATA_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("no data folder at"), "{stderr}");
        assert!(stderr.contains("tpyo"), "{stderr}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

#[test]
fn the_demo_walks_through_a_reporters_journey() {
    // As scripts/demo.sh runs it: with the file-backed test microphone and its speech, so
    // the story has a recording and the demo's notes are held to its length.
    let audio = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/audio");
    let speech_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-speech");
    let made = Command::new(audio.join("make-speech.sh"))
        .arg(&speech_dir)
        .arg("16000")
        .status()
        .expect("make-speech.sh needs bash, espeak-ng and sox (scripts/setup.sh)");
    assert!(made.success(), "make-speech.sh failed");
    let out = Command::new(env!("CARGO_BIN_EXE_tellus"))
        .arg("demo")
        .env("TELLUS_DEMO_MIC_DIR", &audio)
        .env(
            "TELLUS_DEMO_SPEECH",
            speech_dir.join("speech-16000.s16le.raw"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Stopped: the requested length was reached")
            || text.contains("from the default input device"),
        "the demo recorded nothing:\n{text}"
    );
    for expected in [
        "Being heard at the housing office",
        "ready (revision",
        "credited as  Amina K.",
        "withdrew consent",
        "Key moment",
        "Enrolled as reporter",
        "Her code: ",
        "The receipt's QR code opens http://127.0.0.1:",
        "recording(s) delivered",
        "The first story: delivered",
        "Nothing sent: everything on this phone is delivered.",
        "A research export holds 1 story(ies)",
        "A public export holds 0 story(ies)",
        "The lead's pull removed",
    ] {
        assert!(
            text.contains(expected),
            "demo output lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn a_read_only_data_folder_is_one_clear_error_that_names_it() {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(tmpfs) = tmpfs::Tmpfs::mount(mount_point.path(), "8m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = mount_point.path().join("data");
    let tellus = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tellus"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("TELLUS_DATA_DIR")
            .output()
            .unwrap()
    };
    assert!(tellus(&["project", "init"]).status.success());
    tmpfs.make_read_only();
    for args in [
        &["story", "list"][..],
        &["story", "new", "--title", "T"][..],
    ] {
        let out = tellus(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&data.display().to_string()), "{stderr}");
        assert!(stderr.contains("read-only"), "{stderr}");
    }
}

/// Issue 16: the whole demo journey (server, phone, sync, lead's pull, withdrawal) in one
/// process, logging at debug level from every part; no line holds a story's text, a
/// storyteller's name or contact, a note, an invite code or a token. What to look for is
/// read from the demo's own kept folders, not spelled out here.
#[test]
fn the_demo_journey_at_debug_level_logs_no_story_text_name_contact_note_code_or_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_tellus"))
        .args(["demo", "--keep"])
        .env("TELLUS_LOG", "debug")
        .env_remove("TELLUS_LOG_FORMAT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    let kept = stdout
        .lines()
        .find_map(|l| l.strip_prefix("The demo's data folders are kept at "))
        .map(std::path::PathBuf::from)
        .expect("the demo says where it kept its folders");
    // The command it suggests runs as printed (issue 18: `tellus` is on no PATH yet).
    let suggested = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Look around with: "))
        .and_then(|l| l.split("   (").next())
        .expect("the demo suggests a command");
    let words: Vec<&str> = suggested.split_whitespace().collect();
    let looked = Command::new(words[0])
        .args(&words[1..])
        .env_remove("TELLUS_DATA_DIR")
        .output();
    assert!(
        looked.as_ref().is_ok_and(|o| o.status.success()),
        "`{suggested}` does not run: {looked:?}"
    );

    // The logs are there: server, core and lead at debug level.
    for expected in [
        "tellus_server",
        "tellus_core::sync",
        "sync finished",
        "DEBUG",
    ] {
        assert!(
            logs.contains(expected),
            "the logs lack {expected:?}:\n{logs}"
        );
    }

    let mut secrets: Vec<String> = Vec::new();
    let phone = tellus_core::Store::open(kept.join("phone")).unwrap();
    for summary in phone.list_stories(100, None).unwrap() {
        let story = phone.story(summary.id).unwrap();
        secrets.extend([story.title, story.summary, story.participant.label]);
        secrets.extend(phone.notes(summary.id).unwrap().into_iter().map(|n| n.text));
        let identity = phone.identity(summary.id).unwrap();
        secrets.extend(identity.name.into_iter().chain(identity.contact));
    }
    secrets.extend(phone.device_token().unwrap());
    let accounts: serde_json::Value = serde_json::from_slice(
        &std::fs::read(kept.join("lead-laptop").join("lead-accounts.json")).unwrap(),
    )
    .unwrap();
    for account in accounts["servers"].as_object().unwrap().values() {
        secrets.push(account["token"].as_str().unwrap().to_string());
    }
    let code = stdout
        .lines()
        .find_map(|l| {
            l.split_once("invite code ")
                .map(|(_, c)| c.trim().to_string())
        })
        .expect("the demo prints the reporter's invite code");
    secrets.push(code.replace('-', ""));
    secrets.push(code);
    // The storyteller's personal code is shown to her and never logged, in any form.
    let storyteller_code = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Her code: "))
        .map(str::trim)
        .expect("the demo prints the storyteller's code");
    secrets.push(storyteller_code.replace('-', ""));
    secrets.push(storyteller_code.to_string());
    let secrets: Vec<String> = secrets
        .into_iter()
        .filter(|s| s.trim().len() >= 4)
        .collect();
    assert!(secrets.len() >= 8, "too little to look for: {secrets:?}");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line holds {secret:?}:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    drop(phone);
    std::fs::remove_dir_all(&kept).unwrap();
}

#[test]
fn the_storytellers_receipt_is_printed_and_written_as_a_page() {
    let t = Tellus::new();
    let id = t.new_story("El autobús <de> las 8");
    let given = t.ok(&[
        "consent",
        "give",
        "--story",
        &id,
        "--language",
        "es",
        "--grant",
        "record,share_publicly",
        "--by",
        "Sam",
    ]);
    assert!(
        given.contains(&format!("tellus consent receipt --story {id}")),
        "{given}"
    );
    let page = t.dir.path().join("receipt.html");
    let text = t.ok(&[
        "consent",
        "receipt",
        "--story",
        &id,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(
        text.starts_with("Su comprobante de consentimiento\n"),
        "{text}"
    );
    assert!(text.contains(
        "[x] Sí: Mi historia puede compartirse públicamente, por ejemplo en informes, en la web del proyecto o en eventos."
    ), "{text}");
    assert!(
        text.contains("Acepto que esta conversación se grabe"),
        "{text}"
    );
    let code_line = text
        .lines()
        .find_map(|l| l.strip_prefix("Su código personal: "))
        .expect("the code line");
    let groups: Vec<&str> = code_line.split('-').collect();
    assert_eq!(groups.len(), 4, "{code_line}");
    assert!(groups.iter().all(|g| g.len() == 5));
    assert!(tellus_core::protocol::storyteller_code::normalize_code(code_line).is_some());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(code_line));
    assert!(
        html.contains("El autobús &lt;de&gt; las 8"),
        "the title is escaped"
    );
    // The same receipt as JSON: the code, the language, no link before enrolment.
    let json = t.json(&["consent", "receipt", "--story", &id]);
    assert_eq!(json["code"], code_line);
    assert_eq!(json["language"], "es");
    assert_eq!(json["portal_url"], Value::Null);
    assert_eq!(json["html"].as_str().unwrap(), html);
    // Once withdrawn, there is no receipt: one clear line, nothing changed.
    t.ok(&["consent", "withdraw", "--story", &id, "--by", "Sam"]);
    let err = t.fails(&["consent", "receipt", "--story", &id]);
    assert!(err.contains("no consent in force"), "{err}");
}
