//! The files made from each recording, one per representation (schema step 11, issue
//! 20): what was verified and recorded, and what the outbox already did with the WAV,
//! which decides whether a recording gets a FLAC at all.

use rusqlite::{OptionalExtension, Transaction, params};
use tellus_protocol::{AudioFormat, Representation};

use super::Store;
use super::rows::parse_enum;
use crate::error::{Error, Result};
use crate::model::{Recording, RecordingFile, RecordingId, StoryId, Timestamp};

/// The outbox item of one representation of a recording: the recording's id for the
/// lossless copy (what every phone before issue 20 queued for its WAV, so those items
/// carry on), `<id>:listening` for the listening copy.
pub fn audio_item_id(recording: RecordingId, representation: Representation) -> String {
    match representation {
        Representation::Lossless => recording.to_string(),
        Representation::Listening => format!("{recording}:listening"),
    }
}

/// The recording and representation an audio item is for.
pub fn parse_audio_item(item_id: &str) -> Option<(RecordingId, Representation)> {
    match item_id.split_once(':') {
        None => Some((item_id.parse().ok()?, Representation::Lossless)),
        Some((id, "listening")) => Some((id.parse().ok()?, Representation::Listening)),
        Some(_) => None,
    }
}

const FILE_COLUMNS: &str = "f.recording_id, f.representation, f.format, f.file_name, f.bytes,
    f.sha256, f.pcm_sha256, f.verified_at, f.removed_at IS NOT NULL";

fn file_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingFile> {
    Ok(RecordingFile {
        recording_id: r.get(0)?,
        representation: parse_enum(r, 1, Representation::parse)?,
        format: parse_enum(r, 2, AudioFormat::parse)?,
        file_name: r.get(3)?,
        bytes: r.get::<_, i64>(4)?.max(0) as u64,
        sha256: r.get(5)?,
        pcm_sha256: r.get(6)?,
        verified_at: r.get(7)?,
        removed: r.get(8)?,
    })
}

/// The files of the recordings of the stories from `first` to `last`.
pub(crate) fn files_between(
    tx: &Transaction<'_>,
    first: StoryId,
    last: StoryId,
) -> Result<Vec<RecordingFile>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM recording_files f JOIN recordings r ON r.id = f.recording_id
         WHERE r.story_id BETWEEN ?1 AND ?2
         ORDER BY r.story_id, f.recording_id, f.representation = 'listening'"
    ))?;
    let rows = stmt.query_map([first, last], file_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn file_in(
    tx: &Transaction<'_>,
    recording: RecordingId,
    representation: Representation,
) -> Result<Option<RecordingFile>> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {FILE_COLUMNS} FROM recording_files f
                 WHERE f.recording_id = ?1 AND f.representation = ?2"
            ),
            params![recording, representation.as_str()],
            file_from_row,
        )
        .optional()?)
}

/// What a recording still needs made, as the store sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preparation {
    pub recording: Recording,
    /// No lossless file is recorded yet.
    pub needs_lossless: bool,
    /// The WAV's upload already began or ended (a phone from before issue 20): the WAV
    /// stays the lossless file and no FLAC is made.
    pub wav_is_lossless: bool,
    /// No listening file is recorded yet and one is wanted.
    pub needs_listening: bool,
}

impl Store {
    /// Every file made from the story's recordings.
    pub fn recording_files(&self, story: StoryId) -> Result<Vec<RecordingFile>> {
        self.read(|tx| {
            super::stories::ensure_exists(tx, story)?;
            files_between(tx, story, story)
        })
    }

    /// The file of one representation of a recording, when it was made.
    pub fn recording_file(
        &self,
        recording: RecordingId,
        representation: Representation,
    ) -> Result<Option<RecordingFile>> {
        self.read(|tx| file_in(tx, recording, representation))
    }

