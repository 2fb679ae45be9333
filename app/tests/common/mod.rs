//! The test stack: moto server with the pipeline's resources, the receiver, and the local event source mapping.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::poller::{Invocation, Mapping, Poller};
use app::receiver::{BasicCredentials, ReceiverConfig, RunningReceiver};
use app::{Aggregator, RawConfig};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Event,
    NotificationConfiguration, QueueConfiguration, VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use emulator::Moto;

pub const USERNAME: &str = "nifi";
pub const PASSWORD: &str = "correct-horse-battery";
pub const LANDING: &str = "landing";
pub const ARCHIVE: &str = "archive";

pub struct Stack {
    pub moto: Moto,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub queue_url: String,
    pub dlq_url: String,
    pub secret_id: String,
    pub receiver: RunningReceiver,
    pub store: tempfile::TempDir,
}

fn ok<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

impl Stack {
    /// Starts moto and the receiver and creates what the aggregator uses (as generated/local would).
    pub async fn start() -> Stack {
        Stack::start_with(30, 50).await
    }

    /// Like `start`, with the source queue's visibility timeout and the redrive's maxReceiveCount.
    pub async fn start_with(visibility_seconds: u32, max_receive_count: u32) -> Stack {
        let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(Region::new("eu-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);

        for bucket in [LANDING, ARCHIVE, "minio-bundles"] {
            ok(
                "create bucket",
                s3.create_bucket()
                    .bucket(bucket)
                    .create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::EuWest2)
                            .build(),
                    )
                    .send()
                    .await,
            );
        }
        ok(
            "versioning",
            s3.put_bucket_versioning()
                .bucket(LANDING)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await,
        );
        let dlq_url = ok("dlq", sqs.create_queue().queue_name("dlq").send().await)
            .queue_url
            .unwrap_or_default();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let queue_url = ok(
            "queue",
            sqs.create_queue()
                .queue_name("files")
                .attributes(QueueAttributeName::VisibilityTimeout, visibility_seconds.to_string())
                .attributes(
                    QueueAttributeName::RedrivePolicy,
                    format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#),
                )
                .send()
                .await,
        )
        .queue_url
        .unwrap_or_default();
        let arn = queue_arn(&sqs, &queue_url).await;
        ok(
            "notification",
            s3.put_bucket_notification_configuration()
                .bucket(LANDING)
                .notification_configuration(
                    NotificationConfiguration::builder()
                        .queue_configurations(ok(
                            "queue configuration",
                            QueueConfiguration::builder()
                                .queue_arn(arn)
                                .events(Event::S3ObjectCreated)
                                .build(),
                        ))
                        .build(),
                )
                .send()
                .await,
        );
        for table in ["claims", "breaker"] {
            create_table(&dynamodb, table).await;
        }
        let secret_id = ok(
            "secret",
            secrets
                .create_secret()
                .name("endpoint")
                .secret_string(format!(
                    r#"{{"username":"{USERNAME}","password":"{PASSWORD}"}}"#
                ))
                .send()
                .await,
        )
        .arn
        .unwrap_or_default();
        let store = ok("tempdir", tempfile::tempdir());
        let receiver = ok(
            "receiver",
            app::receiver::spawn(
                ReceiverConfig::new(store.path().join("bundles"))
                    .with_credentials(BasicCredentials::new(USERNAME, PASSWORD)),
            )
            .await,
        );
        Stack {
            moto,
            sdk,
            s3,
            sqs,
            dynamodb,
            secrets,
            queue_url,
            dlq_url,
            secret_id,
            receiver,
            store,
        }
    }

