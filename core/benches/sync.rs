//! Upload throughput and memory of the sync client, against a baseline measured in the
//! same run (DESIGN.md §7):
//!
//! 1. our client (`SyncEngine`: tus creation, one PATCH of the whole file checked against
//!    the SHA-256 taken while recording, then the receipt) uploading a 500 MB recording to tellus-server on loopback, vs curl sending
//!    the same file to the same server in ONE plain request (tus creation-with-upload
//!    carrying the whole file, no per-chunk checksum): the ratio of their throughputs;
//! 2. the client's peak RSS (VmHWM) while uploading a 2 GB recording.
//!
//! The client runs as a child process (this binary again) so that its memory is its
//! own; the server runs in this process. `cargo bench -p tellus-core --bench sync`
//! (`TELLUS_BENCH_MB=500` and `TELLUS_BENCH_BIG_MB=2000` change the sizes).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tellus_core::Store;
use tellus_core::model::{Recording, RecordingId, RecordingState, Timestamp};
use tellus_core::sync::{HttpTransport, SyncEngine};

const CHILD: &str = "TELLUS_BENCH_CHILD_PHONE";

fn main() {
    if let Ok(phone) = std::env::var(CHILD) {
        child(Path::new(&phone));
        return;
    }
    let mb: u64 = env_u64("TELLUS_BENCH_MB", 500);
    let big_mb: u64 = env_u64("TELLUS_BENCH_BIG_MB", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(support::Server::start_with(|c| {
        c.limits.recording_bytes = 4 * 1024 * 1024 * 1024;
    }));
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bytes = mb * 1_000_000;

    println!(
        "tellus sync benchmark: {mb} MB to tellus-server on loopback ({ROUNDS} rounds each, interleaved)"
    );
    let (mut ours, mut cpu_ours) = (Vec::new(), Vec::new());
    let (mut curl, mut cpu_curl) = (Vec::new(), Vec::new());
    let mut curl_checked = Vec::new();
    // TELLUS_BENCH_ONLY=ours|curl runs one side alone (for profiling with perf).
    let only = std::env::var("TELLUS_BENCH_ONLY").unwrap_or_default();
    for round in 0..ROUNDS {
        // Each round starts with a different one of the three, so that none always runs
        // right after another's 500 MB went to disk.
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 if only != "curl" => {
                    let (secs, _, cpu) = our_upload(&rt, &server, work.path(), bytes, round);
                    ours.push(secs);
                    cpu_ours.push(cpu);
                }
                1 if only != "ours" => {
                    let (secs, cpu) = curl_upload(&rt, &server, work.path(), bytes, round, false);
                    curl.push(secs);
                    cpu_curl.push(cpu);
                }
                2 if only != "ours" => {
                    let (secs, _) = curl_upload(&rt, &server, work.path(), bytes, round, true);
                    curl_checked.push(secs);
                }
                _ => {}
            }
        }
        clear_server_audio(&server);
    }
    let (cpu_ours, cpu_curl) = (mean(&cpu_ours), mean(&cpu_curl));
    if !only.is_empty() {
        println!(
            "  ours {ours:.2?} s (CPU s {cpu_ours}), curl {curl:.2?} s (CPU s {cpu_curl}), curl with checksum {curl_checked:.2?} s"
        );
        return;
    }
    let best = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    let (ours_s, curl_s) = (best(&ours), best(&curl));
    let median = |v: &[f64]| {
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let mbps = |s: f64| bytes as f64 / s / 1_000_000.0;
    println!(
        "  our client: {:.2} s ({:.0} MB/s); runs {:?}",
        ours_s,
        mbps(ours_s),
        ours.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
    );
    println!(
        "  curl, one creation-with-upload request: {:.2} s ({:.0} MB/s); runs {:?}",
        curl_s,
        mbps(curl_s),
        curl.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
    );
    println!(
        "  throughput ratio ours / curl: {:.3} best against best, {:.3} median against median (goal >= 0.95)",
        curl_s / ours_s,
        median(&curl) / median(&ours)
    );
    println!("  CPU seconds per upload (mean): ours {cpu_ours}, curl {cpu_curl}");
    // The same single request with an Upload-Checksum of the whole body, as ours sends.
    let checked_s = best(&curl_checked);
    println!(
        "  curl, the same request with Upload-Checksum sha256: {:.2} s ({:.0} MB/s); ratio ours / this: {:.3}",
        checked_s,
        mbps(checked_s),
        checked_s / ours_s
    );

    let (secs, peak_kb, _) = our_upload(&rt, &server, work.path(), big_mb * 1_000_000, 9);
    println!(
        "  {big_mb} MB upload: {:.1} s, client peak RSS {:.1} MB (goal < 40 MB)",
        secs,
        peak_kb as f64 / 1024.0
    );
    clear_server_audio(&server);
}

/// CPU seconds (user + system) of this process (the server) and its waited-for children
/// (the client), from /proc/self/stat: on two shared cores the ratio is bounded by how
/// much work each side makes the machine do, so it is printed beside the times.
#[derive(Clone, Copy, Default)]
struct CpuClock {
    server: f64,
    client: f64,
}

impl CpuClock {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        // Fields after the parenthesised command name: utime, stime, cutime, cstime are
        // fields 14-17 (11-14 here), in ticks of 1/100 s.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let t: Vec<f64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .map(|v| v.parse::<f64>().unwrap() / 100.0)
            .collect();
        CpuClock {
            server: t[0] + t[1],
            client: t[2] + t[3],
        }
    }

    fn elapsed(&self) -> CpuClock {
        let now = CpuClock::now();
        CpuClock {
            server: now.server - self.server,
            client: now.client - self.client,
        }
    }
}

