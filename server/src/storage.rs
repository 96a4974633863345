//! Where verified audio lives. A small trait so that object storage can come later; the
//! embedded default is a folder of files named by storage key: a recording's lossless
//! copy under its id (as every server before issue 20 stored it), its listening copy
//! under `<id>.listening`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tellus_protocol::Representation;

const LISTENING_SUFFIX: &str = ".listening";

/// Where one representation of a recording is stored.
pub fn key(recording_id: &str, representation: Representation) -> String {
    match representation {
        Representation::Lossless => recording_id.to_string(),
        Representation::Listening => format!("{recording_id}{LISTENING_SUFFIX}"),
    }
}

/// The recording and representation a storage key names (any text: the sweep after a
/// crash reads whatever is in the folder).
pub fn parse_key(key: &str) -> (&str, Representation) {
    match key.strip_suffix(LISTENING_SUFFIX) {
        Some(id) => (id, Representation::Listening),
        None => (key, Representation::Lossless),
    }
}

pub trait AudioStorage: Send + Sync + 'static {
    /// Moves a verified, fsynced spool file into storage under `key`, durably.
    fn put(&self, key: &str, spooled: &Path) -> io::Result<()>;
    /// Opens a stored file for reading, with its size; None when it is not there.
    fn open(&self, key: &str) -> io::Result<Option<(File, u64)>>;
    /// Deletes a stored file; deleting what is not there is not an error.
    fn delete(&self, key: &str) -> io::Result<()>;
    /// The keys of every stored file (to sweep away orphans after a crash).
    fn list(&self) -> io::Result<Vec<String>>;
}

/// Audio in a local folder: `<dir>/<key>`.
pub struct LocalStorage {
    dir: PathBuf,
}

impl LocalStorage {
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(LocalStorage { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }
}

impl AudioStorage for LocalStorage {
    fn put(&self, key: &str, spooled: &Path) -> io::Result<()> {
        std::fs::rename(spooled, self.path(key))?;
        sync_dir(&self.dir)
    }

    fn open(&self, key: &str) -> io::Result<Option<(File, u64)>> {
        match File::open(self.path(key)) {
            Ok(file) => {
                let len = file.metadata()?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(key)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_one_representation_and_read_back() {
        let id = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        assert_eq!(key(id, Representation::Lossless), id);
        for r in Representation::ALL {
            assert_eq!(parse_key(&key(id, r)), (id, r));
        }
    }
}
