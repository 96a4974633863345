//! `tellus pull` and `tellus export` as real processes against a real server on
//! loopback: a pull killed with SIGKILL in the middle of its downloads, run again, ends
//! with every file verified and no partial file left; `--verify` reports an altered
//! file; exports write files that validate.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tellus_testkit::checks::{files_under, sha256sum_check, xmllint_ohms};
use tellus_testkit::fixtures::audio;
use tellus_testkit::story::StorySpec;
use tellus_testkit::{PROJECT, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn tellus() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tellus"));
    cmd.env_remove("TELLUS_SERVER")
        .env_remove("TELLUS_TOKEN")
        .env_remove("TELLUS_DATA_DIR");
    cmd
}

fn run(args: &[&str]) -> Output {
    tellus().args(args).output().unwrap()
}

fn pull_args<'a>(base: &'a str, token: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--json", "pull", "--server", base, "--token", token, "--out", out,
    ]
}

/// A TCP proxy in front of the server that passes at most `budget` bytes of each
/// connection's responses, then holds the connection open without sending more: a
/// download stuck half-way, deterministically. Raising the budget opens new connections.
async fn gate(upstream: String, budget: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let limit = budget.load(Ordering::SeqCst);
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(async move {
                let mut passed = 0u64;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let allowed = (limit - passed).min(n as u64) as usize;
                    if client_write.write_all(&buf[..allowed]).await.is_err() {
                        return;
                    }
                    passed += allowed as u64;
                    if passed >= limit {
                        // Hold the connection: the client waits for bytes that never come.
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn partial_files(out: &Path) -> Vec<(PathBuf, u64)> {
    match fs::read_dir(out.join(".tellus-pull/partial")) {
        Ok(entries) => entries
            .map(|e| {
                let e = e.unwrap();
                (e.path(), e.metadata().unwrap().len())
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_pull_killed_mid_download_and_run_again_ends_with_every_file_verified() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    let reporter = rt.block_on(server.reporter());
    let mut delivered = Vec::new();
    for seed in 0..3u8 {
        let data = audio(3 * 1024 * 1024 + usize::from(seed), seed);
        let spec = StorySpec::new(&format!("Story {seed}"), &["record"]).audio(vec![data.clone()]);
        delivered.push((rt.block_on(reporter.deliver(&spec)), data));
    }
    let token = rt.block_on(server.lead_token());
    let budget = Arc::new(AtomicU64::new(1024 * 1024));
    let upstream = server.base.trim_start_matches("http://").to_string();
    let proxy = rt.block_on(gate(upstream, budget.clone()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let out_s = out.to_str().unwrap();

    let mut child = tellus()
        .args(pull_args(&proxy, &token, out_s))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until downloads are under way (bytes in partial files), then SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held: u64 = partial_files(&out).iter().map(|(_, n)| n).sum();
        if held >= 512 * 1024 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        assert!(Instant::now() < deadline, "no download got under way");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partials = partial_files(&out);
    assert!(!partials.is_empty());
    assert!(
        partials.iter().all(|(_, n)| *n < 3 * 1024 * 1024),
        "partial, not whole"
    );
    for (d, _) in &delivered {
        let audio = out.join(format!(
            "stories/{}/audio/{}.wav",
            d.story_id, d.recordings[0]
        ));
        assert!(!audio.exists(), "no unverified recording is in place");
    }
    assert!(
        !out.join(".tellus-pull/state.json").exists(),
        "the cursor did not move past unfinished work"
    );

    // Run again with the gate open: it resumes, finishes and verifies.
    budget.store(u64::MAX, Ordering::SeqCst);
    let again = run(&pull_args(&proxy, &token, out_s));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["recordings_downloaded"], 3);
    assert!(
        report["bytes_resumed"].as_u64().unwrap() >= 512 * 1024,
        "{report}"
    );
    for (d, data) in &delivered {
        let held = fs::read(out.join(format!(
            "stories/{}/audio/{}.wav",
            d.story_id, d.recordings[0]
        )))
        .unwrap();
        assert!(held == *data, "byte for byte");
    }
    assert!(partial_files(&out).is_empty(), "no partial file left");
    assert_eq!(
        files_under(&out.join(".tellus-pull")),
        ["lock", "state.json"],
        "no temporary file left"
    );
    let verified = run(&["pull", "--verify", "--out", out_s]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    sha256sum_check(&out).unwrap();

    // A second run fetches nothing.
    let third = run(&pull_args(&proxy, &token, out_s));
    let report: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(
        (
            report["changes"].as_u64(),
            report["bytes_downloaded"].as_u64()
        ),
        (Some(0), Some(0))
    );
    rt.block_on(server.stop());
}

#[test]
fn verify_reports_an_altered_file_and_exports_follow_consent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    let reporter = rt.block_on(server.reporter());
    let public = rt.block_on(reporter.deliver(&StorySpec::new(
        "Shared story",
        &["record", "share_publicly"],
    )));
    let private = rt.block_on(reporter.deliver(&StorySpec::new(
        "Private story",
        &["record", "research_use"],
    )));
    let token = rt.block_on(server.lead_token());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled");
    let out_s = out.to_str().unwrap();
    let first = tellus()
        .args(["pull", "--server", &server.base, "--out", out_s])
        .env("TELLUS_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("2 stories written"));

    // Exports: public CSV to stdout, OHMS into a folder, validated.
    let csv = run(&[
        "export", "--from", out_s, "--scope", "public", "--format", "csv",
    ]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.contains(&public.story_id) && !csv.contains(&private.story_id));
    assert!(!csv.contains("Private story"));
    // The README's commands: a bare file name (its folder is the current one).
    for (format, name) in [("csv", "public.csv"), ("json", "public.json")] {
        let file = tellus()
            .current_dir(dir.path())
            .args([
                "export", "--from", out_s, "--scope", "public", "--format", format, "--out", name,
            ])
            .output()
            .unwrap();
        assert!(
            file.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&file.stderr)
        );
        // One story is "1 story" (issue 18).
        assert!(
            String::from_utf8_lossy(&file.stderr)
                .contains("exported 1 story (public scope); 1 left out"),
            "{}",
            String::from_utf8_lossy(&file.stderr)
        );
        let written = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(written.contains(&public.story_id) && !written.contains(&private.story_id));
    }
    let ohms_dir = dir.path().join("ohms");
    let ohms = run(&[
        "export",
        "--from",
        out_s,
        "--scope",
        "research",
        "--format",
        "ohms",
        "--out",
        ohms_dir.to_str().unwrap(),
    ]);
    assert!(
        ohms.status.success(),
        "{}",
        String::from_utf8_lossy(&ohms.stderr)
    );
    assert_eq!(
        files_under(&ohms_dir),
        [format!("{}.xml", private.story_id)]
    );
    xmllint_ohms(&ohms_dir.join(format!("{}.xml", private.story_id))).unwrap();
    let refused = run(&[
        "export",
        "--from",
        dir.path().to_str().unwrap(),
        "--scope",
        "all",
        "--format",
        "json",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a folder made by `tellus pull`")
    );

    // One byte changed in a recording: --verify names it and fails.
    let rel = format!(
        "stories/{}/audio/{}.wav",
        public.story_id, public.recordings[0]
    );
    let mut bytes = fs::read(out.join(&rel)).unwrap();
    bytes[100] ^= 0xff;
    fs::write(out.join(&rel), bytes).unwrap();
    let verified = run(&["pull", "--verify", "--out", out_s]);
    assert!(!verified.status.success());
    assert!(String::from_utf8_lossy(&verified.stdout).contains(&format!("ALTERED  {rel}")));
    assert!(String::from_utf8_lossy(&verified.stderr).contains("1 file altered"));
    rt.block_on(server.stop());
}

#[test]
fn a_lead_enrols_once_and_pulls_without_a_token() {
    use std::os::unix::fs::PermissionsExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    let reporter = rt.block_on(server.reporter());
    rt.block_on(reporter.deliver(&StorySpec::new("A story", &["record"])));
    let invite = |role| {
        let db = tellus_server::App::open_db(&server.config).unwrap();
        tellus_server::admin::create_invite(&db, PROJECT, role, 3600)
            .unwrap()
            .code
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("laptop");
    let data_s = data.to_str().unwrap();
    let out = dir.path().join("pulled");
    let out_s = out.to_str().unwrap();

    // Not enrolled: a clear error naming the command to run, nothing written.
    let before = run(&[
        "--data-dir",
        data_s,
        "pull",
        "--server",
        &server.base,
        "--out",
        out_s,
    ]);
    assert!(!before.status.success());
    assert!(String::from_utf8_lossy(&before.stderr).contains("tellus enrol --lead"));
    assert!(!out.exists() && !data.exists());

    let enrol_lead = |code: &str| {
        run(&[
            "--data-dir",
            data_s,
            "enrol",
            "--lead",
            "--server",
            &server.base,
            "--invite",
            code,
        ])
    };
    // A reporter's code given to the lead's enrolment: refused, unspent, nothing kept.
    let wrong = enrol_lead(&invite(tellus_server::Role::Reporter));
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("for a reporter"));
    assert!(!data.join("lead-accounts.json").exists());

    let enrolled = enrol_lead(&invite(tellus_server::Role::Lead));
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let accounts = data.join("lead-accounts.json");
    assert_eq!(
        fs::metadata(&accounts).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The address written differently (a trailing slash) finds the same enrolment.
    let server_slash = format!("{}/", server.base);
    let pulled = run(&[
        "--data-dir",
        data_s,
        "--json",
        "pull",
        "--server",
        &server_slash,
        "--out",
        out_s,
    ]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(report["stories_written"], 1, "{report}");
    // `tellus lead open`: a one-time link signs a browser in without copying the token
    // (issue 18); the server keeps neither the link's secret nor the token in clear.
    let opened: serde_json::Value =
        serde_json::from_slice(&run(&["--data-dir", data_s, "--json", "lead", "open"]).stdout)
            .unwrap();
    let url = opened["url"].as_str().expect("a link").to_string();
    assert!(
        url.starts_with(&format!("{}/lead/link/", server.base)),
        "{url}"
    );
    let token = serde_json::from_slice::<serde_json::Value>(&fs::read(&accounts).unwrap()).unwrap()
        ["servers"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = url.rsplit('/').next().unwrap().to_string();
    let db = tellus_server::App::open_db(&server.config).unwrap();
    let stored: Vec<String> = db
        .with(|c| {
            let mut stmt = c.prepare("SELECT secret_hash || sealed_token FROM web_links")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&secret) && !stored[0].contains(&token[7..]));
    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Opening the link spends nothing (a link preview may fetch it); its button does.
    let page = browser.get(&url).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("Sign in"));
    let sign_in = || {
        browser
            .post(&url)
            .header("Origin", &server.base)
            .send()
            .unwrap()
    };
    let signed_in = sign_in();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(cookie, format!("tellus_lead={token}"));
    let list = browser
        .get(format!("{}/lead", server.base))
        .header("Cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(list.status(), 200);
    assert!(list.text().unwrap().contains("A story"));
    // Once only.
    let again = sign_in();
    assert_eq!(again.status(), 401);
    assert!(
        again
            .text()
            .unwrap()
            .contains("used already or has expired")
    );

    // Enrolled with one server, `pull` needs no --server (issue 18).
    let again = run(&["--data-dir", data_s, "pull", "--out", out_s]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing new on the server"));
    // The reporter's code is still good for a reporter.
    let db = tellus_server::App::open_db(&server.config).unwrap();
    let unused: i64 = db
        .with(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM invites WHERE used_at IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(unused, 1);
}
