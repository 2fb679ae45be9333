//! The aggregator's configuration: environment variables as written, validated once at start into typed values.
//!
//! Every variable is read through its entry in `aggregator-config`'s table (which also renders README.md's
//! Configuration section). A missing or malformed variable is an error that names it and says what it should
//! hold; all of them are reported at once.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use aggregator_config::{
    self as vars, Directory, Flag, Invalid, Number, Required, Sink, SinkChoice, Text, Variable,
};
use redelivery::Schedule;

/// Where bundles go after they are archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// HTTPS POST to a NiFi ListenHTTP (or HandleHttpRequest) endpoint.
    Nifi { url: String },
    /// PutObject into an S3-compatible store (MinIO), verified with HeadObject.
    Minio { endpoint: String, bucket: String },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub archive_bucket: String,
    pub archive_prefix: String,
    pub idempotency_table: String,
    pub breaker_table: String,
    pub credentials_secret_id: String,
    pub sink: SinkConfig,
    pub dlq_url: String,
    pub source_queue_url: String,
    pub download_concurrency: usize,
    pub gzip_level: u32,
    /// Bundles above this size are archived with a multipart upload.
    pub multipart_threshold: u64,
    pub multipart_part_size: u64,
    /// Objects up to this size are buffered in memory while the bundle is written; larger ones go to a temp file.
    pub memory_spool_limit: u64,
    /// The limits that size the function's temp dir (`BUNDLE_MAX_BYTES` ...).
    pub limits: Limits,
    /// Where bundles are spooled and large downloads wait: the temp dir unless `SPOOL_DIR` says otherwise.
    pub spool_dir: PathBuf,
    pub http_connect_timeout: Duration,
    pub http_timeout: Duration,
    pub secret_cache: Duration,
    pub idempotency_ttl: Duration,
    pub breaker: BreakerConfig,
    pub redelivery: Schedule,
    pub metrics_namespace: String,
    /// Path-style S3 addressing, which emulators on a bare host:port need.
    pub s3_force_path_style: bool,
    /// The name metrics are dimensioned by: the Lambda function's name when it runs in Lambda.
    pub function_name: String,
}

/// What one invocation may take on: designed so that the temp dir holds a bundle and the downloads in flight
/// (`BUNDLE_MAX_BYTES` + max(`DOWNLOAD_BUFFER_BYTES`, `OBJECT_MAX_BYTES`)), and no work outlives the deadline.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest bundle, in compressed bytes; a batch that holds more goes out as several bundles.
    pub bundle_max_bytes: u64,
    /// Objects larger than this (by the event's size) are dead-lettered without being downloaded.
    pub object_max_bytes: u64,
    /// The bytes of downloads in flight at once, by the events' sizes.
    pub download_buffer_bytes: u64,
    /// No archive or delivery starts with less than this left before the deadline.
    pub deadline_margin: Duration,
}

/// The circuit breaker's tuning.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub cooldown_max: Duration,
    pub cache: Duration,
}

/// What was wrong with the environment; lists every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Whose configuration: `aggregator`, `reporter`.
    pub program: &'static str,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the {}'s configuration is invalid ({} problem(s)); see README.md, section Configuration:",
            self.program,
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// The environment as written: variable name to value.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    vars: HashMap<String, String>,
}

impl RawConfig {
    /// Reads the process environment.
    pub fn from_env() -> RawConfig {
        RawConfig {
            vars: std::env::vars().collect(),
        }
    }

    /// Takes the variables from a list of pairs (tests, local runs).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> RawConfig {
        RawConfig {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Every variable, as given (to hand the same configuration to another process).
    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.vars.iter()
    }

