//! The Lambda bootstrap: reads and validates the configuration once, then reports the day the event names
//! (`{"date": "YYYY-MM-DD"}`) or, as the daily schedule invokes it (`{}`), the day before today (UTC).

use anyhow::Context;
use lambda_runtime::{LambdaEvent, service_fn};
use reporter::{Config, Day, Reporter};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::init_lambda_logs();
    let config = Config::from_raw(&app::RawConfig::from_env()).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let reporter = Reporter::new(config, &sdk);
    let reporter = &reporter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let day = match event.payload.get("date").and_then(Value::as_str) {
            Some(date) => Day::parse(date)?,
            None => Day::before(time::OffsetDateTime::now_utc()),
        };
        let reconciliation = reporter
            .reconcile(day)
            .await
            .with_context(|| format!("reconciling {day}"))?;
        let at = reporter
            .publish(&reconciliation)
            .await
            .with_context(|| format!("publishing the report of {day}"))?;
        let report = &reconciliation.report;
        tracing::info!(
            date = %day,
            landed = report.counts.landed,
            delivered = report.counts.delivered,
            dead_lettered = report.counts.dead_lettered,
            pending = report.counts.pending,
            unexplained = report.counts.unexplained,
            report = at.html_uri(),
            "report published"
        );
        Ok::<Value, lambda_runtime::Error>(json!({
            "date": report.date,
            "counts": report.counts,
            "report": at.json_uri(),
            "html": at.html_uri(),
        }))
    }))
    .await
}
