//! Devices enrolled with the test server through its real enrolment (an invite, then
//! `POST /api/v1/enrol`), and the operator's admin token.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tellus_server::{Role, admin};

use crate::sample::PROJECT;
use crate::server::TestServer;

/// A device's bearer token and id, and requests made with them.
#[derive(Clone)]
pub struct Device {
    pub token: String,
    pub id: String,
    pub base: String,
    pub http: reqwest::Client,
}

impl Device {
    /// A request to `path` on the server with this device's token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    /// GET with this device's token.
    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.unwrap()
    }
}

impl TestServer {
    /// A fresh invite code for `role` in `project`, valid for an hour.
    pub fn invite(&self, project: &str, role: Role) -> String {
        admin::create_invite(&self.store(), project, role, 3600)
            .expect("the test server makes an invite")
            .code
    }

    /// A device enrolled in `project` as `role`.
    pub async fn enrol(&self, project: &str, role: Role) -> Device {
        self.enrol_labelled(project, role, "test device").await
    }

    async fn enrol_labelled(&self, project: &str, role: Role, label: &str) -> Device {
        let code = self.invite(project, role);
        let response = self
            .http
            .post(self.url("/api/v1/enrol"))
            .json(&json!({ "invite_code": code, "device_label": label }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        self.device(
            body["token"].as_str().unwrap(),
            body["reporter_id"].as_str().unwrap(),
        )
    }

    /// The bearer token of a lead enrolled in the sample project.
    pub async fn lead_token(&self) -> String {
        self.enrol(PROJECT, Role::Lead).await.token
    }

    /// A device with a token the test already has.
    pub fn device(&self, token: &str, id: &str) -> Device {
        Device {
            token: token.to_string(),
            id: id.to_string(),
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// The operator, with an admin token.
    pub fn admin(&self) -> Device {
        let t = admin::create_admin_token(&self.store(), "test operator")
            .expect("the test server makes an admin token");
        self.device(&t.token, &t.id)
    }

    /// A lead's view of the sample project's changes feed, as JSON.
    pub async fn feed(&self) -> Value {
        let lead = self.enrol_labelled(PROJECT, Role::Lead, "lead").await;
        lead.get("/api/v1/changes?after=0&limit=500")
            .await
            .json()
            .await
            .unwrap()
    }
}
