//! Audio in an object store (S3 and S3-compatible servers, and Azure Blob Storage, through
//! `object_store`, which also speaks GCS should it be wired in): one object per stored copy, under
//! the URL's prefix and the same key as in the folder. A verified spool file is streamed
//! in with a multipart upload (parts of `PART_BYTES`, at most `PARTS_IN_FLIGHT` in the
//! air), never held whole in memory; reads are ranged GETs.

use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt;

use super::bucket_spool::SpoolStore;
use super::url::{AzureLocation, S3Location};
use super::{AudioStorage, ByteStream};
use crate::error::{Error, Result};

/// Size of one part of a multipart upload: S3's minimum is 5 MiB (but for the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploading at once: memory per upload stays under (this + 1) parts.
const PARTS_IN_FLIGHT: usize = 4;
/// How much of the spool file is read at a time.
const READ_BYTES: usize = 1024 * 1024;

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// For log lines and errors (never the secret).
    describe: String,
    /// Where tus uploads in progress keep their bytes (`tus::bucket`).
    spool: Arc<super::BucketSpool>,
}

impl ObjectStorage {
    /// Connects to the bucket `s3` names and checks that it answers (the bucket exists
    /// and the key may list it): a wrong endpoint, bucket or key is an error now, not at
    /// the first upload.
    pub async fn open_s3(s3: &S3Location) -> Result<ObjectStorage> {
        let describe = super::StorageUrl::S3(s3.clone()).describe();
        let builder = s3_builder(s3, &describe)?;
        Self::open(&describe, &s3.prefix, |retry| {
            builder.clone().with_retry(retry).build()
        })
        .await
    }

    /// Connects to the Azure container `az` names and checks that it answers, as
    /// [`Self::open_s3`].
    pub async fn open_azure(az: &AzureLocation) -> Result<ObjectStorage> {
        let describe = super::StorageUrl::Azure(az.clone()).describe();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let builder = azure_builder(az, &describe, env)?;
        Self::open(&describe, &az.prefix, |retry| {
            builder.clone().with_retry(retry).build()
        })
        .await
    }

    /// The store `build` makes (given how to retry), checked with one listing under
    /// `prefix`.
    async fn open<S: SpoolStore + Clone>(
        describe: &str,
        prefix: &str,
        build: impl Fn(RetryConfig) -> object_store::Result<S>,
    ) -> Result<ObjectStorage> {
        let build = |retry: RetryConfig| {
            build(retry).map_err(|e| Error::Config(format!("audio storage {describe}: {e}")))
        };
        // At start one try: an unreachable endpoint is reported at once, not after
        // minutes of backing off.
        let checker = with_prefix(
            build(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })?,
            prefix,
        );
        checker.list_with_delimiter(None).await.map_err(|e| {
            Error::Config(format!(
                "audio storage {describe} does not answer (is the endpoint right, does the bucket or container exist, may the key list it?): {e}"
            ))
        })?;
        let bucket = build(RetryConfig {
            max_retries: 5,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        })?;
        let spool = Arc::new(super::BucketSpool::new(Arc::new(bucket.clone()), prefix));
        let store = with_prefix(bucket, prefix);
        tracing::info!(storage = %describe, "audio on object storage");
        Ok(ObjectStorage {
            store,
            describe: describe.to_string(),
            spool,
        })
    }

    fn path(key: &str) -> ObjectPath {
        ObjectPath::from(key)
    }

    async fn stream_in(&self, key: &str, spooled: &Path) -> io::Result<()> {
        let mut file = tokio::fs::File::open(spooled).await?;
        if file.metadata().await?.len() == 0 {
            // A multipart upload needs one part at least.
            self.store
                .put(&Self::path(key), PutPayload::new())
                .await
                .map_err(to_io)?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&Self::path(key))
            .await
            .map_err(to_io)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; READ_BYTES];
        let sent: io::Result<()> = async {
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(to_io)?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        if let Err(e) = sent {
            // The parts already sent are not left to linger (and cost) in the bucket.
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(to_io)?;
        Ok(())
    }
}

fn with_prefix<S: ObjectStore>(store: S, prefix: &str) -> Arc<dyn ObjectStore> {
    if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    }
}

/// The S3 client for `s3`: credentials from the URL, else the standard AWS_* variables;
/// plain HTTP only when the endpoint says http://. Never the instance metadata service:
/// a server without a key is told so instead of reaching out to find one.
fn s3_builder(s3: &S3Location, describe: &str) -> Result<AmazonS3Builder> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let access_key_id = s3
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"));
    let secret = s3
        .secret_access_key
        .clone()
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
    let (Some(access_key_id), Some(secret)) = (access_key_id, secret) else {
        return Err(Error::Config(format!(
            "audio storage {describe}: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or access_key_id and secret_access_key in the URL)"
        )));
    };
    let region = s3
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(region)
        .with_access_key_id(access_key_id)
        .with_secret_access_key(secret)
        .with_http_connector(super::transport::RustlsConnector);
    if let Some(token) = s3
        .session_token
        .clone()
        .or_else(|| env("AWS_SESSION_TOKEN"))
    {
        builder = builder.with_token(token);
    }
    if let Some(endpoint) = &s3.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    Ok(builder)
}

