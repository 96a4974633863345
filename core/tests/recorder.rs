//! The recorder on real files in temporary data folders, driven by sources whose every
//! frame the test knows: what is captured is exactly what is stored, pause/resume and
//! markers sit at audio positions, and every way a recording can end is clean.

#[path = "../../tests/support/tmpfs.rs"]
mod tmpfs;

use tmpfs::Tmpfs;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tellus_core::Store;
use tellus_core::audio::{
    AudioFormat, AudioSource, CaptureSink, GeneratedSource, Pacing, Recorder, RecorderOptions,
    RunningStream, StreamFault,
};
use tellus_core::model::{
    CaptureEventKind, NewStory, NoteKind, RecordingState, StopReason, StoryId, sample_project,
};

const MONO_16K: AudioFormat = AudioFormat {
    sample_rate: 16_000,
    channels: 1,
};

fn store_with_story(dir: &Path) -> (Arc<Store>, StoryId) {
    let store = Store::open(dir).unwrap();
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Recorded".into(),
            ..Default::default()
        })
        .unwrap();
    (Arc::new(store), story.id)
}

/// A device whose callback the test calls itself: the test pushes frames through the
/// very sink the recorder made.
struct HandDriven {
    format: AudioFormat,
    sinks: mpsc::Sender<CaptureSink>,
}

struct Idle;
impl RunningStream for Idle {}

impl AudioSource for HandDriven {
    fn describe(&self) -> String {
        "hand-driven test device".into()
    }
    fn format(&self) -> AudioFormat {
        self.format
    }
    fn start(
        &mut self,
        sink: CaptureSink,
        _faults: StreamFault,
    ) -> tellus_core::Result<Box<dyn RunningStream>> {
        self.sinks.send(sink).unwrap();
        Ok(Box::new(Idle))
    }
}

/// Starts a recorder on a hand-driven device; returns it, the sinks channel (a restart
/// sends a new sink) and the first sink.
fn start_hand_driven(
    store: &Arc<Store>,
    story: StoryId,
    format: AudioFormat,
    options: RecorderOptions,
) -> (Recorder, mpsc::Receiver<CaptureSink>, CaptureSink) {
    let (tx, rx) = mpsc::channel();
    let source = HandDriven { format, sinks: tx };
    let recorder = Recorder::start(store.clone(), story, Box::new(source), options).unwrap();
    let sink = rx.recv().unwrap();
    (recorder, rx, sink)
}

/// A hand-driven device is silent between the test's pushes; that is not a stall.
fn hand_options() -> RecorderOptions {
    RecorderOptions {
        stall_timeout: Duration::from_secs(3_600),
        ..RecorderOptions::default()
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

fn wav_samples(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    (spec, reader.into_samples().map(Result::unwrap).collect())
}

fn ramp(n: usize, offset: i32) -> Vec<i16> {
    (0..n as i32)
        .map(|i| ((i * 13 + offset) % 30_000) as i16)
        .collect()
}

#[test]
fn pause_resume_and_markers_sit_at_audio_positions_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, _, mut sink) = start_hand_driven(&store, story, MONO_16K, hand_options());

    let first = ramp(32_000, 0); // 2 s
    sink.push(&first, 1, |s| s);
    let marker = recorder.add_marker("key moment", None).unwrap();
    recorder.pause().unwrap();
    sink.push(&ramp(16_000, 999), 1, |s| s); // 1 s said while paused: not recorded
    recorder.resume().unwrap();
    let second = ramp(8_000, 7); // 0.5 s
    sink.push(&second, 1, |s| s);
    let note = recorder.add_note("she laughs").unwrap();
    wait_until("everything is written", || {
        recorder.stats().frames_written == 40_000
    });
    let stats = recorder.stats();
    assert_eq!(
        stats.session.as_millis(),
        3_500,
        "the session clock counts the pause"
    );
    assert_eq!(
        stats.position.as_millis(),
        2_500,
        "the audio position does not"
    );
    let done = recorder.stop().unwrap();

    assert_eq!(done.reason, StopReason::Requested);
    assert_eq!(done.recording.frames, 40_000);
    let (spec, samples) = wav_samples(&done.path);
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    assert_eq!(samples, [first, second].concat());
    assert_eq!(marker.at.unwrap().as_millis(), 2_000);
    assert_eq!(note.at.unwrap().as_millis(), 2_500);

    let capture = store.capture(done.recording.id).unwrap();
    let boundaries: Vec<_> = capture
        .events
        .iter()
        .map(|e| (e.kind, e.at_frame))
        .collect();
    assert_eq!(
        boundaries,
        [
            (CaptureEventKind::Pause, 32_000),
            (CaptureEventKind::Resume, 32_000)
        ]
    );
    assert_eq!(capture.events[1].detail, "paused for 1000 ms");
    assert_eq!(capture.stop_reason, Some(StopReason::Requested));
    assert_eq!(capture.stats.frames_captured, 40_000);
    assert_eq!(capture.stats.frames_dropped, 0);

    let indexed = store.recordings(story).unwrap();
    assert_eq!(indexed.len(), 1);
    assert_eq!(indexed[0].state, RecordingState::Complete);
    assert_eq!(indexed[0].duration_ms(), 2_500);
    assert_eq!(
        indexed[0].bytes,
        std::fs::metadata(&done.path).unwrap().len()
    );
    assert_eq!(
        indexed[0].sha256,
        tellus_core::audio::wav::sha256_file(&done.path).unwrap().0
    );
    assert!(
        !dir.path()
            .join("recordings")
            .join(format!("{}.partial.wav", done.recording.id))
            .exists()
    );
    assert!(
        recorder.pause().is_err(),
        "a stopped recording cannot be paused"
    );
}

