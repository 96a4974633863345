//! `tellus record` through real cpal on this machine's test microphones
//! (tests/support/audio): the file-backed ALSA device (bit-exact, faster than real time)
//! and a private PulseAudio null sink (real time). Each capture runs in the real
//! `tellus` binary with the ALSA configuration in its environment. Needs the Debian
//! packages `scripts/setup.sh` installs (espeak-ng, sox, pulseaudio, alsa plugins).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/audio")
}

fn alsa_config(extra: &[&str]) -> String {
    let mut parts = vec![
        "/usr/share/alsa/alsa.conf".to_string(),
        support().join("alsa-test-mic.conf").display().to_string(),
    ];
    parts.extend(
        extra
            .iter()
            .map(|f| support().join(f).display().to_string()),
    );
    parts.join(":")
}

/// Speech made once per test run from the fixture text (espeak-ng + sox).
fn speech(rate: u32) -> (PathBuf, PathBuf) {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    let dir = MADE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("speech");
        for rate in ["16000", "48000"] {
            let status = Command::new(support().join("make-speech.sh"))
                .arg(&dir)
                .arg(rate)
                .status()
                .expect("make-speech.sh needs bash, espeak-ng and sox (scripts/setup.sh)");
            assert!(status.success(), "make-speech.sh failed");
        }
        dir
    });
    (
        dir.join(format!("speech-{rate}.wav")),
        dir.join(format!("speech-{rate}.s16le.raw")),
    )
}

struct Tellus {
    dir: tempfile::TempDir,
    story: String,
}

impl Tellus {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tellus {
            dir,
            story: String::new(),
        };
        t.run(&["project", "init"], &[]);
        // These tests compare the recorded WAV with what was played: it stays beside its
        // FLAC (data saver's own tests cover the FLAC-only default).
        t.run(&["sync", "settings", "--keep-wav", "true"], &[]);
        let out = t.run(
            &[
                "--json",
                "story",
                "new",
                "--title",
                "Interview",
                "--storyteller",
                "P1",
            ],
            &[],
        );
        let story: Value = serde_json::from_slice(&out.stdout).unwrap();
        t.story = story["id"].as_str().unwrap().to_string();
        t
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tellus"));
        c.arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("TELLUS_DATA_DIR")
            .envs(env.iter().copied());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.command(args, env).output().unwrap();
        assert!(
            out.status.success(),
            "tellus {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn record_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--json", "record", "--story", self.story.as_str()];
        args.extend_from_slice(extra);
        args
    }
}

/// The JSON lines `tellus --json record` prints.
fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn wav_samples(path: &str) -> (hound::WavSpec, Vec<i16>) {
    let reader = hound::WavReader::open(path).unwrap();
    (
        reader.spec(),
        reader.into_samples().map(Result::unwrap).collect(),
    )
}

