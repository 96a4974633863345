//! A round-robin load balancer on loopback: each new TCP connection goes to the next
//! server in turn, with no stickiness, as a plain TCP load balancer in front of several
//! replicas would. It counts the connections each server got.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

pub struct RoundRobin {
    pub addr: SocketAddr,
    /// Connections handed to each server, in the order of the targets.
    pub connections: Arc<Vec<AtomicU64>>,
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
        let connections: Arc<Vec<AtomicU64>> =
            Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect());
        let counts = connections.clone();
        let next = AtomicUsize::new(0);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let turn = next.fetch_add(1, Ordering::SeqCst) % targets.len();
                counts[turn].fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(client, targets[turn]));
            }
        });
        RoundRobin {
            addr,
            connections,
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

/// Copies both ways until either side closes; a server that is gone closes the client.
async fn relay(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