#[test]
fn levels_reach_a_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, _, mut sink) = start_hand_driven(&store, story, MONO_16K, hand_options());
    let (levels_tx, levels) = mpsc::channel();
    let levels_tx = std::sync::Mutex::new(levels_tx);
    let _subscription = recorder.subscribe_levels(move |level: tellus_core::audio::Level| {
        let _ = levels_tx.lock().unwrap().send(level);
    });
    // 50 ms of a loud square wave, then 50 ms of silence: one window each.
    let loud: Vec<i16> = (0..800)
        .map(|i| if i % 2 == 0 { 16_384 } else { -16_384 })
        .collect();
    sink.push(&loud, 1, |s| s);
    let first = levels.recv_timeout(Duration::from_secs(10)).unwrap();
    sink.push(&[0i16; 800], 1, |s| s);
    let second = loop {
        let level = levels.recv_timeout(Duration::from_secs(10)).unwrap();
        if level.at.as_millis() == 100 {
            break level;
        }
    };
    assert_eq!(first.at.as_millis(), 50);
    assert!((first.rms_dbfs + 6.02).abs() < 0.1, "{first:?}");
    assert!(second.rms_dbfs < -100.0, "{second:?}");
    assert_eq!(recorder.stats().level, Some(second));
    recorder.stop().unwrap();
}

#[test]
fn a_full_ring_drops_frames_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, _, mut sink) = start_hand_driven(
        &store,
        story,
        MONO_16K,
        RecorderOptions {
            ring: Duration::from_millis(100), // 1,600 frames of room
            ..hand_options()
        },
    );
    // One burst far larger than the ring: most of it cannot fit.
    sink.push(&ramp(20_000, 0), 1, |s| s);
    let stats = recorder.stats();
    assert_eq!(stats.frames_captured + stats.frames_dropped, 20_000);
    assert!(stats.frames_dropped >= 18_000, "{stats:?}");
    let done = recorder.stop().unwrap();
    assert_eq!(done.stats.frames_dropped, stats.frames_dropped);
    assert_eq!(done.recording.frames, stats.frames_captured);
}

