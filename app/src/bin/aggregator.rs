//! The Lambda bootstrap: reads and validates the configuration once, then serves SQS batches, and the
//! endpoint probe of `cargo xtask doctor <env>` (a payload `{"probe": "endpoint"}`, see app/src/probe.rs).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::probe::{self, Request};
use app::{Aggregator, RawConfig};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::init_lambda_logs();
    let config = RawConfig::from_env().validate().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aggregator = Aggregator::new(config.clone(), &sdk);
    let (aggregator, config, sdk) = (&aggregator, &config, &sdk);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let answer = match Request::parse(event.payload)? {
                Request::Probe => serde_json::to_value(probe::probe(config, sdk).await)?,
                Request::Batch(batch) => {
                    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
                    let deadline = deadline.max(SystemTime::now());
                    serde_json::to_value(aggregator.handle(batch, deadline).await)?
                }
            };
            Ok::<serde_json::Value, lambda_runtime::Error>(answer)
        },
    ))
    .await
}
