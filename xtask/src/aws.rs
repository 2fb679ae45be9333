//! AWS SDK clients for xtask's own calls (bootstrap, secret, replay, destroy's bucket emptying), in the
//! environment's region. The endpoint follows the SDK's standard settings (`AWS_ENDPOINT_URL`), so the
//! same commands run against AWS or moto server; with an endpoint set, S3 uses path-style addressing,
//! because an emulator on `host:port` has no per-bucket host names.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::target::Target;

/// `AWS_ENDPOINT_URL` when set to something.
pub fn endpoint_override() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The SDK configuration for the environment's region. The local environment runs against moto, which
/// accepts any key: without credentials in the environment it gets moto's customary `testing` pair, rather
/// than the SDK searching profiles and the instance metadata service for real ones.
pub async fn sdk(target: &Target) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(target.region().to_owned()));
    if target.is_local() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ));
    }
    loader.load().await
}

pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(endpoint_override().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub fn secrets(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}
