//! The server probed as a hostile client would (issue 16's findings): what a client
//! declares never becomes what the server serves, what an operator types is checked
//! where it is created, and tus and HTTP details answer the way clients expect.

mod support;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::*;
use tellus_server::{Role, admin};
use tellus_testkit::server::sql_text;

/// Creates an upload declaring `content_type` for a consented story of `reporter`.
async fn create_declaring(
    reporter: &Device,
    story: &str,
    recording: &str,
    data: &[u8],
    content_type: &str,
) -> reqwest::Response {
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let metadata = format!(
        "story_id {},recording_id {},sha256 {},content_type {}",
        b64(story),
        b64(recording),
        b64(&sha256_hex(data)),
        b64(content_type)
    );
    reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", metadata)
        .send()
        .await
        .unwrap()
}

async fn signed_in_cookie(server: &Server, lead: &Device) -> String {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.url("/lead/sign-in"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}", lead.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn get_with_cookie(server: &Server, path: &str, cookie: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recording_declared_as_anything_but_audio_is_refused_with_415_before_any_byte() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(1000, 1);
    for declared in [
        "text/html",
        "text/javascript",
        "application/javascript",
        "image/svg+xml",
        "application/octet-stream",
        "text/html; charset=utf-8",
        "audio/wav, text/html",
        "audio/",
        "AUDIO/WAV\u{0}",
    ] {
        let r = create_declaring(&reporter, &story, &new_id(), &data, declared).await;
        assert_eq!(
            r.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{declared:?} was not refused"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unsupported_media_type", "{declared:?}");
        assert!(
            body["message"].as_str().unwrap().contains("audio/wav"),
            "the refusal names what is accepted: {body}"
        );
    }
    assert_eq!(server.spooled_uploads().await, 0, "nothing was spooled");
    assert_eq!(server.upload_rows(), 0, "no upload row was kept");

    // What the phone records and the compressed formats are accepted, in any
    // spelling a client may use; an Ogg Opus file only as the listening copy.
    for declared in [
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "Audio/WAV",
        "audio/flac",
    ] {
        let r = create_declaring(&reporter, &story, &new_id(), &data, declared).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{declared:?} was refused");
    }
    for declared in ["audio/ogg; codecs=opus", "audio/opus", "audio/ogg"] {
        let r = create_declaring(&reporter, &story, &new_id(), &data, declared).await;
        assert_eq!(
            r.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{declared:?} is no lossless copy"
        );
        let metadata = copy_metadata(
            &story,
            &new_id(),
            &data,
            declared,
            &[("representation", "listening")],
        );
        let r = reporter
            .tus(Method::POST, "/api/v1/uploads")
            .header("Upload-Length", data.len().to_string())
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{declared:?} was refused");
    }
}

#[tokio::test]
async fn a_stored_recording_is_served_with_the_servers_own_type_and_a_safe_disposition() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let lead = server.enrol(PROJECT, Role::Lead).await;
    let story = reporter.consented_story().await;
    let data = audio(5000, 2);
    let recording = new_id();
    let r = create_declaring(&reporter, &story, &recording, &data, "audio/x-wav").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let path = path.trim_start_matches(&server.base).to_string();
    let r = reporter.patch(&path, 0, &data, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // A row an older server kept with the client's words, as the finding had it.
    server.execute(&format!(
        "UPDATE recordings SET content_type = 'text/html' WHERE id = '{recording}'"
    ));

    let cookie = signed_in_cookie(&server, &lead).await;
    let api = lead
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    let page = get_with_cookie(
        &server,
        &format!("/lead/recordings/{recording}/audio"),
        &cookie,
    )
    .await;
    let download = get_with_cookie(
        &server,
        &format!("/lead/recordings/{recording}/audio?download=1"),
        &cookie,
    )
    .await;
    for (what, r) in [("api", api), ("page", page), ("download", download)] {
        assert_eq!(r.status(), StatusCode::OK, "{what}");
        let h = r.headers();
        let content_type = h[header::CONTENT_TYPE].to_str().unwrap();
        assert_eq!(
            content_type, "application/octet-stream",
            "{what}: a stored type outside the allow-list is never served as it is"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
        let disposition = h[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(
            disposition.contains(&format!("filename=\"recording-{recording}.")),
            "{what}: {disposition}"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..], "{what}");
    }

    // A well-typed recording is served as the canonical type the server chose.
    server.execute(&format!(
        "UPDATE recordings SET content_type = 'audio/x-wav' WHERE id = '{recording}'"
    ));
    let r = lead
        .get(&format!("/api/v1/recordings/{recording}/audio"))
        .await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(
        r.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"recording-{recording}.wav\"").as_str()
    );
}

