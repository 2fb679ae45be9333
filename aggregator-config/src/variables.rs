//! Every environment variable the aggregator reads, in the order the README lists them. A new variable is a
//! constant here and its line in [`VARIABLES`]; the parser then reads it through the constant.

use redelivery::SQS_MAX_VISIBILITY_SECONDS;

use crate::Variable;
use crate::kinds::{Directory, Flag, Need, Number, Required, Shape, Sink, SinkChoice, Text, Unit};

pub const ARCHIVE_BUCKET: Required = Required {
    name: "ARCHIVE_BUCKET",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the S3 bucket bundles are archived in (Terraform output `archive_bucket`)",
};
pub const IDEMPOTENCY_TABLE: Required = Required {
    name: "IDEMPOTENCY_TABLE",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the DynamoDB table of file claims, key `id`, TTL attribute `expires_at` (Terraform output `idempotency_table`)",
};
pub const BREAKER_TABLE: Required = Required {
    name: "BREAKER_TABLE",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the DynamoDB table holding the circuit breaker, key `id` (Terraform output `breaker_table`)",
};
pub const CREDENTIALS_SECRET_ID: Required = Required {
    name: "CREDENTIALS_SECRET_ID",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the Secrets Manager secret with the endpoint credentials: `{\"username\",\"password\"}` plus optional `client_cert_pem`, `client_key_pem` (mutual TLS), `ca_cert_pem` (private CA); for MinIO, username and password are the access key and secret key",
};
pub const SINK: SinkChoice = SinkChoice {
    name: "SINK",
    meaning: "where bundles go after they are archived",
};
pub const NIFI_URL: Required = Required {
    name: "NIFI_URL",
    need: Need::WithSink(Sink::Nifi),
    shape: Shape::Url,
    meaning: "the NiFi ListenHTTP URL, e.g. `https://nifi.example:9443/contentListener`",
};
pub const MINIO_ENDPOINT: Required = Required {
    name: "MINIO_ENDPOINT",
    need: Need::WithSink(Sink::Minio),
    shape: Shape::Url,
    meaning: "the MinIO endpoint URL, e.g. `https://minio.example:9000`",
};
pub const MINIO_BUCKET: Required = Required {
    name: "MINIO_BUCKET",
    need: Need::WithSink(Sink::Minio),
    shape: Shape::Name,
    meaning: "the MinIO bucket bundles are put into",
};
pub const DLQ_URL: Required = Required {
    name: "DLQ_URL",
    need: Need::Always,
    shape: Shape::Url,
    meaning: "the dead-letter queue's URL: poison messages and files that can never be delivered go there with their reason",
};
pub const SOURCE_QUEUE_URL: Required = Required {
    name: "SOURCE_QUEUE_URL",
    need: Need::Always,
    shape: Shape::Url,
    meaning: "the URL of the queue the function is fed from: messages are held back there during outages",
};
pub const REDELIVERY_BASE_SECONDS: Number<u32> = Number {
    name: "REDELIVERY_BASE_SECONDS",
    default: 20,
    min: 1,
    max: SQS_MAX_VISIBILITY_SECONDS,
    unit: Unit::Time,
    meaning: "the first hold of a message returned because of the endpoint; it doubles per receive up to `REDELIVERY_MAX_SECONDS` (see `redelivery/`)",
};
pub const REDELIVERY_MAX_SECONDS: Number<u32> = Number {
    name: "REDELIVERY_MAX_SECONDS",
    default: 900,
    min: 1,
    max: SQS_MAX_VISIBILITY_SECONDS,
    unit: Unit::Time,
    meaning: "the longest hold of a returned message; at least `REDELIVERY_BASE_SECONDS`",
};
pub const BREAKER_FAILURE_THRESHOLD: Number<u32> = Number {
    name: "BREAKER_FAILURE_THRESHOLD",
    default: 5,
    min: 1,
    max: 1000,
    unit: Unit::Count,
    meaning: "consecutive unavailability failures (timeouts, connection errors, 408, 429, 5xx) that open the breaker",
};
pub const BREAKER_COOLDOWN_SECONDS: Number<u64> = Number {
    name: "BREAKER_COOLDOWN_SECONDS",
    default: 30,
    min: 1,
    max: 43_200,
    unit: Unit::Time,
    meaning: "how long the breaker stays open before a probe; doubles after each failed probe",
};
pub const BREAKER_COOLDOWN_MAX_SECONDS: Number<u64> = Number {
    name: "BREAKER_COOLDOWN_MAX_SECONDS",
    default: 300,
    min: 1,
    max: 43_200,
    unit: Unit::Time,
    meaning: "the longest the breaker stays open before a probe; at least `BREAKER_COOLDOWN_SECONDS`",
};
pub const BREAKER_CACHE_MS: Number<u64> = Number {
    name: "BREAKER_CACHE_MS",
    default: 2_000,
    min: 0,
    max: 60_000,
    unit: Unit::Time,
    meaning: "how long a read of the breaker's state is reused",
};
pub const DOWNLOAD_CONCURRENCY: Number<u32> = Number {
    name: "DOWNLOAD_CONCURRENCY",
    default: 32,
    min: 1,
    max: 1024,
    unit: Unit::Count,
    meaning: "objects downloaded (and claims written) at once",
};
pub const GZIP_LEVEL: Number<u32> = Number {
    name: "GZIP_LEVEL",
    default: bundle::DEFAULT_LEVEL,
    min: 0,
    max: 9,
    unit: Unit::Count,
    meaning: "the libdeflate level bundles are written at (5 beats gzip -6 on ratio at twice the speed, see Performance)",
};
pub const MEMORY_SPOOL_LIMIT_BYTES: Number<u64> = Number {
    name: "MEMORY_SPOOL_LIMIT_BYTES",
    default: 1 << 20,
    min: 0,
    max: 1 << 30,
    unit: Unit::Bytes,
    meaning: "objects up to this size wait in memory for the bundle writer, larger ones in a temp file",
};
pub const BUNDLE_MAX_BYTES: Number<u64> = Number {
    name: "BUNDLE_MAX_BYTES",
    default: 256 << 20,
    min: 128 << 10,
    max: 10 << 30,
    unit: Unit::Bytes,
    meaning: "the largest bundle, in compressed bytes (the spool file, the body on the wire); a batch that holds more goes out as several bundles in sequence. Keep a bundle's upload to the endpoint well within the function timeout, or every attempt is cut at the deadline",
};
pub const OBJECT_MAX_BYTES: Number<u64> = Number {
    name: "OBJECT_MAX_BYTES",
    default: 64 << 20,
    min: 1,
    max: 10 << 30,
    unit: Unit::Bytes,
    meaning: "objects larger than this by their event's size are dead-lettered (`kind` `oversize`) without being read. It must leave room in a bundle of `BUNDLE_MAX_BYTES` for the tar entry, the manifest (64 KiB) and gzip's framing (1/513), so the default is lowered to that when it does not",
};
pub const DOWNLOAD_BUFFER_BYTES: Number<u64> = Number {
    name: "DOWNLOAD_BUFFER_BYTES",
    default: 64 << 20,
    min: 1 << 10,
    max: 10 << 30,
    unit: Unit::Bytes,
    meaning: "the bytes of downloads in flight at once, by the events' sizes (in memory or in `SPOOL_DIR`); a larger object is downloaded alone",
};
pub const DEADLINE_MARGIN_MS: Number<u64> = Number {
    name: "DEADLINE_MARGIN_MS",
    default: 10_000,
    min: 0,
    max: 900_000,
    unit: Unit::Time,
    meaning: "no archive or delivery starts with less than this left before the Lambda deadline; each is cut at the time left minus this",
};
pub const SPOOL_DIR: Directory = Directory {
    name: "SPOOL_DIR",
    meaning: "where bundles are spooled and large downloads wait; it needs room for `BUNDLE_MAX_BYTES` + max(`DOWNLOAD_BUFFER_BYTES`, `OBJECT_MAX_BYTES`)",
};
pub const MULTIPART_THRESHOLD_BYTES: Number<u64> = Number {
    name: "MULTIPART_THRESHOLD_BYTES",
    default: 64 << 20,
    min: 5 << 20,
    max: 5 << 30,
    unit: Unit::Bytes,
    meaning: "bundles above this size are archived with a multipart upload",
};
pub const MULTIPART_PART_BYTES: Number<u64> = Number {
    name: "MULTIPART_PART_BYTES",
    default: 16 << 20,
    min: 5 << 20,
    max: 5 << 30,
    unit: Unit::Bytes,
    meaning: "the part size of a multipart archive upload",
};
pub const ARCHIVE_PREFIX: Text = Text {
    name: "ARCHIVE_PREFIX",
    default: "bundles",
    meaning: "the first component of archive keys",
};
pub const HTTP_CONNECT_TIMEOUT_MS: Number<u64> = Number {
    name: "HTTP_CONNECT_TIMEOUT_MS",
    default: 5_000,
    min: 1,
    max: 600_000,
    unit: Unit::Time,
    meaning: "how long connecting to the endpoint may take",
};
pub const HTTP_TIMEOUT_MS: Number<u64> = Number {
    name: "HTTP_TIMEOUT_MS",
    default: 60_000,
    min: 1,
    max: 900_000,
    unit: Unit::Time,
    meaning: "how long one delivery request may take, in all",
};
pub const SECRET_CACHE_SECONDS: Number<u64> = Number {
    name: "SECRET_CACHE_SECONDS",
    default: 300,
    min: 0,
    max: 86_400,
    unit: Unit::Time,
    meaning: "how long credentials are reused; a 401 or 403 reads the secret again at once",
};
pub const IDEMPOTENCY_TTL_SECONDS: Number<u64> = Number {
    name: "IDEMPOTENCY_TTL_SECONDS",
    default: 7 * 86_400,
    min: 60,
    max: 365 * 86_400,
    unit: Unit::Time,
    meaning: "how long a delivered file is remembered (7 days by default)",
};
pub const METRICS_NAMESPACE: Text = Text {
    name: "METRICS_NAMESPACE",
    default: "FileAggregator",
    meaning: "the CloudWatch namespace of the EMF metrics (dimension `Function`)",
};
pub const FUNCTION_NAME: Text = Text {
    name: "FUNCTION_NAME",
    default: "aggregator",
    meaning: "the `Function` the metrics are dimensioned by outside Lambda; in Lambda it is the function's own name (`AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets)",
};
pub const S3_FORCE_PATH_STYLE: Flag = Flag {
    name: "S3_FORCE_PATH_STYLE",
    meaning: "path-style S3 addressing, for emulators on a bare host:port",
};
pub const RUST_LOG: Text = Text {
    name: "RUST_LOG",
    default: "info",
    meaning: "the log filter (`tracing` directives, e.g. `info,app=debug`)",
};

