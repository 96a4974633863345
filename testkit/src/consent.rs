//! Consent events as a phone sends them, and a story with consent given.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::enrol::Device;
use crate::fixtures::new_id;

/// A consent event of `kind` (`given`, `changed`, `withdrawn`) granting `granted` on the
/// sample project's storyteller form.
pub fn consent_event(story_id: &str, kind: &str, granted: &[&str]) -> Value {
    json!({
        "id": new_id(),
        "story_id": story_id,
        "participant_id": new_id(),
        "kind": kind,
        "form_id": if kind == "given" { json!("storyteller-consent") } else { Value::Null },
        "form_version": if kind == "given" { json!(2) } else { Value::Null },
        "language": if kind == "given" { json!("en") } else { Value::Null },
        "granted": granted,
        "method": { "kind": "app_checkbox" },
        "captured_by": "reporter",
        "captured_at": "2026-11-22T10:00:00Z",
        "erase_audio": kind == "withdrawn"
    })
}

impl Device {
    pub async fn consent(&self, story_id: &str, kind: &str, granted: &[&str]) -> Response {
        self.post_consent(&consent_event(story_id, kind, granted))
            .await
    }

    /// POSTs a consent event (built with [`consent_event`] and changed as a test needs)
    /// to its story.
    pub async fn post_consent(&self, event: &Value) -> Response {
        let story_id = event["story_id"].as_str().unwrap_or_default();
        self.req(Method::POST, &format!("/api/v1/stories/{story_id}/consent"))
            .json(event)
            .send()
            .await
            .unwrap()
    }

    /// A story with `record` (and more) granted, ready to take audio.
    pub async fn consented_story(&self) -> String {
        let story = new_id();
        let r = self
            .consent(
                &story,
                "given",
                &["record", "research_use", "credit_by_name"],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(self.put_story(&story, 1).await.status(), StatusCode::OK);
        story
    }
}