#[tokio::test]
async fn project_ids_and_what_an_operator_types_are_checked_where_they_are_created() {
    let server = Server::start().await;
    let admin_device = server.admin();
    let mut base: Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
    for bad in [
        "line\nbreak",
        "quote\"d",
        "../up",
        "a/b",
        "with space",
        "",
        "-leading-dash",
        ".hidden",
        "ünïcode",
        &"x".repeat(65),
    ] {
        base["id"] = json!(bad);
        let err = admin::create_project(&server.store(), &base.to_string())
            .err()
            .unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let r = admin_device
            .req(Method::POST, "/api/v1/admin/projects")
            .json(&base)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_config", "{bad:?}");
    }
    base["id"] = json!("good-project_2.0");
    base["name"] = json!("Name with a\u{7}bell");
    assert!(admin::create_project(&server.store(), &base.to_string()).is_err());
    base["name"] = json!("Stories of the Riverside Estate");
    admin::create_project(&server.store(), &base.to_string()).unwrap();

    // A device label is shown to the operator: no control characters.
    let code = server.invite(PROJECT, Role::Reporter);
    let r = server
        .http
        .post(server.url("/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "phone\r\nX-Injected: 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_label");
    // ... and the code was not spent.
    let again = server
        .http
        .post(server.url("/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "Amina's phone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_project_id_an_older_server_let_through_never_breaks_a_download() {
    let server = Server::start().await;
    // As an older server stored it, before ids were checked.
    let hostile = "bad\nid\"../x";
    let mut config: Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
    config["id"] = json!(hostile);
    server.execute(&format!(
        "INSERT INTO projects (id, name, config, created_at) VALUES ({}, 'Old', {}, 0)",
        sql_text(hostile),
        sql_text(&config.to_string())
    ));
    let code = admin::create_invite(&server.store(), hostile, Role::Lead, 3600)
        .unwrap()
        .code;
    let r = server
        .http
        .post(server.url("/api/v1/enrol"))
        .json(&json!({ "invite_code": code, "device_label": "lead laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let lead = server.device(body["token"].as_str().unwrap(), "");
    let cookie = signed_in_cookie(&server, &lead).await;
    for path in ["/lead/export.csv", "/lead/export.csv?scope=public"] {
        let r = get_with_cookie(&server, path, &cookie).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let disposition = r.headers()[header::CONTENT_DISPOSITION].to_str().unwrap();
        let quoted = disposition
            .split_once("filename=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(name, _)| name)
            .unwrap_or_else(|| panic!("no quoted filename in {disposition:?}"));
        assert!(
            quoted
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{quoted:?}"
        );
        assert!(!quoted.contains(".."), "{quoted:?}");
        assert!(quoted.ends_with(".csv"), "{quoted:?}");
    }
}

#[tokio::test]
async fn tus_requests_on_a_malformed_upload_id_are_404_as_tus_clients_expect() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    for id in ["not-a-uuid", "1234", "..%2F..%2Fetc"] {
        let path = format!("/api/v1/uploads/{id}");
        let head = reporter.tus(Method::HEAD, &path).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND, "HEAD {id}");
        let patch = reporter.patch(&path, 0, b"abc", None).await;
        assert_eq!(patch.status(), StatusCode::NOT_FOUND, "PATCH {id}");
        let delete = reporter.tus(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(delete.status(), StatusCode::NOT_FOUND, "DELETE {id}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = server
            .http
            .get(server.url("/api/v1/project"))
            .header(
                header::AUTHORIZATION,
                format!("{scheme} {}", reporter.token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    for refused in [
        format!("Basic {}", reporter.token),
        format!("Bearer{}", reporter.token),
        "Bearer ".to_string(),
    ] {
        let r = server
            .http
            .get(server.url("/api/v1/project"))
            .header(header::AUTHORIZATION, refused.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{refused}");
    }
}

#[tokio::test]
async fn a_creation_body_longer_than_its_upload_length_is_refused_in_its_own_words() {
    let server = Server::start().await;
    let reporter = server.enrol(PROJECT, Role::Reporter).await;
    let story = reporter.consented_story().await;
    let data = audio(10, 3);
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let metadata = format!(
        "story_id {},recording_id {},sha256 {},content_type {}",
        b64(&story),
        b64(&new_id()),
        b64(&sha256_hex(&data)),
        b64("audio/wav")
    );
    let r = reporter
        .tus(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", "10")
        .header("Upload-Metadata", metadata)
        .header("Content-Type", "application/offset+octet-stream")
        .body(audio(20, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "beyond_length", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("20 bytes") && message.contains("10 bytes"),
        "{message}"
    );
    assert!(!message.contains("MB"), "{message}");
    assert_eq!(server.spooled_uploads().await, 0);
}
