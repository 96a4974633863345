//! The lead's side of the protocol (DESIGN.md §4): the changes feed, story documents,
//! the project configuration and audio with Range. Real HTTP with reqwest; every refusal
//! becomes an `Error::Server` carrying the server's own JSON message.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};
use tellus_protocol::{
    API_PREFIX, ApiError, ChangesPage, EnrolRequest, EnrolResponse, Role, StoryDocument,
};

use crate::{Error, Result};

/// A story as the lead may see it now.
pub enum StoryFetch {
    Found(Box<StoryDocument>),
    /// 410: the storyteller withdrew it; the feed carries the withdrawal.
    Withdrawn,
    /// 404: no document (yet, or no longer).
    Missing,
}

/// How the server answered an audio request.
pub enum AudioFetch {
    /// 200: the whole file, from byte 0.
    Whole(Response),
    /// 206: from the offset that was asked for.
    From(u64, Response),
    /// 404: the server no longer holds the recording (its story was withdrawn).
    Gone,
}

#[derive(Clone)]
pub struct LeadClient {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl LeadClient {
    /// A client for the server at `server` (`http://` or `https://`, no path needed).
    pub fn new(server: &str, token: &str) -> Result<Self> {
        let base = normalise_server(server)?;
        if token.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the token is empty; use the one enrolling with a lead's invite gave you".into(),
            ));
        }
        let http = http_client()?;
        Ok(LeadClient {
            http,
            api: format!("{base}{API_PREFIX}"),
            token: token.trim().to_string(),
        })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Response> {
        request.send().await.map_err(|e| Error::network(what, e))
    }

    /// The project's configuration, as the server stores it.
    pub async fn project(&self) -> Result<Vec<u8>> {
        let what = "the project configuration";
        let response = self.send(what, self.get("/project")).await?;
        let response = refuse_unless_ok(what, response).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::network(what, e))?;
        Ok(bytes.to_vec())
    }

    /// One page of the changes feed after `cursor` ("" for the beginning).
    pub async fn changes(&self, cursor: &str, limit: u32) -> Result<ChangesPage> {
        let what = "the changes feed";
        let request = self.get(&format!(
            "/changes?after={}&limit={limit}",
            query_value(cursor)
        ));
        let response = self.send(what, request).await?;
        let response = refuse_unless_ok(what, response).await?;
        response
            .json()
            .await
            .map_err(|e| Error::Protocol(format!("{what} is not a page of changes: {e}")))
    }

    pub async fn story(&self, id: &str) -> Result<StoryFetch> {
        let what = format!("story {id}");
        let response = self
            .send(&what, self.get(&format!("/stories/{id}")))
            .await?;
        match response.status() {
            StatusCode::GONE => return Ok(StoryFetch::Withdrawn),
            StatusCode::NOT_FOUND => return Ok(StoryFetch::Missing),
            _ => {}
        }
        let response = refuse_unless_ok(&what, response).await?;
        let doc: StoryDocument = response
            .json()
            .await
            .map_err(|e| Error::Protocol(format!("{what} is not a story document: {e}")))?;
        Ok(StoryFetch::Found(Box::new(doc)))
    }

    /// The recording's audio from byte `from` (0 for all of it). `If-Range` names the
    /// SHA-256 the bytes already held were checked against: if the server's file is
    /// another one, it sends the whole file instead of a range.
    pub async fn audio(&self, id: &str, from: u64, sha256: &str) -> Result<AudioFetch> {
        let what = format!("the audio of recording {id}");
        let mut request = self.get(&format!("/recordings/{id}/audio"));
        if from > 0 {
            request = request
                .header(header::RANGE, format!("bytes={from}-"))
                .header(header::IF_RANGE, format!("\"{sha256}\""));
        }
        let response = self.send(&what, request).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(AudioFetch::Gone),
            StatusCode::OK => Ok(AudioFetch::Whole(response)),
            StatusCode::PARTIAL_CONTENT => {
                let start = content_range_start(response.headers()).ok_or_else(|| {
                    Error::Protocol(format!("{what}: a 206 without a valid Content-Range"))
                })?;
                if start != from {
                    return Err(Error::Protocol(format!(
                        "{what}: asked for bytes from {from}, got them from {start}"
                    )));
                }
                Ok(AudioFetch::From(start, response))
            }
            _ => Err(refusal(&what, response).await),
        }
    }
}