impl std::fmt::Display for CpuClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} (server {:.2} + client {:.2})",
            self.server + self.client,
            self.server,
            self.client
        )
    }
}

fn mean(v: &[CpuClock]) -> CpuClock {
    let n = v.len().max(1) as f64;
    CpuClock {
        server: v.iter().map(|c| c.server).sum::<f64>() / n,
        client: v.iter().map(|c| c.client).sum::<f64>() / n,
    }
}

/// Rounds of each upload; best and median are reported.
const ROUNDS: u64 = 5;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `bytes` of noise to `path` in 1 MiB blocks; returns its SHA-256.
fn write_noise(path: &Path, bytes: u64, seed: u64) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for word in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    // On disk before the clock starts: its writeback must not compete with the upload's.
    f.into_inner().unwrap().sync_all().unwrap();
    hex::encode(hasher.finalize())
}

/// Our client, in a child process, delivering one recording of `bytes`; returns the
/// seconds the sync took, the child's peak RSS in kB and the CPU it all cost.
fn our_upload(
    rt: &tokio::runtime::Runtime,
    server: &support::Server,
    work: &Path,
    bytes: u64,
    round: u64,
) -> (f64, u64, CpuClock) {
    let phone = rt.block_on(support::Phone::enrolled(server, &server.base));
    let story = phone.consented_story();
    let id = RecordingId::new();
    let file_name = format!("{id}.wav");
    std::fs::create_dir_all(phone.store.recordings_dir()).unwrap();
    let path = phone.store.recordings_dir().join(&file_name);
    let sha256 = write_noise(&path, bytes, 1000 + round);
    let recording = Recording {
        id,
        story_id: story,
        file_name,
        format: "wav".into(),
        sample_rate: 48_000,
        channels: 1,
        frames: bytes / 2,
        bytes,
        sha256,
        state: RecordingState::Complete,
        created_at: Timestamp::now(),
        pcm_sha256: None,
    };
    phone.store.add_recording(&recording).unwrap();
    // The benchmark measures the upload of this one WAV.
    phone.store.testing_wav_only(&recording).unwrap();
    phone.store.mark_ready(story).unwrap();
    let _ = work;
    let cpu = CpuClock::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, phone.dir.path())
        .output()
        .unwrap();
    let cpu = cpu.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let secs: f64 = fields.next().unwrap().parse().unwrap();
    let peak: u64 = fields.next().unwrap().parse().unwrap();
    std::fs::remove_file(&path).unwrap();
    (secs, peak, cpu)
}

/// The child: syncs the phone at `dir`, prints "SECONDS PEAK_RSS_KB".
fn child(dir: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(Store::open(dir).unwrap());
    let engine = SyncEngine::new(store, Arc::new(HttpTransport::new().unwrap()));
    let start = Instant::now();
    let report = rt.block_on(engine.sync()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!("{secs} {peak}");
}

/// curl sending the whole file in one tus creation-with-upload request; the seconds and
/// the CPU it cost.
fn curl_upload(
    rt: &tokio::runtime::Runtime,
    server: &support::Server,
    work: &Path,
    bytes: u64,
    round: u64,
    with_checksum: bool,
) -> (f64, CpuClock) {
    let phone = rt.block_on(support::Phone::enrolled(server, &server.base));
    let story = phone.consented_story();
    phone.store.mark_ready(story).unwrap();
    rt.block_on(phone.engine.sync()).unwrap(); // consent + story document on the server
    let token = phone.store.device_token().unwrap().unwrap();
    let path = work.join(format!("curl-{round}.bin"));
    let sha256 = write_noise(&path, bytes, 2000 + round);
    let metadata =
        tellus_core_metadata(&story.to_string(), &RecordingId::new().to_string(), &sha256);
    let mut checksum = Vec::new();
    if with_checksum {
        use base64::Engine;
        let digest = hex::decode(&sha256).unwrap();
        let value = base64::engine::general_purpose::STANDARD.encode(digest);
        checksum = vec!["-H".to_string(), format!("Upload-Checksum: sha256 {value}")];
    }
    let cpu = CpuClock::now();
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(&checksum)
        .args(["-H", &format!("Authorization: Bearer {}", token)])
        .args(["-H", "Tus-Resumable: 1.0.0"])
        .args(["-H", &format!("Upload-Length: {bytes}")])
        .args(["-H", &format!("Upload-Metadata: {metadata}")])
        .args(["-H", "Content-Type: application/offset+octet-stream"])
        .args(["-H", "Expect:"])
        .arg("-T")
        .arg(&path)
        .arg(format!("{}/api/v1/uploads", server.base))
        .output()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu.elapsed();
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(code, "201", "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&path).unwrap();
    (secs, cpu)
}

fn tellus_core_metadata(story: &str, recording: &str, sha256: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    [
        ("story_id", story),
        ("recording_id", recording),
        ("sha256", sha256),
        ("content_type", "audio/wav"),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
    .collect::<Vec<_>>()
    .join(",")
}

fn clear_server_audio(server: &support::Server) {
    for entry in std::fs::read_dir(server.config.audio_dir()).unwrap() {
        let _ = std::fs::remove_file(entry.unwrap().path());
    }
}
