//! A deployed pipeline watched through what it records: files go into its landing bucket, and a file counts
//! as delivered when its idempotency record is COMPLETED. `cargo xtask load --env <env>` runs against a
//! deployed environment this way, and `cargo xtask local` counts this way when it delivers to a real sink
//! (NiFi or MinIO elsewhere), whose store it cannot look into as it does the bundled receiver's.
//!
//! Latency runs from S3's acknowledgement of the upload (this machine's clock) to the record's
//! `completed_at_ms` (the aggregator's clock: Lambda's is NTP-synchronised, so keep this machine's synchronised
//! too; a skew of a second shifts every latency by a second). The endpoint itself is out of reach from here, so
//! the content check is the endpoint's own (NiFi and the mock receiver verify each bundle's SHA-256); what this
//! checks is that every file was acknowledged and that every bundle that carried one is in the archive.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use app::idempotency::{Idempotency, Record};
use app::{Config, RawConfig};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::local::{Sent, deployed_function, put_file, queue_depth, sample_until_delivered};
use crate::report::{Measurements, Sample};
use crate::target::Target;

/// How often the table is asked about the files not yet delivered. Latency comes from the records'
/// `completed_at_ms`, not from when a poll saw them, so this sets only the reads spent (the table is the live
/// aggregator's) and the resolution of the delivered-over-time curve.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// A deployed environment, as its aggregator sees it.
pub struct Deployed {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    idempotency: Idempotency,
    /// The idempotency table's client, for the scan of `recorded_deliveries`.
    dynamodb: aws_sdk_dynamodb::Client,
    pub landing_bucket: String,
    queue_url: String,
    dlq_url: String,
    idempotency_table: String,
    archive_bucket: String,
    archive_prefix: String,
    /// This run's files seen COMPLETED so far, by identity.
    completed: Mutex<HashMap<String, Completed>>,
    last_poll: Mutex<Option<Instant>>,
}

struct Completed {
    bundle_id: String,
    at: OffsetDateTime,
}

impl Deployed {
    /// Reads the names the aggregator uses from the deployed function's environment, so the run watches the
    /// queue, table and archive the deployment really has.
    pub async fn connect(target: &Target) -> Result<Deployed> {
        let sdk = crate::aws::sdk(target).await;
        let function = &target.pipeline.aggregator.function_name;
        let (environment, _) =
            deployed_function(&aws_sdk_lambda::Client::new(&sdk), function)
                .await
                .with_context(|| {
                    format!(
                        "is {env} deployed in {region}? (`cargo xtask deploy {env}`; the AWS credentials must allow lambda:GetFunctionConfiguration)",
                        env = target.name(),
                        region = target.region()
                    )
                })?;
        let config = RawConfig::from_pairs(environment)
            .validate()
            .with_context(|| format!("the configuration of the deployed function {function}"))?;
        Ok(Deployed::new(&sdk, target.landing_bucket(), &config))
    }

    /// The pipeline whose aggregator runs with `config`, reached through `sdk`.
    pub fn new(sdk: &SdkConfig, landing_bucket: &str, config: &Config) -> Deployed {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        Deployed {
            s3: crate::aws::s3(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            idempotency: Idempotency::new(
                dynamodb.clone(),
                config.idempotency_table.clone(),
                config.idempotency_ttl,
            ),
            dynamodb,
            landing_bucket: landing_bucket.to_string(),
            queue_url: config.source_queue_url.clone(),
            dlq_url: config.dlq_url.clone(),
            idempotency_table: config.idempotency_table.clone(),
            archive_bucket: config.archive_bucket.clone(),
            archive_prefix: config.archive_prefix.clone(),
            completed: Mutex::new(HashMap::new()),
            last_poll: Mutex::new(None),
        }
    }

    /// The files the pipeline has recorded COMPLETED (within the records' retention), whoever sent them, and
    /// the bundles that carried them: what `local up` shows while people upload by hand. A scan of the
    /// whole table, so only for the small tables of local runs.
    pub async fn recorded_deliveries(&self) -> Result<(usize, usize)> {
        let (mut files, mut bundles) = (0, HashSet::new());
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.idempotency_table)
                .filter_expression("#status = :completed")
                .projection_expression("bundle_id")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":completed", AttributeValue::S("COMPLETED".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow!("{}", crate::aws::describe(&e)))
                .with_context(|| {
                    format!(
                        "reading the COMPLETED records in {}",
                        self.idempotency_table
                    )
                })?;
            for item in page.items() {
                files += 1;
                if let Some(id) = item.get("bundle_id").and_then(|v| v.as_s().ok()) {
                    bundles.insert(id.clone());
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok((files, bundles.len()));
            }
        }
    }

    pub async fn upload(&self, key: &str, body: Vec<u8>) -> Result<Sent> {
        put_file(&self.s3, &self.landing_bucket, key, body).await
    }

