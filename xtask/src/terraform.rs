//! Runs Terraform for deploy, plan and destroy — one module, so the three use the same working directory,
//! variables and error messages. Where the provider comes from, how Terraform runs unattended and what a
//! failed `terraform init` means are `infra_gen::terraform`'s, which the tests use too; this module adds the
//! command-line options, the working directory, the variables, and commands as data (for `--dry-run`).
//!
//! Terraform runs in a working directory of its own (`target/xtask/<env>/` by default), into which the
//! rendered `generated/<env>/*.tf.json` are copied: `.terraform/`, the lock file, saved plans and the local
//! environment's state never land in `generated/`, which is committed and checked for drift.
//!
//! Providers come from `--plugin-dir` or, with `--registry`, the registry; otherwise from where
//! [`Providers::find`] finds them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
pub use infra_gen::terraform::Providers;

use crate::exec::{Cmd, Show};
use crate::summary::Summary;
use crate::target::Target;

/// The plan files, in the working directory.
pub const PLAN_FILE: &str = "tfplan";
pub const DESTROY_PLAN_FILE: &str = "destroy.tfplan";

/// The options every Terraform-running command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Terraform's working directory [default: target/xtask/<env>]; holds .terraform/, saved plans and the
    /// local environment's state.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// A provider mirror (a directory holding registry.terraform.io/hashicorp/aws/...) [default:
    /// TF_PLUGIN_DIR, then Terraform's implied mirror directories, then /opt/tf-plugins, then the registry].
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    pub plugin_dir: Option<PathBuf>,
    /// Install providers from registry.terraform.io, ignoring any mirror.
    #[arg(long)]
    pub registry: bool,
}

impl Options {
    /// Where `terraform init` gets the AWS provider from: the flags, else the mirrors or the registry.
    pub fn providers(&self) -> Providers {
        if self.registry {
            return Providers::Registry { forced: true };
        }
        match &self.plugin_dir {
            Some(dir) => Providers::Mirror {
                dir: dir.clone(),
                origin: "--plugin-dir",
            },
            None => Providers::find(),
        }
    }
}

/// Terraform for one environment: its working directory, provider source, variables and environment.
pub struct Terraform {
    runner: infra_gen::terraform::Terraform,
    generated: PathBuf,
    vars: Vec<(String, String)>,
    backend: String,
    /// The local environment's emulator: its state means nothing to another emulator.
    local_endpoint: Option<String>,
}

/// Records which emulator the local state file describes.
const LOCAL_ENDPOINT_FILE: &str = ".xtask-local-endpoint";

/// The zip cargo-lambda builds for a binary, in cargo's target directory (`CARGO_TARGET_DIR` if set).
pub fn package_path(root: &Path, bin: &str) -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    target_dir.join("lambda").join(bin).join("bootstrap.zip")
}

