//! `tellus serve` and `tellus admin` as real processes: the operator's commands, and the
//! server killed with SIGKILL in the middle of an upload, restarted, and the upload
//! completed with a receipt that matches the file.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{ok, server_address, tellus};

/// A running `tellus serve`, killed (SIGKILL) when dropped.
struct Serving {
    child: Child,
    base: String,
}

impl Serving {
    fn start(dir: &Path) -> Serving {
        let mut cmd = tellus(dir);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::null());
        Serving::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Serving {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let base = server_address(&mut child);
        Serving { child, base }
    }

    /// A placeholder for a server about to be started again.
    fn start_later() -> Serving {
        Serving {
            child: Command::new("true").spawn().unwrap(),
            base: String::new(),
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PROJECT: &str = "coproduction-stories-2026";

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[test]
fn admin_commands_create_invite_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["admin", "project", "create"]);
    assert!(out.contains(PROJECT), "{out}");
    let out = tellus(dir.path())
        .args(["admin", "project", "create"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a second project with the same id is refused"
    );

    let text = ok(
        dir.path(),
        &[
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "reporter",
        ],
    );
    assert!(
        text.contains('█') || text.contains('▀'),
        "a QR code is drawn: {text}"
    );
    assert!(text.contains("Invite code for a reporter"), "{text}");
    let invite: Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "--json",
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "lead",
        ],
    ))
    .unwrap();
    assert_eq!(invite["role"], "lead");
    let code = invite["code"].as_str().unwrap();
    assert_eq!(code.len(), 19);
    let out = ok(
        dir.path(),
        &["admin", "revoke", invite["invite_id"].as_str().unwrap()],
    );
    assert!(out.contains("revoked"), "{out}");
    let out = tellus(dir.path())
        .args(["admin", "invite", "--project", "nope", "--role", "lead"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = tellus(dir.path())
        .args(["admin", "revoke", "nothing-here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Issue 18: an operator tells devices apart and finds the ids `revoke` takes. A CLI
/// device is labelled with its host name unless enrolment names it; `admin devices` and
/// `admin invites` list them, with what became of each invite.
#[test]
fn admin_lists_devices_by_label_and_invites_by_state_with_their_ids() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    ok(&srv, &["admin", "project", "create"]);
    let invite = |role: &str| -> Value {
        serde_json::from_str(&ok(
            &srv,
            &[
                "--json",
                "admin",
                "invite",
                "--project",
                PROJECT,
                "--role",
                role,
            ],
        ))
        .unwrap()
    };
    let (first, second, unused) = (invite("reporter"), invite("reporter"), invite("lead"));
    let server = Serving::start(&srv);
    let enrol = |phone: &str, invite: &Value, extra: &[&str]| {
        let mut args = vec![
            "enrol",
            "--server",
            server.base.as_str(),
            "--invite",
            invite["code"].as_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ok(&root.path().join(phone), &args);
    };
    enrol("phone-a", &first, &[]);
    enrol("phone-b", &second, &["--device-label", "Amina's laptop"]);

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let devices: Value = serde_json::from_str(&ok(&srv, &["--json", "admin", "devices"])).unwrap();
    let devices = devices.as_array().unwrap();
    let label_of = |invite: &Value| {
        let invites: Value =
            serde_json::from_str(&ok(&srv, &["--json", "admin", "invites"])).unwrap();
        let listed = invites
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == invite["invite_id"])
            .cloned()
            .expect("every invite is listed");
        let device = devices
            .iter()
            .find(|d| d["id"] == listed["device_id"])
            .cloned();
        (listed["state"].clone(), device.map(|d| d["label"].clone()))
    };
    assert_eq!(
        label_of(&first),
        (
            json!("used"),
            Some(json!(format!("tellus on {}", host.trim())))
        )
    );
    assert_eq!(
        label_of(&second),
        (json!("used"), Some(json!("Amina's laptop")))
    );
    assert_eq!(label_of(&unused), (json!("unused"), None));
    assert!(
        devices
            .iter()
            .all(|d| d["role"] == "reporter" && d["revoked_at"].is_null())
    );

    // The tables show the ids, and one of them revokes.
    let table = ok(&srv, &["admin", "invites"]);
    assert!(
        table.contains(unused["invite_id"].as_str().unwrap()),
        "{table}"
    );
    let phone_b = devices
        .iter()
        .find(|d| d["label"] == "Amina's laptop")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let table = ok(&srv, &["admin", "devices"]);
    assert!(
        table.contains(&phone_b) && table.contains("Amina's laptop"),
        "{table}"
    );
    ok(&srv, &["admin", "revoke", &phone_b]);
    ok(
        &srv,
        &["admin", "revoke", unused["invite_id"].as_str().unwrap()],
    );
    let devices: Value = serde_json::from_str(&ok(&srv, &["--json", "admin", "devices"])).unwrap();
    let revoked = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == phone_b.as_str());
    assert!(!revoked.unwrap()["revoked_at"].is_null());
    assert_eq!(label_of(&unused).0, json!("revoked"));
    drop(server);
}

/// A project, an enrolled reporter, a story with `record` consent and a created upload
/// for `data` on a running `tellus serve`.
struct Setup {
    dir: tempfile::TempDir,
    server: Serving,
    http: Client,
    token: String,
    path: String,
    recording: String,
}

fn setup(data: &[u8]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["admin", "project", "create"]);
    let invite: Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "--json",
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "reporter",
        ],
    ))
    .unwrap();
    let server = Serving::start(dir.path());
    let http = Client::new();
    let enrolled: Value = http
        .post(format!("{}/api/v1/enrol", server.base))
        .json(&json!({ "invite_code": invite["code"], "device_label": "phone" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = enrolled["token"].as_str().unwrap().to_string();
    let story = id();
    let consent = json!({
        "id": id(), "story_id": story, "participant_id": id(), "kind": "given",
        "form_id": "storyteller-consent", "form_version": 2, "language": "en",
        "granted": ["record"], "method": { "kind": "app_checkbox" },
        "captured_by": "r", "captured_at": "2026-11-22T10:00:00Z"
    });
    let r = http
        .post(format!("{}/api/v1/stories/{story}/consent", server.base))
        .bearer_auth(&token)
        .json(&consent)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let recording = id();
    let meta = format!(
        "story_id {},recording_id {},sha256 {},content_type {}",
        STANDARD.encode(&story),
        STANDARD.encode(&recording),
        STANDARD.encode(hex::encode(Sha256::digest(data))),
        STANDARD.encode("audio/wav")
    );
    let r = http
        .post(format!("{}/api/v1/uploads", server.base))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", meta)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    Setup {
        dir,
        server,
        http,
        token,
        path,
        recording,
    }
}

impl Setup {
    fn patch(&self, offset: usize, chunk: &[u8]) -> StatusCode {
        self.http
            .patch(format!("{}{}", self.server.base, self.path))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(chunk.to_vec())
            .send()
            .unwrap()
            .status()
    }

    /// Starts a PATCH of `total` bytes at `offset` on a raw connection and sends `sent`.
    fn start_patch(&self, offset: usize, total: usize, sent: &[u8]) -> TcpStream {
        let addr = self.server.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "PATCH {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {total}\r\n\r\n",
            self.path, self.token
        )
        .unwrap();
        stream.write_all(sent).unwrap();
        stream.flush().unwrap();
        stream
    }

    fn receipt(&self) -> Value {
        self.http
            .get(format!(
                "{}/api/v1/recordings/{}/receipt",
                self.server.base, self.recording
            ))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }
}