    /// Asks the idempotency table about the files not yet seen delivered (each file by all the identities its
    /// record may have), at most every `POLL_EVERY` unless this is the `last` time.
    async fn refresh(&self, files: Vec<Vec<String>>, last: bool) -> Result<()> {
        if let Ok(mut polled) = self.last_poll.lock() {
            if !last && polled.is_some_and(|at| at.elapsed() < POLL_EVERY) {
                return Ok(());
            }
            *polled = Some(Instant::now());
        }
        let pending: Vec<String> = {
            let completed = self.lock()?;
            files
                .into_iter()
                .filter(|ids| !ids.iter().any(|id| completed.contains_key(id)))
                .flatten()
                .collect()
        };
        let records = self.idempotency.lookup(&pending).await.with_context(|| {
            format!(
                "reading the idempotency table {} (the AWS credentials must allow dynamodb:BatchGetItem)",
                self.idempotency_table
            )
        })?;
        let mut found = Vec::new();
        for (id, record) in records {
            let Record::Completed {
                bundle_id,
                completed_at_ms,
            } = record
            else {
                continue;
            };
            let Some(at_ms) = completed_at_ms else {
                bail!(
                    "{id} is COMPLETED without completed_at_ms: the deployed aggregator predates it, so deliveries cannot be timed; deploy the current code (`cargo xtask deploy <env>`) and run again"
                );
            };
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
                .with_context(|| format!("{id}: completed_at_ms {at_ms} is not a time"))?;
            found.push((id, Completed { bundle_id, at }));
        }
        self.lock()?.extend(found);
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Completed>>> {
        self.completed
            .lock()
            .map_err(|_| anyhow!("delivery bookkeeping poisoned"))
    }

    /// The pipeline's progress now. A failed read of the table is reported and the sample taken anyway:
    /// the final count (`settle`) is where a persistent failure ends the run.
    pub async fn sample(&self, started: Instant, sent: &Mutex<HashMap<String, Sent>>) -> Sample {
        let (uploaded, identities) = sent
            .lock()
            .map(|s| (s.len(), identities(s.values())))
            .unwrap_or_default();
        if let Err(e) = self.refresh(identities, false).await {
            eprintln!("load: {e:#}");
        }
        self.snapshot(started, uploaded).await
    }

    /// What is known now: the files seen delivered by the last read of the table, and the queue's depth.
    async fn snapshot(&self, started: Instant, uploaded: usize) -> Sample {
        Sample {
            at: started.elapsed().as_secs_f64(),
            uploaded,
            delivered: self.lock().map(|c| c.len()).unwrap_or(0),
            backlog: queue_depth(&self.sqs, &self.queue_url).await.unwrap_or(0),
        }
    }

    /// After the uploads: waits until every sent file's record is COMPLETED (or `limit` passes), sampling
    /// progress every second, then measures and checks that each carrying bundle is archived. Returns the
    /// measurements and the archive keys of those bundles.
    pub async fn settle(
        &self,
        sent: &HashMap<String, Sent>,
        started: Instant,
        upload_span: Duration,
        limit: Duration,
        mut samples: Vec<Sample>,
    ) -> Result<(Measurements, Vec<String>)> {
        let run_started = OffsetDateTime::now_utc() - started.elapsed();
        let why = format!(
            "; the idempotency table is read every {}",
            crate::ui::elapsed(POLL_EVERY)
        );
        sample_until_delivered(sent.len(), limit, &why, &mut samples, || async {
            self.refresh(identities(sent.values()), false).await?;
            Ok(self.snapshot(started, sent.len()).await)
        })
        .await?;
        self.refresh(identities(sent.values()), true).await?;
        let mut m = Measurements {
            files_uploaded: sent.len(),
            samples,
            upload_span,
            dead_letters: queue_depth(&self.sqs, &self.dlq_url).await?,
            ..Measurements::default()
        };
        let mut bundles = HashSet::new();
        {
            let completed = self.lock()?;
            for file in sent.values() {
                let Some(record) = file.identities.iter().find_map(|id| completed.get(id)) else {
                    continue;
                };
                m.files_delivered += 1;
                m.bytes_in += file.size;
                let latency = (record.at - file.uploaded_at).as_seconds_f64().max(0.0);
                m.latencies.push(Duration::from_secs_f64(latency));
                bundles.insert(record.bundle_id.clone());
            }
        }
        m.bundles = bundles.len();
        let archived = self.archived(&bundles, run_started).await?;
        m.bytes_out = archived.iter().map(|(_, size)| size).sum();
        Ok((m, archived.into_iter().map(|(key, _)| key).collect()))
    }

    /// The archive keys and sizes of `bundles`, which were all created since `since`; a bundle that was
    /// acknowledged but is not in the archive breaks the aggregator's contract (archive first, then deliver)
    /// and fails the run.
    async fn archived(
        &self,
        bundles: &HashSet<String>,
        since: OffsetDateTime,
    ) -> Result<Vec<(String, u64)>> {
        let archived = crate::replay::list_range(
            &self.s3,
            &self.archive_bucket,
            &self.archive_prefix,
            since,
            OffsetDateTime::now_utc(),
        )
        .await?;
        let by_id: HashMap<&str, &(String, u64)> = archived
            .iter()
            .filter_map(|entry| {
                let name = entry.0.rsplit('/').next()?.strip_suffix(".tar.gz")?;
                Some((name, entry))
            })
            .collect();
        let mut found = Vec::new();
        for bundle in bundles {
            let Some(entry) = by_id.get(bundle.as_str()) else {
                bail!(
                    "bundle {bundle} was delivered but is not in s3://{}/{}/: the aggregator archives before it delivers, so look at its logs for this bundle id",
                    self.archive_bucket,
                    self.archive_prefix
                );
            };
            found.push((*entry).clone());
        }
        Ok(found)
    }
}

/// The identities each file's record may have (a file's forms are distinct, and only one is ever written, so
/// the count of COMPLETED identities is the count of delivered files).
fn identities<'a>(files: impl Iterator<Item = &'a Sent>) -> Vec<Vec<String>> {
    files.map(|f| f.identities.clone()).collect()
}
