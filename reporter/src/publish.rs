//! Where a report goes: `report.json` and `report.html` under `<prefix>/YYYY-MM-DD/` in the reports bucket
//! (versioned: a report made again keeps the earlier one as a version), one SNS message to the alarm topic with
//! the summary and the location, and one EMF document of metrics (`FilesUnexplained` carries the alarm).

use app::metrics::Metrics;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sns::error::DisplayErrorContext;
use serde::Serialize;

use crate::error::ReportError;
use crate::html::{duration, number, percent};
use crate::report::Report;

/// SNS refuses a subject longer than this.
const SUBJECT_MAX: usize = 100;

/// Where a report was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub bucket: String,
    pub json_key: String,
    pub html_key: String,
}

impl Location {
    pub fn of(bucket: &str, prefix: &str, date: &str) -> Location {
        Location {
            bucket: bucket.to_string(),
            json_key: format!("{prefix}/{date}/report.json"),
            html_key: format!("{prefix}/{date}/report.html"),
        }
    }

    pub fn json_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.json_key)
    }

    pub fn html_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.html_key)
    }
}

/// Writes both files of the report.
pub async fn write(
    s3: &aws_sdk_s3::Client,
    at: &Location,
    json: &str,
    html: &str,
) -> Result<(), ReportError> {
    for (key, body, content_type) in [
        (&at.json_key, json, "application/json"),
        (&at.html_key, html, "text/html; charset=utf-8"),
    ] {
        s3.put_object()
            .bucket(&at.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| ReportError::Write {
                bucket: at.bucket.clone(),
                key: key.clone(),
                detail: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
    }
    Ok(())
}

/// The notification: a subject that says whether anything is unexplained, and the summary with the location.
pub fn message(report: &Report, at: &Location) -> (String, String) {
    let c = &report.counts;
    let mut subject = format!(
        "{} {}: {} unexplained of {} files",
        report.environment,
        report.date,
        number(c.unexplained),
        number(c.landed)
    );
    subject.truncate(SUBJECT_MAX);
    let mut lines = vec![report.headline(), String::new()];
    if c.unexplained > 0 {
        lines.push(format!(
            "UNEXPLAINED: {} file(s) nothing in the pipeline accounts for. Re-send them with \
             `cargo xtask report {} --date {} --requeue-unexplained` (RUNBOOK.md says when).",
            number(c.unexplained),
            report.environment,
            report.date
        ));
    }
    if c.pending > 0 {
        lines.push(format!(
            "Pending: {} file(s) still waiting in the queue ({}).",
            number(c.pending),
            report
                .pending_by_state
                .iter()
                .map(|(state, n)| format!("{state}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if c.dead_lettered > 0 {
        lines.push(format!(
            "Dead-lettered: {} file(s) ({}).",
            number(c.dead_lettered),
            report
                .dead_lettered_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let latency = &report.latency;
    let shown = |v: Option<u64>| v.map_or_else(|| "not reached".to_string(), duration);
    lines.push(format!(
        "Latency: p50 {}, p95 {}, p99 {}, p99.9 {}; objective: {}.",
        shown(latency.p50_ms),
        shown(latency.p95_ms),
        shown(latency.p99_ms),
        shown(latency.p999_ms),
        latency
            .objective
            .iter()
            .map(|t| format!(
                "{} within {} {}",
                percent(t.share),
                duration(t.within_ms),
                if t.met { "met" } else { "MISSED" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lines.push(format!(
        "Bundles: {}, {} in the archive{}.",
        report.bundles.bundles,
        report.bundles.in_archive,
        if report.bundles.missing.is_empty() {
            String::new()
        } else {
            format!(", MISSING {}", report.bundles.missing.join(" "))
        }
    ));
    lines.extend([
        String::new(),
        format!("Report: {}", at.html_uri()),
        format!("        {}", at.json_uri()),
        format!("Read it: aws s3 cp {} report.html", at.html_uri()),
    ]);
    (subject, lines.join("\n"))
}

/// Publishes the notification to `topic`.
pub async fn notify(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    report: &Report,
    at: &Location,
) -> Result<(), ReportError> {
    let (subject, text) = message(report, at);
    sns.publish()
        .topic_arn(topic)
        .subject(subject)
        .message(text)
        .send()
        .await
        .map_err(|e| ReportError::Notify {
            topic: topic.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    Ok(())
}

/// The report's metrics: every count (0 included, so a day without files is a data point, not a gap), the bundles
/// missing from the archive, and each latency percentile reached.
pub fn metrics(report: &Report) -> Metrics {
    let c = &report.counts;
    let mut m = Metrics::default();
    for (name, value) in [
        ("FilesLanded", c.landed),
        ("FilesDelivered", c.delivered),
        ("FilesDeadLettered", c.dead_lettered),
        ("FilesPending", c.pending),
        ("FilesUnexplained", c.unexplained),
        ("BundlesMissing", report.bundles.missing.len() as u64),
    ] {
        m.set(name, value as f64);
    }
    let latency = &report.latency;
    for (name, value) in [
        ("ReportLatencyP50", latency.p50_ms),
        ("ReportLatencyP95", latency.p95_ms),
        ("ReportLatencyP99", latency.p99_ms),
        ("ReportLatencyP999", latency.p999_ms),
    ] {
        if let Some(ms) = value {
            m.sample(name, ms as f64);
        }
    }
    m
}
