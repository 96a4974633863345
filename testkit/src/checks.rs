//! Independent checks of what a lead pulled or exported: the files in a folder,
//! coreutils' `sha256sum -c`, and xmllint against the published OHMS schema.

use std::path::Path;
use std::process::Command;

/// The published OHMS 5.4 schema, copied from the shared fixtures.
pub const OHMS_XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/support/fixtures/ohms.xsd"
);

/// Every file under `dir` (relative, `/`-separated), sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), child));
            } else {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// `sha256sum -c SHA256SUMS` in the pulled folder: coreutils' independent check of
/// every file the manifest lists. Ok, or what sha256sum said.
pub fn sha256sum_check(dir: &Path) -> Result<(), String> {
    let out = Command::new("sha256sum")
        .args(["--check", "--quiet", "--strict", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `xmllint --noout --schema ohms.xsd FILE`: Ok, or xmllint's complaint.
pub fn xmllint_ohms(file: &Path) -> Result<(), String> {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", OHMS_XSD])
        .arg(file)
        .output()
        .expect("xmllint (Debian libxml2-utils, installed by scripts/setup.sh)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