fn raw_samples(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn the_file_backed_alsa_device_is_captured_bit_exact_at_16_and_48_khz() {
    let t = Tellus::new();
    for (device, rate, extra) in [
        ("tellus_mic_raw", 16_000u32, vec!["--rate", "16000"]),
        ("tellus_mic", 48_000, vec![]),
    ] {
        let (_, raw) = speech(rate);
        let rate_text = rate.to_string();
        let mut args = t.record_args(&["--device", device, "--for", "3s"]);
        args.extend(extra.iter().copied());
        let out = t.run(
            &args,
            &[
                ("ALSA_CONFIG_PATH", &alsa_config(&[])),
                ("TELLUS_MIC_INFILE", raw.to_str().unwrap()),
                ("TELLUS_MIC_RATE", &rate_text),
                ("TELLUS_MIC_CHANNELS", "1"),
            ],
        );
        let lines = json_lines(&out.stdout);
        let stopped = lines.last().unwrap();
        assert_eq!(stopped["reason"], "duration_reached", "{stopped}");
        assert_eq!(stopped["stats"]["frames_dropped"], 0);
        let (spec, samples) = wav_samples(stopped["path"].as_str().unwrap());
        assert_eq!((spec.sample_rate, spec.channels), (rate, 1));
        assert_eq!(samples.len() as u32, 3 * rate);
        let input = raw_samples(&raw);
        assert!(
            samples.iter().any(|&s| s.unsigned_abs() > 1000),
            "speech, not silence"
        );
        assert!(
            samples == input[..samples.len()],
            "{device} at {rate} Hz: the captured samples differ from the input"
        );
    }
}

#[test]
fn a_device_that_does_not_exist_is_one_clear_error_and_records_nothing() {
    let t = Tellus::new();
    let out = t
        .command(
            &t.record_args(&["--device", "no_such_microphone", "--for", "1s"]),
            &[("ALSA_CONFIG_PATH", &alsa_config(&[]))],
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: no audio input device is called 'no_such_microphone'"),
        "{stderr}"
    );
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["recordings"].as_array().unwrap().len(), 0);
    let leftovers = std::fs::read_dir(t.dir.path().join("recordings"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "no file is left behind");
}

/// A private PulseAudio daemon for one test, stopped when the test ends.
struct Pulse {
    dir: tempfile::TempDir,
    server: String,
}

impl Pulse {
    fn start() -> Pulse {
        let dir = tempfile::tempdir().unwrap();
        let server = format!("unix:{}/native", dir.path().display());
        let pulse = Pulse { dir, server };
        pulse.daemon("start");
        pulse
    }

    /// Runs `test-pulse.sh start|stop` for this test's daemon.
    fn daemon(&self, action: &str) {
        let out = Command::new(support().join("test-pulse.sh"))
            .arg(action)
            .env("TELLUS_PULSE_DIR", self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "PulseAudio {action} failed (scripts/setup.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ALSA_CONFIG_PATH", alsa_config(&[])),
            ("TELLUS_PULSE_SERVER", self.server.clone()),
            ("PULSE_SERVER", self.server.clone()),
        ]
    }

    /// Plays a WAV into the null sink: "speaks into the microphone" in real time.
    fn play(&self, wav: &Path) -> Child {
        Command::new("paplay")
            .arg(format!("--server={}", self.server))
            .arg("--device=tellus_sink")
            .arg(wav)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = Command::new(support().join("test-pulse.sh"))
            .arg("stop")
            .env("TELLUS_PULSE_DIR", self.dir.path())
            .status();
    }
}

/// Waits until a stopped daemon no longer answers.
fn wait_gone(pulse: &Pulse) {
    let socket = pulse.dir.path().join("native");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Command::new("pactl")
        .arg(format!("--server=unix:{}", socket.display()))
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "PulseAudio did not stop"
        );
    }
}

/// A recording running in the real binary, read line by line as it goes.
struct Live {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    seen: Vec<Value>,
}

