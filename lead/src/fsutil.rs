//! File writes: every file lands in the folder whole or not at all (a temporary file in
//! the same file system, renamed into place), so a pull killed at any point leaves no
//! half-written file in place.
//!
//! Durability against a power cut is batched: on Linux, the files of a page of the feed
//! are not fsynced one by one (two fsyncs per file made a 1,000-story pull several times
//! slower) but by one `syncfs` at the end of the page, before the manifest and the cursor
//! are written and fsynced (`Durability::Now`). A power cut before that leaves the cursor
//! before the page; the next run applies it again, rewriting documents and re-hashing
//! any audio in place, so a file the cut damaged is fetched again. Elsewhere every file
//! is fsynced as it is written.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::layout::Layout;
use crate::manifest::FileEntry;
use crate::{Error, Result};

/// Makes a unique temporary name within this process (several downloads at once).
fn tmp_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// When a written file must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before the call returns (the manifest, the cursor).
    Now,
    /// By `sync_page` at the end of the page of the feed (documents, audio).
    WithPage,
}

impl Durability {
    fn now(self) -> bool {
        self == Durability::Now || !cfg!(target_os = "linux")
    }
}

/// Makes everything written to the folder's file system so far durable: one `syncfs`
/// on Linux (elsewhere files were synced as they were written).
pub fn sync_page(layout: &Layout) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let root = File::open(layout.root()).map_err(|e| Error::io_at("open", layout.root(), e))?;
        // SAFETY: syncfs only reads the descriptor, which `root` keeps open for the call.
        if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
            return Err(Error::io_at(
                "sync",
                layout.root(),
                std::io::Error::last_os_error(),
            ));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = layout;
    Ok(())
}

/// Writes `bytes` to the folder-relative path `rel` atomically; returns its entry for
/// the manifest.
pub fn write_atomic(
    layout: &Layout,
    rel: &str,
    bytes: &[u8],
    sync: Durability,
) -> Result<FileEntry> {
    let target = layout.path(rel);
    let tmp_dir = layout.tmp_dir();
    fs::create_dir_all(&tmp_dir).map_err(|e| Error::io_at("create", &tmp_dir, e))?;
    replace_file(
        &target,
        &tmp_dir.join(tmp_name()),
        bytes,
        Access::Default,
        sync,
    )?;
    Ok(FileEntry {
        sha256: sha256_hex(bytes),
        bytes: bytes.len() as u64,
    })
}

/// Who may read a file `replace_file` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// As the process's umask says.
    Default,
    /// Its owner only (0600 on Unix, from the moment it is created): secrets.
    OwnerOnly,
}

/// Writes `bytes` to `tmp`, then renames it over `target`: a reader sees the old file or
/// the new one, never part of one. Durable as `sync` says; `tmp` is removed on failure.
pub fn replace_file(
    target: &Path,
    tmp: &Path,
    bytes: &[u8],
    access: Access,
    sync: Durability,
) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if access == Access::OwnerOnly {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let result = options
        .open(tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            if sync.now() { file.sync_all() } else { Ok(()) }
        })
        .map_err(|e| Error::io_at("write", tmp, e))
        .and_then(|()| move_into_place(tmp, target, sync));
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Renames a complete file into place (and makes the rename durable as `sync` says).
pub fn move_into_place(from: &Path, to: &Path, sync: Durability) -> Result<()> {
    let parent = folder_of(to);
    fs::create_dir_all(parent).map_err(|e| Error::io_at("create", parent, e))?;
    fs::rename(from, to).map_err(|e| Error::io_at("move a file into", to, e))?;
    if sync.now() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The folder a file is in: a bare file name (`public.csv`) has an empty parent, which
/// names no folder to open or sync; it is in the current one.
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// fsync of a directory, so that a rename or a removal in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at("sync the folder", dir, e))
}

/// SHA-256 and size of a file, read in 1 MiB pieces.
pub fn hash_file(path: &Path) -> Result<FileEntry> {
    let mut file = File::open(path).map_err(|e| Error::io_at("open", path, e))?;
    hash_reader(&mut file).map_err(|e| Error::io_at("read", path, e))
}

pub fn hash_reader(reader: &mut impl Read) -> std::io::Result<FileEntry> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

/// Removes every file in `dir` (temporary files a killed run left behind).
pub fn empty_dir(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io_at("read", dir, e)),
    };
    for entry in entries {
        let path = entry.map_err(|e| Error::io_at("read", dir, e))?.path();
        fs::remove_file(&path).map_err(|e| Error::io_at("remove", &path, e))?;
    }
    Ok(())
}

/// Now, as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
