//! Where a local run (`cargo xtask local`, `local up`, `load`) delivers: the bundled receiver, which it starts
//! with generated credentials and whose store it reads, or a real NiFi or MinIO named by the options, with the
//! credentials the user gives (as `cargo xtask secret` takes them: a no-echo prompt or JSON on stdin, never
//! echoed or logged). A real sink is judged by what the pipeline records — the COMPLETED idempotency records,
//! as `load --env` counts ([`crate::deployed`]) — and a MinIO store by what it holds: every bundle that carried
//! a file, under its archive key, with the SHA-256 the aggregator recorded in the archive.

use anyhow::{Context, Result, anyhow, bail};
use app::RawConfig;
use app::archive::SHA256_METADATA;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::local::StackOptions;
use crate::ui::Step;
use crate::{aws, secret};

/// Where the bundles go, checked from the options.
#[derive(Debug)]
pub enum Sink {
    /// The bundled receiver, started by the run.
    Receiver,
    /// A NiFi ListenHTTP endpoint (or anything that answers like one).
    Nifi {
        url: String,
        credentials: secret::Value,
    },
    /// A bucket of an S3-compatible store; the credentials are its access key and secret key.
    Minio {
        endpoint: String,
        bucket: String,
        credentials: secret::Value,
    },
}

impl Sink {
    /// The sink the options name, its credentials read (from stdin or a prompt) when it is a real one: before
    /// anything is started, so a missing or malformed value costs no deployment.
    pub fn from_options(options: &StackOptions) -> Result<Sink> {
        let credentials = &options.credentials;
        let real = || {
            credentials.read().context(
                "a real sink needs its credentials: pipe {\"username\": ..., \"password\": ...} on stdin (with --stdin), or give --username and type the password",
            )
        };
        if options.fail.is_some()
            && (options.nifi_url.is_some() || options.minio_endpoint.is_some())
        {
            bail!(
                "--fail makes the bundled receiver fail, and this run delivers to --nifi-url or --minio-endpoint instead: leave out one or the other"
            );
        }
        match (
            &options.nifi_url,
            &options.minio_endpoint,
            &options.minio_bucket,
        ) {
            (Some(_), Some(_), _) => bail!(
                "--nifi-url and --minio-endpoint name two sinks: a run delivers to one, so give only one of them"
            ),
            (Some(url), None, None) => Ok(Sink::Nifi {
                url: url.clone(),
                credentials: real()?,
            }),
            (None, Some(endpoint), Some(bucket)) => Ok(Sink::Minio {
                endpoint: endpoint.clone(),
                bucket: bucket.clone(),
                credentials: real()?,
            }),
            (None, Some(_), None) => bail!(
                "--minio-endpoint needs --minio-bucket: the bucket the bundles go into (it must exist)"
            ),
            (_, None, Some(_)) => {
                bail!("--minio-bucket goes with --minio-endpoint: give the store's URL too")
            }
            (None, None, None) if credentials.given() => bail!(
                "the credentials options (--stdin, --username, --client-cert, ...) are a real sink's: give --nifi-url or --minio-endpoint too (the bundled receiver's are generated)"
            ),
            (None, None, None) => Ok(Sink::Receiver),
        }
    }

    /// Points the aggregator's configuration at a real sink; the bundled receiver's URL is set once it runs.
    pub fn configure(&self, config: &mut RawConfig) {
        match self {
            Sink::Receiver => {}
            Sink::Nifi { url, .. } => config.set("NIFI_URL", url.clone()),
            Sink::Minio {
                endpoint, bucket, ..
            } => {
                config.set("SINK", "minio");
                config.set("MINIO_ENDPOINT", endpoint.clone());
                config.set("MINIO_BUCKET", bucket.clone());
            }
        }
    }

    /// The credentials the run puts into the secret, when the sink is a real one.
    pub fn credentials(&self) -> Option<&secret::Value> {
        match self {
            Sink::Receiver => None,
            Sink::Nifi { credentials, .. } | Sink::Minio { credentials, .. } => Some(credentials),
        }
    }

    /// The real sink's URL.
    pub fn url(&self) -> Option<&str> {
        match self {
            Sink::Receiver => None,
            Sink::Nifi { url, .. } => Some(url),
            Sink::Minio { endpoint, .. } => Some(endpoint),
        }
    }

    /// For MinIO: checks that the store holds every one of `keys` (archive keys: the sink stores a bundle
    /// under its archive key) with the SHA-256 the aggregator recorded for it in the archive. Other sinks are
    /// not looked into: NiFi checks each bundle's hash itself on arrival.
    pub async fn verify_store(
        &self,
        archive: &aws_sdk_s3::Client,
        archive_bucket: &str,
        keys: &[String],
    ) -> Result<()> {
        let Sink::Minio {
            endpoint,
            bucket,
            credentials,
        } = self
        else {
            return Ok(());
        };
        let step = Step::start(format!(
            "check the {} bundles in s3://{bucket} at {endpoint}",
            keys.len()
        ));
        let store = app::delivery::store_client(endpoint, &credentials.credentials);
        let store = Store {
            client: &store,
            endpoint,
            bucket,
        };
        futures::stream::iter(keys)
            .map(|key| async {
                let recorded = recorded_sha256(archive, archive_bucket, key).await?;
                store.check(key, &recorded).await
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        step.done_with("each is there, with the SHA-256 the aggregator archived");
        Ok(())
    }
}

/// The SHA-256 the aggregator recorded for an archived bundle (the `content-sha256` metadata).
async fn recorded_sha256(archive: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String> {
    let head = archive
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws::describe(&e)))
        .with_context(|| format!("reading s3://{bucket}/{key} in the archive"))?;
    head.metadata()
        .and_then(|m| m.get(SHA256_METADATA))
        .cloned()
        .with_context(|| {
            format!("s3://{bucket}/{key} in the archive has no {SHA256_METADATA} metadata")
        })
}

/// The MinIO bucket, as the store answers for it.
struct Store<'a> {
    client: &'a aws_sdk_s3::Client,
    endpoint: &'a str,
    bucket: &'a str,
}

impl Store<'_> {
    /// Reads the stored object and compares its bytes' SHA-256 with `recorded`.
    async fn check(&self, key: &str, recorded: &str) -> Result<()> {
        let (endpoint, bucket) = (self.endpoint, self.bucket);
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow!("{}", aws::describe(&e)))
            .with_context(|| {
                format!(
                    "bundle {key} was recorded delivered, but reading it from s3://{bucket} at {endpoint} failed"
                )
            })?;
        let mut hasher = Sha256::new();
        let mut body = object.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("reading {key} from s3://{bucket} at {endpoint}"))?
        {
            hasher.update(&chunk);
        }
        let stored = hex::encode(hasher.finalize());
        if !stored.eq_ignore_ascii_case(recorded.trim()) {
            bail!(
                "{key} in s3://{bucket} at {endpoint} has SHA-256 {stored}, but the aggregator archived it with {recorded}: the store holds other bytes than were delivered"
            );
        }
        Ok(())
    }
}
