//! Where the logs of every command go: stderr, with `tracing` from the server, the core
//! and the lead's pull alike. `TELLUS_LOG` filters (`debug`, `tellus_core=debug`, ...);
//! without it `tellus serve` logs at info and every other command logs nothing (their
//! results are their output). Plain text, coloured only on a terminal (never in a file
//! or a journal, nor with NO_COLOR set); `TELLUS_LOG_FORMAT=json` for one JSON object
//! per line.

use std::io::IsTerminal;

/// Installs the subscriber; `default` is the filter without `TELLUS_LOG` ("off" for none).
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TELLUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let _ = if std::env::var("TELLUS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
}
