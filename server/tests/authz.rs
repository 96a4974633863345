//! Every route × every kind of caller, in one table: reporter A (owner), reporter B
//! (same project), the lead of this project, the lead of another project, an admin, a
//! revoked device, and no token at all.

mod support;

use reqwest::{Method, RequestBuilder, StatusCode};
use support::*;
use tellus_server::Role;
use tellus_testkit::server::sql_text;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    ReporterA,
    ReporterB,
    Lead,
    OtherLead,
    Admin,
    Revoked,
    Nobody,
}

const EVERYONE: [Who; 7] = [
    Who::ReporterA,
    Who::ReporterB,
    Who::Lead,
    Who::OtherLead,
    Who::Admin,
    Who::Revoked,
    Who::Nobody,
];

#[derive(Clone, Copy, Debug)]
enum Route {
    Project,
    PutStory,
    PostConsent,
    ConsentLog,
    GetStory,
    UploadOptions,
    UploadCreate,
    UploadHead,
    UploadPatch,
    UploadDelete,
    Receipt,
    Audio,
    Changes,
    Export,
    SignInLink,
    AdminProject,
    AdminInvite,
    AdminRevoke,
}

struct World {
    server: Server,
    a: Device,
    b: Device,
    lead: Device,
    other_lead: Device,
    admin: Device,
    revoked: Device,
    story: String,
    recording: String,
    revision: std::sync::atomic::AtomicU32,
}

impl World {
    fn device(&self, who: Who) -> Option<&Device> {
        match who {
            Who::ReporterA => Some(&self.a),
            Who::ReporterB => Some(&self.b),
            Who::Lead => Some(&self.lead),
            Who::OtherLead => Some(&self.other_lead),
            Who::Admin => Some(&self.admin),
            Who::Revoked => Some(&self.revoked),
            Who::Nobody => None,
        }
    }

    fn req(&self, who: Who, method: Method, path: &str) -> RequestBuilder {
        match self.device(who) {
            Some(d) => d.req(method, path),
            None => self.server.http.request(method, self.server.url(path)),
        }
    }

    /// Sends `route` as `who`; resources the call would use up are made fresh by A.
    async fn call(&self, route: Route, who: Who) -> StatusCode {
        let story = &self.story;
        let tus = |req: RequestBuilder| req.header("Tus-Resumable", "1.0.0");
        let req = match route {
            Route::Project => self.req(who, Method::GET, "/api/v1/project"),
            Route::PutStory => self
                .req(who, Method::PUT, &format!("/api/v1/stories/{story}"))
                .json(&story_doc(
                    story,
                    self.revision
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                    "ready",
                )),
            Route::PostConsent => self
                .req(
                    who,
                    Method::POST,
                    &format!("/api/v1/stories/{story}/consent"),
                )
                .json(&consent_event(
                    story,
                    "amended",
                    &["record", "research_use", "credit_by_name"],
                )),
            Route::ConsentLog => self.req(
                who,
                Method::GET,
                &format!("/api/v1/stories/{story}/consent"),
            ),
            Route::GetStory => self.req(who, Method::GET, &format!("/api/v1/stories/{story}")),
            Route::UploadOptions => self.req(who, Method::OPTIONS, "/api/v1/uploads"),
            Route::UploadCreate => tus(self.req(who, Method::POST, "/api/v1/uploads"))
                .header("Upload-Length", "10")
                .header(
                    "Upload-Metadata",
                    metadata(story, &new_id(), &sha256_hex(b"0123456789")),
                ),
            Route::UploadHead | Route::UploadPatch | Route::UploadDelete => {
                let path = self.a.new_upload(story, &new_id(), b"0123456789").await;
                match route {
                    Route::UploadHead => tus(self.req(who, Method::HEAD, &path)),
                    Route::UploadDelete => tus(self.req(who, Method::DELETE, &path)),
                    _ => tus(self.req(who, Method::PATCH, &path))
                        .header("Content-Type", "application/offset+octet-stream")
                        .header("Upload-Offset", "0")
                        .body("01234"),
                }
            }
            Route::Receipt => self.req(
                who,
                Method::GET,
                &format!("/api/v1/recordings/{}/receipt", self.recording),
            ),
            Route::Audio => self.req(
                who,
                Method::GET,
                &format!("/api/v1/recordings/{}/audio", self.recording),
            ),
            Route::Changes => self.req(who, Method::GET, "/api/v1/changes"),
            Route::Export => self.req(who, Method::GET, "/api/v1/export.csv?scope=public"),
            Route::SignInLink => self.req(who, Method::POST, "/api/v1/lead/sign-in-link"),
            Route::AdminProject => {
                let mut config: serde_json::Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
                config["id"] = serde_json::json!(new_id());
                self.req(who, Method::POST, "/api/v1/admin/projects")
                    .json(&config)
            }
            Route::AdminInvite => self
                .req(who, Method::POST, "/api/v1/admin/invites")
                .json(&serde_json::json!({ "project_id": PROJECT, "role": "reporter" })),
            Route::AdminRevoke => {
                let invite = tellus_server::admin::create_invite(
                    &self.server.store(),
                    PROJECT,
                    Role::Reporter,
                    60,
                )
                .unwrap();
                self.req(
                    who,
                    Method::POST,
                    &format!("/api/v1/admin/revoke/{}", invite.invite_id),
                )
            }
        };
        req.send().await.unwrap().status()
    }
}

