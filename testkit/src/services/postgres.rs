//! A real PostgreSQL from Debian's packages for one test: `initdb` into a temp folder,
//! `pg_ctl start` listening on 127.0.0.1 only, on a port of its own, with its Unix socket
//! in the temp folder; a database and a password-protected superuser; a `postgres://`
//! URL on 127.0.0.1. Dropping it stops the server (`pg_ctl stop -m fast`) and removes
//! the folder.
//!
//! The binaries come from `/usr/lib/postgresql/<newest version>/bin` (Debian's layout),
//! else from the folder of `initdb` on `PATH`. PostgreSQL refuses to run as root: run as
//! root (this sandbox, CI), the server's own commands run as Debian's `postgres` user
//! through `runuser`, the way Debian's own cluster tools do, and the temp folder is
//! handed to that user (so the temp folder's parent, `TMPDIR` or `/tmp`, must be one it
//! can enter); run as anyone else, they run as that user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{ServiceError, free_loopback_port, on_path};

const SERVICE: &str = "PostgreSQL";
const INSTALL_HINT: &str = "on Debian: apt-get install postgresql";
/// The superuser and database the URL names.
const USER: &str = "tellus";
/// The system user the server runs as when the tests run as root (Debian's).
const SERVER_USER: &str = "postgres";
const DATABASE: &str = "tellus_test";
/// How long the server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Ports taken between choosing and binding are retried with another this many times.
const PORT_ATTEMPTS: usize = 3;

/// A running PostgreSQL; stopped on drop.
pub struct Postgres {
    bin: PathBuf,
    run_as: Option<&'static str>,
    data: PathBuf,
    port: u16,
    password: String,
    url: String,
    // Last, so the folder is removed after the server has stopped (in `drop`).
    _dir: TempDir,
}

impl Postgres {
    /// Starts one from the installed binaries.
    pub fn start() -> Result<Postgres, ServiceError> {
        Postgres::start_from(&bin_dir()?)
    }

