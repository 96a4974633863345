//! Audio in a local folder: `<dir>/<key>`, moved in by rename (the embedded default).

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::{AudioStorage, ByteStream, sync_dir};

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

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

fn absent_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl AudioStorage for LocalStorage {
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()> {
        let (spooled, stored, dir) = (spooled.to_path_buf(), self.path(key), self.dir.clone());
        blocking(move || {
            std::fs::rename(&spooled, stored)?;
            sync_dir(&dir)
        })
        .await
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        let path = self.path(key);
        absent_is_none(blocking(move || Ok(std::fs::metadata(path)?.len())).await)
    }

    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<Option<ByteStream>> {
        let path = self.path(key);
        let start = range.start;
        let opened = absent_is_none(
            blocking(move || {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(start))?;
                Ok(file)
            })
            .await,
        )?;
        Ok(opened.map(|file| {
            let reader = tokio::fs::File::from_std(file).take(range.end - range.start);
            ReaderStream::with_capacity(reader, 256 * 1024).boxed()
        }))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        let (path, dir) = (self.path(key), self.dir.clone());
        blocking(move || match std::fs::remove_file(path) {
            Ok(()) => sync_dir(&dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut keys = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                if let Some(name) = entry?.file_name().to_str() {
                    keys.push(name.to_string());
                }
            }
            Ok(keys)
        })
        .await
    }
}
