//! The environment a command acts on, found by name in the `environments` crate, validated, and composed into
//! the pipeline model, so every name xtask uses (buckets, secret, endpoint) is the one Terraform creates —
//! together with where its AWS is: AWS itself or an emulator, decided once here and handed explicitly to the SDK
//! clients ([`crate::aws`]) and to Terraform ([`crate::terraform`]). Nothing else reads `AWS_ENDPOINT_URL`.
//!
//! The options the commands share are here too: `<env>` ([`Env`]) and, for the commands that plan and apply
//! (deploy, plan, destroy), `<env>` with Terraform's options, `--yes` and `--dry-run` ([`Common`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use infra_gen::config::{Endpoint, Sink};
use infra_gen::{Environment, Kind, Pipeline};

use crate::terraform;

/// `<env>`: the environment a command acts on.
#[derive(clap::Args, Debug, Clone)]
pub struct Env {
    /// The environment: local, dev or prod (one file each in environments/src/).
    pub env: String,
}

impl Env {
    /// The environment, validated, with the AWS that `AWS_ENDPOINT_URL` names (AWS itself when unset).
    pub fn target(&self) -> Result<Target> {
        resolve(&self.env, Aws::from_env())
    }
}

/// What the commands that plan and apply an environment's stack share.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub env: Env,
    /// Do not ask for confirmation (CI); a protected environment stays protected.
    #[arg(long)]
    pub yes: bool,
    /// Print every command it would run, with its working directory and environment; run none.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub terraform: terraform::Options,
}

impl Common {
    pub fn target(&self) -> Result<Target> {
        self.env.target()
    }
}

/// Where the AWS APIs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aws {
    /// AWS itself: the region's public endpoints and the SDK's default credentials chain.
    Real,
    /// An emulator (moto server, LocalStack) answering every service at one URL, with path-style S3. It takes
    /// any key: without credentials in the environment, moto's customary `testing` pair signs the requests.
    Emulator { url: String },
}

impl Aws {
    /// `AWS_ENDPOINT_URL`, the SDK's standard setting, read here once for the whole run.
    pub fn from_env() -> Aws {
        match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) if !url.trim().is_empty() => Aws::Emulator {
                url: url.trim().to_string(),
            },
            _ => Aws::Real,
        }
    }

    /// The emulator's URL; `None` for AWS itself.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Aws::Real => None,
            Aws::Emulator { url } => Some(url),
        }
    }

    /// The access key pair to sign with when none is configured: an emulator's, when there is one and the
    /// environment names no key of its own.
    pub fn stand_in_credentials(&self) -> Option<(&'static str, &'static str)> {
        let configured = std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|k| !k.is_empty());
        (self.endpoint().is_some() && !configured).then_some(("testing", "testing"))
    }
}

/// An environment, its pipeline model, and where its AWS is.
pub struct Target {
    pub pipeline: Pipeline,
    pub aws: Aws,
}

/// The environment called `name`, or an error listing the known ones; not validated (the model runs for
/// an environment that validation refuses, to show why).
pub fn environment(name: &str) -> Result<Environment> {
    environments::by_name(name).ok_or_else(|| {
        anyhow!(
            "unknown environment {name:?}: the known environments are {} (one file each in environments/src/)",
            environments::names().join(", ")
        )
    })
}

/// The environment called `name`, validated and composed, reached at `aws`.
pub fn resolve(name: &str, aws: Aws) -> Result<Target> {
    let validated = environment(name)?.validate().map_err(|violations| {
        anyhow!("{violations}fix environments/src/{name}.rs, then run the command again")
    })?;
    Ok(Target {
        pipeline: Pipeline::new(&validated),
        aws,
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

    /// Fails unless the environment's AWS can be reached: the local environment lives in an emulator, which
    /// it cannot do without.
    pub fn require_reachable(&self) -> Result<()> {
        if self.is_local() && self.aws == Aws::Real {
            bail!(
                "the local environment lives in moto server on this machine, and AWS_ENDPOINT_URL is not set: start one (`.venv/bin/moto_server -p 5000`, after `cargo xtask setup`) and run `export AWS_ENDPOINT_URL=http://127.0.0.1:5000` (or let `cargo xtask local` start one)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_environment_is_reachable_only_through_an_emulator() {
        let real = resolve("local", Aws::Real).expect("local resolves");
        let error = real.require_reachable().expect_err("no emulator");
        assert!(error.to_string().contains("AWS_ENDPOINT_URL is not set"));
        let emulated = resolve(
            "local",
            Aws::Emulator {
                url: "http://127.0.0.1:5000".into(),
            },
        )
        .expect("local resolves");
        emulated.require_reachable().expect("an emulator is enough");
        resolve("dev", Aws::Real)
            .expect("dev resolves")
            .require_reachable()
            .expect("dev is in AWS");
    }
}