    /// The recordings that still need a file made: not erased, their audio still on
    /// this device, and a lossless or a wanted listening file missing.
    pub fn recordings_to_prepare(&self) -> Result<Vec<Preparation>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT r.id FROM recordings r
                 WHERE r.erased_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.item_id = r.id AND o.local_removed = 1)
                   -- No copies are made of audio whose storyteller withdrew.
                   AND coalesce((SELECT c.kind FROM consent_events c WHERE c.story_id = r.story_id
                                 ORDER BY c.seq DESC LIMIT 1), '') != 'withdrawn'
                   AND (NOT EXISTS (SELECT 1 FROM recording_files f
                                    WHERE f.recording_id = r.id AND f.representation = 'lossless')
                        OR NOT EXISTS (SELECT 1 FROM recording_files f
                                       WHERE f.recording_id = r.id AND f.representation = 'listening'))
                 ORDER BY r.id",
            )?;
            let ids: Vec<RecordingId> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(p) = preparation_in(tx, id)?
                    && (p.needs_lossless || p.needs_listening)
                {
                    out.push(p);
                }
            }
            Ok(out)
        })
    }

    /// What one recording still needs made (None: no such recording).
    pub fn preparation(&self, recording: RecordingId) -> Result<Option<Preparation>> {
        self.read(|tx| preparation_in(tx, recording))
    }

    /// Records a verified file of a recording, and for a lossless one the recording's
    /// PCM identity, in one transaction. Recording it again (work redone after a crash
    /// between the rename and this) replaces the row.
    pub(crate) fn record_file(&self, file: &RecordingFile) -> Result<()> {
        if !file.representation.allows(file.format) {
            return Err(Error::invalid(format!(
                "a {} file cannot be the {} copy",
                file.format, file.representation
            )));
        }
        let bytes = super::recordings::to_sql_count(file.bytes, "a file's size")?;
        let story = self.write(|tx| {
            // Audio erased at the storyteller's request while its copy was being made:
            // the copy is refused here and its file deleted by the caller.
            let erased: bool = tx.query_row(
                "SELECT erased_at IS NOT NULL FROM recordings WHERE id = ?1",
                [file.recording_id],
                |r| r.get(0),
            )?;
            if erased {
                return Err(Error::invalid(
                    "the recording's audio was erased at the storyteller's request",
                ));
            }
            tx.execute(
                "INSERT INTO recording_files (recording_id, representation, file_name, format,
                    bytes, sha256, pcm_sha256, verified_at, removed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)
                 ON CONFLICT (recording_id, representation) DO UPDATE SET file_name = ?3,
                    format = ?4, bytes = ?5, sha256 = ?6, pcm_sha256 = ?7, verified_at = ?8,
                    removed_at = NULL",
                params![
                    file.recording_id,
                    file.representation.as_str(),
                    file.file_name,
                    file.format.as_str(),
                    bytes,
                    file.sha256,
                    file.pcm_sha256,
                    file.verified_at,
                ],
            )?;
            if let Some(pcm) = &file.pcm_sha256 {
                tx.execute(
                    "UPDATE recordings SET pcm_sha256 = ?2 WHERE id = ?1",
                    params![file.recording_id, pcm],
                )?;
            }
            Ok(tx.query_row(
                "SELECT story_id FROM recordings WHERE id = ?1",
                [file.recording_id],
                |r| r.get::<_, StoryId>(0),
            )?)
        })?;
        self.story_changed(story);
        Ok(())
    }

    /// Notes that a recording's file of this representation was deleted from the device.
    pub(crate) fn mark_file_removed(
        &self,
        recording: RecordingId,
        representation: Representation,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE recording_files SET removed_at = ?3
                 WHERE recording_id = ?1 AND representation = ?2 AND removed_at IS NULL",
                params![recording, representation.as_str(), Timestamp::now()],
            )?;
            Ok(())
        })
    }

    /// Test hook: the recording is as a phone from before issue 20 left it, its WAV's
    /// upload already queued as its lossless copy and no listening copy wanted, so that
    /// tests of the uploader's mechanics send exactly the one WAV they wrote.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn testing_wav_only(&self, recording: &Recording) -> Result<()> {
        self.record_file(&RecordingFile {
            recording_id: recording.id,
            representation: Representation::Lossless,
            format: AudioFormat::Wav,
            file_name: recording.file_name.clone(),
            bytes: recording.bytes,
            sha256: recording.sha256.clone(),
            pcm_sha256: None,
            verified_at: Timestamp::now(),
            removed: false,
        })?;
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO outbox (item_id, kind, story_id, state, updated_at)
                 VALUES (?1, 'audio', ?2, 'dropped', ?3)",
                params![
                    audio_item_id(recording.id, Representation::Listening),
                    recording.story_id,
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })
    }
}