    /// Sets one variable, replacing what was there.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_string(), value.into());
    }

    /// Checks every variable and returns the typed configuration, or every problem found.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut v = Validator::new(self);
        let sink = match v.read(&vars::SINK, SinkChoice::parse) {
            Some(Sink::Nifi) => v
                .required(&vars::NIFI_URL)
                .map(|url| SinkConfig::Nifi { url }),
            Some(Sink::Minio) => {
                let endpoint = v.required(&vars::MINIO_ENDPOINT);
                let bucket = v.required(&vars::MINIO_BUCKET);
                endpoint
                    .zip(bucket)
                    .map(|(endpoint, bucket)| SinkConfig::Minio { endpoint, bucket })
            }
            None => {
                if v.get(vars::SINK.name).is_none() {
                    v.problems.push(vars::SINK.missing());
                }
                None
            }
        };
        let base = v.number(&vars::REDELIVERY_BASE_SECONDS);
        let max = v.number(&vars::REDELIVERY_MAX_SECONDS);
        let redelivery = match Schedule::new(base, max) {
            Ok(s) => Some(s),
            Err(e) => {
                v.problems.push(format!(
                    "{}/{}: {e}",
                    vars::REDELIVERY_BASE_SECONDS.name,
                    vars::REDELIVERY_MAX_SECONDS.name
                ));
                None
            }
        };
        let cooldown = v.number(&vars::BREAKER_COOLDOWN_SECONDS);
        let cooldown_max = v.number(&vars::BREAKER_COOLDOWN_MAX_SECONDS);
        if cooldown_max < cooldown {
            v.problems.push(format!(
                "{} ({cooldown_max}) is below {} ({cooldown}): raise it",
                vars::BREAKER_COOLDOWN_MAX_SECONDS.name,
                vars::BREAKER_COOLDOWN_SECONDS.name
            ));
        }
        let limits = v.limits();
        // Placeholders stand where a problem was recorded; the config is only returned when there is none.
        let config = Config {
            sink: SinkConfig::Nifi { url: String::new() },
            redelivery: Schedule::new(1, 1).map_err(|e| ConfigError {
                program: PROGRAM,
                problems: vec![e.to_string()],
            })?,
            archive_bucket: v.required(&vars::ARCHIVE_BUCKET).unwrap_or_default(),
            archive_prefix: v.text(&vars::ARCHIVE_PREFIX),
            idempotency_table: v.required(&vars::IDEMPOTENCY_TABLE).unwrap_or_default(),
            breaker_table: v.required(&vars::BREAKER_TABLE).unwrap_or_default(),
            credentials_secret_id: v.required(&vars::CREDENTIALS_SECRET_ID).unwrap_or_default(),
            dlq_url: v.required(&vars::DLQ_URL).unwrap_or_default(),
            source_queue_url: v.required(&vars::SOURCE_QUEUE_URL).unwrap_or_default(),
            download_concurrency: v.number(&vars::DOWNLOAD_CONCURRENCY) as usize,
            gzip_level: v.number(&vars::GZIP_LEVEL),
            multipart_threshold: v.number(&vars::MULTIPART_THRESHOLD_BYTES),
            multipart_part_size: v.number(&vars::MULTIPART_PART_BYTES),
            memory_spool_limit: v.number(&vars::MEMORY_SPOOL_LIMIT_BYTES),
            limits,
            spool_dir: v.directory(&vars::SPOOL_DIR),
            http_connect_timeout: Duration::from_millis(v.number(&vars::HTTP_CONNECT_TIMEOUT_MS)),
            http_timeout: Duration::from_millis(v.number(&vars::HTTP_TIMEOUT_MS)),
            secret_cache: Duration::from_secs(v.number(&vars::SECRET_CACHE_SECONDS)),
            idempotency_ttl: Duration::from_secs(v.number(&vars::IDEMPOTENCY_TTL_SECONDS)),
            breaker: BreakerConfig {
                failure_threshold: v.number(&vars::BREAKER_FAILURE_THRESHOLD),
                cooldown: Duration::from_secs(cooldown),
                cooldown_max: Duration::from_secs(cooldown_max),
                cache: Duration::from_millis(v.number(&vars::BREAKER_CACHE_MS)),
            },
            metrics_namespace: v.text(&vars::METRICS_NAMESPACE),
            s3_force_path_style: v.flag(&vars::S3_FORCE_PATH_STYLE),
            function_name: v
                .get(vars::LAMBDA_FUNCTION_NAME)
                .unwrap_or_else(|| v.text(&vars::FUNCTION_NAME)),
        };
        match (sink, redelivery) {
            (Some(sink), Some(redelivery)) if v.problems.is_empty() => Ok(Config {
                sink,
                redelivery,
                ..config
            }),
            _ => Err(v.error(PROGRAM)),
        }
    }
}

/// Whose configuration this module validates, for its errors.
const PROGRAM: &str = "aggregator";

/// Reads variables one at a time, each through its entry (aggregator-config's kinds), and collects every
/// problem, each naming its variable and what it should hold; the reporter validates its own variables with it.
pub struct Validator<'a> {
    raw: &'a RawConfig,
    problems: Vec<String>,
}

