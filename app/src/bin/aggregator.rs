//! The Lambda bootstrap: reads and validates the configuration once, then serves SQS batches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::{Aggregator, RawConfig};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::init_lambda_logs();
    let config = RawConfig::from_env().validate().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aggregator = Aggregator::new(config, &sdk);
    let aggregator = &aggregator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let deadline = deadline.max(SystemTime::now());
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            aggregator.handle(event.payload, deadline).await,
        )
    }))
    .await
}
