//! Where verified audio lives. A small trait so that object storage can come later; the
//! embedded default is a folder of files named by recording id.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub trait AudioStorage: Send + Sync + 'static {
    /// Moves a verified, fsynced spool file into storage under `recording_id`, durably.
    fn put(&self, recording_id: &str, spooled: &Path) -> io::Result<()>;
    /// Opens a stored recording for reading, with its size; None when it is not there.
    fn open(&self, recording_id: &str) -> io::Result<Option<(File, u64)>>;
    /// Deletes a recording; deleting what is not there is not an error.
    fn delete(&self, recording_id: &str) -> io::Result<()>;
    /// The ids of every stored recording (to sweep away orphans after a crash).
    fn list(&self) -> io::Result<Vec<String>>;
}

/// Audio in a local folder: `<dir>/<recording id>`.
pub struct LocalStorage {
    dir: PathBuf,
}

impl LocalStorage {
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(LocalStorage { dir })
    }

    fn path(&self, recording_id: &str) -> PathBuf {
        self.dir.join(recording_id)
    }
}

impl AudioStorage for LocalStorage {
    fn put(&self, recording_id: &str, spooled: &Path) -> io::Result<()> {
        std::fs::rename(spooled, self.path(recording_id))?;
        sync_dir(&self.dir)
    }

    fn open(&self, recording_id: &str) -> io::Result<Option<(File, u64)>> {
        match File::open(self.path(recording_id)) {
            Ok(file) => {
                let len = file.metadata()?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, recording_id: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(recording_id)) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                ids.push(name.to_string());
            }
        }
        Ok(ids)
    }
}

/// Makes a rename or an unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