impl<'a> Validator<'a> {
    pub fn new(raw: &'a RawConfig) -> Validator<'a> {
        Validator {
            raw,
            problems: Vec::new(),
        }
    }

    /// Records a problem the caller found (a rule between variables).
    pub fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// Every problem found so far, as `program`'s configuration error.
    pub fn error(self, program: &'static str) -> ConfigError {
        ConfigError {
            program,
            problems: self.problems,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// The value as given, trimmed; `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        self.raw
            .vars
            .get(name)
            .and_then(|v| vars::given(v))
            .map(str::to_string)
    }

    /// The variable's value parsed by its entry; `None` when it is unset or its value was refused.
    pub fn read<V: Variable, T>(
        &mut self,
        var: &V,
        parse: impl FnOnce(&V, &str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let text = self.get(var.name())?;
        parse(var, &text)
            .map_err(|invalid| self.problems.push(invalid.to_string()))
            .ok()
    }

    pub fn required(&mut self, var: &Required) -> Option<String> {
        if self.get(var.name).is_none() {
            self.problems.push(var.missing());
        }
        self.read(var, Required::parse)
    }

    pub fn text(&self, var: &Text) -> String {
        self.get(var.name)
            .unwrap_or_else(|| var.default.to_string())
    }

    pub fn number<T>(&mut self, var: &Number<T>) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display + Send + Sync,
    {
        self.read(var, Number::parse).unwrap_or(var.default)
    }

    pub fn flag(&mut self, var: &Flag) -> bool {
        self.read(var, Flag::parse).unwrap_or(false)
    }

    /// The size and time limits, checked against each other.
    fn limits(&mut self) -> Limits {
        let bundle_max_bytes = self.number(&vars::BUNDLE_MAX_BYTES);
        let fits = bundle::capacity::largest_object_in(bundle_max_bytes);
        let object_max_bytes = self
            .read(&vars::OBJECT_MAX_BYTES, Number::parse)
            .unwrap_or_else(|| vars::default_object_max_bytes(bundle_max_bytes));
        if object_max_bytes > fits {
            self.problems.push(format!(
                "{object} ({object_max_bytes}) does not fit in a bundle of {bundle} \
                 ({bundle_max_bytes}) with room for its tar entry, manifest and gzip framing: \
                 lower it to {fits} or raise {bundle}",
                object = vars::OBJECT_MAX_BYTES.name,
                bundle = vars::BUNDLE_MAX_BYTES.name,
            ));
        }
        Limits {
            bundle_max_bytes,
            object_max_bytes,
            download_buffer_bytes: self.number(&vars::DOWNLOAD_BUFFER_BYTES),
            deadline_margin: Duration::from_millis(self.number(&vars::DEADLINE_MARGIN_MS)),
        }
    }

    fn directory(&mut self, var: &Directory) -> PathBuf {
        let Some(text) = self.get(var.name) else {
            return std::env::temp_dir();
        };
        let dir = var.parse(&text);
        if !dir.is_dir() {
            self.problems.push(var.not_a_directory(&text).to_string());
        }
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RawConfig {
        RawConfig::from_pairs([
            ("ARCHIVE_BUCKET", "archive"),
            ("IDEMPOTENCY_TABLE", "claims"),
            ("BREAKER_TABLE", "breaker"),
            ("CREDENTIALS_SECRET_ID", "secret"),
            ("SINK", "nifi"),
            ("NIFI_URL", "https://nifi.example/contentListener"),
            ("DLQ_URL", "http://sqs/dlq"),
            ("SOURCE_QUEUE_URL", "http://sqs/queue"),
        ])
    }

    #[test]
    fn minimal_environment_gets_defaults() {
        let config = minimal().validate().expect("valid");
        assert_eq!(config.gzip_level, bundle::DEFAULT_LEVEL);
        assert_eq!(config.download_concurrency, 32);
        assert_eq!(config.redelivery.base_seconds(), 20);
        assert_eq!(config.secret_cache, Duration::from_secs(300));
        assert_eq!(config.limits.bundle_max_bytes, 256 << 20);
        assert_eq!(
            config.limits.object_max_bytes,
            vars::OBJECT_MAX_BYTES.default
        );
        assert_eq!(config.limits.download_buffer_bytes, 64 << 20);
        assert_eq!(config.limits.deadline_margin, Duration::from_secs(10));
        assert_eq!(config.spool_dir, std::env::temp_dir());
        assert_eq!(
            config.sink,
            SinkConfig::Nifi {
                url: "https://nifi.example/contentListener".into()
            }
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_name() {
        let mut raw = RawConfig::from_pairs([("SINK", "ftp"), ("GZIP_LEVEL", "11")]);
        raw.set("DOWNLOAD_CONCURRENCY", "lots");
        let err = raw.validate().expect_err("invalid");
        let text = err.to_string();
        for name in [
            "ARCHIVE_BUCKET",
            "IDEMPOTENCY_TABLE",
            "BREAKER_TABLE",
            "CREDENTIALS_SECRET_ID",
            "DLQ_URL",
            "SOURCE_QUEUE_URL",
            "SINK is `ftp`",
            "GZIP_LEVEL is `11`",
            "DOWNLOAD_CONCURRENCY is `lots`",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
    }

    #[test]
    fn minio_needs_endpoint_and_bucket() {
        let mut raw = minimal();
        raw.set("SINK", "minio");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(text.contains("MINIO_ENDPOINT is not set"), "{text}");
        assert!(text.contains("MINIO_BUCKET is not set"), "{text}");
        raw.set("MINIO_ENDPOINT", "http://127.0.0.1:9000");
        raw.set("MINIO_BUCKET", "bundles");
        assert!(matches!(
            raw.validate().expect("valid").sink,
            SinkConfig::Minio { .. }
        ));
    }

    #[test]
    fn an_object_limit_that_cannot_fit_a_bundle_is_rejected_and_a_small_cap_lowers_the_default() {
        let mut raw = minimal();
        raw.set("BUNDLE_MAX_BYTES", (1u64 << 20).to_string());
        let limits = raw.validate().expect("valid").limits;
        assert_eq!(
            limits.object_max_bytes,
            bundle::capacity::largest_object_in(1 << 20)
        );
        raw.set("OBJECT_MAX_BYTES", (1u64 << 20).to_string());
        raw.set("SPOOL_DIR", "/nonexistent/spool");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(
            text.contains("OBJECT_MAX_BYTES (1048576) does not fit"),
            "{text}"
        );
        assert!(text.contains("lower it to 980992"), "{text}");
        assert!(text.contains("SPOOL_DIR is `/nonexistent/spool`"), "{text}");
    }

    /// The parser reads every variable of the table through its entry: a value the table refuses is refused
    /// here with the table's own message, and no entry is listed that the parser ignores.
    #[test]
    fn every_variable_of_the_table_is_read_and_refused_as_the_table_says() {
        for var in vars::VARIABLES {
            let mut raw = minimal();
            if let vars::Need::WithSink(sink) = var.need() {
                raw.set(vars::SINK.name, sink.as_str());
                raw.set(vars::MINIO_ENDPOINT.name, "http://127.0.0.1:9000");
                raw.set(vars::MINIO_BUCKET.name, "bundles");
            }
            raw.set(var.name(), "not-a-value");
            match var.check("not-a-value") {
                Err(invalid) => {
                    let text = raw.validate().expect_err("refused").to_string();
                    assert!(
                        text.contains(&invalid.to_string()),
                        "{invalid} not in:\n{text}"
                    );
                }
                // Free text (and SPOOL_DIR, whose check is that the directory exists, done only here).
                Ok(()) if var.name() == vars::SPOOL_DIR.name => {
                    let text = raw.validate().expect_err("refused").to_string();
                    assert!(text.contains("SPOOL_DIR is `not-a-value`"), "{text}");
                }
                Ok(()) if var.name() == vars::RUST_LOG.name => {}
                Ok(()) => {
                    let config = raw.validate().expect("free text is accepted");
                    let read = format!("{config:?}");
                    assert!(
                        read.contains("not-a-value"),
                        "{} was not read: {read}",
                        var.name()
                    );
                }
            }
        }
    }

    #[test]
    fn inconsistent_schedules_are_rejected() {
        let mut raw = minimal();
        raw.set("REDELIVERY_BASE_SECONDS", "600");
        raw.set("REDELIVERY_MAX_SECONDS", "60");
        raw.set("BREAKER_COOLDOWN_SECONDS", "60");
        raw.set("BREAKER_COOLDOWN_MAX_SECONDS", "10");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(text.contains("REDELIVERY_MAX_SECONDS"), "{text}");
        assert!(text.contains("BREAKER_COOLDOWN_MAX_SECONDS (10)"), "{text}");
    }
}
