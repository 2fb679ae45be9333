//! One report, start to end: what the queues hold, the day's versions (listing or inventory) looked up in the
//! idempotency table a page at a time, each file's verdict (`account`), the files of the DLQ that are no longer
//! in the bucket, the archive's bundles; then the report is written, notified and measured. The Lambda and
//! `cargo xtask report` both run this, with the same configuration.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

use app::event::ObjectRef;
use app::idempotency::Idempotency;
use futures::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::account::{Fate, classify};
use crate::config::Config;
use crate::day::Day;
use crate::dead_letters::DeadLetters;
use crate::error::ReportError;
use crate::landed::Landed;
use crate::listing::Page;
use crate::publish::Location;
use crate::report::{DeadLetterQueue, Inputs, Report, Source};
use crate::tally::Tally;
use crate::{archive, backlog, dead_letters, html, inventory, listing, publish, requeue};

/// A day accounted for: the report, and the unexplained files a requeue would re-send.
#[derive(Debug, Clone)]
pub struct Reconciliation {
    pub report: Report,
    pub unexplained: Vec<ObjectRef>,
}

/// The reporter with its clients.
pub struct Reporter {
    config: Config,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    idempotency: Idempotency,
    metrics_out: Mutex<Box<dyn Write + Send>>,
}

impl Reporter {
    /// Builds the clients from the SDK configuration (which carries `AWS_ENDPOINT_URL` for emulators).
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Reporter {
        Reporter {
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(config.s3_force_path_style)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            // Only read: the time-to-live is the aggregator's business.
            idempotency: Idempotency::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.idempotency_table.clone(),
                std::time::Duration::ZERO,
            ),
            metrics_out: Mutex::new(Box::new(std::io::stdout())),
            config,
        }
    }

    /// Sends the EMF metrics somewhere other than stdout (tests capture them, xtask drops them).
    pub fn with_metrics_writer(self, out: Box<dyn Write + Send>) -> Reporter {
        Reporter {
            metrics_out: Mutex::new(out),
            ..self
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Accounts for every version that landed on `day`.
    pub async fn reconcile(&self, day: Day) -> Result<Reconciliation, ReportError> {
        let now = OffsetDateTime::now_utc();
        let c = &self.config;
        let mut notes = Vec::new();
        let queue = backlog::of(&self.sqs, &c.source_queue_url).await?;
        let dead = dead_letters::read(&self.sqs, &c.dlq_url, c.dlq_read_visibility).await?;
        let (source, pages) = self.pages(day, &mut notes).await?;
        let queue_empty = queue.total() == 0;
        if queue_empty {
            notes.push(
                "The source queue was empty: no file can be waiting in it, so a file not delivered and not in \
                 the DLQ is unexplained whatever its record says."
                    .into(),
            );
        } else {
            notes.push(format!(
                "The source queue held {} messages ({} visible, {} in flight, {} delayed). The report cannot see \
                 which files they are: a file counts as pending when its record says the aggregator has it in \
                 hand (claimed, or held back), and as unexplained when it has no record.",
                queue.total(),
                queue.visible,
                queue.in_flight,
                queue.delayed
            ));
        }
        let mut tally = Tally::new(c.requeue_limit);
        let mut matched: HashSet<usize> = HashSet::new();
        let mut looked_up = pages
            .map(|page: Page| async move {
                let page = page?;
                let ids: Vec<String> = page.iter().map(Landed::identity).collect();
                let records = self.idempotency.lookup(&ids).await?;
                Ok::<_, ReportError>((page, records))
            })
            .buffer_unordered(c.lookup_concurrency);
        while let Some(looked) = looked_up.next().await {
            let (page, records) = looked?;
            for file in &page {
                let entry = dead.matching(file);
                matched.extend(entry);
                let fate = classify(
                    records.get(&file.identity()),
                    entry.map(|i| &dead.entries[i]),
                    queue_empty,
                    now,
                );
                tally.add(file, fate);
            }
        }
        drop(looked_up);
        let dead_letter_queue = self.unlisted_dead_letters(day, &dead, &matched, &mut tally);
        if dead.in_flight_elsewhere > 0 {
            notes.push(format!(
                "{} DLQ messages were held in flight by another reader when the report read the DLQ: their \
                 files were not seen there.",
                dead.in_flight_elsewhere
            ));
        }
        if dead.truncated {
            notes.push(
                "The DLQ read stopped at SQS's limit of 120,000 messages in flight: files named by the rest \
                 count as pending or unexplained."
                    .into(),
            );
        }
        let bundles = archive::check(
            &self.s3,
            &c.archive_bucket,
            &c.archive_prefix,
            &tally.bundles,
            c.list_concurrency,
        )
        .await?;
        if tally.unexplained_not_kept > 0 {
            notes.push(format!(
                "{} unexplained files are beyond REQUEUE_LIMIT ({}): a requeue re-sends the first {} only; run it \
                 again after they are delivered.",
                tally.unexplained_not_kept, c.requeue_limit, c.requeue_limit
            ));
        }
        let unexplained = std::mem::take(&mut tally.unexplained);
        let report = Report::new(
            Inputs {
                environment: c.environment.clone(),
                day,
                generated_at: now,
                source,
                objective: c.objective.clone(),
                bundles,
                source_queue: queue,
                dead_letter_queue,
                notes,
            },
            tally,
        );
        Ok(Reconciliation {
            report,
            unexplained,
        })
    }

    /// The day's versions: from the inventory when one is configured and delivered, else by listing.
    async fn pages(
        &self,
        day: Day,
        notes: &mut Vec<String>,
    ) -> Result<(Source, futures::channel::mpsc::Receiver<Page>), ReportError> {
        let c = &self.config;
        if let Some(prefix) = &c.inventory_prefix {
            match inventory::find(&self.s3, &c.reports_bucket, prefix, day).await? {
                Some(manifest) => {
                    notes.push(format!(
                        "The day's versions come from the S3 Inventory run of {}: versions deleted before it ran are \
                         known only from their DLQ messages.",
                        manifest.key
                    ));
                    let source = Source {
                        kind: "s3-inventory",
                        bucket: manifest.source_bucket.clone(),
                        inventory_manifest: Some(manifest.key.clone()),
                    };
                    let pages = inventory::landed_on(&self.s3, &c.reports_bucket, manifest, day);
                    return Ok((source, pages));
                }
                None => notes.push(format!(
                    "No S3 Inventory run under s3://{}/{prefix}/ started after the day ended: the landing bucket \
                     was listed instead.",
                    c.reports_bucket
                )),
            }
        }
        notes.push(
            "The day's versions come from listing the landing bucket: versions deleted before the report ran \
             are known only from their DLQ messages."
                .into(),
        );
        let source = Source {
            kind: "list-object-versions",
            bucket: c.landing_bucket.clone(),
            inventory_manifest: None,
        };
        Ok((
            source,
            listing::landed_on(&self.s3, &c.landing_bucket, day, c.list_concurrency),
        ))
    }

    /// Counts the files of the DLQ the listing did not find: those of the day (by their event time) were deleted
    /// since they landed and count as landed and dead-lettered; the others belong to other days.
    fn unlisted_dead_letters(
        &self,
        day: Day,
        dead: &DeadLetters,
        matched: &HashSet<usize>,
        tally: &mut Tally,
    ) -> DeadLetterQueue {
        let mut counted: HashSet<String> = HashSet::new();
        let (mut of_day, mut of_other_days) = (0, 0);
        for (i, entry) in dead.entries.iter().enumerate() {
            if matched.contains(&i) || !counted.insert(entry.object.identity()) {
                continue;
            }
            let landed_at = OffsetDateTime::parse(&entry.object.event_time, &Rfc3339).ok();
            match landed_at.filter(|t| day.contains(*t)) {
                Some(at) => {
                    of_day += 1;
                    let file = Landed {
                        object: entry.object.clone(),
                        landed_at: at,
                    };
                    tally.add(
                        &file,
                        Fate::DeadLettered {
                            kind: entry.kind.clone(),
                            reason: format!("{} (no longer in the landing bucket)", entry.reason),
                        },
                    );
                }
                None => of_other_days += 1,
            }
        }
        DeadLetterQueue {
            messages: dead.messages as u64,
            naming_no_file: dead.naming_no_file as u64,
            files_of_other_days: of_other_days,
            files_no_longer_listed: of_day,
            in_flight_elsewhere: dead.in_flight_elsewhere as u64,
            truncated: dead.truncated,
        }
    }

    /// Writes the report (JSON and HTML), publishes its summary, and emits its metrics.
    pub async fn publish(&self, reconciliation: &Reconciliation) -> Result<Location, ReportError> {
        let report = &reconciliation.report;
        let c = &self.config;
        let at = Location::of(&c.reports_bucket, &c.reports_prefix, &report.date);
        let json = serde_json::to_string_pretty(report)
            .map_err(|e| ReportError::Template(format!("report.json: {e}")))?;
        let page = html::render(report)?;
        publish::write(&self.s3, &at, &json, &page).await?;
        publish::notify(&self.sns, &c.topic_arn, report, &at).await?;
        if let Ok(mut out) = self.metrics_out.lock() {
            publish::metrics(report).emit(&c.metrics_namespace, &c.function_name, &mut **out);
        }
        Ok(at)
    }

    /// Re-sends the first `most` unexplained files to the source queue; returns how many were sent.
    pub async fn requeue_unexplained(
        &self,
        reconciliation: &Reconciliation,
        most: usize,
    ) -> Result<usize, ReportError> {
        let files = &reconciliation.unexplained[..reconciliation.unexplained.len().min(most)];
        requeue::requeue(&self.sqs, &self.config.source_queue_url, files).await
    }
}