/// The Azure client for `az`: account and shared key from the URL, else
/// AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or its alias
/// AZURE_STORAGE_ACCESS_KEY); the endpoint from the URL, else the account's
/// `https://ACCOUNT.blob.core.windows.net`; plain HTTP only when the endpoint says
/// http://. A shared key only: never managed identity, the Azure CLI or other ambient
/// credentials, so that a server without a key is told so.
fn azure_builder(
    az: &AzureLocation,
    describe: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<MicrosoftAzureBuilder> {
    let account = az
        .account
        .clone()
        .or_else(|| env("AZURE_STORAGE_ACCOUNT_NAME"));
    let key = az
        .access_key
        .clone()
        .or_else(|| env("AZURE_STORAGE_ACCOUNT_KEY"))
        .or_else(|| env("AZURE_STORAGE_ACCESS_KEY"));
    let (Some(account), Some(key)) = (account, key) else {
        return Err(Error::Config(format!(
            "audio storage {describe}: no credentials; set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or account and access_key in the URL)"
        )));
    };
    let mut builder = MicrosoftAzureBuilder::new()
        .with_account(account)
        .with_container_name(&az.container)
        .with_access_key(key)
        .with_http_connector(super::transport::RustlsConnector);
    if let Some(endpoint) = &az.endpoint {
        builder = builder
            .with_endpoint(endpoint.clone())
            .with_allow_http(endpoint.starts_with("http://"));
    }
    Ok(builder)
}

pub(super) fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

pub(super) fn absent_is_none<T>(result: object_store::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(to_io(e)),
    }
}

/// Whether an object is one of ours: `<recording uuid>` or `<recording uuid>.listening`.
/// The sweep after a crash deletes what no recording names; a bucket shared with
/// anything else must not lose that else.
fn is_audio_key(key: &str) -> bool {
    let (id, _) = super::parse_key(key);
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

#[async_trait::async_trait]
impl AudioStorage for ObjectStorage {
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()> {
        self.stream_in(key, spooled).await?;
        // Moved, as into the folder: the spool copy goes (a leftover would be swept at
        // the next start all the same).
        if let Err(e) = tokio::fs::remove_file(spooled).await {
            tracing::warn!(file = %spooled.display(), error = %e, "cannot remove a stored spool file");
        }
        Ok(())
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        Ok(absent_is_none(self.store.head(&Self::path(key)).await)?.map(|meta| meta.size))
    }

    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<Option<ByteStream>> {
        if range.is_empty() {
            // S3 refuses an empty range; nothing to read is nothing to fetch.
            return Ok(Some(futures_util::stream::empty().boxed()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let got = absent_is_none(self.store.get_opts(&Self::path(key), options).await)?;
        Ok(got.map(|got| got.into_stream().map_err(to_io).boxed()))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    fn spool_bucket(&self) -> Option<Arc<super::BucketSpool>> {
        Some(self.spool.clone())
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        self.store
            .list(None)
            .map_err(to_io)
            .try_filter_map(|meta| {
                let key = meta.location.to_string();
                async move { Ok(is_audio_key(&key).then_some(key)) }
            })
            .try_collect()
            .await
    }
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_credentials_come_from_the_url_else_the_environment() {
        use object_store::azure::AzureConfigKey;
        let location = |url: &str| match super::super::StorageUrl::parse(url).unwrap() {
            super::super::StorageUrl::Azure(az) => az,
            other => panic!("not azure: {other:?}"),
        };
        let environment = |name: &str| match name {
            "AZURE_STORAGE_ACCOUNT_NAME" => Some("from-env".to_string()),
            "AZURE_STORAGE_ACCESS_KEY" => Some("ZW52".to_string()),
            _ => None,
        };
        let value = |builder: &MicrosoftAzureBuilder, key| builder.get_config_value(&key);

        let from_env = azure_builder(&location("az://audio"), "t", environment).unwrap();
        assert_eq!(
            value(&from_env, AzureConfigKey::AccountName).as_deref(),
            Some("from-env")
        );
        assert_eq!(
            value(&from_env, AzureConfigKey::AccessKey).as_deref(),
            Some("ZW52")
        );
        assert_eq!(value(&from_env, AzureConfigKey::Endpoint), None);

        let from_url = azure_builder(
            &location("az://audio?account=acct&access_key=dXJs&endpoint=http://127.0.0.1:1/acct"),
            "t",
            environment,
        )
        .unwrap();
        assert_eq!(
            value(&from_url, AzureConfigKey::AccountName).as_deref(),
            Some("acct")
        );
        assert_eq!(
            value(&from_url, AzureConfigKey::AccessKey).as_deref(),
            Some("dXJs")
        );
        assert_eq!(
            value(&from_url, AzureConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:1/acct")
        );

        // No key anywhere: refused, naming the variables, not left to ambient credentials.
        let none = |_: &str| None;
        let message = azure_builder(&location("az://audio?account=acct"), "t", none)
            .unwrap_err()
            .to_string();
        assert!(message.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{message}");
    }

    #[test]
    fn only_recording_keys_are_ours() {
        let id = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        assert!(is_audio_key(id));
        assert!(is_audio_key(&format!("{id}.listening")));
        for other in [
            "backup.tar",
            "",
            "x.listening",
            &format!("{id}.bak"),
            &id.to_uppercase(),
        ] {
            assert!(!is_audio_key(other), "{other}");
        }
    }
}
