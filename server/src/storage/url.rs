//! Where the server keeps its audio, as the operator writes it (`storage = "..."` in the
//! TOML, `tellus serve --storage`): nothing (the `audio/` folder of the data folder),
//! `file:///absolute/folder`, or `s3://bucket[/prefix]?endpoint=...&region=...`.
//! Checked whole before the server starts: a typo is an error, never a silent default.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Query keys an `s3://` URL may carry (anything else is refused).
const S3_KEYS: &[&str] = &[
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
];

/// A parsed storage location.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A local folder.
    Folder(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Location),
}

/// An S3-compatible bucket, and what to reach it with.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Keys are stored under this prefix (no leading or trailing slash; empty: none).
    pub prefix: String,
    /// e.g. `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`; None: AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

// Never print the secret (logs, error messages, `{:?}` of the config).
impl std::fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl StorageUrl {
    pub fn parse(text: &str) -> Result<StorageUrl> {
        let bad = |why: String| Error::Config(format!("storage URL '{}': {why}", redact(text)));
        let url = url::Url::parse(text.trim()).map_err(|e| {
            bad(format!(
                "{e} (expected s3://bucket?endpoint=...&region=... or file:///folder)"
            ))
        })?;
        match url.scheme() {
            "file" => {
                if url.query().is_some() || url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(bad("a file:// URL is a local folder: file:///path".into()));
                }
                let path = url
                    .to_file_path()
                    .map_err(|_| bad("a file:// URL needs an absolute path".into()))?;
                Ok(StorageUrl::Folder(path))
            }
            "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket: s3://BUCKET?endpoint=...".into()))?
                    .to_string();
                let prefix = url.path().trim_matches('/').to_string();
                let mut location = S3Location {
                    bucket,
                    prefix,
                    endpoint: None,
                    region: None,
                    access_key_id: None,
                    secret_access_key: None,
                    session_token: None,
                };
                for (key, value) in url.query_pairs() {
                    let value = Some(value.into_owned()).filter(|v| !v.is_empty());
                    let slot = match key.as_ref() {
                        "endpoint" => &mut location.endpoint,
                        "region" => &mut location.region,
                        "access_key_id" => &mut location.access_key_id,
                        "secret_access_key" => &mut location.secret_access_key,
                        "session_token" => &mut location.session_token,
                        other => {
                            return Err(bad(format!(
                                "unknown key '{other}' (known: {})",
                                S3_KEYS.join(", ")
                            )));
                        }
                    };
                    *slot = value;
                }
                if let Some(endpoint) = &location.endpoint {
                    let parsed = url::Url::parse(endpoint)
                        .map_err(|e| bad(format!("endpoint '{endpoint}': {e}")))?;
                    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                        return Err(bad(format!(
                            "endpoint '{endpoint}' must be http://host:port or https://host"
                        )));
                    }
                }
                Ok(StorageUrl::S3(location))
            }
            other => Err(bad(format!(
                "'{other}://' is not supported (s3:// for S3-compatible storage, file:// for a folder)"
            ))),
        }
    }

    /// For logs and errors: where, never with what secret.
    pub fn describe(&self) -> String {
        match self {
            StorageUrl::Folder(path) => format!("folder {}", path.display()),
            StorageUrl::S3(s3) => {
                let mut text = format!("s3://{}", s3.bucket);
                if !s3.prefix.is_empty() {
                    text.push('/');
                    text.push_str(&s3.prefix);
                }
                if let Some(endpoint) = &s3.endpoint {
                    text.push_str(&format!(" at {endpoint}"));
                }
                text
            }
        }
    }
}

/// The URL as it may be shown: the query (which may hold a secret) cut off.
fn redact(text: &str) -> String {
    match text.split_once('?') {
        Some((head, _)) => format!("{head}?…"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_read_bucket_prefix_and_keys() {
        let parsed = StorageUrl::parse(
            "s3://audio/tellus/one?endpoint=http://127.0.0.1:9000&region=us-east-1&access_key_id=k&secret_access_key=s",
        )
        .unwrap();
        let StorageUrl::S3(s3) = parsed else {
            panic!("not s3")
        };
        assert_eq!(s3.bucket, "audio");
        assert_eq!(s3.prefix, "tellus/one");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region.as_deref(), Some("us-east-1"));
        assert_eq!(s3.access_key_id.as_deref(), Some("k"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("s"));
    }

    #[test]
    fn file_urls_are_folders() {
        assert_eq!(
            StorageUrl::parse("file:///srv/tellus/audio").unwrap(),
            StorageUrl::Folder(PathBuf::from("/srv/tellus/audio"))
        );
    }

    #[test]
    fn wrong_urls_are_refused_without_showing_secrets() {
        for (text, says) in [
            ("audio", "expected s3://"),
            ("gs://bucket", "not supported"),
            ("s3://?endpoint=http://127.0.0.1:1", "no bucket"),
            ("s3://b?endpoint=ftp://x", "must be http"),
            (
                "s3://b?secret_access_key=hunter2&colour=red",
                "unknown key 'colour'",
            ),
            ("file://host/x", "local folder"),
        ] {
            let message = StorageUrl::parse(text).unwrap_err().to_string();
            assert!(message.contains(says), "{text}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        let parsed = StorageUrl::parse("s3://b?secret_access_key=hunter2").unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
