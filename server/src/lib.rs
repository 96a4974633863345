//! tellus-server: the project server where stories arrive and leads pull from
//! (DESIGN.md §4, §5). axum on tokio; SQLite and a local audio folder under one data
//! folder; tus 1.0 for audio; every error a JSON `ApiError`.

pub mod admin;
pub mod auth;
mod clock;
pub mod config;
pub mod data;
pub mod db;
pub mod error;
mod export;
mod https;
mod json;
mod linger;
mod listen;
pub mod media;
pub mod migrate;
mod portal;
mod routes;
pub mod rules;
pub mod search;
pub mod storage;
pub mod throttle;
pub mod transcripts;
pub mod tus;
pub mod visibility;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::routing::{get, post, put};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::ServerConfig;
pub use db::Db;
pub use error::{Error, Result};
pub use listen::load_certificate;
pub use tellus_protocol::{API_PREFIX, Role};

use storage::AudioStorage;

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    /// Everything stored (the data layer): PostgreSQL or SQLite, as configured.
    pub data: Arc<dyn data::Data>,
    pub config: Arc<ServerConfig>,
    pub storage: Arc<dyn AudioStorage>,
    pub uploads: Arc<tus::Locks>,
    /// Attempts at invite codes and sign-in tokens, per client and per code.
    pub throttle: Arc<throttle::Throttle>,
}

impl App {
    /// Opens (or creates) the data folder: database (PostgreSQL connects and migrates on a
    /// blocking thread), audio storage (the `audio/` folder or the object store `storage`
    /// names, checked reachable) and upload spool, and tidies what a crash may have left
    /// (see `tus::recover`).
    pub async fn open(config: ServerConfig) -> Result<App> {
        if config.data_dir.as_os_str().is_empty() {
            return Err(Error::Config("no data folder is set (data_dir)".into()));
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::io(format!("cannot create {}", config.data_dir.display()), e))?;
        config
            .limits
            .validate()
            .map_err(|e| Error::Config(e.to_string()))?;
        config.transcribe.check()?;
        // Opening the data layer blocks (PostgreSQL connects and migrates on a runtime of
        // its own), so it runs on a blocking thread.
        let config = Arc::new(config);
        let data = {
            let config = config.clone();
            db::blocking(move || App::open_data(&config)).await?
        };
        let storage = storage::open(config.storage.as_deref(), &config.audio_dir()).await?;
        std::fs::create_dir_all(config.spool_dir())
            .map_err(|e| Error::io("cannot create the upload spool folder", e))?;
        let throttle = throttle::Throttle::new(
            config.attempts_burst_per_client,
            Duration::from_secs(config.attempt_every_secs_per_client),
        );
        let app = App {
            data,
            config,
            storage,
            uploads: Arc::new(tus::Locks::default()),
            throttle: Arc::new(throttle),
        };
        tus::recover(&app).await?;
        Ok(app)
    }

    /// Runs a data-layer operation on a blocking thread (every backend's calls block).
    pub async fn data<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn data::Data) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let data = self.data.clone();
        db::blocking(move || f(&*data)).await
    }

    /// Opens only the data layer the configuration names, for the operator's commands
    /// (`admin::Store`): PostgreSQL at `database`, else SQLite in the data folder.
    pub fn open_data(config: &ServerConfig) -> Result<Arc<dyn data::Data>> {
        match &config.database {
            Some(url) => open_postgres(url),
            None => Ok(Arc::new(data::SqliteData::new(App::open_db(config)?))),
        }
    }

    /// Opens only the SQLite database in the data folder (tools and tests that read
    /// `server.db` itself).
    pub fn open_db(config: &ServerConfig) -> Result<Db> {
        if config.data_dir.as_os_str().is_empty() {
            return Err(Error::Config("no data folder is set (data_dir)".into()));
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::io(format!("cannot create {}", config.data_dir.display()), e))?;
        Db::open(&config.db_path())
    }
}

/// The PostgreSQL backend at `url`.
fn open_postgres(url: &str) -> Result<Arc<dyn data::Data>> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::Config(
            "database must be a postgres:// URL (leave it out for SQLite in the data folder)"
                .into(),
        ));
    }
    Ok(Arc::new(data::postgres::PgData::connect(url)?))
}