impl Terraform {
    /// Terraform for `target`: its variables are the Lambda packages (and, locally, moto's endpoint).
    pub fn new(root: &Path, target: &Target, options: &Options) -> Result<Terraform> {
        let workdir = options
            .work_dir
            .clone()
            .unwrap_or_else(|| root.join("target/xtask").join(target.name()));
        // Terraform resolves relative paths against its working directory; absolute ones read the same anywhere.
        let workdir = if workdir.is_absolute() {
            workdir
        } else {
            std::env::current_dir()
                .context("reading the current directory")?
                .join(workdir)
        };
        target.require_reachable()?;
        // The local state means nothing to another emulator: remembered per emulator (see `prepare`).
        let local_endpoint = target
            .aws
            .endpoint()
            .filter(|_| target.is_local())
            .map(str::to_string);
        // The model's package variables, each given the zip cargo-lambda builds for its binary.
        let mut vars: Vec<(String, String)> = target
            .pipeline
            .packages()
            .into_iter()
            .map(|(bin, var)| {
                (
                    var.name().to_owned(),
                    package_path(root, bin).display().to_string(),
                )
            })
            .collect();
        let mut runner = infra_gen::terraform::Terraform::new(&workdir, options.providers())
            // Colour only where a person reads Terraform's words as they come: streamed to a terminal.
            .color(crate::ui::color() && crate::ui::verbose());
        match (&local_endpoint, target.aws.endpoint()) {
            // The local provider block points every service at var.aws_endpoint.
            (Some(endpoint), _) => vars.push(("aws_endpoint".into(), endpoint.clone())),
            // Any other environment's provider takes an emulator from the AWS SDK's standard setting.
            (None, Some(endpoint)) => runner = runner.env("AWS_ENDPOINT_URL", endpoint),
            (None, None) => {}
        }
        // An emulator accepts any key; the provider still wants one to sign with.
        if let Some((key, secret)) = target.aws.stand_in_credentials() {
            runner = runner
                .env("AWS_ACCESS_KEY_ID", key)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let generated = target.generated_dir(root);
        Ok(Terraform {
            backend: describe_backend(target, &workdir),
            runner,
            generated,
            vars,
            local_endpoint,
        })
    }

    /// Terraform's working directory.
    fn workdir(&self) -> &Path {
        &self.runner.dir
    }

    /// `terraform <words>` as a command.
    fn cmd(&self, purpose: String, words: Vec<String>) -> Cmd {
        let mut cmd = Cmd::new(purpose, "terraform", self.workdir()).args(words);
        for (k, v) in self.runner.environment() {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    fn with_vars(&self, mut cmd: Cmd) -> Cmd {
        for (k, v) in &self.vars {
            cmd = cmd.arg(format!("-var={k}={v}"));
        }
        cmd
    }

    /// What `prepare` does, for the dry run.
    pub fn prepare_note(&self) -> String {
        format!(
            "copy the files of {} into Terraform's working directory {} (replacing the previous *.tf.json)",
            self.generated.display(),
            self.workdir().display()
        )
    }

    /// Makes the working directory hold exactly the rendered Terraform files (plus Terraform's own).
    pub fn prepare(&self) -> Result<()> {
        let workdir = self.workdir();
        std::fs::create_dir_all(workdir)
            .with_context(|| format!("creating {}", workdir.display()))?;
        for entry in std::fs::read_dir(workdir)? {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(".tf.json") {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        // Every rendered file, not only *.tf.json: the configuration reads some (the dashboard body) with file().
        let mut copied = 0;
        for entry in std::fs::read_dir(&self.generated)
            .with_context(|| format!("reading {}", self.generated.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            if !entry.file_type()?.is_file() || name.to_string_lossy().starts_with('.') {
                continue;
            }
            std::fs::copy(entry.path(), workdir.join(&name))
                .with_context(|| format!("copying {}", entry.path().display()))?;
            if name.to_string_lossy().ends_with(".tf.json") {
                copied += 1;
            }
        }
        self.forget_other_emulators_state()?;
        if copied == 0 {
            bail!(
                "{} holds no *.tf.json: run `cargo xtask generate`",
                self.generated.display()
            );
        }
        self.runner.prepare()?;
        Ok(())
    }

    /// moto keeps everything in memory: a state file written against another emulator (another port, or a
    /// moto since restarted on a new one) describes resources that no longer exist anywhere, and refreshing
    /// it fails on the dead endpoint. It is set aside as `terraform.tfstate.other-emulator`, and the
    /// deployment starts from an empty state, as the new emulator is an empty account.
    fn forget_other_emulators_state(&self) -> Result<()> {
        let Some(endpoint) = &self.local_endpoint else {
            return Ok(());
        };
        let workdir = self.workdir();
        let marker = workdir.join(LOCAL_ENDPOINT_FILE);
        let state = workdir.join("terraform.tfstate");
        let recorded = std::fs::read_to_string(&marker).ok();
        if state.exists() && recorded.as_deref().map(str::trim) != Some(endpoint.as_str()) {
            let aside = workdir.join("terraform.tfstate.other-emulator");
            std::fs::rename(&state, &aside)
                .with_context(|| format!("setting aside {}", state.display()))?;
            eprintln!(
                "note: the local state in {} was written against {} and this run uses {endpoint}: set it aside as {} and starting from empty state",
                workdir.display(),
                recorded
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or("another emulator"),
                aside.display()
            );
        }
        std::fs::write(&marker, endpoint)
            .with_context(|| format!("writing {}", marker.display()))?;
        Ok(())
    }

    pub fn init(&self) -> Cmd {
        self.cmd(
            format!(
                "terraform init (state: {}; providers: {})",
                self.backend,
                self.runner.providers.describe()
            ),
            self.runner.init_args(&["-input=false"]),
        )
    }

    /// `terraform plan -out`, with `-detailed-exitcode` so "no changes" and "changes" can be told apart.
    pub fn plan(&self, destroy: bool) -> Cmd {
        let (purpose, file) = if destroy {
            ("terraform plan -destroy (saved)", DESTROY_PLAN_FILE)
        } else {
            ("terraform plan (saved)", PLAN_FILE)
        };
        let out = format!("-out={file}");
        let mut args = vec!["plan", "-input=false", "-detailed-exitcode", &out];
        if destroy {
            args.push("-destroy");
        }
        self.with_vars(self.cmd(purpose.into(), self.runner.args(&args)))
            .also_ok(2)
    }

    pub fn show(&self, destroy: bool) -> Cmd {
        let file = if destroy {
            DESTROY_PLAN_FILE
        } else {
            PLAN_FILE
        };
        self.cmd(
            "terraform show -json (the plan summary)".into(),
            self.runner.args(&["show", "-json", file]),
        )
    }

    /// Applies the saved plan: exactly what was summarised and confirmed, nothing re-planned.
    pub fn apply(&self, destroy: bool) -> Cmd {
        let file = if destroy {
            DESTROY_PLAN_FILE
        } else {
            PLAN_FILE
        };
        let purpose = if destroy {
            "terraform apply of the saved destroy plan"
        } else {
            "terraform apply of the saved plan"
        };
        self.cmd(
            purpose.into(),
            self.runner.args(&["apply", "-input=false", file]),
        )
    }

    pub fn output(&self) -> Cmd {
        self.cmd(
            "terraform output -json".into(),
            self.runner.args(&["output", "-json"]),
        )
    }

    /// Runs `terraform init`, explaining a provider that could not be installed.
    pub fn run_init(&self) -> Result<()> {
        let cmd = self.init();
        let finished = cmd.run(Show::Progress)?;
        if finished.success() {
            return Ok(());
        }
        Err(self
            .runner
            .init_failed(cmd.command_line(), finished.tail(30))
            .into())
    }

    /// Runs the saved plan and its summary; `Ok(None)`-free: the summary says whether anything changes.
    pub fn run_plan(&self, destroy: bool) -> Result<Summary> {
        let cmd = self.plan(destroy);
        let finished = cmd.run(Show::Progress)?;
        match finished.code {
            Some(0) | Some(2) => {}
            _ => bail!(
                "`terraform plan` failed in {}:\n{}",
                self.workdir().display(),
                finished.tail(30)
            ),
        }
        let shown = self.show(destroy).run_ok(Show::Quiet)?;
        Summary::parse(&shown.stdout).context("reading `terraform show -json`")
    }

    pub fn run_apply(&self, destroy: bool) -> Result<()> {
        self.apply(destroy).run_ok(Show::Progress).map(|_| ())
    }

    /// The outputs, as `terraform output -json` gives them.
    pub fn run_output(&self) -> Result<Outputs> {
        let finished = self.output().run_ok(Show::Quiet)?;
        let value: serde_json::Value =
            serde_json::from_str(&finished.stdout).context("reading `terraform output -json`")?;
        Ok(value.as_object().cloned().unwrap_or_default())
    }
}

/// A deployment's outputs by name, each `{"value": ..., "sensitive": ...}` as `terraform output -json` gives them.
pub type Outputs = serde_json::Map<String, serde_json::Value>;

/// Prints outputs as `name = value`; sensitive ones are not shown.
pub fn print_outputs(env: &str, outputs: &Outputs) {
    println!("Outputs of {env}:");
    for (name, output) in outputs {
        let value = if output.get("sensitive").and_then(|s| s.as_bool()) == Some(true) {
            "(sensitive)".to_string()
        } else {
            match output.get("value") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        };
        println!("  {name} = {value}");
    }
}

/// One output's string value.
pub fn output_string(outputs: &Outputs, name: &str) -> Option<String> {
    outputs
        .get(name)?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

/// The state location in words: the environment's S3 backend, or the local state file.
fn describe_backend(target: &Target, workdir: &Path) -> String {
    match infra_gen::render::StateBackend::of(target.env()) {
        Some(s3) => format!(
            "S3 backend s3://{}/{} in {}, locked with use_lockfile",
            s3.bucket, s3.key, s3.region
        ),
        None => format!(
            "local state file {}",
            workdir.join("terraform.tfstate").display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_flag_wins_over_every_mirror() {
        let options = Options {
            work_dir: None,
            plugin_dir: None,
            registry: true,
        };
        assert_eq!(options.providers(), Providers::Registry { forced: true });
    }

    #[test]
    fn plugin_dir_flag_is_used_as_given() {
        let options = Options {
            work_dir: None,
            plugin_dir: Some("/somewhere".into()),
            registry: false,
        };
        assert_eq!(
            options.providers(),
            Providers::Mirror {
                dir: "/somewhere".into(),
                origin: "--plugin-dir"
            }
        );
    }

    #[test]
    fn local_state_of_another_emulator_is_set_aside() {
        let generated = tempfile::tempdir().expect("tempdir");
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(generated.path().join("main.tf.json"), "{}").expect("write");
        let tf = |endpoint: &str| Terraform {
            runner: infra_gen::terraform::Terraform::new(
                work.path(),
                Providers::Registry { forced: false },
            ),
            generated: generated.path().to_path_buf(),
            vars: Vec::new(),
            backend: String::new(),
            local_endpoint: Some(endpoint.to_string()),
        };
        let state = work.path().join("terraform.tfstate");
        tf("http://127.0.0.1:5000").prepare().expect("prepare");
        std::fs::write(&state, "{}").expect("state");
        // The same emulator again: the state is kept.
        tf("http://127.0.0.1:5000").prepare().expect("prepare");
        assert!(state.exists());
        // Another one: the state is set aside, not deleted.
        tf("http://127.0.0.1:5001").prepare().expect("prepare");
        assert!(!state.exists());
        assert!(
            work.path()
                .join("terraform.tfstate.other-emulator")
                .exists()
        );
        assert!(work.path().join("main.tf.json").exists());
    }
}