#[test]
fn stereo_is_kept_when_asked_and_mono_is_the_mean_of_the_channels() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    for channels in [1u16, 2] {
        let format = AudioFormat {
            sample_rate: 48_000,
            channels,
        };
        let (recorder, _, mut sink) = start_hand_driven(&store, story, format, hand_options());
        // A stereo f32 device: left 0.5, right -0.25.
        let frames: Vec<f32> = [0.5f32, -0.25].repeat(480);
        sink.push(&frames, 2, |s| (s * 32768.0) as i16);
        wait_until("written", || recorder.stats().frames_written == 480);
        let done = recorder.stop().unwrap();
        let (spec, samples) = wav_samples(&done.path);
        assert_eq!(spec.channels, channels);
        let expected = if channels == 1 {
            vec![4096; 480]
        } else {
            [16384, -8192].repeat(480)
        };
        assert_eq!(samples, expected);
    }
}

#[test]
fn a_failed_stream_restarts_into_the_same_recording_with_a_gap_marker() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let input = ramp(48_000, 3);
    let source = GeneratedSource::from_samples(MONO_16K, input.clone(), Pacing::AsFastAsTaken)
        .failing_after(16_000);
    let recorder = Recorder::start(
        store.clone(),
        story,
        Box::new(source),
        RecorderOptions::default(),
    )
    .unwrap();
    wait_until("the input ends", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::InputEnded);
    assert_eq!(done.stats.restarts, 1);
    assert_eq!(done.stats.stream_errors, 1);
    let (_, samples) = wav_samples(&done.path);
    assert_eq!(
        samples, input,
        "the restarted stream continues the same file"
    );
    let capture = store.capture(done.recording.id).unwrap();
    assert_eq!(capture.events.len(), 1);
    assert_eq!(capture.events[0].kind, CaptureEventKind::Gap);
    assert_eq!(capture.events[0].at_frame, 16_000);
    let notes = store.notes(story).unwrap();
    let gap = notes.iter().find(|n| n.kind == NoteKind::Marker).unwrap();
    assert!(gap.text.starts_with("Gap"), "{}", gap.text);
    assert_eq!(gap.at.unwrap().as_millis(), 1_000);
}

#[test]
fn a_stream_that_stops_delivering_is_rebuilt_into_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, rx, mut first) = start_hand_driven(
        &store,
        story,
        MONO_16K,
        RecorderOptions {
            stall_timeout: Duration::from_millis(200),
            ..RecorderOptions::default()
        },
    );
    let before = ramp(8_000, 1);
    first.push(&before, 1, |s| s);
    // Then silence from this stream: the recorder gives up on it and starts another.
    let mut second = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let after = ramp(4_000, 2);
    second.push(&after, 1, |s| s);
    wait_until("both parts are written", || {
        recorder.stats().frames_written == 12_000
    });
    let done = recorder.stop().unwrap();
    assert_eq!(done.stats.restarts, 1);
    assert_eq!(done.stats.stream_errors, 1);
    assert_eq!(wav_samples(&done.path).1, [before, after].concat());
    let events = store.capture(done.recording.id).unwrap().events;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].at_frame),
        (CaptureEventKind::Gap, 8_000)
    );
    assert!(
        events[0].detail.contains("stopped delivering"),
        "{}",
        events[0].detail
    );
}

#[test]
fn a_requested_length_is_recorded_to_the_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let source = GeneratedSource::tone(MONO_16K, 440.0, 0.5, None, Pacing::AsFastAsTaken);
    let recorder = Recorder::start(
        store,
        story,
        Box::new(source),
        RecorderOptions {
            max_duration: Some(Duration::from_millis(2_345)),
            ..RecorderOptions::default()
        },
    )
    .unwrap();
    wait_until("the length is reached", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::DurationReached);
    assert_eq!(done.recording.frames, 37_520);
    assert_eq!(wav_samples(&done.path).1.len(), 37_520);
}

#[test]
fn the_size_limit_stops_cleanly_and_keeps_everything_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let source = GeneratedSource::tone(MONO_16K, 440.0, 0.5, None, Pacing::AsFastAsTaken);
    let recorder = Recorder::start(
        store.clone(),
        story,
        Box::new(source),
        RecorderOptions {
            // A small limit stands in for 4 GiB: the decision is the same.
            max_file_bytes: 100_001,
            ..RecorderOptions::default()
        },
    )
    .unwrap();
    wait_until("the limit is reached", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::FileSizeLimit);
    assert_eq!(done.recording.frames, 50_000);
    assert_eq!(wav_samples(&done.path).1.len(), 50_000);
    assert!(done.reason.message().contains("4 GiB"));
    assert_eq!(
        store.capture(done.recording.id).unwrap().stop_reason,
        Some(StopReason::FileSizeLimit)
    );
}