    /// The aggregator's environment as the local deployment sets it, with compressed time.
    pub fn raw_config(&self) -> RawConfig {
        RawConfig::from_pairs([
            ("ARCHIVE_BUCKET", ARCHIVE.to_string()),
            ("IDEMPOTENCY_TABLE", "claims".into()),
            ("BREAKER_TABLE", "breaker".into()),
            ("CREDENTIALS_SECRET_ID", self.secret_id.clone()),
            ("SINK", "nifi".into()),
            ("NIFI_URL", self.receiver.url()),
            ("DLQ_URL", self.dlq_url.clone()),
            ("SOURCE_QUEUE_URL", self.queue_url.clone()),
            ("S3_FORCE_PATH_STYLE", "true".into()),
            ("REDELIVERY_BASE_SECONDS", "1".into()),
            ("REDELIVERY_MAX_SECONDS", "2".into()),
            ("BREAKER_COOLDOWN_SECONDS", "2".into()),
            ("BREAKER_COOLDOWN_MAX_SECONDS", "4".into()),
            ("BREAKER_FAILURE_THRESHOLD", "2".into()),
            ("BREAKER_CACHE_MS", "0".into()),
            ("HTTP_TIMEOUT_MS", "5000".into()),
        ])
    }

    pub fn aggregator(&self, raw: &RawConfig) -> Aggregator {
        let config = raw.validate().unwrap_or_else(|e| panic!("{e}"));
        Aggregator::new(config, &self.sdk).with_metrics_writer(Box::new(std::io::sink()))
    }

    pub fn poller(&self, batch_size: usize) -> Poller {
        self.poller_with(batch_size, Duration::from_millis(500))
    }

    pub fn poller_with(&self, batch_size: usize, batching_window: Duration) -> Poller {
        ok(
            "poller",
            Poller::new(
                self.sqs.clone(),
                Mapping {
                    queue_url: self.queue_url.clone(),
                    batch_size,
                    batching_window,
                    function_timeout: Duration::from_secs(60),
                },
            ),
        )
    }

    pub async fn upload(&self, key: &str, body: Vec<u8>) {
        self.put(key, body, None).await;
    }

    /// Puts an object into the landing bucket, in `storage_class` if given; returns its version id.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        storage_class: Option<aws_sdk_s3::types::StorageClass>,
    ) -> String {
        ok(
            "put object",
            self.s3
                .put_object()
                .bucket(LANDING)
                .key(key)
                .set_storage_class(storage_class)
                .body(ByteStream::from(body))
                .send()
                .await,
        )
        .version_id
        .unwrap_or_default()
    }

    /// Sends a message to the source queue, as S3 (or anyone) would; returns its id.
    pub async fn send(&self, body: &str) -> String {
        ok(
            "send a message",
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await,
        )
        .message_id
        .unwrap_or_default()
    }

    /// Uploads many files concurrently.
    pub async fn upload_many(&self, files: &[(String, Vec<u8>)]) {
        use futures::StreamExt;
        futures::stream::iter(files)
            .for_each_concurrent(16, |(k, v)| self.upload(k, v.clone()))
            .await;
    }

    /// The keys in the archive bucket.
    pub async fn archived_keys(&self) -> Vec<String> {
        ok(
            "list the archive",
            self.s3.list_objects_v2().bucket(ARCHIVE).send().await,
        )
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
    }

    /// Every record in the idempotency table.
    pub async fn claims(&self) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        ok(
            "scan the claims table",
            self.dynamodb.scan().table_name("claims").send().await,
        )
        .items()
        .to_vec()
    }

    /// Messages in the queue, visible and in flight.
    pub async fn queue_depth(&self, url: &str) -> usize {
        let out = ok(
            "queue attributes",
            self.sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await,
        );
        out.attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
            .unwrap_or(0)
    }

    /// Runs the mapping until the queue is empty (or `limit` passes); returns the invocations.
    pub async fn drain(
        &self,
        aggregator: &Aggregator,
        poller: &Poller,
        limit: Duration,
    ) -> Vec<Invocation> {
        let started = Instant::now();
        let mut invocations = Vec::new();
        while started.elapsed() < limit {
            let invocation = ok(
                "poll",
                poller.invoke_once(aggregator, Duration::from_secs(1)).await,
            );
            if invocation.received > 0 {
                invocations.push(invocation);
            } else if self.queue_depth(&self.queue_url).await == 0 {
                return invocations;
            }
        }
        panic!("the queue did not drain within {limit:?}; invocations: {invocations:?}");
    }

    /// Every file delivered, by key, with how many times, checked against the bundles' content.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut keys = HashMap::new();
        for bundle in ok("stored bundles", self.receiver.stored_bundles()) {
            for file in bundle.manifest.files {
                *keys.entry(file.key).or_insert(0) += 1;
            }
        }
        keys
    }

    /// The messages in the DLQ: (body, `reason` attribute, `kind` attribute).
    pub async fn dead_letters(&self) -> Vec<(String, String, String)> {
        let out = ok(
            "dlq receive",
            self.sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(0)
                .send()
                .await,
        );
        out.messages()
            .iter()
            .map(|m| {
                let attribute = |name: &str| {
                    m.message_attributes()
                        .and_then(|a| a.get(name))
                        .and_then(|v| v.string_value())
                        .unwrap_or_default()
                        .to_string()
                };
                (
                    m.body().unwrap_or_default().to_string(),
                    attribute("reason"),
                    attribute("kind"),
                )
            })
            .collect()
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    ok(
        "queue arn",
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await,
    )
    .attributes()
    .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
    .unwrap_or_default()
}

