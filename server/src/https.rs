//! Whether a browser reached this server over HTTPS, for the cookies of the lead's page
//! and the storytellers' portal (both marked Secure then).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::App;

/// True when the server serves TLS itself, or the peer is one of `trusted_proxies` (as
/// for forwarded addresses, `ClientAddr`) and says `X-Forwarded-Proto: https`; anyone
/// else could say so.
pub struct Https(pub bool);

impl Https {
    pub fn of(parts: &Parts, app: &App) -> bool {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let proxied = peer.is_some_and(|p| app.config.trusted_proxies.contains(&p))
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        matches!(app.config.tls(), Ok(Some(_))) || proxied
    }
}

impl FromRequestParts<App> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Https(Https::of(parts, app)))
    }
}