#[test]
fn low_free_space_stops_cleanly_and_keeps_what_was_captured() {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(mount_point.path(), "8m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let (store, story) = store_with_story(&mount_point.path().join("data"));
    let options = RecorderOptions {
        min_free_bytes: 6 << 20,
        ..RecorderOptions::default()
    };
    let source = GeneratedSource::tone(MONO_16K, 440.0, 0.5, None, Pacing::AsFastAsTaken);
    let recorder =
        Recorder::start(store.clone(), story, Box::new(source), options.clone()).unwrap();
    wait_until("storage runs low", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::LowDiskSpace);
    assert!(
        done.recording.frames > 16_000,
        "{} frames",
        done.recording.frames
    );
    assert_eq!(
        wav_samples(&done.path).1.len() as u64,
        done.recording.frames
    );
    assert_eq!(store.recordings(story).unwrap().len(), 1);

    // With the margin already gone, a new recording is refused with a clear error.
    let source = GeneratedSource::tone(MONO_16K, 440.0, 0.5, None, Pacing::AsFastAsTaken);
    let refused = Recorder::start(store.clone(), story, Box::new(source), options);
    let Err(err @ tellus_core::Error::NotEnoughStorage { .. }) = refused else {
        panic!("not refused for storage");
    };
    // The reporter is told how much there is, how much is needed, and where.
    let message = err.to_string();
    assert!(message.contains(" MB free"), "{message}");
    assert!(message.contains("6.3 MB"), "{message}");
    assert!(
        message.contains(&store.recordings_dir().display().to_string()),
        "{message}"
    );
}

/// The recordings folder's files, by name.
fn recording_files(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.recordings_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The audio a crash right now would leave: what the `.partial.wav`'s header says is
/// there, read by an independent WAV reader.
fn on_disk_now(store: &Store, recorder: &Recorder) -> Vec<i16> {
    let path = store
        .recordings_dir()
        .join(format!("{}.partial.wav", recorder.recording_id()));
    match hound::WavReader::open(&path) {
        Ok(reader) => reader.into_samples().map_while(Result::ok).collect(),
        Err(_) => Vec::new(), // not even a header yet
    }
}

#[test]
fn rates_and_channels_tellus_does_not_record_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    for (sample_rate, channels) in [
        (12_345, 1),
        (4_000_000, 1),
        (7, 1),
        (0, 1),
        (48_000, 0),
        (48_000, 3),
    ] {
        let format = AudioFormat {
            sample_rate,
            channels,
        };
        let (tx, _rx) = mpsc::channel();
        let source = HandDriven { format, sinks: tx };
        let refused = Recorder::start(store.clone(), story, Box::new(source), hand_options());
        let Err(tellus_core::Error::InvalidInput(message)) = refused else {
            panic!("{sample_rate} Hz, {channels} ch was not refused as an input error");
        };
        assert!(
            message.contains(&sample_rate.to_string()) || message.contains("channel"),
            "{message}"
        );
    }
    assert!(store.recordings(story).unwrap().is_empty());
    assert_eq!(recording_files(&store), Vec::<String>::new(), "no file");
}

/// A device the test scripts: each start either hands its sink to the test or never
/// returns (a sound server that hangs); a stream's drop can be made to block until the
/// test lets it go (an audio library stuck in its own thread).
struct Scripted {
    format: AudioFormat,
    /// Per start, in order: true = hang. Starts past the end succeed.
    hang_on_start: Vec<bool>,
    starts: usize,
    sinks: mpsc::Sender<(CaptureSink, StreamFault)>,
    /// Told the number of each start as it begins.
    started: mpsc::Sender<usize>,
    /// When set, dropping a stream reports it here and blocks until the receiver sends.
    drop_gate: Option<DropGate>,
}

/// Where a stream's drop says it began, and what it waits on to finish.
type DropGate = (mpsc::Sender<()>, Arc<std::sync::Mutex<mpsc::Receiver<()>>>);

struct GatedStream(Option<DropGate>);
impl RunningStream for GatedStream {}
impl Drop for GatedStream {
    fn drop(&mut self) {
        if let Some((entered, release)) = self.0.take() {
            let _ = entered.send(());
            let _ = release.lock().unwrap().recv();
        }
    }
}

impl AudioSource for Scripted {
    fn describe(&self) -> String {
        "scripted test device".into()
    }
    fn format(&self) -> AudioFormat {
        self.format
    }
    fn start(
        &mut self,
        sink: CaptureSink,
        faults: StreamFault,
    ) -> tellus_core::Result<Box<dyn RunningStream>> {
        let hang = self
            .hang_on_start
            .get(self.starts)
            .copied()
            .unwrap_or(false);
        self.starts += 1;
        let _ = self.started.send(self.starts);
        if hang {
            loop {
                std::thread::park(); // never returns, like a call into a frozen server
            }
        }
        let _ = self.sinks.send((sink, faults));
        Ok(Box::new(GatedStream(self.drop_gate.clone())))
    }
}

/// A recording from a `Scripted` device, and the test's handles on it.
struct ScriptedRun {
    recorder: Recorder,
    sinks: mpsc::Receiver<(CaptureSink, StreamFault)>,
    /// With a gated drop: told when a stream's drop begins; sending lets it finish.
    drop_entered: Option<mpsc::Receiver<()>>,
    drop_release: Option<mpsc::Sender<()>>,
    /// The number of each start as it begins.
    started: mpsc::Receiver<usize>,
}

fn start_scripted(
    store: &Arc<Store>,
    story: StoryId,
    hang_on_start: Vec<bool>,
    gated_drop: bool,
    options: RecorderOptions,
) -> ScriptedRun {
    let (tx, sinks) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let source = Scripted {
        format: MONO_16K,
        hang_on_start,
        starts: 0,
        started: started_tx,
        sinks: tx,
        drop_gate: gated_drop.then(|| (entered_tx, Arc::new(std::sync::Mutex::new(release_rx)))),
    };
    let recorder = Recorder::start(store.clone(), story, Box::new(source), options).unwrap();
    ScriptedRun {
        recorder,
        sinks,
        drop_entered: gated_drop.then_some(entered_rx),
        drop_release: gated_drop.then_some(release_tx),
        started,
    }
}

#[test]
fn a_microphone_that_opens_but_stays_silent_ends_the_recording_after_five_tries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let ScriptedRun {
        recorder, sinks, ..
    } = start_scripted(
        &store,
        story,
        Vec::new(),
        false,
        RecorderOptions {
            stall_timeout: Duration::from_millis(50),
            ..RecorderOptions::default()
        },
    );
    let (mut first, _) = sinks.recv().unwrap();
    let spoken = ramp(8_000, 5);
    first.push(&spoken, 1, |s| s);
    // Every stream after this one opens and then delivers nothing, like a suspended sink.
    wait_until("the recording gives up", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::DeviceFailed);
    assert_eq!(done.stats.restarts, 5, "{:?}", done.stats);
    assert_eq!(
        wav_samples(&done.path).1,
        spoken,
        "everything captured was kept"
    );
    let events = store.capture(done.recording.id).unwrap().events;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.at_frame))
            .collect::<Vec<_>>(),
        [(CaptureEventKind::Gap, 8_000)],
        "one outage, one gap"
    );
    let gap_markers = store
        .notes(story)
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == NoteKind::Marker && n.text.starts_with("Gap"))
        .count();
    assert_eq!(gap_markers, 1);
}

