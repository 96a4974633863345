//! A fault-injecting TCP proxy for sync tests: it forwards loopback connections to a
//! server and, on purpose, cuts every connection after a number of client→server bytes,
//! delays every piece it forwards, and stalls some connections (holds them silent, then
//! drops them). It counts every byte the client sent through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Cut the connection after this many client→server bytes on it (0: never).
    pub cut_every: u64,
    /// Cut only the first this-many connections that reach `cut_every` (0: every one):
    /// one cut, then a link that holds.
    pub max_cuts: u64,
    /// Wait this long before forwarding each piece (both directions).
    pub latency: Duration,
    /// Every `stall_every`-th connection (0: none) goes silent for `stall_for` after its
    /// first 64 KiB from the client, then is dropped.
    pub stall_every: u64,
    pub stall_for: Duration,
    /// Forward at most this many client→server bytes per second (0: no limit).
    pub bytes_per_sec: u64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    /// Client→server bytes forwarded (what the client managed to send).
    pub sent: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    /// Connections cut, counted as each cut is decided (just before the bytes up to the
    /// cut point are forwarded).
    pub cuts: Arc<AtomicU64>,
    /// While set, new connections are refused (closed at once): "no network".
    pub down: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy that only limits the client→server rate: a link of `bytes_per_sec`.
    pub async fn throttled(server: SocketAddr, bytes_per_sec: u64) -> Proxy {
        Proxy::start(
            server,
            Faults {
                bytes_per_sec,
                ..Faults::default()
            },
        )
        .await
    }

    pub async fn start(target: SocketAddr, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let cuts = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (s, c, k, d) = (
            sent.clone(),
            connections.clone(),
            cuts.clone(),
            down.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let stall = faults.stall_every > 0 && n % faults.stall_every == 0;
                tokio::spawn(relay(
                    client,
                    target,
                    faults.clone(),
                    stall,
                    s.clone(),
                    k.clone(),
                    d.clone(),
                ));
            }
        });
        Proxy {
            addr,
            sent,
            connections,
            cuts,
            down,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Counts a cut, unless `max_cuts` (0: no limit) were made already; whether to cut.
fn take_a_cut(cuts: &AtomicU64, max_cuts: u64) -> bool {
    cuts.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |made| {
        (max_cuts == 0 || made < max_cuts).then_some(made + 1)
    })
    .is_ok()
}

async fn relay(
    client: TcpStream,
    target: SocketAddr,
    faults: Faults,
    stall: bool,
    sent: Arc<AtomicU64>,
    cuts: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let latency = faults.latency;
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut on_this = 0u64;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if down.load(Ordering::SeqCst) {
                return;
            }
            let mut n = n;
            if faults.cut_every > 0
                && on_this + n as u64 >= faults.cut_every
                && take_a_cut(&cuts, faults.max_cuts)
            {
                // Forward up to the cut point, then drop both sides.
                n = faults.cut_every.saturating_sub(on_this) as usize;
                if n > 0 && sw.write_all(&buf[..n]).await.is_ok() {
                    sent.fetch_add(n as u64, Ordering::SeqCst);
                }
                return;
            }
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if faults.bytes_per_sec > 0 {
                let secs = n as f64 / faults.bytes_per_sec as f64;
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
            sent.fetch_add(n as u64, Ordering::SeqCst);
            on_this += n as u64;
            if stall && on_this >= 64 * 1024 {
                tokio::time::sleep(faults.stall_for).await;
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever side ends first ends the connection: a cut is a cut both ways.
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}
