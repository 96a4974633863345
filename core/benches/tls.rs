//! HTTPS against HTTP in one run (issue 16): the sync client (`SyncEngine` over
//! `HttpTransport`) delivering the same size of recording to tellus-server on loopback
//! over HTTP and over HTTPS (rustls with ring, a certificate from a CA made here),
//! interleaved, as a throughput ratio; then the server's memory while it holds 2,000 idle
//! connections, plain and TLS (handshake done), as the growth of its resident set over
//! the same server idle.
//!
//! For the throughput the servers run in this process. For the memory each server runs
//! in a fresh child process (this binary again), measured by its own resident set, and
//! the idle connections come from another child, so that neither the other run's freed
//! memory nor the client side counts. `cargo bench -p tellus-core
//! --bench tls` (`TELLUS_BENCH_MB=200`, `TELLUS_BENCH_IDLE=2000` change the sizes).

#[path = "../../tests/support/pki.rs"]
mod pki;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Phone, Server};
use tellus_core::net::{CertificateDer, Trust};
use tellus_core::sync::{HttpTransport, Transport};

const CHILD: &str = "TELLUS_BENCH_IDLE_CHILD";
const SERVER_CHILD: &str = "TELLUS_BENCH_SERVER_CHILD";
const ROUNDS: usize = 5;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn raise_open_file_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = (wanted as libc::rlim_t).min(limit.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// A process's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        idle_child(&spec);
        return;
    }
    if let Ok(spec) = std::env::var(SERVER_CHILD) {
        server_child(&spec);
        return;
    }
    let mb = env_u64("TELLUS_BENCH_MB", 200);
    let idle = env_u64("TELLUS_BENCH_IDLE", 2000);
    raise_open_file_limit(idle * 2 + 256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ca = pki::TestCa::new();
    let (cert, key) = ca.server(-1, 30).write(work.path(), "server");
    let ca_file = work.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert.cert_pem).unwrap();
    let settings = |c: &mut tellus_server::ServerConfig| {
        c.limits.recording_bytes = 4 * 1024 * 1024 * 1024;
        c.max_connections = idle as usize + 100;
        c.max_connections_per_client = idle as usize + 100;
        c.header_read_timeout_secs = 600;
    };
    let http = rt.block_on(Server::start_with(settings));
    let https = rt.block_on(Server::start_with(|c| {
        settings(c);
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    }));
    let root = CertificateDer::from(ca.cert.cert_der.clone());
    let plain: Arc<dyn Transport> = Arc::new(HttpTransport::new().unwrap());
    let tls: Arc<dyn Transport> = Arc::new(HttpTransport::new().unwrap().with_root(root));
    let phone_http = rt.block_on(Phone::enrolled_through(&http, &http.base, plain));
    let phone_https = rt.block_on(Phone::enrolled_through(&https, &https.base, tls));

    println!(
        "tellus TLS benchmark: {mb} MB deliveries over HTTP and HTTPS, {ROUNDS} rounds each, interleaved"
    );
    let bytes = (mb * 1_000_000) as usize;
    let (mut over_http, mut over_https) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let order: [(&Phone, &mut Vec<f64>); 2] = if round % 2 == 0 {
            [
                (&phone_http, &mut over_http),
                (&phone_https, &mut over_https),
            ]
        } else {
            [
                (&phone_https, &mut over_https),
                (&phone_http, &mut over_http),
            ]
        };
        for (phone, times) in order {
            let (story, recording) = phone.story_with_recording(bytes, round as u64);
            let file = std::fs::File::open(phone.audio_path(&recording)).unwrap();
            file.sync_all().unwrap();
            let started = Instant::now();
            let report = rt.block_on(phone.engine.sync()).unwrap();
            times.push(started.elapsed().as_secs_f64());
            assert_eq!(report.delivered.len(), 1);
            assert!(phone.delivered(story));
            std::fs::remove_file(phone.audio_path(&recording)).unwrap();
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, s) = (median(&mut over_http), median(&mut over_https));
    let mbps = |t: f64| mb as f64 / t;
    println!("| {mb} MB delivery | median of {ROUNDS} | throughput |");
    println!("|---|---|---|");
    println!("| over HTTP | {h:.2} s | {:.0} MB/s |", mbps(h));
    println!("| over HTTPS | {s:.2} s | {:.0} MB/s |", mbps(s));
    println!("| **HTTPS / HTTP throughput** | **{:.2}** | |", h / s);
    for server in [&http, &https] {
        for f in std::fs::read_dir(server.config.audio_dir()).unwrap() {
            let _ = std::fs::remove_file(f.unwrap().path());
        }
    }

    println!();
    println!(
        "| server holding {idle} idle connections | RSS before | RSS with them | per connection |"
    );
    println!("|---|---|---|---|");
    drop((phone_http, phone_https));
    rt.block_on(async { drop((http, https)) });
    for (name, tls) in [("plain HTTP", false), ("TLS, handshake done", true)] {
        let data = work
            .path()
            .join(if tls { "idle-tls" } else { "idle-plain" });
        let mut server = Command::new(std::env::current_exe().unwrap())
            .env(
                SERVER_CHILD,
                format!(
                    "{}|{}|{}|{}|{}",
                    data.display(),
                    tls,
                    cert.display(),
                    key.display(),
                    idle
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().to_string();
        std::thread::sleep(Duration::from_millis(300));
        let before = rss_kib(server.id());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, format!("{addr}|{tls}|{}|{idle}", ca_file.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready"), "{line}");
        // The server has accepted (and for TLS finished) every one; let it settle.
        std::thread::sleep(Duration::from_millis(500));
        let with = rss_kib(server.id());
        drop(child.stdin.take());
        child.wait().unwrap();
        drop(server.stdin.take());
        server.wait().unwrap();
        println!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} KiB |",
            before as f64 / 1024.0,
            with as f64 / 1024.0,
            with.saturating_sub(before) as f64 / idle as f64
        );
    }
}

/// A server child: serves DATA (over TLS with CERT and KEY when asked) with room for N
/// connections held for minutes, prints its address, and stops when its stdin closes.
fn server_child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let n: usize = parts[4].parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = tellus_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: parts[0].into(),
        max_connections: n + 100,
        max_connections_per_client: n + 100,
        header_read_timeout_secs: 600,
        tls_cert: (parts[1] == "true").then(|| parts[2].into()),
        tls_key: (parts[1] == "true").then(|| parts[3].into()),
        ..tellus_server::ServerConfig::default()
    };
    let running = rt.block_on(tellus_server::Running::start(config)).unwrap();
    println!("{}", running.addr());
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
    rt.block_on(running.stop()).unwrap();
}

/// The child: opens N connections to ADDR (TLS ones finish their handshake), says
/// "ready", and holds them until its stdin closes.
fn idle_child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let addr: SocketAddr = parts[0].parse().unwrap();
    let tls = parts[1] == "true";
    let ca = std::path::PathBuf::from(parts[2]);
    let n: usize = parts[3].parse().unwrap();
    raise_open_file_limit(n as u64 + 256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = {
        let pem = std::fs::read(&ca).unwrap();
        let root = rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
        Arc::new(Trust::web_pki().with_root(root).client_config().unwrap())
    };
    let held = rt.block_on(async {
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            if tls {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .unwrap_or_else(|e| panic!("handshake {i}: {e}"));
                held.push(Box::new(stream) as Box<dyn Send>);
            } else {
                held.push(Box::new(tcp) as Box<dyn Send>);
            }
        }
        held
    });
    println!("ready {}", held.len());
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
    drop(held);
}