/// `http(s)://host[:port]` without a trailing slash; anything else is refused.
fn normalise_server(server: &str) -> Result<String> {
    let trimmed = server.trim().trim_end_matches('/');
    let scheme_ok = trimmed.starts_with("https://") || trimmed.starts_with("http://");
    let host = trimmed.split_once("://").map_or("", |(_, rest)| rest);
    if !scheme_ok || host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(format!(
            "the server address must look like https://stories.example.org, not {server:?}"
        )));
    }
    Ok(trimmed
        .strip_suffix(API_PREFIX)
        .unwrap_or(trimmed)
        .to_string())
}

/// Spends a lead's invite code at `server` (`POST /enrol`, asking for the lead role, so a
/// reporter's code is refused without being used).
pub async fn enrol(server: &str, invite_code: &str, device_label: &str) -> Result<EnrolResponse> {
    let base = normalise_server(server)?;
    if invite_code.trim().is_empty() {
        return Err(Error::InvalidInput("the invite code is empty".into()));
    }
    let http = http_client()?;
    let what = "the invite code";
    let request = EnrolRequest {
        invite_code: invite_code.trim().to_string(),
        device_label: device_label.trim().to_string(),
        role: Some(Role::Lead),
    };
    let response = http
        .post(format!("{base}{API_PREFIX}/enrol"))
        .json(&request)
        .send()
        .await
        .map_err(|e| Error::network(what, e))?;
    let response = refuse_unless_ok(what, response).await?;
    let enrolled: EnrolResponse = response
        .json()
        .await
        .map_err(|e| Error::Protocol(format!("the enrolment answer: {e}")))?;
    if enrolled.role != Role::Lead {
        return Err(Error::Protocol(format!(
            "the server enrolled this computer as a {}, not a lead",
            enrolled.role.as_str()
        )));
    }
    Ok(enrolled)
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        // A server that stops sending mid-body must not hang the pull forever; the
        // partial file is kept and the next attempt resumes it.
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("tellus-lead/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::network("set up the HTTP client", e))
}

/// The server address as stored beside a pulled folder (to refuse mixing servers).
pub fn server_identity(server: &str) -> Result<String> {
    normalise_server(server)
}

/// Percent-encodes a query value (the cursor is opaque to the client).
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn content_range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

async fn refuse_unless_ok(what: &str, response: Response) -> Result<Response> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(refusal(what, response).await)
    }
}

/// The server's JSON `ApiError` as an error, or the bare status when there is none.
async fn refusal(what: &str, response: Response) -> Error {
    let status = response.status();
    let body: Option<ApiError> = response.json().await.ok();
    let (code, message) = match body {
        Some(e) => (e.code, e.message),
        None => (
            "http_error".into(),
            status.canonical_reason().unwrap_or("error").to_string(),
        ),
    };
    Error::Server {
        what: what.to_string(),
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_checked_and_normalised() {
        assert_eq!(
            normalise_server("https://stories.example.org/").unwrap(),
            "https://stories.example.org"
        );
        assert_eq!(
            normalise_server("http://127.0.0.1:8080/api/v1").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "stories.example.org",
            "ftp://x",
            "http://",
            "",
            "http://a b",
        ] {
            assert!(normalise_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_range_gives_the_start() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_RANGE, "bytes 100-199/200".parse().unwrap());
        assert_eq!(content_range_start(&h), Some(100));
        h.insert(header::CONTENT_RANGE, "bytes */200".parse().unwrap());
        assert_eq!(content_range_start(&h), None);
    }
}