#[test]
fn a_requested_length_counts_the_time_the_microphone_was_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let ScriptedRun {
        recorder, sinks, ..
    } = start_scripted(
        &store,
        story,
        Vec::new(),
        false,
        RecorderOptions {
            max_duration: Some(Duration::from_secs(1)),
            // Five silent restarts take far longer than the half second left.
            stall_timeout: Duration::from_millis(300),
            ..RecorderOptions::default()
        },
    );
    let (mut first, _) = sinks.recv().unwrap();
    let spoken = ramp(8_000, 9);
    first.push(&spoken, 1, |s| s);
    wait_until("the length is reached", || recorder.has_stopped());
    let done = recorder.stop().unwrap();
    assert_eq!(done.reason, StopReason::DurationReached);
    assert_eq!(wav_samples(&done.path).1, spoken);
    let events = store.capture(done.recording.id).unwrap().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, CaptureEventKind::Gap);
}

#[test]
fn stop_returns_while_the_device_hangs_and_keeps_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    // The first stream's drop never returns and the restart's start never returns: a
    // sound server frozen mid-recording.
    let ScriptedRun {
        recorder,
        sinks,
        started,
        drop_release: _never_released,
        ..
    } = start_scripted(&store, story, vec![false, true], true, hand_options());
    let (mut first, faults) = sinks.recv().unwrap();
    let spoken = ramp(8_000, 11);
    first.push(&spoken, 1, |s| s);
    wait_until("written", || recorder.stats().frames_written == 8_000);
    faults.report(true);
    // The failed stream never finishes releasing, and the new one never finishes
    // starting: stop is asked while the recorder waits on the second.
    while started.recv().unwrap() < 2 {}

    let recorder = Arc::new(recorder);
    let (done_tx, done_rx) = mpsc::channel();
    let asked = Instant::now();
    let stopping = recorder.clone();
    std::thread::spawn(move || {
        let _ = done_tx.send(stopping.stop());
    });
    let done = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("stop did not return while the device hung")
        .unwrap();
    eprintln!("stop returned after {:?}", asked.elapsed());
    assert_eq!(done.reason, StopReason::Requested);
    assert_eq!(wav_samples(&done.path).1, spoken);
    assert_eq!(store.recordings(story).unwrap().len(), 1);
}