/// The expected status of `route` for `who`.
fn expected(route: Route, who: Who) -> u16 {
    use Who::*;
    // Tokens that are not (or no longer) valid never get past authentication; OPTIONS is
    // tus discovery and needs no token.
    if matches!(route, Route::UploadOptions) {
        return 204;
    }
    if matches!(who, Revoked | Nobody) {
        return 401;
    }
    match (route, who) {
        (Route::Project, Admin) => 403,
        (Route::Project, _) => 200,

        (Route::PutStory, ReporterA) => 200,
        (Route::PostConsent, ReporterA) => 201,
        (Route::UploadCreate, ReporterA) => 201,
        (Route::UploadHead, ReporterA) => 200,
        (Route::UploadPatch, ReporterA) => 204,
        (Route::UploadDelete, ReporterA) => 204,
        // The consent log is its reporter's alone; another's story is as unknown.
        (Route::ConsentLog, ReporterA) => 200,
        (Route::ConsentLog, ReporterB) => 404,
        (Route::ConsentLog, _) => 403,
        // Another reporter may not write A's story; A's uploads are invisible to it.
        (Route::PutStory | Route::PostConsent | Route::UploadCreate, ReporterB) => 403,
        (Route::UploadHead | Route::UploadPatch | Route::UploadDelete, ReporterB) => 404,
        (Route::PutStory | Route::PostConsent | Route::UploadCreate, _) => 403,
        (Route::UploadHead | Route::UploadPatch | Route::UploadDelete, _) => 403,

        // A reporter reads nothing but its own receipts.
        (Route::Receipt, ReporterA | Lead) => 200,
        (Route::Receipt, ReporterB | OtherLead) => 404,
        (Route::Receipt, _) => 403,
        (Route::GetStory | Route::Audio, Lead) => 200,
        (Route::GetStory | Route::Audio, OtherLead) => 404,
        (Route::GetStory | Route::Audio, _) => 403,
        // Another project's lead gets its own (here empty) feed and export.
        (Route::Changes | Route::Export, Lead | OtherLead) => 200,
        (Route::Changes | Route::Export, _) => 403,
        // A web sign-in link is a lead's own, whatever its project.
        (Route::SignInLink, Lead | OtherLead) => 201,
        (Route::SignInLink, _) => 403,

        (Route::AdminProject | Route::AdminInvite, Admin) => 201,
        (Route::AdminRevoke, Admin) => 200,
        (Route::AdminProject | Route::AdminInvite | Route::AdminRevoke, _) => 403,
        (Route::UploadOptions, _) => 204,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role() {
    let server = Server::start().await;
    let other = server.other_project();
    let a = server.enrol(PROJECT, Role::Reporter).await;
    let b = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let other_lead = server.enrol(other, Role::Lead).await;
    let admin = server.admin();
    let revoked = server.enrol(PROJECT, Role::Reporter).await;
    tellus_server::admin::revoke(&server.store(), &revoked.id).unwrap();
    let story = a.consented_story().await;
    let recording = a.upload(&story, &audio(5000, 1), 5000).await;
    let world = World {
        server,
        a,
        b,
        lead,
        other_lead,
        admin,
        revoked,
        story,
        recording,
        revision: 2.into(),
    };

    let routes = [
        Route::Project,
        Route::PutStory,
        Route::PostConsent,
        Route::ConsentLog,
        Route::GetStory,
        Route::UploadOptions,
        Route::UploadCreate,
        Route::UploadHead,
        Route::UploadPatch,
        Route::UploadDelete,
        Route::Receipt,
        Route::Audio,
        Route::Changes,
        Route::Export,
        Route::SignInLink,
        Route::AdminProject,
        Route::AdminInvite,
        Route::AdminRevoke,
    ];
    let mut failures = Vec::new();
    for route in routes {
        for who in EVERYONE {
            let got = world.call(route, who).await.as_u16();
            let want = expected(route, who);
            if got != want {
                failures.push(format!("{route:?} as {who:?}: got {got}, expected {want}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells wrong:\n{}",
        failures.len(),
        routes.len() * EVERYONE.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_are_single_use_expire_and_can_be_revoked() {
    let server = Server::start().await;
    let enrol = |code: String| {
        let server = &server;
        async move {
            server
                .http
                .post(server.url("/api/v1/enrol"))
                .json(&serde_json::json!({ "invite_code": code, "device_label": "phone" }))
                .send()
                .await
                .unwrap()
        }
    };
    let code = server.invite(PROJECT, Role::Reporter);
    // Typed in lower case with spaces: still the same code.
    let typed = code.to_lowercase().replace('-', " ");
    let r = enrol(typed).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["role"], "reporter");
    assert_eq!(body["project"]["id"], PROJECT);
    assert_eq!(
        enrol(code.clone()).await.status(),
        StatusCode::FORBIDDEN,
        "single use"
    );

    let expired =
        tellus_server::admin::create_invite(&server.store(), PROJECT, Role::Lead, 0).unwrap();
    assert_eq!(
        enrol(expired.code).await.status(),
        StatusCode::FORBIDDEN,
        "expired"
    );

    let revoked =
        tellus_server::admin::create_invite(&server.store(), PROJECT, Role::Lead, 3600).unwrap();
    tellus_server::admin::revoke(&server.store(), &revoked.invite_id).unwrap();
    assert_eq!(
        enrol(revoked.code).await.status(),
        StatusCode::FORBIDDEN,
        "revoked"
    );

    // Neither codes nor tokens are stored in clear.
    let token = body["token"].as_str().unwrap().to_string();
    let hashes = "(SELECT token_hash AS h FROM principals UNION ALL SELECT code_hash FROM invites) AS stored";
    assert!(server.count(&format!("SELECT COUNT(*) FROM {hashes}")) > 0);
    let in_clear = server.count(&format!(
        "SELECT COUNT(*) FROM {hashes} WHERE length(h) <> 64 OR h = {} OR h LIKE {}",
        sql_text(&token),
        sql_text(&format!("%{code}%"))
    ));
    assert_eq!(in_clear, 0, "a code or token is stored in clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_for_another_role_is_refused_unspent() {
    let server = Server::start().await;
    let enrol = |code: String, role: Option<&'static str>| {
        let server = &server;
        async move {
            let mut body = serde_json::json!({ "invite_code": code, "device_label": "device" });
            if let Some(role) = role {
                body["role"] = role.into();
            }
            server
                .http
                .post(server.url("/api/v1/enrol"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let count = |sql: &'static str| server.count(sql);
    let unused = || count("SELECT COUNT(*) FROM invites WHERE used_at IS NULL");
    let devices = || count("SELECT COUNT(*) FROM principals");
    // A lead's code typed into a phone: refused with a reason, not spent, no device made.
    let lead_code = server.invite(PROJECT, Role::Lead);
    let devices_before = devices();
    let r = enrol(lead_code.clone(), Some("reporter")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["code"], "wrong_role");
    assert!(
        error["message"].as_str().unwrap().contains("for a lead"),
        "{error}"
    );
    assert_eq!(unused(), 1);
    let devices_after = devices();
    assert_eq!(devices_after, devices_before);
    // The same code where a lead enrols.
    let r = enrol(lead_code, Some("lead")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["role"], "lead");
    assert_eq!(unused(), 0);

    // A reporter's code for a lead tool: refused unspent too; without a role, any works.
    let reporter_code = server.invite(PROJECT, Role::Reporter);
    assert_eq!(
        enrol(reporter_code.clone(), Some("lead")).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = enrol(reporter_code, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // An unknown role is a malformed request.
    let code = server.invite(PROJECT, Role::Reporter);
    assert_eq!(
        enrol(code, Some("superuser")).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(unused(), 1);
}