/// The variable Lambda sets to the function's name; it is Lambda's to set, so not in [`VARIABLES`].
pub const LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// Every variable, in the README's order.
pub static VARIABLES: [&dyn Variable; 35] = [
    &ARCHIVE_BUCKET,
    &IDEMPOTENCY_TABLE,
    &BREAKER_TABLE,
    &CREDENTIALS_SECRET_ID,
    &SINK,
    &NIFI_URL,
    &MINIO_ENDPOINT,
    &MINIO_BUCKET,
    &DLQ_URL,
    &SOURCE_QUEUE_URL,
    &REDELIVERY_BASE_SECONDS,
    &REDELIVERY_MAX_SECONDS,
    &BREAKER_FAILURE_THRESHOLD,
    &BREAKER_COOLDOWN_SECONDS,
    &BREAKER_COOLDOWN_MAX_SECONDS,
    &BREAKER_CACHE_MS,
    &DOWNLOAD_CONCURRENCY,
    &GZIP_LEVEL,
    &MEMORY_SPOOL_LIMIT_BYTES,
    &BUNDLE_MAX_BYTES,
    &OBJECT_MAX_BYTES,
    &DOWNLOAD_BUFFER_BYTES,
    &DEADLINE_MARGIN_MS,
    &SPOOL_DIR,
    &MULTIPART_THRESHOLD_BYTES,
    &MULTIPART_PART_BYTES,
    &ARCHIVE_PREFIX,
    &HTTP_CONNECT_TIMEOUT_MS,
    &HTTP_TIMEOUT_MS,
    &SECRET_CACHE_SECONDS,
    &IDEMPOTENCY_TTL_SECONDS,
    &METRICS_NAMESPACE,
    &FUNCTION_NAME,
    &S3_FORCE_PATH_STYLE,
    &RUST_LOG,
];

/// `OBJECT_MAX_BYTES` when it is not set: its default, lowered to what always fits in a bundle of
/// `bundle_max_bytes` ([`bundle::capacity::largest_object_in`]).
pub fn default_object_max_bytes(bundle_max_bytes: u64) -> u64 {
    OBJECT_MAX_BYTES
        .default
        .min(bundle::capacity::largest_object_in(bundle_max_bytes))
}
