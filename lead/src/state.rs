//! What a pulled folder remembers between pulls (`.tellus-pull/state.json`: the server,
//! the project and the feed cursor), and the lock that keeps two pulls out of one folder.

use std::fs::{self, File};

use serde::{Deserialize, Serialize};

use crate::fsutil::{Durability, write_atomic};
use crate::layout::{self, Layout};
use crate::story_files::pretty;
use crate::{Error, Result};

/// What a folder remembers between pulls, in `.tellus-pull/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullState {
    pub server: String,
    #[serde(default)]
    pub project_id: Option<String>,
    pub cursor: String,
    pub pulled_at: String,
    /// Whether the folder is pulled with listening copies (`--listening`); a pull that
    /// asks for them first reads the feed again from its start to catch up.
    #[serde(default)]
    pub listening: bool,
}

/// Creates the folder (or checks that an existing one is a pulled folder or empty) and
/// takes its lock: two pulls into one folder would trip over each other's files. The
/// lock is the kernel's, so a killed pull does not leave it held.
pub fn open_folder(layout: &Layout) -> Result<File> {
    let root = layout.root();
    if root.exists()
        && !layout.state_file().exists()
        && !layout.root().join(layout::MANIFEST).exists()
    {
        let mut entries = fs::read_dir(root).map_err(|e| Error::io_at("read", root, e))?;
        // A first pull killed early may have left some of its own files.
        let own = [
            layout::STATE_DIR,
            layout::PROJECT,
            layout::MANIFEST,
            layout::SHA256SUMS,
            layout::STORIES,
            layout::WITHDRAWALS_LOG,
        ];
        let foreign =
            entries.any(|e| e.map_or(true, |e| !own.iter().any(|name| e.file_name() == *name)));
        if foreign {
            return Err(Error::Folder(format!(
                "{} already holds other files; pull into a new or empty folder",
                root.display()
            )));
        }
    }
    let state_dir = layout.state_dir();
    fs::create_dir_all(&state_dir).map_err(|e| Error::io_at("create", &state_dir, e))?;
    let lock_path = layout.lock_file();
    let lock = File::create(&lock_path).map_err(|e| Error::io_at("create", &lock_path, e))?;
    if fs4::FileExt::try_lock(&lock).is_err() {
        return Err(Error::Folder(format!(
            "another `tellus pull` is working in {}; wait for it to finish",
            root.display()
        )));
    }
    Ok(lock)
}

pub fn load_state(layout: &Layout) -> Result<Option<PullState>> {
    let path = layout.state_file();
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Folder(format!(
                "{} cannot be read ({e}); pull into a new folder",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_at("read", &path, e)),
    }
}

pub fn save_state(layout: &Layout, state: &PullState) -> Result<()> {
    let rel = format!("{}/state.json", layout::STATE_DIR);
    write_atomic(layout, &rel, &pretty(state)?, Durability::Now).map(|_| ())
}
