//! The services a test script needs for a `tellus serve` on PostgreSQL and an S3 bucket
//! (tests/tus/run.sh postgres), started by testkit's own code rather than again in bash:
//! a PostgreSQL of its own with a fresh database ([`Postgres`]) and SeaweedFS's
//! `weed mini` with the test bucket ([`Seaweed`]), both on 127.0.0.1.
//!
//! Once both answer it prints shell lines to source, the last one
//! `TELLUS_SERVICES_READY=1`:
//!
//! ```text
//! TELLUS_DATABASE='postgres://...'      what `tellus serve` and `tellus admin` read
//! TELLUS_STORAGE='s3://BUCKET/PREFIX?endpoint=...'
//! TELLUS_S3_ENDPOINT=... TELLUS_S3_BUCKET=... TELLUS_S3_PREFIX=...
//! TELLUS_S3_ACCESS_KEY_ID=... TELLUS_S3_SECRET_ACCESS_KEY=...
//! ```
//!
//! It keeps them running until its stdin closes (the script ended, however it ended) or
//! it gets SIGTERM, SIGINT or SIGHUP, then stops both (their `Drop`: `pg_ctl stop`, the
//! weed process killed and waited for, their temp folders removed) and exits 0. A
//! service that does not start is a message on stderr and exit status 1, with whatever
//! had started stopped.

use std::io::{Read, Write};
use std::process::ExitCode;

use tellus_testkit::services::postgres::Postgres;
use tellus_testkit::services::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Seaweed};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;

/// Where in the bucket the server keeps its audio.
const PREFIX: &str = "tellus-test-services";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("tellus-test-services: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let _entered = runtime.enter();
    // Before anything starts: a stop asked for while the services start is kept, and
    // honoured once they have (the default action would leave them running).
    let mut stop = StopRequests::listen()?;
    let postgres = Postgres::start().map_err(|e| format!("PostgreSQL did not start: {e}"))?;
    runtime.block_on(async {
        let seaweed = Seaweed::shared().await.ok_or(
            "weed (SeaweedFS) is not installed: server/tests/services/install-seaweed.sh \
             installs it",
        )?;
        let lines = [
            ("TELLUS_DATABASE", postgres.url().to_string()),
            ("TELLUS_STORAGE", seaweed.storage_url(PREFIX)),
            ("TELLUS_S3_ENDPOINT", seaweed.endpoint.clone()),
            ("TELLUS_S3_BUCKET", BUCKET.to_string()),
            ("TELLUS_S3_PREFIX", PREFIX.to_string()),
            ("TELLUS_S3_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("TELLUS_S3_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("TELLUS_SERVICES_READY", "1".to_string()),
        ];
        let text: String = lines
            .iter()
            .map(|(name, value)| format!("{name}={}\n", shell_quoted(value)))
            .collect();
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot print the services' addresses: {e}"))?;
        drop(out);
        let why = stop.wait().await;
        eprintln!("tellus-test-services: {why}; stopping PostgreSQL and weed");
        drop(seaweed);
        Ok::<(), String>(())
    })?;
    drop(postgres);
    Ok(())
}

/// What ends the services' life: SIGTERM, SIGINT, SIGHUP, or stdin at its end.
struct StopRequests {
    term: Signal,
    int: Signal,
    hup: Signal,
    stdin_closed: oneshot::Receiver<()>,
}

impl StopRequests {
    fn listen() -> Result<StopRequests, String> {
        let on = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))
        };
        let term = on(SignalKind::terminate(), "SIGTERM")?;
        let int = on(SignalKind::interrupt(), "SIGINT")?;
        let hup = on(SignalKind::hangup(), "SIGHUP")?;
        let (closed, stdin_closed) = oneshot::channel();
        // A thread of its own, never joined: the process exits while it still reads
        // when a signal was the reason to stop.
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
        Ok(StopRequests {
            term,
            int,
            hup,
            stdin_closed,
        })
    }

    /// Waits for the first request; says which it was.
    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.hup.recv() => "SIGHUP",
            _ = &mut self.stdin_closed => "stdin closed",
        }
    }
}

/// `value` in single quotes, for `eval` or `.` in a POSIX shell.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
