//! Helpers the `tellus` binary's integration tests share. Each test binary uses only
//! some of them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};

/// The real `tellus` binary on a data folder, with no settings from the environment.
pub fn tellus(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tellus"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("TELLUS_DATA_DIR")
        .env_remove("TELLUS_LISTEN");
    cmd
}

/// Runs `tellus ARGS` on `dir`, which must succeed; returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tellus(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tellus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `http(s)://…` address a `tellus serve` started with a piped stdout prints once
/// it listens; the read waits for that line.
pub fn server_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}
