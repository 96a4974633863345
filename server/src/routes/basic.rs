//! Enrolment, the project configuration, and the operator's routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tellus_protocol::{EnrolRequest, EnrolResponse, InviteRequest, InviteResponse};

use crate::App;
use crate::admin::{self, ProjectCreated, Revoked};
use crate::auth::{Principal, sha256_hex};
use crate::error::{Error, Result};
use crate::json::JsonBody;
use crate::routes::{over_limit, project_with_limits};
use crate::throttle::{Attempt, ClientAddr};

pub async fn enrol(
    State(app): State<App>,
    client: ClientAddr,
    JsonBody(req): JsonBody<EnrolRequest>,
) -> Result<(StatusCode, Json<EnrolResponse>)> {
    // The label first: it tests no secret, so a bad one spends no attempt. Malformed
    // (empty, control characters) is 400 `invalid_label`, as every typed label is;
    // longer than this server's limits is 413 `over_limit`, as everything over a limit.
    let label = req.device_label.trim();
    admin::check_typed_text("invalid_label", "the device's label", label, None)?;
    app.config
        .limits
        .check_text(tellus_protocol::TextField::DeviceLabel, label)
        .map_err(over_limit)?;
    app.throttle.attempt(
        Attempt::Enrol,
        client.0,
        &crate::auth::normalize_code(&req.invite_code),
    )?;
    let mut response = app
        .data(move |d| admin::enrol(d, &req.invite_code, &req.device_label, req.role))
        .await?;
    response.project = project_with_limits(&response.project.to_string(), &app.config.limits)?;
    tracing::info!(principal = %response.reporter_id, role = response.role.as_str(), "device enrolled");
    Ok((StatusCode::CREATED, Json(response)))
}

/// The project configuration of the caller's project, with an ETag so a phone can ask
/// cheaply whether it changed.
pub async fn project(
    State(app): State<App>,
    who: Principal,
    headers: HeaderMap,
) -> Result<Response> {
    let project_id = match who.role {
        tellus_protocol::Role::Admin => {
            return Err(Error::forbidden(
                "an admin token belongs to no project; use a reporter's or lead's",
            ));
        }
        _ => who.project_id.clone().unwrap_or_default(),
    };
    let config = app
        .data(move |d| d.project_config(&project_id))
        .await?
        .ok_or_else(|| Error::not_found("project"))?;
    // The ETag covers the limits too: a phone learns of changed limits at its next sync.
    let config = project_with_limits(&config, &app.config.limits)?.to_string();
    let etag = format!("\"{}\"", sha256_hex(&config));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/json".to_string()),
        ],
        config,
    )
        .into_response())
}

pub async fn admin_create_project(
    State(app): State<App>,
    who: Principal,
    JsonBody(config): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<ProjectCreated>)> {
    who.admin("create projects")?;
    let created = app
        .data(move |d| admin::create_project(d, &config.to_string()))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn admin_invite(
    State(app): State<App>,
    who: Principal,
    JsonBody(req): JsonBody<InviteRequest>,
) -> Result<(StatusCode, Json<InviteResponse>)> {
    who.admin("create invites")?;
    let ttl = app.config.invite_expiry_secs;
    let invite = app
        .data(move |d| admin::create_invite(d, &req.project_id, req.role, ttl))
        .await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

pub async fn admin_revoke(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    who.admin("revoke invites and devices")?;
    let what = app.data(move |d| admin::revoke(d, &id)).await?;
    Ok(Json(
        serde_json::json!({ "revoked": what == Revoked::Token || what == Revoked::Invite, "kind": what }),
    ))
}
