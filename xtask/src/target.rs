//! The environment a command acts on, found by name in the `environments` crate, validated, and composed into
//! the pipeline model, so every name xtask uses (buckets, secret, endpoint) is the one Terraform creates.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use infra_gen::config::{Endpoint, Sink};
use infra_gen::{Environment, Kind, Pipeline};

/// An environment and its pipeline model.
pub struct Target {
    pub pipeline: Pipeline,
}

/// The environment called `name`, or an error listing the known ones.
pub fn resolve(name: &str) -> Result<Target> {
    let env = environments::by_name(name).ok_or_else(|| {
        anyhow!(
            "unknown environment {name:?}: the known environments are {} (one file each in environments/src/)",
            environments::names().join(", ")
        )
    })?;
    let validated = env.validate().map_err(|violations| {
        anyhow!("{violations}fix environments/src/{name}.rs, then run the command again")
    })?;
    Ok(Target {
        pipeline: Pipeline::new(&validated),
    })
}

impl Target {
    pub fn env(&self) -> &Environment {
        self.pipeline.validated.env()
    }

    pub fn name(&self) -> &str {
        &self.env().name
    }

    pub fn region(&self) -> &str {
        &self.env().region
    }

    /// Deployed into moto server on this machine rather than AWS.
    pub fn is_local(&self) -> bool {
        self.env().kind == Kind::Local
    }

    /// Marked protected: its data must survive (`prevent_destroy`, production).
    pub fn protected(&self) -> bool {
        self.env().prevent_destroy
    }

    /// `generated/<env>/`.
    pub fn generated_dir(&self, root: &Path) -> PathBuf {
        root.join("generated").join(self.name())
    }

    /// The Secrets Manager secret holding the endpoint credentials.
    pub fn secret_name(&self) -> &str {
        &self.pipeline.credentials.secret_name
    }

    pub fn archive_bucket(&self) -> &str {
        &self.pipeline.archive.bucket
    }

    pub fn landing_bucket(&self) -> &str {
        &self.pipeline.landing.bucket
    }

    /// The endpoint URL the aggregator delivers to, when the model knows it (not for dev's mock receiver,
    /// whose function URL exists only once deployed: it is the Terraform output `receiver_url`).
    pub fn endpoint_url(&self) -> Option<&str> {
        match self.env().sink.endpoint() {
            Endpoint::OnPremise { url, .. } | Endpoint::LocalProcess { url } => Some(url),
            Endpoint::MockReceiver => None,
        }
    }

    /// The MinIO bucket, when bundles go to MinIO rather than NiFi.
    pub fn minio_bucket(&self) -> Option<&str> {
        match &self.env().sink {
            Sink::Minio { bucket, .. } => Some(bucket),
            Sink::Nifi(_) => None,
        }
    }

    /// The emulator endpoint, which the local environment cannot do without.
    pub fn local_endpoint(&self) -> Result<Option<String>> {
        let endpoint = crate::aws::endpoint_override();
        if self.is_local() && endpoint.is_none() {
            return Err(anyhow!(
                "the local environment lives in moto server on this machine, and AWS_ENDPOINT_URL is not set: start one (`.venv/bin/moto_server -p 5000`, after `cargo xtask setup`) and run `export AWS_ENDPOINT_URL=http://127.0.0.1:5000`"
            ));
        }
        Ok(endpoint)
    }
}
