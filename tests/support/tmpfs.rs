//! A real, small file system for full-disk tests: a tmpfs mounted on a folder and
//! unmounted when dropped. Mounting needs root; without it `mount` gives None and the
//! test says it skipped. Included by path (`#[path = ...] mod tmpfs;`) from the core's
//! and the server's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it: "8m") on `dir`.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Tmpfs {
    /// Makes the file system read-only, as a card or a locked folder would be.
    #[allow(dead_code)] // not every test that includes this file needs it
    pub fn make_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting {} read-only failed", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