async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ok(
        "create table",
        dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(ok(
                "attribute",
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            ))
            .key_schema(ok(
                "key",
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build(),
            ))
            .send()
            .await,
    );
}

/// An SQS message carrying the S3 event S3 would send for an object just put into the landing bucket
/// (without a version id, as moto sends it).
pub fn s3_message(id: &str, key: &str, body: &[u8]) -> aws_lambda_events::event::sqs::SqsMessage {
    s3_message_of_version(id, key, body, None)
}

/// Like `s3_message`, naming the version as AWS does for a versioned bucket.
pub fn s3_message_of_version(
    id: &str,
    key: &str,
    body: &[u8],
    version_id: Option<&str>,
) -> aws_lambda_events::event::sqs::SqsMessage {
    let mut object = serde_json::json!({
        "key": app::event::encode_key(key), "size": body.len(), "eTag": etag_of(body)
    });
    if let Some(version_id) = version_id {
        object["versionId"] = serde_json::json!(version_id);
    }
    let event = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "eventTime": app::now_rfc3339(),
        "s3": {"bucket": {"name": LANDING}, "object": object}
    }]});
    let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
    message.message_id = Some(id.to_string());
    message.receipt_handle = Some(format!("receipt-{id}"));
    message.body = Some(event.to_string());
    message
}

/// S3's ETag of a single-part upload: the MD5 of the bytes, which an event carries and a HeadObject returns.
fn etag_of(body: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(body))
}

/// An SQS event of `messages`, as the mapping would invoke the function with.
pub fn event_of(
    messages: &[aws_lambda_events::event::sqs::SqsMessage],
) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = messages.to_vec();
    event
}

/// The messages' ids, sorted.
pub fn message_ids(messages: &[aws_lambda_events::event::sqs::SqsMessage]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    ids.sort();
    ids
}

/// The ids of the messages a response reports failed, sorted.
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

/// `len` incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A writer that keeps what is written, for logs and EMF metrics.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).to_string())
            .unwrap_or_default()
    }

    /// Every line that is a JSON document.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The breaker's stored state (`CLOSED`, `OPEN`, `HALF_OPEN`), if any item exists.
pub async fn breaker_state(stack: &Stack) -> Option<String> {
    let out = stack
        .dynamodb
        .scan()
        .table_name("breaker")
        .send()
        .await
        .ok()?;
    out.items()
        .first()
        .and_then(|item| item.get("state"))
        .and_then(|v| v.as_s().ok())
        .cloned()
}

/// A parcel of `bytes` in a file of its own (the directory must outlive the parcel), for the sinks alone.
pub fn parcel_of(bytes: &[u8]) -> (tempfile::TempDir, app::delivery::Parcel) {
    use sha2::Digest;
    let dir = ok("tempdir", tempfile::tempdir());
    let bundle_id = uuid::Uuid::now_v7().to_string();
    let path = dir.path().join(format!("{bundle_id}.tar.gz"));
    ok("write the parcel", std::fs::write(&path, bytes));
    let parcel = app::delivery::Parcel {
        path,
        size: bytes.len() as u64,
        sha256_hex: hex::encode(sha2::Sha256::digest(bytes)),
        file_count: 1,
        file_name: format!("{bundle_id}.tar.gz"),
        key: format!("bundles/test/{bundle_id}.tar.gz"),
        bundle_id,
        replay: false,
    };
    (dir, parcel)
}
