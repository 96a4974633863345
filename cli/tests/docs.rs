//! Issue 18: what a newcomer reads agrees with the code. The Rust version the README and
//! the setup script ask for is the workspace's `rust-version`, every crate declares it
//! (so an older cargo says plainly what it needs instead of failing to compile), and it
//! is new enough for the language features the code uses.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// "1.88" → (1, 88).
fn version(text: &str) -> (u32, u32) {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// The version in the first `cargo X or newer` of `text`.
fn cargo_or_newer(text: &str, file: &str) -> (u32, u32) {
    let at = text
        .find("cargo 1.")
        .unwrap_or_else(|| panic!("{file} names no cargo version"));
    let rest = &text[at + "cargo ".len()..];
    let end = rest
        .find(" or newer")
        .expect("`or newer` after the version");
    version(&rest[..end])
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_rust_version_asked_for_is_the_one_the_code_needs_and_every_crate_declares_it() {
    let workspace = read("Cargo.toml");
    let declared = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| version(v.trim_matches('"')))
        .expect("the workspace declares a rust-version");

    assert_eq!(cargo_or_newer(&read("README.md"), "README.md"), declared);
    assert_eq!(
        cargo_or_newer(&read("scripts/setup.sh"), "scripts/setup.sh"),
        declared
    );

    // Every member inherits it: cargo refuses an older toolchain with one clear line.
    let members: Vec<String> = workspace
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .unwrap()
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    for member in &members {
        let manifest = read(&format!("{member}/Cargo.toml"));
        assert!(
            manifest.contains("rust-version.workspace = true"),
            "{member}/Cargo.toml does not declare the workspace's rust-version"
        );
    }

    // `if let ... && let ...` (let chains) needs Rust 1.88.
    let mut sources = Vec::new();
    rust_sources(&root(), &mut sources);
    let chained = sources.iter().find(|p| {
        fs::read_to_string(p).is_ok_and(|text| {
            text.lines()
                .any(|l| l.trim_start().starts_with("&& let ") || l.contains(") && let "))
        })
    });
    if let Some(file) = chained {
        assert!(
            declared >= (1, 88),
            "{} uses let chains (Rust 1.88), rust-version says {declared:?}",
            file.display()
        );
    }
}
