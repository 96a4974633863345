//! `tellus serve` and `tellus admin ...`: thin over tellus-server. The operator's
//! commands work on the server's data folder directly, also while it is serving.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use tellus_core::model::{ProjectConfig, sample_project};
use tellus_core::net::{CertificatePin, Invite};
use tellus_server::{App, ServerConfig, admin};

use crate::{CmdResult, Context, output};

/// The environment variable naming the server's PostgreSQL database (`--database`).
const DATABASE_ENV: &str = "TELLUS_DATABASE";

#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file with the server's settings (flags and environment override it)
    #[arg(long, value_name = "FILE", env = "TELLUS_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free one) [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", env = "TELLUS_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Largest recording accepted, in bytes (limits.recording_bytes) [default: 2 GiB]
    #[arg(long, value_name = "BYTES", env = "TELLUS_MAX_UPLOAD_BYTES")]
    max_upload_bytes: Option<u64>,
    /// Largest JSON request body, in bytes [default: 1 MiB]
    #[arg(long, value_name = "BYTES", env = "TELLUS_MAX_JSON_BYTES")]
    max_json_bytes: Option<usize>,
    /// Seconds before an unfinished upload is deleted [default: 7 days]
    #[arg(long, value_name = "SECS", env = "TELLUS_UPLOAD_EXPIRY_SECS")]
    upload_expiry_secs: Option<u64>,
    /// Serve HTTPS with this certificate chain (PEM); read again when it changes
    #[arg(
        long,
        value_name = "FILE",
        env = "TELLUS_TLS_CERT",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM)
    #[arg(
        long,
        value_name = "FILE",
        env = "TELLUS_TLS_KEY",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// With TLS: also answer plain HTTP here, redirecting every request to HTTPS
    #[arg(long, value_name = "ADDR", env = "TELLUS_REDIRECT_HTTP_FROM")]
    redirect_http_from: Option<std::net::SocketAddr>,
    /// Keep everything but audio in this PostgreSQL database (a postgres:// URL), for
    /// several replicas [default: SQLite in the data folder]
    #[arg(long, value_name = "URL", env = DATABASE_ENV)]
    database: Option<String>,
    /// Keep audio here instead of the data folder's audio/:
    /// s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION or
    /// az://CONTAINER[/PREFIX]?account=ACCOUNT&endpoint=URL (docs/deploy.md)
    #[arg(long, value_name = "URL", env = "TELLUS_STORAGE")]
    storage: Option<String>,
    #[command(flatten)]
    transcribe: crate::transcribe::EngineArgs,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create projects on this server
    #[command(subcommand)]
    Project(AdminProjectCommand),
    /// Make a single-use invite code (and its QR code) for a reporter or a lead
    Invite {
        #[arg(long, value_name = "PROJECT_ID")]
        project: String,
        #[arg(long, value_parser = ["reporter", "lead"])]
        role: String,
        /// The server's address as devices reach it (https://...): the QR code then
        /// holds an invite link a phone enrols with in one scan
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Put the pin of this certificate's key in the link: for a server with a
        /// self-signed certificate (one from a public authority needs none, and a pin
        /// would stop phones when the authority renews it with a new key)
        #[arg(long, value_name = "FILE", requires = "server")]
        pin_cert: Option<PathBuf>,
    },
    /// Revoke an invite or an enrolled device by its id (`admin devices`, `admin invites`)
    Revoke { id: String },
    /// List the enrolled devices and admin tokens, with the ids `revoke` takes
    Devices,
    /// List the invites and what became of them, with the ids `revoke` takes
    Invites,
    /// Make a token for the admin routes of the API
    Token {
        #[arg(long, default_value = "operator")]
        label: String,
    },
    /// Copy this server (SQLite and its audio folder) to PostgreSQL and object storage,
    /// checking every audio file's SHA-256; stop the server first. Safe to run again:
    /// a second run copies nothing (docs/deploy.md)
    Migrate(crate::migrate::MigrateArgs),
}