fn test_audio(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

#[test]
fn a_server_killed_mid_upload_resumes_after_restart() {
    let data = test_audio(3_000_000);
    let mut s = setup(&data);
    assert_eq!(s.patch(0, &data[..1_000_000]), StatusCode::NO_CONTENT);
    // The next PATCH is under way (part of its body sent) when the server is killed.
    let stream = s.start_patch(1_000_000, 2_000_000, &data[1_000_000..1_700_000]);
    let dir = s.dir.path().to_path_buf();
    let killed = std::mem::replace(&mut s.server, Serving::start_later());
    killed.kill();
    drop(stream);

    s.server = Serving::start(&dir);
    let head = s
        .http
        .head(format!("{}{}", s.server.base, s.path))
        .bearer_auth(&s.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let offset: usize = head.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1_000_000..=1_700_000).contains(&offset), "offset {offset}");
    let spool = dir.join("spool").join(s.path.rsplit('/').next().unwrap());
    assert_eq!(
        std::fs::metadata(&spool).unwrap().len() as usize,
        offset,
        "the spool file agrees with the offset"
    );

    assert_eq!(s.patch(offset, &data[offset..]), StatusCode::NO_CONTENT);
    let receipt = s.receipt();
    assert_eq!(
        receipt["sha256"],
        hex::encode(Sha256::digest(&data)).as_str()
    );
    assert_eq!(receipt["bytes"], 3_000_000);
    assert_eq!(
        std::fs::read(dir.join("audio").join(&s.recording)).unwrap(),
        data
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_stops() {
    use std::io::Read;
    let data = test_audio(3_000_000);
    let mut s = setup(&data);
    // More than the server's 1 MiB write buffer, so the spool file shows it arriving.
    let mut stream = s.start_patch(0, data.len(), &data[..1_500_000]);
    // Wait until the server has the PATCH (its spool file grows), then ask it to stop.
    let spool = s
        .dir
        .path()
        .join("spool")
        .join(s.path.rsplit('/').next().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = s.server.child.id().to_string();
    assert!(
        std::fs::metadata(&spool).unwrap().len() > 0,
        "the PATCH never reached the server"
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    stream.write_all(&data[1_500_000..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    let exit = s.server.child.wait().unwrap();
    assert!(
        exit.success(),
        "tellus serve exits cleanly on SIGTERM: {exit:?}"
    );
    assert_eq!(
        std::fs::read(s.dir.path().join("audio").join(&s.recording)).unwrap(),
        data
    );
}

#[test]
fn settings_come_from_a_toml_file_overridden_by_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-toml");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[limits]\nrecording_bytes = 12345\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let max_size = |server: &Serving| -> String {
        let r = Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/uploads", server.base),
            )
            .send()
            .unwrap();
        r.headers()["tus-max-size"].to_str().unwrap().to_string()
    };
    let bare = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tellus"));
        cmd.env_remove("TELLUS_DATA_DIR")
            .env_remove("TELLUS_LISTEN")
            .env_remove("TELLUS_MAX_UPLOAD_BYTES")
            .stderr(Stdio::null());
        cmd
    };
    let mut cmd = bare();
    cmd.args(["serve", "--config"]).arg(&config);
    let server = Serving::spawn(cmd);
    assert_eq!(max_size(&server), "12345");
    assert!(
        data.join("server.db").exists(),
        "the data folder comes from the file"
    );
    server.kill();

    let mut cmd = bare();
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("TELLUS_MAX_UPLOAD_BYTES", "77777");
    let server = Serving::spawn(cmd);
    assert_eq!(max_size(&server), "77777", "environment overrides the file");
    server.kill();

    let mut cmd = bare();
    cmd.args(["serve", "--max-upload-bytes", "55555", "--config"])
        .arg(&config)
        .env("TELLUS_MAX_UPLOAD_BYTES", "77777");
    let server = Serving::spawn(cmd);
    assert_eq!(max_size(&server), "55555", "a flag overrides both");
    server.kill();

    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nmax_upload_byte = 1\n").unwrap();
    let out = bare()
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_upload_byte"),
        "a misspelt key is named: {err}"
    );
}

#[test]
fn the_logs_carry_no_story_text_names_or_consent_details() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["admin", "project", "create"]);
    let invite: Value = serde_json::from_str(&ok(
        dir.path(),
        &[
            "--json",
            "admin",
            "invite",
            "--project",
            PROJECT,
            "--role",
            "reporter",
        ],
    ))
    .unwrap();
    let log = dir.path().join("serve.log");
    let mut cmd = tellus(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("TELLUS_LOG", "debug")
        .env("TELLUS_LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log).unwrap());
    let server = Serving::spawn(cmd);
    let http = Client::new();
    let enrolled: Value = http
        .post(format!("{}/api/v1/enrol", server.base))
        .json(&json!({ "invite_code": invite["code"], "device_label": "phone" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = enrolled["token"].as_str().unwrap();
    let story = id();
    let consent = |kind: &str, granted: &[&str]| {
        json!({
            "id": id(), "story_id": story, "participant_id": id(), "kind": kind,
            "form_id": "storyteller-consent", "form_version": 2, "language": "en",
            "granted": granted, "method": { "kind": "app_checkbox" },
            "captured_by": "r", "captured_at": "2026-11-22T10:00:00Z"
        })
    };
    let post = |body: Value| {
        http.post(format!("{}/api/v1/stories/{story}/consent", server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(
        post(consent("given", &["record", "credit_by_name", "recontact"])),
        StatusCode::CREATED
    );
    let doc = json!({
        "id": story, "revision": 1, "title": "TitleOfAStoryThatMustNotBeLogged",
        "summary": "SummaryThatMustNotBeLogged", "status": "ready", "tags": ["housing"],
        "storyteller": { "id": id(), "label": "LabelThatMustNotBeLogged" },
        "notes": [{ "id": id(), "kind": "note", "text": "NoteThatMustNotBeLogged", "created_at": "2026-11-22T10:00:00Z" }],
        "identity": { "name": "NameThatMustNotBeLogged", "contact": "ContactThatMustNotBeLogged" },
        "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"
    });
    let r = http
        .put(format!("{}/api/v1/stories/{story}", server.base))
        .bearer_auth(token)
        .json(&doc)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A refused write too: its message must not reach the log either.
    let r = http
        .put(format!("{}/api/v1/stories/{story}", server.base))
        .bearer_auth(token)
        .json(&doc)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut withdrawal = consent("withdrawn", &[]);
    withdrawal["form_id"] = Value::Null;
    assert_eq!(post(withdrawal), StatusCode::CREATED);
    server.kill();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("story stored"),
        "the log has the events: {text}"
    );
    assert!(text.contains("consent withdrawn"), "{text}");
    for secret in [
        "MustNotBeLogged",
        "credit_by_name",
        "recontact",
        "storyteller-consent",
        token,
    ] {
        assert!(
            !text.contains(secret),
            "the log contains {secret:?}: {text}"
        );
    }
}

#[test]
fn logs_sent_to_a_file_are_plain_text_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut cmd = tellus(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("TELLUS_LOG", "debug")
        .env_remove("TELLUS_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .stderr(std::fs::File::create(&log).unwrap());
    let server = Serving::spawn(cmd);
    let r = Client::new()
        .get(format!("{}/api/v1/nothing", server.base))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    server.kill();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "the log file holds terminal colour codes: {text:?}"
    );
}

/// `--storage` (and `storage` in the TOML file, docs/deploy.md): a URL that is wrong, or
/// names a store that does not answer, stops `tellus serve` with the reason before it
/// says it listens, and never shows the secret.
#[test]
fn a_wrong_or_unreachable_storage_stops_serve_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstorage = \"s3://audio?endpoint=http://127.0.0.1:{closed}&access_key_id=k&secret_access_key=hunter2\"\n"
        ),
    )
    .unwrap();
    let serve = |args: &[&str]| {
        let out = support::tellus(dir.path())
            .env_remove("TELLUS_STORAGE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(!out.status.success(), "{args:?} served: {stdout}");
        assert!(!stdout.contains("listening on"), "{stdout}");
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
        stderr
    };
    let err = serve(&["--storage", "gs://bucket"]);
    assert!(err.contains("'gs://' is not supported"), "{err}");
    let err = serve(&["--config", config.to_str().unwrap()]);
    assert!(err.contains("does not answer"), "{err}");
}
