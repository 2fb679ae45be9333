//! AWS SDK clients for xtask's own calls (bootstrap, secret, replay, destroy's bucket emptying, local runs), in
//! the environment's region and at the target's AWS ([`Aws`]): AWS itself, or an emulator whose URL is given
//! to the SDK explicitly, never picked up from the environment on the way. Against an emulator, S3 uses
//! path-style addressing, because an emulator on `host:port` has no per-bucket host names.
//!
//! SDK errors are worded by one helper, [`describe`], so every message reads the same way.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::target::{Aws, Target};

/// The async runtime of the commands that call AWS through the SDK (or run the pipeline): one per command,
/// started before any of their work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// The SDK configuration for the environment's region and AWS.
pub async fn sdk(target: &Target) -> SdkConfig {
    config(&target.aws, target.region()).await
}

/// The SDK configuration for `aws` in `region`.
pub async fn config(aws: &Aws, region: &str) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some(url) = aws.endpoint() {
        loader = loader.endpoint_url(url);
    }
    if let Some((key, secret)) = aws.stand_in_credentials() {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            key, secret, None, None, "emulator",
        ));
    }
    loader.load().await
}

/// S3, path-style when the configuration names an endpoint (an emulator).
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub fn secrets(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}

/// What an SDK call's failure says: the service's code and message when it answered, else the SDK's chain of
/// causes (a connection refused, a signing problem). Requests' bodies are never part of it, so a secret value
/// cannot leak through an error.
pub fn describe<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(text), None) | (None, Some(text)) => text.to_string(),
        (None, None) => DisplayErrorContext(error).to_string(),
    }
}
