//! Joining a project: enrol with the server address and an invite code, keep the token,
//! and keep the project configuration fresh (ETag).

use std::sync::Arc;

use tellus_net::{CertificatePin, Invite};
use tellus_protocol::{EnrolRequest, EnrolResponse, Role};
use tokio_util::sync::CancellationToken;

use super::SyncError;
use super::api::{Api, parse, refusal};
use super::outbox::Account;
use super::transport::{Method, Transport};
use crate::Store;
use crate::model::ProjectConfig;

/// Checks and normalises a server address: `http(s)://host[:port][/prefix]`, no trailing
/// slash.
pub fn normalise_server_url(url: &str) -> Result<String, SyncError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| {
            SyncError::Invalid(format!(
                "the server address must start with https:// (or http:// on a local network): {url:?}"
            ))
        })?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(SyncError::Invalid(format!("not a server address: {url:?}")));
    }
    Ok(trimmed.to_string())
}

/// The server, code and pin to enrol with, from the server address the reporter typed
/// (may be empty) and the invite: a bare code, or the link a QR code holds (which names
/// the server, and the pin of its key for a server with a self-signed certificate).
pub fn resolve_invite(
    server_url: &str,
    invite: &str,
) -> Result<(String, String, Option<CertificatePin>), SyncError> {
    let invite = Invite::parse(invite).map_err(|e| SyncError::Invalid(e.to_string()))?;
    let typed = (!server_url.trim().is_empty())
        .then(|| normalise_server_url(server_url))
        .transpose()?;
    let linked = invite
        .server
        .as_deref()
        .map(normalise_server_url)
        .transpose()?;
    let base = match (typed, linked) {
        (Some(typed), Some(linked)) if typed != linked => {
            return Err(SyncError::Invalid(format!(
                "this invite is for {linked}, not {typed}; use the invite's server or leave the address empty"
            )));
        }
        (Some(base), _) | (None, Some(base)) => base,
        (None, None) => {
            return Err(SyncError::Invalid(
                "give the server's address (or scan the invite's QR code, which carries it)".into(),
            ));
        }
    };
    if invite.pin.is_some() && !base.starts_with("https://") {
        return Err(SyncError::Invalid(
            "this invite pins a certificate, so its server must be https://".into(),
        ));
    }
    Ok((base, invite.code, invite.pin))
}

/// Enrols this device with an invite (a code, or the link of its QR code). On success the
/// token (in the store's secret store), the project's configuration and the server's
/// pin are saved; on any failure nothing changes.
pub async fn enrol(
    store: &Store,
    transport: Arc<dyn Transport>,
    server_url: &str,
    invite: &str,
    device_label: &str,
) -> Result<Account, SyncError> {
    let (base, invite_code, server_pin) = resolve_invite(server_url, invite)?;
    if invite_code.trim().is_empty() {
        return Err(SyncError::Invalid("the invite code is empty".into()));
    }
    // The secret store must take a secret before the invite, which the server accepts
    // only once, is spent: a locked one fails here and the same code works later.
    store.check_secret_store().map_err(SyncError::from)?;
    let api = Api {
        transport,
        base: base.clone(),
        token: None,
        server_pin,
        cancel: CancellationToken::new(),
    };
    let body = EnrolRequest {
        invite_code: invite_code.trim().to_string(),
        device_label: device_label.trim().to_string(),
        // A phone is a reporter's: a lead's invite is refused by the server unspent.
        role: Some(Role::Reporter),
    };
    let request = Api::json_body(api.request(Method::Post, "/enrol"), &body);
    let response = api.send(request).await.map_err(SyncError::from)?;
    if response.status != 201 && response.status != 200 {
        return Err(SyncError::Refused(format!(
            "the server did not accept the invite: {}",
            refusal(&response)
        )));
    }
    let enrolled: EnrolResponse = parse(&response).map_err(SyncError::Protocol)?;
    if enrolled.role != Role::Reporter {
        // A server that ignored the expected role: such a token is never kept on a phone.
        return Err(SyncError::Refused(format!(
            "this invite code was for a {}, not a reporter's device; ask for a reporter's invite",
            enrolled.role.as_str()
        )));
    }
    let config = ProjectConfig::from_json(&enrolled.project.to_string())
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    // The token first: a secret store that cannot be used now fails the enrolment before
    // anything else changes.
    store
        .set_device_token(&enrolled.token)
        .map_err(SyncError::from)?;
    store.set_project(&config).map_err(SyncError::from)?;
    let account = Account {
        server_url: base,
        reporter_id: enrolled.reporter_id,
        project_id: enrolled.project_id,
        project_etag: None,
        revoked: false,
        server_pin: server_pin.map(|p| p.to_string()),
    };
    store.save_sync_account(&account).map_err(SyncError::from)?;
    tracing::info!(
        server = %account.server_url,
        project = %account.project_id,
        device = %account.reporter_id,
        pinned = account.server_pin.is_some(),
        "enrolled"
    );
    Ok(account)
}

/// Fetches the project configuration unless the server's ETag says it is unchanged.
/// Returns whether it changed.
pub(crate) async fn refresh_project(
    store: &Store,
    api: &Api,
    account: &Account,
) -> Result<bool, SyncError> {
    let mut request = api.request(Method::Get, "/project");
    if let Some(etag) = &account.project_etag {
        request = request.header("if-none-match", etag.clone());
    }
    let response = api.send(request).await.map_err(SyncError::from)?;
    match response.status {
        304 => Ok(false),
        200 => {
            let config: ProjectConfig =
                parse::<ProjectConfig>(&response).map_err(SyncError::Protocol)?;
            store.set_project(&config).map_err(SyncError::from)?;
            store
                .set_project_etag(response.header("etag"))
                .map_err(SyncError::from)?;
            Ok(true)
        }
        401 => {
            store.mark_sync_account_revoked().map_err(SyncError::from)?;
            Err(SyncError::EnrolAgain)
        }
        _ => Err(SyncError::Refused(refusal(&response))),
    }
}