    /// Starts one from the binaries in `bin` (`initdb`, `pg_ctl`, `pg_isready`, `psql`).
    pub fn start_from(bin: &Path) -> Result<Postgres, ServiceError> {
        for tool in ["initdb", "pg_ctl", "pg_isready", "psql"] {
            if !bin.join(tool).is_file() {
                return Err(ServiceError::NotInstalled {
                    service: SERVICE,
                    hint: format!("no {tool} in {}; {INSTALL_HINT}", bin.display()),
                });
            }
        }
        let run_as = if is_root() { Some(SERVER_USER) } else { None };
        if run_as.is_some() && !user_exists(SERVER_USER) {
            return Err(ServiceError::Setup(format!(
                "PostgreSQL refuses to run as root, and there is no '{SERVER_USER}' user to run \
                 it as (Debian's postgresql package makes one); install it, or run the tests \
                 as a normal user"
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("tellus-postgres-")
            .tempdir()
            .map_err(ServiceError::io("make the PostgreSQL temp folder"))?;
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        std::fs::create_dir(&socket).map_err(ServiceError::io("make the socket folder"))?;
        let password = random_password()?;
        let pwfile = dir.path().join("password");
        std::fs::write(&pwfile, &password).map_err(ServiceError::io("write the password file"))?;
        if let Some(user) = run_as {
            hand_to(user, dir.path())?;
        }
        let mut postgres = Postgres {
            bin: bin.to_path_buf(),
            run_as,
            data,
            port: 0,
            password,
            url: String::new(),
            _dir: dir,
        };
        postgres.initdb(&pwfile)?;
        std::fs::remove_file(&pwfile).map_err(ServiceError::io("remove the password file"))?;
        postgres.start_on_a_free_port(&socket)?;
        postgres.wait_ready()?;
        postgres.create_database()?;
        postgres.url = format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{DATABASE}",
            postgres.password, postgres.port
        );
        Ok(postgres)
    }

    /// `postgres://USER:PASSWORD@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` through `psql` over TCP to 127.0.0.1 (as a client on the network would);
    /// its unaligned, tuples-only output, trimmed.
    pub fn psql(&self, sql: &str) -> Result<String, ServiceError> {
        let out = Command::new(self.bin.join("psql"))
            .args(["--no-psqlrc", "--tuples-only", "--no-align", "--quiet"])
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "--dbname",
                &self.url,
                "--command",
                sql,
            ])
            .output()
            .map_err(ServiceError::io("run psql"))?;
        checked(&format!("psql {sql:?}"), out).map(|s| s.trim().to_string())
    }

    /// Whether something accepts connections on the server's port (`pg_isready`).
    pub fn is_ready(&self) -> bool {
        pg_isready(&self.bin, self.port)
    }

    fn initdb(&self, pwfile: &Path) -> Result<(), ServiceError> {
        let out = self
            .server_command("initdb")
            .arg("--pgdata")
            .arg(&self.data)
            .args(["--username", USER, "--encoding", "UTF8", "--locale", "C"])
            // Over TCP a password is asked; the socket in the private folder is trusted.
            .args(["--auth-host", "scram-sha-256", "--auth-local", "trust"])
            .arg(format!("--pwfile={}", pwfile.display()))
            // A test's database need not survive a crash of the machine.
            .arg("--no-sync")
            .output()
            .map_err(ServiceError::io("run initdb"))?;
        checked("initdb", out).map(|_| ())
    }

    fn start_on_a_free_port(&mut self, socket: &Path) -> Result<(), ServiceError> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_loopback_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off -c max_connections=400",
                socket.display()
            );
            let log = self.log_path();
            let out = self
                .server_command("pg_ctl")
                .args(["start", "--wait", "--timeout"])
                .arg(READY_WITHIN.as_secs().to_string())
                .arg("--pgdata")
                .arg(&self.data)
                .arg("--log")
                .arg(&log)
                .arg("-o")
                .arg(&options)
                .output()
                .map_err(ServiceError::io("run pg_ctl start"))?;
            match checked("pg_ctl start", out) {
                Ok(_) => {
                    self.port = port;
                    return Ok(());
                }
                Err(e) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    if !log.contains("could not bind") && !log.contains("already in use") {
                        return Err(ServiceError::Command {
                            what: "pg_ctl start".into(),
                            output: format!("{e}\n{log}"),
                        });
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ServiceError::Setup("no port was tried".into())))
    }

    /// Polls `pg_isready` over TCP until the server accepts connections or the deadline.
    fn wait_ready(&self) -> Result<(), ServiceError> {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if self.is_ready() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ServiceError::NotReady {
            service: SERVICE,
            seconds: READY_WITHIN.as_secs(),
            log: std::fs::read_to_string(self.log_path()).unwrap_or_default(),
        })
    }

    fn create_database(&self) -> Result<(), ServiceError> {
        let out = Command::new(self.bin.join("psql"))
            .args(["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1"])
            .arg("--dbname")
            .arg(format!(
                "postgres://{USER}:{}@127.0.0.1:{}/postgres",
                self.password, self.port
            ))
            .args(["--command", &format!("CREATE DATABASE {DATABASE}")])
            .output()
            .map_err(ServiceError::io("run psql"))?;
        checked("CREATE DATABASE", out).map(|_| ())
    }

    fn log_path(&self) -> PathBuf {
        self.data
            .parent()
            .map(|dir| dir.join("server.log"))
            .unwrap_or_else(|| PathBuf::from("server.log"))
    }

    /// One of the server's own programs, as the user that may run it.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let stopped = self
            .server_command("pg_ctl")
            .args(["stop", "--mode", "fast", "--wait", "--pgdata"])
            .arg(&self.data)
            .output();
        match stopped {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("pg_ctl stop did not run: {e}"),
        }
    }
}

/// Debian's newest `/usr/lib/postgresql/<version>/bin`, else the folder of `initdb` on
/// `PATH`.
pub fn bin_dir() -> Result<PathBuf, ServiceError> {
    let debian = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(debian)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    on_path("initdb")
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .ok_or_else(|| ServiceError::NotInstalled {
            service: SERVICE,
            hint: format!("no initdb in /usr/lib/postgresql/*/bin nor on PATH; {INSTALL_HINT}"),
        })
}

fn pg_isready(bin: &Path, port: u16) -> bool {
    Command::new(bin.join("pg_isready"))
        .args([
            "--quiet",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .status()
        .is_ok_and(|status| status.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn user_exists(user: &str) -> bool {
    Command::new("id")
        .args(["-u", user])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Gives `dir` (and what is in it) to `user`, who runs the server.
fn hand_to(user: &str, dir: &Path) -> Result<(), ServiceError> {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(dir)
        .output()
        .map_err(ServiceError::io("run chown"))?;
    checked(&format!("chown -R {user}: {}", dir.display()), out).map(|_| ())
}

/// 32 hex digits from the kernel's random source.
fn random_password() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 16];
    let mut urandom =
        std::fs::File::open("/dev/urandom").map_err(ServiceError::io("open /dev/urandom"))?;
    std::io::Read::read_exact(&mut urandom, &mut bytes)
        .map_err(ServiceError::io("read /dev/urandom"))?;
    Ok(hex::encode(bytes))
}

/// The command's stdout when it succeeded, else its output as the error.
fn checked(what: &str, out: Output) -> Result<String, ServiceError> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ServiceError::Command {
            what: what.to_string(),
            output: format!(
                "{}{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}