#[derive(Subcommand)]
pub enum AdminProjectCommand {
    /// Create a project (the built-in sample when no file is given)
    Create {
        /// A project configuration in JSON
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// The server's data folder: `--data-dir`, else `<user data folder>/server`.
pub fn server_config(ctx: &Context, file: Option<&PathBuf>) -> Result<ServerConfig, String> {
    let mut config = match file {
        Some(path) => ServerConfig::from_toml_file(path).map_err(|e| e.to_string())?,
        None => ServerConfig::default(),
    };
    match &ctx.data_dir {
        Some(dir) => config.data_dir = dir.clone(),
        None if !config.data_dir.as_os_str().is_empty() => {}
        None => {
            config.data_dir = directories::ProjectDirs::from("org", "Tellus", "tellus")
                .map(|dirs| dirs.data_dir().join("server"))
                .ok_or("cannot find your user data folder; pass --data-dir")?;
        }
    }
    Ok(config)
}

pub fn serve(ctx: &Context, args: ServeArgs) -> CmdResult {
    let mut config = server_config(ctx, args.config.as_ref())?;
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.max_upload_bytes {
        config.limits.recording_bytes = v;
    }
    if let Some(v) = args.max_json_bytes {
        config.max_json_bytes = v;
    }
    if let Some(v) = args.upload_expiry_secs {
        config.upload_expiry_secs = v;
    }
    if args.tls_cert.is_some() {
        config.tls_cert = args.tls_cert;
        config.tls_key = args.tls_key;
    }
    if let Some(v) = args.redirect_http_from {
        config.redirect_http_from = Some(v);
    }
    if let Some(url) = args.database {
        config.database = Some(url);
    }
    if let Some(v) = args.storage {
        config.storage = Some(v);
    }
    args.transcribe.apply(&mut config.transcribe);
    crate::logging::init("info");
    let pin = match config.tls().map_err(|e| e.to_string())? {
        Some((cert, _)) => Some(CertificatePin::of_pem_file(cert).map_err(|e| e.to_string())?),
        None => None,
    };
    let scheme = if pin.is_some() { "https" } else { "http" };
    let runtime = crate::runtime()?;
    let data_dir = config.data_dir.clone();
    runtime
        .block_on(tellus_server::serve(
            config,
            |addr| {
                // Scripts and tests read the first line to find the port. One write, and
                // no failure if the reader has gone (a closed pipe must not stop a server).
                use std::io::Write;
                let mut text = format!(
                    "listening on {scheme}://{addr} (data in {})\n",
                    data_dir.display()
                );
                if let Some(pin) = pin {
                    // What invites for a self-signed certificate carry (`admin invite
                    // --pin-cert`); the same key keeps it through renewals.
                    text.push_str(&format!("certificate key pin: {pin}\n"));
                }
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            },
            tellus_server::shutdown_signal(),
        ))
        .map_err(|e| e.to_string())
}

pub fn admin(ctx: &Context, cmd: AdminCommand) -> CmdResult {
    match cmd {
        // Opens its source and target itself: never the store the others use.
        AdminCommand::Migrate(args) => crate::migrate::migrate(ctx, args),
        cmd => admin_on_store(ctx, cmd),
    }
}

fn admin_on_store(ctx: &Context, cmd: AdminCommand) -> CmdResult {
    let mut config = server_config(ctx, None)?;
    // The database `tellus serve --database` uses, when it was given by the environment.
    if let Ok(url) = std::env::var(DATABASE_ENV) {
        config.database = Some(url);
    }
    let db = App::open_data(&config).map_err(|e| e.to_string())?;
    match cmd {
        AdminCommand::Project(AdminProjectCommand::Create { config: file }) => {
            let project = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    ProjectConfig::from_json(&text).map_err(crate::fail)?
                }
                None => sample_project(),
            };
            let created =
                admin::create_project(&db, &project.to_json()).map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&created);
            }
            println!(
                "Project \"{}\" ({}) created in {}",
                created.name,
                created.id,
                config.data_dir.display()
            );
            Ok(())
        }
        AdminCommand::Invite {
            project,
            role,
            server,
            pin_cert,
        } => {
            let role = tellus_server::Role::parse(&role).ok_or("role must be reporter or lead")?;
            // Checked before the invite exists, so a typo makes none.
            let pin = pin_cert
                .map(|cert| CertificatePin::of_pem_file(&cert).map_err(|e| e.to_string()))
                .transpose()?;
            let server = server
                .map(|s| {
                    tellus_core::sync::enrol::normalise_server_url(&s).map_err(|e| e.to_string())
                })
                .transpose()?;
            let invite = admin::create_invite(&db, &project, role, config.invite_expiry_secs)
                .map_err(|e| e.to_string())?;
            let link = server.map(|server| {
                Invite {
                    server: Some(server),
                    code: invite.code.clone(),
                    pin,
                }
                .to_link()
            });
            if ctx.json {
                let mut value = serde_json::to_value(&invite).map_err(|e| e.to_string())?;
                if let Some(link) = &link {
                    value["link"] = serde_json::Value::String(link.clone());
                }
                return output::json(&value);
            }
            let qr = QrCode::new(link.as_deref().unwrap_or(&invite.code).as_bytes())
                .map_err(|e| format!("cannot draw the QR code: {e}"))?
                .render::<Dense1x2>()
                .quiet_zone(true)
                .build();
            println!("{qr}");
            println!(
                "Invite code for a {} of {}: {}",
                role.as_str(),
                invite.project_id,
                invite.code
            );
            if let Some(link) = &link {
                println!("Invite link (what the QR code holds): {link}");
            }
            println!(
                "Single use; expires {}. Invite id (to revoke): {}",
                invite.expires_at, invite.invite_id
            );
            Ok(())
        }
        AdminCommand::Revoke { id } => {
            let what = admin::revoke(&db, &id).map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&serde_json::json!({ "revoked": id, "kind": what }));
            }
            match what {
                admin::Revoked::Invite => println!("Invite {id} revoked: it can no longer be used"),
                admin::Revoked::Token => println!("Device {id} revoked: its token no longer works"),
            }
            Ok(())
        }
        AdminCommand::Devices => {
            let devices = admin::list_devices(&db).map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&devices);
            }
            let mut t = output::table(&["id", "role", "project", "label", "enrolled", "revoked"]);
            for d in devices {
                t.add_row(vec![
                    d.id,
                    d.role,
                    d.project_id.unwrap_or_default(),
                    d.label,
                    d.created_at,
                    d.revoked_at.unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        AdminCommand::Invites => {
            let invites = admin::list_invites(&db).map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&invites);
            }
            let mut t = output::table(&["id", "role", "project", "state", "expires", "device"]);
            for i in invites {
                t.add_row(vec![
                    i.id,
                    i.role,
                    i.project_id.unwrap_or_default(),
                    i.state.to_string(),
                    i.expires_at,
                    i.device_id.unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        AdminCommand::Migrate(args) => crate::migrate::migrate(ctx, args),
        AdminCommand::Token { label } => {
            let token = admin::create_admin_token(&db, &label).map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&token);
            }
            println!("Admin token (shown once; store it safely): {}", token.token);
            println!("Token id (to revoke): {}", token.id);
            Ok(())
        }
    }
}