fn preparation_in(tx: &Transaction<'_>, id: RecordingId) -> Result<Option<Preparation>> {
    let Some(recording) = super::recordings::one(tx, id)? else {
        return Ok(None);
    };
    let lossless = file_in(tx, id, Representation::Lossless)?;
    let listening = file_in(tx, id, Representation::Listening)?;
    let wav_upload_began: bool = tx
        .query_row(
            "SELECT upload_path IS NOT NULL OR confirmed_bytes > 0 OR state = 'delivered'
             FROM outbox WHERE item_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let listening_dropped: bool = tx
        .query_row(
            "SELECT state = 'dropped' FROM outbox WHERE item_id = ?1",
            [audio_item_id(id, Representation::Listening)],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let erased = recording.state == crate::model::RecordingState::Erased;
    Ok(Some(Preparation {
        needs_lossless: !erased && lossless.is_none(),
        wav_is_lossless: lossless
            .as_ref()
            .is_some_and(|f| f.format == AudioFormat::Wav)
            || (lossless.is_none() && wav_upload_began),
        needs_listening: !erased && listening.is_none() && !listening_dropped,
        recording,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewStory, RecordingState, sample_project};

    /// A phone from before issue 20 whose WAV upload had begun: the WAV stays its lossless
    /// file (no FLAC, the upload carries on), it gets a listening copy, and nothing of it
    /// is deleted.
    #[test]
    fn a_wav_whose_upload_began_stays_the_lossless_copy_and_still_gets_a_listening_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_project(&sample_project()).unwrap();
        let story = store
            .create_story(&NewStory {
                title: "Before the data saver".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let id = RecordingId::new();
        let file_name = format!("{id}.wav");
        let path = store.recordings_dir().join(&file_name);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        for n in 0..32_000i32 {
            let t = f64::from(n) / 16_000.0;
            writer
                .write_sample(((t * 1_320.0).sin() * 8_000.0) as i16)
                .unwrap();
        }
        writer.finalize().unwrap();
        let digest = tellus_media::sha256_file(&path).unwrap();
        let recording = Recording {
            id,
            story_id: story,
            file_name: file_name.clone(),
            format: "wav".into(),
            sample_rate: 16_000,
            channels: 1,
            frames: 32_000,
            bytes: digest.bytes,
            sha256: digest.sha256.clone(),
            state: RecordingState::Complete,
            created_at: Timestamp::now(),
            pcm_sha256: None,
        };
        store.add_recording(&recording).unwrap();
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO outbox (item_id, kind, story_id, state, upload_path, confirmed_bytes, updated_at)
                     VALUES (?1, 'audio', ?2, 'pending', '/api/v1/uploads/x', 4096, 0)",
                    params![id, story],
                )?;
                Ok(())
            })
            .unwrap();
        let report = crate::audio::prepare_recording(&store, id).unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert!(report.wav_removed.is_empty());
        let lossless = store
            .recording_file(id, Representation::Lossless)
            .unwrap()
            .unwrap();
        assert_eq!(lossless.format, AudioFormat::Wav);
        assert_eq!(lossless.file_name, file_name);
        assert_eq!(
            (lossless.bytes, &lossless.sha256),
            (digest.bytes, &digest.sha256)
        );
        assert_eq!(
            lossless.pcm_sha256,
            Some(tellus_media::wav_identity(&path).unwrap().pcm_sha256)
        );
        assert!(
            store
                .recording_file(id, Representation::Listening)
                .unwrap()
                .is_some()
        );
        assert!(path.exists(), "the WAV is the lossless copy: kept");
        assert!(!store.recordings_dir().join(format!("{id}.flac")).exists());
    }
}