/// Every route of DESIGN.md §4, plus the admin routes and the lead's CSV export.
pub fn router(app: App) -> Router {
    let json_limit = DefaultBodyLimit::max(app.config.max_json_bytes);
    // A story document may be as large as the limits say, and no larger (usize on
    // every platform this server runs on is 64-bit).
    let document_limit = DefaultBodyLimit::max(
        usize::try_from(app.config.limits.document_bytes).unwrap_or(usize::MAX),
    );
    // Every request but an upload's body is answered within request_timeout_secs (its
    // body read too); uploads have body_idle_timeout_secs instead, and keep what came.
    let timeout = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            listen::timed_out()
        }))
        .timeout(Duration::from_secs(app.config.request_timeout_secs.max(1)));
    let hsts = match app.config.tls() {
        Ok(Some(_)) => listen::hsts_value(app.config.hsts_max_age_secs),
        _ => None,
    };
    let api = Router::new()
        .route("/enrol", post(routes::basic::enrol))
        .route("/project", get(routes::basic::project))
        .route("/admin/projects", post(routes::basic::admin_create_project))
        .route("/admin/invites", post(routes::basic::admin_invite))
        .route("/admin/revoke/{id}", post(routes::basic::admin_revoke))
        .route(
            "/stories/{id}",
            put(routes::stories::put_story)
                .layer(document_limit)
                .get(routes::stories::get_story),
        )
        .route(
            "/stories/{id}/consent",
            post(routes::stories::post_consent).get(routes::stories::get_consent_log),
        )
        .route("/recordings/{id}/receipt", get(routes::lead::receipt))
        .route("/recordings/{id}/audio", get(routes::lead::audio))
        .route("/changes", get(routes::lead::changes))
        .route("/export.csv", get(routes::lead::export_csv))
        .route("/lead/sign-in-link", post(routes::lead::sign_in_link))
        .route(
            "/recordings/{id}/transcript",
            get(transcripts::routes::get_transcript).put(transcripts::routes::put_transcript),
        )
        .route(
            "/recordings/{id}/transcript.vtt",
            get(transcripts::routes::get_vtt),
        )
        .route(
            "/recordings/{id}/transcript.srt",
            get(transcripts::routes::get_srt),
        )
        .route(
            "/transcripts/search",
            get(transcripts::routes::search_transcripts),
        )
        .route("/transcribe/claim", post(transcripts::remote::claim))
        .route(
            "/transcribe/jobs/{id}/audio",
            get(transcripts::remote::audio),
        )
        .route(
            "/transcribe/jobs/{id}/vtt",
            post(transcripts::remote::result),
        )
        .route(
            "/transcribe/jobs/{id}/failed",
            post(transcripts::remote::failed),
        )
        .layer(json_limit)
        .layer(timeout.clone())
        .merge(tus::routes());
    let router = Router::new()
        .nest(API_PREFIX, api)
        .merge(web::routes().layer(timeout.clone()))
        .merge(portal::routes().layer(timeout))
        .fallback(|| async {
            Error::refused(
                StatusCode::NOT_FOUND,
                "no_route",
                "there is no such route; see DESIGN.md §4",
            )
        })
        .method_not_allowed_fallback(|| async {
            Error::refused(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(app);
    match hsts {
        Some(value) => router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            value,
        )),
        None => router,
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (for at most
/// `shutdown_grace_secs`). Calls `on_listening` with the bound address (port 0 picks a
/// free port).
pub async fn serve(
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (listeners, app) = bind(config).await?;
    on_listening(listeners.addr);
    run(listeners, app, shutdown).await
}

/// Listens on `config.listen` (and `redirect_http_from`), checks the certificate, and
/// opens the data folder.
async fn bind(config: ServerConfig) -> Result<(listen::Listeners, App)> {
    // A storage URL that does not parse is refused before the address is taken (that
    // the store answers is checked when the data folder opens, before serving).
    if let Some(url) = config.storage.as_deref().filter(|u| !u.trim().is_empty()) {
        storage::StorageUrl::parse(url)?;
    }
    let listeners = listen::bind(&config).await?;
    if let Some((cert, key)) = config.tls()? {
        // A certificate that does not load is reported before the server says it listens.
        load_certificate(cert, key)?;
    }
    let app = App::open(config).await?;
    let scheme = if app.config.tls()?.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(addr = %listeners.addr, scheme, "listening");
    if let Some(redirect) = listeners.redirect_addr {
        tracing::info!(addr = %redirect, "redirecting plain HTTP to HTTPS");
    }
    Ok((listeners, app))
}

async fn run(
    listeners: listen::Listeners,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Stopped with the server: a restarted one in the same process must not share its
    // data folder with a sweeper of the old one (whose upload locks it cannot see).
    let sweeper = tus::spawn_expiry_sweeper(app.clone());
    let transcriber = transcripts::spawn_worker(&app)?;
    let throttle = app.throttle.clone();
    let forgetter = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            throttle.forget_settled();
        }
    });
    let config = app.config.clone();
    let served = listen::serve(listeners, &config, router(app), shutdown).await;
    sweeper.abort();
    forgetter.abort();
    if let Some(t) = transcriber {
        t.abort();
    }
    served
}

/// A server serving on the current tokio runtime until `stop` (or until dropped), for
/// programs that embed one: the CLI's demo, the benchmarks and the tests.
pub struct Running {
    addr: SocketAddr,
    redirect_addr: Option<SocketAddr>,
    https: bool,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Listens, opens the data folder and serves; returns once it is listening, or the
    /// reason it cannot (address in use, data folder unusable).
    pub async fn start(config: ServerConfig) -> Result<Running> {
        let (listeners, app) = bind(config).await?;
        let (addr, redirect_addr) = (listeners.addr, listeners.redirect_addr);
        let https = app.config.tls()?.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listeners, app, async move {
            // Resolves on `stop` and when the handle is dropped.
            let _ = stopped.await;
        }));
        Ok(Running {
            addr,
            redirect_addr,
            https,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where plain HTTP is redirected to HTTPS from (`redirect_http_from`), if anywhere.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_addr
    }

    /// `http://` or `https://` and the address.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and returns how serving ended.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| Error::io("the server stopped", std::io::Error::other(e)))?
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