impl Live {
    fn start(t: &Tellus, extra: &[&str], env: &[(&'static str, String)]) -> Live {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut child = t
            .command(&t.record_args(extra), &env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Live {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads status lines until `condition` holds for one; returns it.
    fn until(&mut self, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        for line in self.lines.by_ref() {
            let value: Value = serde_json::from_str(&line.unwrap()).unwrap();
            self.seen.push(value.clone());
            if condition(&value) {
                return value;
            }
            assert_ne!(value["event"], "stopped", "stopped before {what}");
        }
        panic!("the recording ended before {what}");
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn finish(mut self) -> (Value, Vec<Value>) {
        let stopped = self.until("it stopped", |v| v["event"] == "stopped");
        assert!(self.child.wait().unwrap().success());
        (stopped, self.seen)
    }
}

fn stat(v: &Value, key: &str) -> u64 {
    v["stats"][key].as_u64().unwrap_or(0)
}

fn is_status(v: &Value) -> bool {
    v["event"] == "status"
}

#[test]
fn pulse_ten_seconds_hold_ten_seconds_with_a_meter_that_follows_the_audio() {
    let pulse = Pulse::start();
    let t = Tellus::new();
    let (wav, _) = speech(16_000);
    let mut live = Live::start(
        &t,
        &["--device", "tellus_pulse_mic", "--for", "10s"],
        &pulse.env(),
    );
    let started = live.until("it started", |v| v["event"] == "started");
    let rate = started["sample_rate"].as_u64().unwrap();
    // Speak only once the device delivers: the first callback can be seconds late.
    live.until("audio arrives", |v| {
        is_status(v) && stat(v, "frames_captured") > 0
    });
    live.until("a second of silence", |v| {
        is_status(v) && stat(v, "position") >= 1_000
    });
    let mut player = pulse.play(&wav);
    let (stopped, seen) = live.finish();
    let _ = player.kill();
    let _ = player.wait();

    assert_eq!(stopped["reason"], "duration_reached");
    let frames = stopped["recording"]["frames"].as_u64().unwrap();
    let audio_ms = frames * 1000 / rate;
    assert!(audio_ms.abs_diff(10_000) <= 50, "{audio_ms} ms of audio");
    let (_, samples) = wav_samples(stopped["path"].as_str().unwrap());
    assert_eq!(samples.len() as u64, frames);

    let statuses: Vec<&Value> = seen.iter().filter(|v| is_status(v)).collect();
    let mut previous = 0;
    for s in &statuses {
        // The elapsed time shown is the audio captured, not the wall clock.
        let shown = stat(s, "position");
        assert_eq!(shown, stat(s, "frames_captured") * 1000 / rate, "{s}");
        assert!(shown >= previous, "elapsed went backwards: {s}");
        previous = shown;
    }
    assert!(
        audio_ms - previous <= 500,
        "the last elapsed shown was {previous} ms"
    );
    let levels: Vec<(u64, f64)> = statuses
        .iter()
        .filter_map(|s| {
            Some((
                stat(s, "position"),
                s["stats"]["level"]["rms_dbfs"].as_f64()?,
            ))
        })
        .collect();
    let quiet = levels.iter().filter(|(at, _)| *at < 900).map(|(_, db)| *db);
    assert!(
        quiet.clone().count() > 0 && quiet.clone().all(|db| db < -60.0),
        "{levels:?}"
    );
    let loudest = levels.iter().map(|(_, db)| *db).fold(f64::MIN, f64::max);
    assert!(
        loudest > -40.0,
        "speech should show above -40 dBFS: {levels:?}"
    );
}

#[test]
fn pulse_a_recording_paused_for_two_of_its_ten_seconds_holds_the_other_eight() {
    let pulse = Pulse::start();
    let t = Tellus::new();
    let mut live = Live::start(
        &t,
        &["--device", "tellus_pulse_mic", "--for", "10s"],
        &pulse.env(),
    );
    let started = live.until("it started", |v| v["event"] == "started");
    let rate = started["sample_rate"].as_u64().unwrap();
    live.until("3 s of audio", |v| {
        is_status(v) && stat(v, "position") >= 3_000
    });
    live.send("space");
    let paused = live.until("paused", |v| is_status(v) && v["stats"]["paused"] == true);
    let paused_at = stat(&paused, "session");
    live.until("2 s paused", |v| {
        is_status(v) && stat(v, "session") >= paused_at + 2_000
    });
    live.send("space");
    live.until("resumed", |v| is_status(v) && v["stats"]["paused"] == false);
    live.send("m after the pause");
    let (stopped, _) = live.finish();

    assert_eq!(stopped["reason"], "duration_reached");
    let frames = stopped["recording"]["frames"].as_u64().unwrap();
    let segments = stopped["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_eq!(segments[0]["kind"], "pause");
    assert_eq!(segments[1]["kind"], "resume");
    let boundary = segments[1]["at_frame"].as_u64().unwrap();
    assert!(boundary.abs_diff(segments[0]["at_frame"].as_u64().unwrap()) <= rate / 20);
    // The pause came once 3 s were recorded (how much later depends on the machine's
    // load, so only the lower bound is fixed).
    assert!(
        boundary >= 3 * rate && boundary < frames,
        "boundary at frame {boundary} of {frames}"
    );
    let paused_ms: u64 = segments[1]["detail"]
        .as_str()
        .unwrap()
        .trim_start_matches("paused for ")
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    // Resumed once 2 s of the device's clock had passed paused; a loaded machine may
    // resume later, which the recording then holds less of: what it holds is exactly the
    // ten seconds less the pause, on the audio clock.
    assert!(paused_ms >= 2_000, "paused for {paused_ms} ms");
    let audio_ms = frames * 1000 / rate;
    assert!(
        (audio_ms + paused_ms).abs_diff(10_000) <= 50,
        "{audio_ms} ms recorded + {paused_ms} ms paused"
    );
    assert!(audio_ms <= 8_000, "{audio_ms} ms recorded");
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let marker = &shown["notes"][0];
    assert_eq!(marker["text"], "after the pause");
    assert!(marker["at"].as_u64().unwrap() >= boundary * 1000 / rate);
}

#[test]
fn pulse_a_sound_server_that_dies_mid_recording_leaves_a_gap_not_a_lost_recording() {
    let pulse = Pulse::start();
    let t = Tellus::new();
    let mut live = Live::start(
        &t,
        &["--device", "tellus_pulse_mic", "--for", "60s"],
        &pulse.env(),
    );
    let started = live.until("it started", |v| v["event"] == "started");
    let rate = started["sample_rate"].as_u64().unwrap();
    live.until("2 s of audio", |v| {
        is_status(v) && stat(v, "position") >= 2_000
    });
    // The server dies mid-stream; it comes back while the recorder retries.
    pulse.daemon("stop");
    wait_gone(&pulse);
    pulse.daemon("start");
    let back = live.until("half a second of audio after the restart", |v| {
        is_status(v) && stat(v, "restarts") >= 1 && stat(v, "position") >= 2_500
    });
    // The silence counts on the session's clock (so a requested length ends on time
    // whatever the microphone does); nothing was paused.
    assert!(
        stat(&back, "session") >= stat(&back, "position") + 100,
        "{back}"
    );
    live.send("q");
    let (stopped, _) = live.finish();

    assert_eq!(stopped["reason"], "requested", "{stopped}");
    assert!(
        stopped["stats"]["stream_errors"].as_u64().unwrap() >= 1,
        "{stopped}"
    );
    let frames = stopped["recording"]["frames"].as_u64().unwrap();
    let segments = stopped["segments"].as_array().unwrap();
    let gap = segments
        .iter()
        .find(|s| s["kind"] == "gap")
        .expect("a gap boundary");
    let gap_at = gap["at_frame"].as_u64().unwrap();
    assert!(gap_at >= 2 * rate && gap_at + rate / 2 <= frames, "{gap}");
    assert_eq!(
        segments.iter().filter(|s| s["kind"] == "gap").count(),
        1,
        "one outage, one gap: {segments:?}"
    );
    let (_, samples) = wav_samples(stopped["path"].as_str().unwrap());
    assert_eq!(
        samples.len() as u64,
        frames,
        "one file, before and after the gap"
    );
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let texts: Vec<&str> = shown["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.starts_with("Gap")), "{texts:?}");
}

#[test]
fn pulse_a_sound_server_that_does_not_come_back_stops_cleanly_keeping_the_audio() {
    let pulse = Pulse::start();
    let t = Tellus::new();
    let mut live = Live::start(
        &t,
        &["--device", "tellus_pulse_mic", "--for", "60s"],
        &pulse.env(),
    );
    let started = live.until("it started", |v| v["event"] == "started");
    let rate = started["sample_rate"].as_u64().unwrap();
    live.until("2 s of audio", |v| {
        is_status(v) && stat(v, "position") >= 2_000
    });
    pulse.daemon("stop");
    let (stopped, _) = live.finish();

    assert_eq!(stopped["reason"], "device_failed", "{stopped}");
    assert!(
        stopped["message"]
            .as_str()
            .unwrap()
            .contains("everything captured was kept")
    );
    let frames = stopped["recording"]["frames"].as_u64().unwrap();
    assert!(frames >= 2 * rate, "{frames} frames kept");
    let (_, samples) = wav_samples(stopped["path"].as_str().unwrap());
    assert_eq!(samples.len() as u64, frames);
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["recordings"][0]["frames"].as_u64().unwrap(), frames);
}

/// A deterministic, speech-loud signal: every sample differs from its neighbours.
fn noise(frames: usize) -> Vec<i16> {
    let mut x: u32 = 0x1234_5678;
    (0..frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 17) as i16 - 16_384
        })
        .collect()
}

#[test]
fn sigkill_during_a_recording_leaves_audio_the_next_open_recovers() {
    let t = Tellus::new();
    let input_path = t.dir.path().join("input.wav");
    let input = noise(16_000 * 20);
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&input_path, spec).unwrap();
        for &s in &input {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
    let mut live = Live::start(&t, &["--from-file", input_path.to_str().unwrap()], &[]);
    live.until("5 s of audio", |v| {
        is_status(v) && stat(v, "position") >= 5_000
    });
    live.child.kill().unwrap(); // SIGKILL
    live.child.wait().unwrap();
    let partials: Vec<_> = std::fs::read_dir(t.dir.path().join("recordings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(partials.len(), 1);
    assert!(partials[0].ends_with(".partial.wav"), "{partials:?}");

    let out = t.run(&["--json", "story", "show", &t.story], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recovered: a recording of story"),
        "{stderr}"
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recording = &shown["recordings"][0];
    assert_eq!(recording["state"], "recovered");
    let file = t
        .dir
        .path()
        .join("recordings")
        .join(recording["file_name"].as_str().unwrap());
    let (spec, samples) = wav_samples(file.to_str().unwrap());
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    assert_eq!(samples.len() as u64, recording["frames"].as_u64().unwrap());
    assert!(
        samples.len() >= 4 * 16_000,
        "only {} frames recovered",
        samples.len()
    );
    assert!(
        samples == input[..samples.len()],
        "the recovered audio differs from the input"
    );

    // Recovered once: the next open finds nothing more to do.
    let again = t.run(&["story", "list"], &[]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("recovered"));
}

/// A WAV of `seconds` of noise at 16 kHz mono in the data folder; returns its path and
/// samples.
fn noise_wav(t: &Tellus, seconds: usize) -> (PathBuf, Vec<i16>) {
    let path = t.dir.path().join("input.wav");
    let samples = noise(16_000 * seconds);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for &s in &samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    (path, samples)
}

/// Sends a signal to a child by name ("TERM", "INT", "HUP", "KILL").
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_sigint_and_sighup_stop_a_recording_cleanly() {
    let t = Tellus::new();
    let (input, samples) = noise_wav(&t, 20);
    for name in ["TERM", "INT", "HUP"] {
        let mut live = Live::start(&t, &["--from-file", input.to_str().unwrap()], &[]);
        live.until("half a second of audio", |v| {
            is_status(v) && stat(v, "position") >= 500
        });
        signal(&live.child, name);
        let (stopped, _) = live.finish();
        assert_eq!(stopped["reason"], "requested", "SIG{name}: {stopped}");
        let (_, recorded) = wav_samples(stopped["path"].as_str().unwrap());
        assert!(
            recorded.len() >= 8_000,
            "SIG{name}: {} frames",
            recorded.len()
        );
        assert!(recorded == samples[..recorded.len()], "SIG{name}");
    }
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let recordings = shown["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 3);
    assert!(
        recordings.iter().all(|r| r["state"] == "complete"),
        "{shown}"
    );
}

#[test]
fn a_kill_in_the_first_second_keeps_what_was_captured() {
    let t = Tellus::new();
    let (input, samples) = noise_wav(&t, 20);
    let mut live = Live::start(&t, &["--from-file", input.to_str().unwrap()], &[]);
    let durable = live.until("the first audio is on disk", |v| {
        assert!(
            !is_status(v) || stat(v, "position") < 1_000,
            "a second went by and nothing was made durable: {v}"
        );
        is_status(v) && stat(v, "frames_durable") > 0
    });
    live.child.kill().unwrap(); // SIGKILL, within the first second
    live.child.wait().unwrap();

    let out = t.run(&["--json", "story", "show", &t.story], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recovered: a recording of story"),
        "{stderr}"
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recording = &shown["recordings"][0];
    let file = t
        .dir
        .path()
        .join("recordings")
        .join(recording["file_name"].as_str().unwrap());
    let (_, recovered) = wav_samples(file.to_str().unwrap());
    assert!(
        recovered.len() as u64 >= stat(&durable, "frames_durable"),
        "{} frames recovered, {durable}",
        recovered.len()
    );
    assert!(recovered == samples[..recovered.len()]);
}

#[test]
fn rates_tellus_does_not_record_are_one_clear_error_and_record_nothing() {
    let t = Tellus::new();
    let (_, raw) = speech(16_000);
    for rate in ["12345", "7", "4000000", "2147483648", "4294967295"] {
        let out = t
            .command(
                &t.record_args(&["--device", "tellus_mic", "--rate", rate, "--for", "1s"]),
                &[
                    ("ALSA_CONFIG_PATH", &alsa_config(&[])),
                    ("TELLUS_MIC_INFILE", raw.to_str().unwrap()),
                ],
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--rate {rate}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "error: {rate} Hz is not a sample rate Tellus records"
            )),
            "--rate {rate}: {stderr}"
        );
    }
    let shown = t.run(&["--json", "story", "show", &t.story], &[]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["recordings"].as_array().unwrap().len(), 0);
    let files = std::fs::read_dir(t.dir.path().join("recordings"))
        .unwrap()
        .count();
    assert_eq!(files, 0, "no file is left behind");
}

/// A line the C audio libraries print on their own (alsa-lib, libjack through ALSA's
/// JACK plugin), as a person without a microphone saw 8 to 16 of them (issue 18).
fn is_audio_library_noise(line: &str) -> bool {
    line.starts_with("ALSA lib")
        || line.contains("Jack")
        || line.contains("jack server")
        || line.contains("Cannot connect to server")
}

/// Issue 18: with no microphone (the system's own ALSA configuration, its PulseAudio
/// and JACK plugins finding no server), `tellus devices` and `tellus record` print no
/// line of the C libraries' chatter; the failed recording is one line that says what to
/// do instead. The chatter is still there for whoever asks for debug logs.
#[test]
fn without_a_microphone_no_library_chatter_and_the_error_says_what_to_do() {
    let t = Tellus::new();
    let no_server = [
        ("PULSE_SERVER", "unix:/nonexistent/tellus-no-pulse"),
        ("JACK_NO_START_SERVER", "1"),
        ("JACK_DEFAULT_SERVER", "tellus-no-such-jack-server"),
    ];
    let quiet = |out: &Output| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let noise: Vec<&str> = stderr
            .lines()
            .filter(|l| is_audio_library_noise(l))
            .collect();
        assert!(noise.is_empty(), "library chatter on stderr:\n{stderr}");
    };
    let devices = t.command(&["devices"], &no_server).output().unwrap();
    assert!(devices.status.success());
    quiet(&devices);
    assert!(String::from_utf8_lossy(&devices.stderr).trim().is_empty());

    for device in [None, Some("jack")] {
        let mut args = vec!["record", "--story", t.story.as_str(), "--for", "1s"];
        args.extend(device.iter().flat_map(|d| ["--device", *d]));
        let out = t.command(&args, &no_server).output().unwrap();
        quiet(&out);
        // A machine with a sound card records from it; without one, one clear line.
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains("--from-file") && stderr.contains("tellus devices"),
                "{stderr}"
            );
        }
    }

    // Asked for, the libraries' messages are logged at debug level (listing ALSA's JACK
    // plugin with no JACK server always makes some).
    if !String::from_utf8_lossy(&devices.stdout).contains("JACK") {
        return;
    }
    let logged = t
        .command(&["devices"], &no_server)
        .env("TELLUS_LOG", "tellus_core::audio::library=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&logged.stderr);
    assert!(stderr.contains("tellus_core::audio::library"), "{stderr}");
}

/// Issue 18: the README's `tellus record --story $id --from-file talk.wav`, run from a
/// script (stdin not a terminal, already at its end), records the whole file instead
/// of stopping before the first audio: a file has its own end, as `--for` does.
#[test]
fn a_file_recorded_from_a_script_is_recorded_to_its_end() {
    let t = Tellus::new();
    let (input, samples) = noise_wav(&t, 1);
    let out = t
        .command(
            &[
                "record",
                "--story",
                &t.story,
                "--from-file",
                input.to_str().unwrap(),
            ],
            &[],
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Counts read as English: "0 pauses", never "1 pauses".
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dropped 0 frames · 0 stream errors · 0 restarts · 0 pauses"),
        "{stdout}"
    );
    let store = tellus_core::Store::open(t.dir.path()).unwrap();
    let story = t.story.parse().unwrap();
    let recordings = store.recordings(story).unwrap();
    assert_eq!(recordings.len(), 1);
    assert_eq!(recordings[0].frames, samples.len() as u64);
}

/// Issue 18: with two recordings in a story, a note says which one its position is in:
/// the latest by default, another with --recording; a position past the end of its
/// recording is refused and changes nothing; notes taken while recording carry the
/// recording being made.
#[test]
fn notes_carry_their_recording_and_positions_past_its_end_are_refused() {
    let t = Tellus::new();
    let (input, _) = noise_wav(&t, 1);
    let input = input.to_str().unwrap();
    for _ in 0..2 {
        let out = t
            .command(&["record", "--story", &t.story, "--from-file", input], &[])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A marker typed while recording a third time (from a longer file, stopped after
    // a second and a half) is in that recording.
    let (longer, _) = noise_wav(&t, 5);
    let mut live = Live::start(&t, &["--from-file", longer.to_str().unwrap()], &[]);
    live.until("a second of audio", |v| {
        v["event"] == "status" && v["stats"]["frames_captured"].as_u64() >= Some(16_000)
    });
    live.send("m During the third");
    live.until("the marker", |v| v["event"] == "command");
    live.until("half a second more", |v| {
        v["event"] == "status" && v["stats"]["frames_captured"].as_u64() >= Some(24_000)
    });
    live.send("q");
    live.finish();

    let past = t
        .command(
            &[
                "note", "add", "--story", &t.story, "--at", "99:00", "Too late",
            ],
            &[],
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&past.stderr);
    assert_eq!(past.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("past the end of recording 3"), "{stderr}");
    t.run(
        &[
            "note",
            "add",
            "--story",
            &t.story,
            "--at",
            "0:00.5",
            "In the latest",
        ],
        &[],
    );
    t.run(
        &[
            "note",
            "add",
            "--story",
            &t.story,
            "--at",
            "0:00.5",
            "--recording",
            "1",
            "In the first",
        ],
        &[],
    );
    let past_first = t
        .command(
            &[
                "note",
                "add",
                "--story",
                &t.story,
                "--at",
                "0:02",
                "--recording",
                "1",
                "x",
            ],
            &[],
        )
        .output()
        .unwrap();
    assert_eq!(past_first.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&past_first.stderr).contains("past the end of recording 1"));

    let shown: Value =
        serde_json::from_slice(&t.run(&["--json", "story", "show", &t.story], &[]).stdout).unwrap();
    let recordings: Vec<&str> = shown["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(recordings.len(), 3);
    let in_recording = |text: &str| {
        let note = shown["notes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["text"] == text)
            .unwrap_or_else(|| panic!("no note {text:?}: {shown}"));
        note["recording_id"].as_str().map(str::to_string)
    };
    assert_eq!(
        in_recording("During the third").as_deref(),
        Some(recordings[2])
    );
    assert_eq!(
        in_recording("In the latest").as_deref(),
        Some(recordings[2])
    );
    assert_eq!(in_recording("In the first").as_deref(), Some(recordings[0]));
    assert!(
        shown["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["text"] != "Too late")
    );
}
