//! Where the server keeps its audio, as the operator writes it (`storage = "..."` in the
//! TOML, `tellus serve --storage`): nothing (the `audio/` folder of the data folder),
//! `file:///absolute/folder`, `s3://bucket[/prefix]?endpoint=...&region=...`, or Azure Blob
//! Storage's `az://container[/prefix]?account=...&access_key=...&endpoint=...`.
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

/// Query keys an `az://` URL may carry (named as object_store's MicrosoftAzureBuilder
/// names them; anything else is refused).
const AZURE_KEYS: &[&str] = &["account", "access_key", "endpoint"];

/// A parsed storage location.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A local folder.
    Folder(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Location),
    /// A container of Azure Blob Storage.
    Azure(AzureLocation),
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

/// A container of Azure Blob Storage, and what to reach it with.
#[derive(Clone, PartialEq, Eq)]
pub struct AzureLocation {
    pub container: String,
    /// Blobs are stored under this prefix (no leading or trailing slash; empty: none).
    pub prefix: String,
    /// The storage account; None: AZURE_STORAGE_ACCOUNT_NAME.
    pub account: Option<String>,
    /// The account's shared key (base64); None: AZURE_STORAGE_ACCOUNT_KEY.
    pub access_key: Option<String>,
    /// The account's blob endpoint without a trailing slash, e.g.
    /// `http://127.0.0.1:10000/devstoreaccount1` (Azurite); None:
    /// `https://ACCOUNT.blob.core.windows.net`.
    pub endpoint: Option<String>,
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
                "{e} (expected s3://bucket?endpoint=...&region=..., az://container?account=... or file:///folder)"
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
                    check_endpoint(endpoint).map_err(bad)?;
                }
                Ok(StorageUrl::S3(location))
            }
            "az" => {
                let container = url.host_str().unwrap_or_default().to_string();
                if container.is_empty() {
                    return Err(bad(
                        "no container: az://CONTAINER?account=...&access_key=...".into(),
                    ));
                }
                check_container(&container).map_err(bad)?;
                let mut location = AzureLocation {
                    container,
                    prefix: url.path().trim_matches('/').to_string(),
                    account: None,
                    access_key: None,
                    endpoint: None,
                };
                for (key, value) in url.query_pairs() {
                    let value = Some(value.into_owned()).filter(|v| !v.is_empty());
                    let slot = match key.as_ref() {
                        "account" => &mut location.account,
                        "access_key" => &mut location.access_key,
                        "endpoint" => &mut location.endpoint,
                        other => {
                            return Err(bad(format!(
                                "unknown key '{other}' (known: {})",
                                AZURE_KEYS.join(", ")
                            )));
                        }
                    };
                    *slot = value;
                }
                if let Some(endpoint) = &mut location.endpoint {
                    check_endpoint(endpoint).map_err(bad)?;
                    // object_store appends /CONTAINER/BLOB to it: no doubled slash.
                    while endpoint.ends_with('/') {
                        endpoint.pop();
                    }
                }
                Ok(StorageUrl::Azure(location))
            }
            other => Err(bad(format!(
                "'{other}://' is not supported (s3:// for S3-compatible storage, az:// for Azure Blob Storage, file:// for a folder)"
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
            StorageUrl::Azure(az) => {
                let mut text = format!("az://{}", az.container);
                if !az.prefix.is_empty() {
                    text.push('/');
                    text.push_str(&az.prefix);
                }
                if let Some(account) = &az.account {
                    text.push_str(&format!(" (account {account})"));
                }
                if let Some(endpoint) = &az.endpoint {
                    text.push_str(&format!(" at {endpoint}"));
                }
                text
            }
        }
    }
}

/// An endpoint is an http(s) URL with a host.
fn check_endpoint(endpoint: &str) -> std::result::Result<(), String> {
    let parsed = url::Url::parse(endpoint).map_err(|e| format!("endpoint '{endpoint}': {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none_or(str::is_empty)
        || parsed.query().is_some()
    {
        return Err(format!(
            "endpoint '{endpoint}' must be http://host:port[/account] or https://host"
        ));
    }
    Ok(())
}

/// Azure's rule for container names (3 to 63 lowercase letters, digits and single
/// hyphens, starting and ending with a letter or digit): a wrong name is refused here,
/// not by the service at the first upload.
fn check_container(name: &str) -> std::result::Result<(), String> {
    let allowed = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=63).contains(&name.len())
        || !allowed
        || name.starts_with('-')
        || name.ends_with('-')
        || name.contains("--")
    {
        return Err(format!(
            "container '{name}': Azure container names are 3 to 63 lowercase letters, digits and single hyphens"
        ));
    }
    Ok(())
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
    fn azure_urls_read_container_prefix_and_keys() {
        let parsed = StorageUrl::parse(
            "az://tellus-audio/one/two/?account=devstoreaccount1&access_key=a2V5&endpoint=http://127.0.0.1:10000/devstoreaccount1/",
        )
        .unwrap();
        let StorageUrl::Azure(az) = &parsed else {
            panic!("not azure")
        };
        assert_eq!(az.container, "tellus-audio");
        assert_eq!(az.prefix, "one/two");
        assert_eq!(az.account.as_deref(), Some("devstoreaccount1"));
        assert_eq!(az.access_key.as_deref(), Some("a2V5"));
        assert_eq!(
            az.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        assert_eq!(
            parsed.describe(),
            "az://tellus-audio/one/two (account devstoreaccount1) at http://127.0.0.1:10000/devstoreaccount1"
        );
        // Everything but the container may come from the environment.
        let StorageUrl::Azure(bare) = StorageUrl::parse("az://audio").unwrap() else {
            panic!("not azure")
        };
        assert_eq!(
            (
                bare.prefix.as_str(),
                bare.account,
                bare.access_key,
                bare.endpoint
            ),
            ("", None, None, None)
        );
    }

    #[test]
    fn azure_urls_never_show_the_key() {
        let parsed = StorageUrl::parse("az://audio?account=acct&access_key=hunter2").unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
        assert!(!parsed.describe().contains("hunter2"));
        assert!(format!("{parsed:?}").contains("acct"));
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
            ("az://?account=a&access_key=hunter2", "no container"),
            ("az://Audio?access_key=hunter2", "container 'Audio'"),
            ("az://a_b?access_key=hunter2", "container 'a_b'"),
            ("az://ab", "container 'ab'"),
            ("az://a--b", "container 'a--b'"),
            ("az://-ab", "container '-ab'"),
            (
                "az://audio?endpoint=ftp://x&access_key=hunter2",
                "must be http",
            ),
            ("az://audio?endpoint=http://&access_key=hunter2", "endpoint"),
            (
                "az://audio?access_key=hunter2&secret_access_key=hunter2",
                "unknown key 'secret_access_key' (known: account, access_key, endpoint)",
            ),
            ("azure://audio?access_key=hunter2", "not supported"),
        ] {
            let message = StorageUrl::parse(text).unwrap_err().to_string();
            assert!(message.contains(says), "{text}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        let parsed = StorageUrl::parse("s3://b?secret_access_key=hunter2").unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
