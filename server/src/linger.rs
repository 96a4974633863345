//! Lingering close (RFC 9112 §9.6): a server that answers before reading a whole request
//! body (a 413 for a body over the limit, a 401 on an upload) must not close its socket
//! with the rest of the body unread, or the kernel resets the connection and the client,
//! still sending, sees "Broken pipe" or "connection reset" instead of the answer, which
//! a reset can even erase from its buffers (issue 24, finding 4). Each connection here,
//! when hyper shuts it down, first ends its own side (the answer is out), then reads and
//! discards what the client still sends, for a bounded time, before closing.
//!
//! It wraps the TCP stream itself (`listen::Admitted` holds one), beneath TLS: a TLS
//! connection's shutdown sends its close_notify through it and then shuts it down, so
//! HTTPS lingers exactly as plain HTTP does, on the bytes the kernel would otherwise
//! answer with a reset. A lingering connection keeps its place under the connection caps
//! until it is closed (at most `LINGER_AT_MOST`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// How long a closing connection keeps reading at most, and how long it waits for more
/// once the client goes quiet (nginx's lingering_time and lingering_timeout).
const LINGER_AT_MOST: Duration = Duration::from_secs(30);
const LINGER_QUIET: Duration = Duration::from_secs(5);

enum Closing {
    Open,
    /// Our side is shut; reading what the client still sends until these run out.
    Draining {
        until: Instant,
        quiet: Pin<Box<Sleep>>,
    },
    Closed,
}

/// A TCP stream that closes lingering.
pub struct Lingering {
    stream: TcpStream,
    closing: Closing,
}

impl Lingering {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Lingering {
            stream,
            closing: Closing::Open,
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.closing {
                Closing::Open => {
                    std::task::ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
                    let now = Instant::now();
                    this.closing = Closing::Draining {
                        until: now + LINGER_AT_MOST,
                        quiet: Box::pin(tokio::time::sleep_until(now + LINGER_QUIET)),
                    };
                }
                Closing::Draining { until, quiet } => {
                    let mut scratch = [0u8; 16 * 1024];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                        // The client closed its side (or the link failed): done.
                        Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                            this.closing = Closing::Closed
                        }
                        Poll::Ready(Err(_)) => this.closing = Closing::Closed,
                        Poll::Ready(Ok(())) => {
                            let next = (Instant::now() + LINGER_QUIET).min(*until);
                            quiet.as_mut().reset(next);
                        }
                        Poll::Pending => {
                            if quiet.as_mut().poll(cx).is_ready() {
                                this.closing = Closing::Closed;
                            } else {
                                return Poll::Pending;
                            }
                        }
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
