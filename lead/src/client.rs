//! The lead's side of the protocol (DESIGN.md §4): the changes feed, story documents,
//! the project configuration and audio with Range. Real HTTP with reqwest; every refusal
//! becomes an `Error::Server` carrying the server's own JSON message.

use std::time::Duration;

use tellus_net::http::{RequestBody, ResponseBody, bytes_body, empty_body, http, read_body};
use tellus_net::{CertificatePin, HttpClient, Invite, NetError, Trust};
use tellus_protocol::{
    API_PREFIX, ApiError, ChangesPage, EnrolRequest, EnrolResponse, Representation, Role,
    StoryDocument,
};

use crate::{Error, Result};

/// An answer whose body has not been read yet (audio is streamed from it).
pub type Response = http::Response<ResponseBody>;

/// A server that says nothing for this long (no answer, no byte of a body) is given up
/// on; the partial file is kept and the next attempt resumes it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

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
    http: HttpClient,
    api: String,
    token: String,
}

impl LeadClient {
    /// A client for the server at `server` (`http://` or `https://`, no path needed),
    /// trusting the key `pin` names when the lead's invite carried one.
    pub fn new(server: &str, token: &str, pin: Option<CertificatePin>) -> Result<Self> {
        let base = normalise_server(server)?;
        if token.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the token is empty; use the one enrolling with a lead's invite gave you".into(),
            ));
        }
        let http = http_client(pin)?;
        Ok(LeadClient {
            http,
            api: format!("{base}{API_PREFIX}"),
            token: token.trim().to_string(),
        })
    }

    fn get(&self, path: &str) -> http::request::Builder {
        http::Request::get(format!("{}{path}", self.api)).header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", self.token),
        )
    }

    async fn send(&self, what: &str, request: http::request::Builder) -> Result<Response> {
        send(&self.http, what, request, empty_body()).await
    }

    /// A one-time link that signs this lead in to the leads' web page for a few minutes
    /// (`tellus lead open`): the address to open and when it stops working.
    pub async fn sign_in_link(&self) -> Result<(String, String)> {
        #[derive(serde::Deserialize)]
        struct Link {
            path: String,
            expires_at: String,
        }
        let what = "a sign-in link";
        let request = http::Request::post(format!("{}/lead/sign-in-link", self.api)).header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", self.token),
        );
        let response = self.send(what, request).await?;
        let response = refuse_unless_ok(what, response).await?;
        let link: Link = serde_json::from_slice(&body_bytes(what, response).await?)
            .map_err(|e| Error::Protocol(format!("{what} is not a link: {e}")))?;
        let base = self.api.strip_suffix(API_PREFIX).unwrap_or(&self.api);
        Ok((format!("{base}{}", link.path), link.expires_at))
    }

    /// The project's configuration, as the server stores it.
    pub async fn project(&self) -> Result<Vec<u8>> {
        let what = "the project configuration";
        let response = self.send(what, self.get("/project")).await?;
        let response = refuse_unless_ok(what, response).await?;
        Ok(body_bytes(what, response).await?.to_vec())
    }

    /// One page of the changes feed after `cursor` ("" for the beginning).
    pub async fn changes(&self, cursor: &str, limit: u32) -> Result<ChangesPage> {
        let what = "the changes feed";
        let request = self.get(&format!(
            "/changes?after={}&limit={limit}&with=transcript",
            query_value(cursor)
        ));
        let response = self.send(what, request).await?;
        let response = refuse_unless_ok(what, response).await?;
        serde_json::from_slice(&body_bytes(what, response).await?)
            .map_err(|e| Error::Protocol(format!("{what} is not a page of changes: {e}")))
    }

    /// A recording's transcript as WebVTT (issue 22); None when the server shows none
    /// (404: not transcribed yet, or its story was withdrawn since).
    pub async fn transcript_vtt(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let what = format!("the transcript of recording {id}");
        let response = self
            .send(&what, self.get(&format!("/recordings/{id}/transcript.vtt")))
            .await?;
        if response.status() == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = refuse_unless_ok(&what, response).await?;
        Ok(Some(body_bytes(&what, response).await?.to_vec()))
    }

    pub async fn story(&self, id: &str) -> Result<StoryFetch> {
        let what = format!("story {id}");
        let response = self
            .send(&what, self.get(&format!("/stories/{id}")))
            .await?;
        match response.status() {
            http::StatusCode::GONE => return Ok(StoryFetch::Withdrawn),
            http::StatusCode::NOT_FOUND => return Ok(StoryFetch::Missing),
            _ => {}
        }
        let response = refuse_unless_ok(&what, response).await?;
        let doc: StoryDocument = serde_json::from_slice(&body_bytes(&what, response).await?)
            .map_err(|e| Error::Protocol(format!("{what} is not a story document: {e}")))?;
        Ok(StoryFetch::Found(Box::new(doc)))
    }

    /// The recording's audio from byte `from` (0 for all of it). `If-Range` names the
    /// SHA-256 the bytes already held were checked against: if the server's file is
    /// another one, it sends the whole file instead of a range.
    pub async fn audio(
        &self,
        id: &str,
        representation: Representation,
        from: u64,
        sha256: &str,
    ) -> Result<AudioFetch> {
        let what = format!("the {representation} copy of recording {id}");
        let mut request = self.get(&format!(
            "/recordings/{id}/audio?representation={representation}"
        ));
        if from > 0 {
            request = request
                .header(http::header::RANGE, format!("bytes={from}-"))
                .header(http::header::IF_RANGE, format!("\"{sha256}\""));
        }
        let response = self.send(&what, request).await?;
        match response.status() {
            http::StatusCode::NOT_FOUND => Ok(AudioFetch::Gone),
            http::StatusCode::OK => Ok(AudioFetch::Whole(response)),
            http::StatusCode::PARTIAL_CONTENT => {
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
pub(crate) fn normalise_server(server: &str) -> Result<String> {
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

/// Spends a lead's invite (a code, or the link its QR code holds, which names the
/// server and, for a server with a self-signed certificate, the pin of its key) at
/// `server` (may be empty when the link names it). Asks for the lead role, so a
/// reporter's code is refused without being used. Returns the server, the answer and
/// the pin that is trusted for it from now on.
pub async fn enrol(
    server: &str,
    invite: &str,
    device_label: &str,
) -> Result<(String, EnrolResponse, Option<CertificatePin>)> {
    let invite = Invite::parse(invite).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let base = match (server.trim(), invite.server.as_deref()) {
        ("", Some(linked)) => normalise_server(linked)?,
        ("", None) => {
            return Err(Error::InvalidInput(
                "give the server's address (the invite link carries none)".into(),
            ));
        }
        (typed, linked) => {
            let typed = normalise_server(typed)?;
            if let Some(linked) = linked.map(normalise_server).transpose()? {
                if linked != typed {
                    return Err(Error::InvalidInput(format!(
                        "this invite is for {linked}, not {typed}"
                    )));
                }
            }
            typed
        }
    };
    if invite.code.trim().is_empty() {
        return Err(Error::InvalidInput("the invite code is empty".into()));
    }
    let http = http_client(invite.pin)?;
    let what = "the invite code";
    let request = EnrolRequest {
        invite_code: invite.code.trim().to_string(),
        device_label: device_label.trim().to_string(),
        role: Some(Role::Lead),
    };
    let body = serde_json::to_vec(&request)
        .map_err(|e| Error::Protocol(format!("cannot encode the enrolment: {e}")))?;
    let builder = http::Request::post(format!("{base}{API_PREFIX}/enrol"))
        .header(http::header::CONTENT_TYPE, "application/json");
    let response = send(&http, what, builder, bytes_body(body)).await?;
    let response = refuse_unless_ok(what, response).await?;
    let enrolled: EnrolResponse = serde_json::from_slice(&body_bytes(what, response).await?)
        .map_err(|e| Error::Protocol(format!("the enrolment answer: {e}")))?;
    if enrolled.role != Role::Lead {
        return Err(Error::Protocol(format!(
            "the server enrolled this computer as a {}, not a lead",
            enrolled.role.as_str()
        )));
    }
    Ok((base, enrolled, invite.pin))
}

/// The one HTTP client setup (tellus-net: the trust decision every Tellus client makes).
pub(crate) fn http_client(pin: Option<CertificatePin>) -> Result<HttpClient> {
    HttpClient::new(&Trust::for_server(pin), Duration::from_secs(15))
        .map_err(|e| Error::net("set up the HTTP client", e))
}

/// Sends one request; a server silent for `READ_TIMEOUT` counts as a broken network.
pub(crate) async fn send(
    http: &HttpClient,
    what: &str,
    request: http::request::Builder,
    body: RequestBody,
) -> Result<Response> {
    let request = request
        .body(body)
        .map_err(|e| Error::InvalidInput(format!("cannot make the request for {what}: {e}")))?;
    match tokio::time::timeout(READ_TIMEOUT, http.send(request)).await {
        Ok(answer) => answer.map_err(|e| Error::net(what, e)),
        Err(_) => Err(Error::net(
            what,
            NetError::Network(format!("no answer within {} s", READ_TIMEOUT.as_secs())),
        )),
    }
}

/// A whole (small) body: JSON, an error.
pub(crate) async fn body_bytes(what: &str, response: Response) -> Result<bytes::Bytes> {
    match tokio::time::timeout(READ_TIMEOUT, read_body(response.into_body())).await {
        Ok(read) => read.map_err(|e| Error::net(what, e)),
        Err(_) => Err(Error::net(
            what,
            NetError::Network(format!(
                "the answer stopped for {} s",
                READ_TIMEOUT.as_secs()
            )),
        )),
    }
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

fn content_range_start(headers: &http::HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

pub(crate) async fn refuse_unless_ok(what: &str, response: Response) -> Result<Response> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(refusal(what, response).await)
    }
}

/// The server's JSON `ApiError` as an error, or the bare status when there is none.
async fn refusal(what: &str, response: Response) -> Error {
    let status = response.status();
    let body: Option<ApiError> = body_bytes(what, response)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
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
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_RANGE,
            "bytes 100-199/200".parse().unwrap(),
        );
        assert_eq!(content_range_start(&h), Some(100));
        h.insert(http::header::CONTENT_RANGE, "bytes */200".parse().unwrap());
        assert_eq!(content_range_start(&h), None);
    }
}
