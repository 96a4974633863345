//! A round-robin load balancer on loopback: each new TCP connection goes to the next
//! server in turn, with no stickiness, as a plain TCP load balancer in front of several
//! replicas would. A server that refuses the connection (a replica that died) is passed
//! over for the next one, as a real balancer's passive health check does (nginx's
//! `proxy_next_upstream error`, HAProxy's `redispatch`): only a connection already
//! relayed to a server that then dies is lost. It counts the connections each server got
//! and the bytes relayed to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct RoundRobin {
    pub addr: SocketAddr,
    /// Connections handed to each server, in the order of the targets.
    pub connections: Arc<Vec<AtomicU64>>,
    /// Client→server bytes relayed to each server, in the order of the targets.
    pub sent: Arc<Vec<AtomicU64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RoundRobin {
    pub async fn start(targets: Vec<SocketAddr>) -> RoundRobin {
        assert!(!targets.is_empty(), "a balancer needs servers");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the balancer on loopback");
        let addr = listener.local_addr().expect("the balancer's address");
        let zeros = || -> Arc<Vec<AtomicU64>> {
            Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect())
        };
        let (connections, sent) = (zeros(), zeros());
        let counts = Counts {
            connections: connections.clone(),
            sent: sent.clone(),
        };
        let targets = Arc::new(targets);
        let next = AtomicUsize::new(0);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let turn = next.fetch_add(1, Ordering::SeqCst) % targets.len();
                tokio::spawn(relay(client, targets.clone(), turn, counts.clone()));
            }
        });
        RoundRobin {
            addr,
            connections,
            sent,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections each server got so far.
    pub fn counts(&self) -> Vec<u64> {
        self.connections
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect()
    }

    /// Client→server bytes relayed to each server so far.
    pub fn sent(&self) -> Vec<u64> {
        self.sent.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    /// An HTTP client that opens a new connection for every request, so that a device's
    /// requests take turns across the servers instead of riding one kept-alive
    /// connection.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client")
    }
}

#[derive(Clone)]
struct Counts {
    connections: Arc<Vec<AtomicU64>>,
    sent: Arc<Vec<AtomicU64>>,
}

/// Connects to the server whose turn it is, or else the next one that accepts, and
/// copies both ways until either side closes; a server that is gone closes the client.
async fn relay(client: TcpStream, targets: Arc<Vec<SocketAddr>>, turn: usize, counts: Counts) {
    let mut server = None;
    for i in 0..targets.len() {
        let target = (turn + i) % targets.len();
        if let Ok(stream) = TcpStream::connect(targets[target]).await {
            server = Some((target, stream));
            break;
        }
    }
    let Some((target, server)) = server else {
        return;
    };
    counts.connections[target].fetch_add(1, Ordering::SeqCst);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
            counts.sent[target].fetch_add(n as u64, Ordering::SeqCst);
        }
        // The client is done sending (or gone): the server sees the end of its body.
        let _ = sw.shutdown().await;
        // The answer may still be on its way: the relay ends when the server closes.
        std::future::pending::<()>().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    // Whichever side ends first ends the connection.
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}