#[test]
fn what_was_captured_is_on_disk_before_a_stopping_stream_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let run = start_scripted(
        &store,
        story,
        Vec::new(),
        true,
        RecorderOptions {
            // No periodic checkpoint can hide the order of things at stop.
            checkpoint_every: Duration::from_secs(3_600),
            ..hand_options()
        },
    );
    let (recorder, sinks) = (run.recorder, run.sinks);
    let (entered, release) = (run.drop_entered.unwrap(), run.drop_release.unwrap());
    let (mut sink, _) = sinks.recv().unwrap();
    let spoken = ramp(16_000, 13);
    sink.push(&spoken, 1, |s| s);
    let recorder = Arc::new(recorder);
    let stopping = recorder.clone();
    let stopped = std::thread::spawn(move || stopping.stop());
    entered.recv().unwrap();
    // The stream is being released: a SIGKILL now must not lose what was captured.
    assert_eq!(on_disk_now(&store, &recorder), spoken);
    release.send(()).unwrap();
    let done = stopped.join().unwrap().unwrap();
    assert_eq!(wav_samples(&done.path).1, spoken);
}

#[test]
fn the_first_audio_is_on_disk_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, _, mut sink) = start_hand_driven(
        &store,
        story,
        MONO_16K,
        RecorderOptions {
            checkpoint_every: Duration::from_secs(3_600),
            ..hand_options()
        },
    );
    let first = ramp(1_600, 17); // 0.1 s
    sink.push(&first, 1, |s| s);
    wait_until("the first audio is durable", || {
        recorder.stats().frames_durable == 1_600
    });
    assert_eq!(on_disk_now(&store, &recorder), first);
    recorder.stop().unwrap();
}

#[test]
fn a_recording_that_captured_nothing_is_not_indexed_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let (recorder, _, _sink) = start_hand_driven(&store, story, MONO_16K, hand_options());
    let id = recorder.recording_id();
    let Err(tellus_core::Error::Audio(message)) = recorder.stop() else {
        panic!("a recording of nothing was reported as a recording");
    };
    assert!(message.contains("nothing was recorded"), "{message}");
    assert!(store.recordings(story).unwrap().is_empty());
    assert_eq!(recording_files(&store), Vec::<String>::new());
    let capture = store.capture(id).unwrap();
    assert_eq!(capture.stop_reason, Some(StopReason::Requested));
    assert_eq!(capture.stats.frames_captured, 0);
}
