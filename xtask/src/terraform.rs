//! Runs Terraform for deploy, plan and destroy — one module, so the three use the same working directory,
//! provider source, variables and error messages.
//!
//! Terraform runs in a working directory of its own (`target/xtask/<env>/` by default), into which the
//! rendered `generated/<env>/*.tf.json` are copied: `.terraform/`, the lock file, saved plans and the local
//! environment's state never land in `generated/`, which is committed and checked for drift.
//!
//! Providers come from, in this order: `--plugin-dir`, `TF_PLUGIN_DIR`, Terraform's implied local mirror
//! directories (which Terraform searches by itself), the mirror this machine image carries
//! (`/opt/tf-plugins`), and otherwise the registry. `--registry` forces the registry.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::exec::{Cmd, Show};
use crate::summary::Summary;
use crate::target::Target;

/// Where the machine image used by this project's CI keeps its provider mirror.
pub const MACHINE_MIRROR: &str = "/opt/tf-plugins";
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

/// Where `terraform init` gets the AWS provider from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Providers {
    /// `-plugin-dir`, and why that directory.
    Mirror { dir: PathBuf, origin: &'static str },
    /// A directory Terraform searches by itself.
    Implied(PathBuf),
    /// registry.terraform.io; `forced` when a mirror is ignored on purpose.
    Registry { forced: bool },
}

impl Providers {
    pub fn detect(options: &Options) -> Providers {
        if options.registry {
            return Providers::Registry { forced: true };
        }
        if let Some(dir) = &options.plugin_dir {
            return Providers::Mirror {
                dir: dir.clone(),
                origin: "--plugin-dir",
            };
        }
        if let Some(dir) = std::env::var_os("TF_PLUGIN_DIR").filter(|d| !d.is_empty()) {
            return Providers::Mirror {
                dir: PathBuf::from(dir),
                origin: "TF_PLUGIN_DIR",
            };
        }
        if let Some(dir) = implied_mirrors().into_iter().find(|d| holds_aws(d)) {
            return Providers::Implied(dir);
        }
        let machine = PathBuf::from(MACHINE_MIRROR);
        if holds_aws(&machine) {
            return Providers::Mirror {
                dir: machine,
                origin: "the mirror this machine image carries",
            };
        }
        Providers::Registry { forced: false }
    }

    pub fn describe(&self) -> String {
        match self {
            Providers::Mirror { dir, origin } => {
                format!("filesystem mirror {} ({origin})", dir.display())
            }
            Providers::Implied(dir) => format!(
                "filesystem mirror {} (one of Terraform's implied mirror directories)",
                dir.display()
            ),
            Providers::Registry { forced: true } => {
                "registry.terraform.io (--registry: mirrors ignored)".into()
            }
            Providers::Registry { forced: false } => {
                "registry.terraform.io (no mirror found)".into()
            }
        }
    }
}

/// A mirror that holds the AWS provider, in the layout Terraform expects.
fn holds_aws(dir: &Path) -> bool {
    dir.join("registry.terraform.io/hashicorp/aws").is_dir()
}

/// Terraform's implied local mirror directories on Unix (see "Implied Local Mirror Directories" in the CLI
/// configuration docs): `~/.terraform.d/plugins`, then `terraform/plugins` under the XDG data directories.
fn implied_mirrors() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(home) = &home {
        dirs.push(home.join(".terraform.d/plugins"));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".local/share")));
    dirs.extend(data_home.map(|d| d.join("terraform/plugins")));
    let data_dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    dirs.extend(
        data_dirs
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("terraform/plugins")),
    );
    dirs
}

/// Terraform for one environment: its working directory, provider source, variables and environment.
pub struct Terraform {
    pub workdir: PathBuf,
    pub providers: Providers,
    generated: PathBuf,
    vars: Vec<(String, String)>,
    env: Vec<(String, String)>,
    color: bool,
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
        let local_endpoint = if target.is_local() {
            target.local_endpoint()?
        } else {
            None
        };
        let mut vars = vec![(
            "lambda_package".to_string(),
            package_path(root, "aggregator").display().to_string(),
        )];
        if target.pipeline.receiver.is_some() {
            vars.push((
                "receiver_package".into(),
                package_path(root, "receiver").display().to_string(),
            ));
        }
        let mut env = vec![
            ("TF_IN_AUTOMATION".to_string(), "1".to_string()),
            ("TF_INPUT".into(), "0".into()),
        ];
        if target.is_local() {
            // The local provider block points every service at var.aws_endpoint: moto, wherever it runs.
            if let Some(endpoint) = &local_endpoint {
                vars.push(("aws_endpoint".into(), endpoint.clone()));
            }
            // moto accepts any key; the provider still wants one to sign with.
            for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                if std::env::var_os(key).is_none() {
                    env.push((key.into(), "testing".into()));
                }
            }
        }
        let providers = Providers::detect(options);
        if providers == (Providers::Registry { forced: true }) {
            // An explicit CLI configuration is the only way to make Terraform skip its implied mirrors.
            env.push((
                "TF_CLI_CONFIG_FILE".into(),
                workdir.join(".terraformrc-registry").display().to_string(),
            ));
        }
        let generated = target.generated_dir(root);
        Ok(Terraform {
            backend: describe_backend(&generated, &workdir),
            workdir,
            providers,
            generated,
            vars,
            env,
            color: crate::ui::color(),
            local_endpoint,
        })
    }

    /// `terraform <args>`; `-no-color` goes right after the subcommand, since Terraform stops reading
    /// options at the first positional argument (a plan file).
    fn cmd(&self, purpose: String, args: &[&str]) -> Cmd {
        let mut cmd =
            Cmd::new(purpose, "terraform", &self.workdir).args(args.iter().take(1).copied());
        if !self.color {
            cmd = cmd.arg("-no-color");
        }
        cmd = cmd.args(args.iter().skip(1).copied());
        for (k, v) in &self.env {
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
            self.workdir.display()
        )
    }

    /// Makes the working directory hold exactly the rendered Terraform files (plus Terraform's own).
    pub fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(&self.workdir)
            .with_context(|| format!("creating {}", self.workdir.display()))?;
        for entry in std::fs::read_dir(&self.workdir)? {
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
            std::fs::copy(entry.path(), self.workdir.join(&name))
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
        if self.providers == (Providers::Registry { forced: true }) {
            std::fs::write(
                self.workdir.join(".terraformrc-registry"),
                "# written by cargo xtask (--registry): install providers from the registry only\nprovider_installation {\n  direct {}\n}\n",
            )?;
        }
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
        let marker = self.workdir.join(LOCAL_ENDPOINT_FILE);
        let state = self.workdir.join("terraform.tfstate");
        let recorded = std::fs::read_to_string(&marker).ok();
        if state.exists() && recorded.as_deref().map(str::trim) != Some(endpoint.as_str()) {
            let aside = self.workdir.join("terraform.tfstate.other-emulator");
            std::fs::rename(&state, &aside)
                .with_context(|| format!("setting aside {}", state.display()))?;
            eprintln!(
                "note: the local state in {} was written against {} and this run uses {endpoint}: set it aside as {} and starting from empty state",
                self.workdir.display(),
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
        let mut cmd = self.cmd(
            format!(
                "terraform init (state: {}; providers: {})",
                self.backend,
                self.providers.describe()
            ),
            &["init", "-input=false"],
        );
        if let Providers::Mirror { dir, .. } = &self.providers {
            cmd = cmd.arg(format!("-plugin-dir={}", dir.display()));
        }
        cmd
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
        self.with_vars(self.cmd(purpose.into(), &args)).also_ok(2)
    }

    pub fn show(&self, destroy: bool) -> Cmd {
        let file = if destroy {
            DESTROY_PLAN_FILE
        } else {
            PLAN_FILE
        };
        self.cmd(
            "terraform show -json (the plan summary)".into(),
            &["show", "-json", file],
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
        self.cmd(purpose.into(), &["apply", "-input=false", file])
    }

    pub fn output(&self) -> Cmd {
        self.cmd("terraform output -json".into(), &["output", "-json"])
    }

    /// Runs `terraform init`, explaining a provider that could not be installed.
    pub fn run_init(&self) -> Result<()> {
        let cmd = self.init();
        let finished = cmd.run(Show::Progress)?;
        if finished.success() {
            return Ok(());
        }
        let said = format!("{}{}", finished.stdout, finished.stderr);
        let unreachable = said.contains("could not connect to registry.terraform.io")
            || said.contains("Failed to query available provider packages")
            || said.contains("Failed to install provider");
        if unreachable {
            bail!(
                "terraform init could not install the hashicorp/aws provider from {}.\n\
                 Neither the registry nor a usable mirror is reachable. To fix it, either\n  \
                 - allow this machine to reach https://registry.terraform.io, or\n  \
                 - point TF_PLUGIN_DIR (or --plugin-dir) at a mirror holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/ \
                 (make one elsewhere with `terraform providers mirror DIR`; find one here with \
                 `find / -path '*registry.terraform.io/hashicorp/aws*' -name 'terraform-provider-aws*'`).\n\
                 Terraform said:\n{}",
                self.providers.describe(),
                finished.tail(12)
            );
        }
        bail!(
            "`{}` failed in {}:\n{}",
            cmd.command_line(),
            self.workdir.display(),
            finished.tail(30)
        )
    }

    /// Runs the saved plan and its summary; `Ok(None)`-free: the summary says whether anything changes.
    pub fn run_plan(&self, destroy: bool) -> Result<Summary> {
        let cmd = self.plan(destroy);
        let finished = cmd.run(Show::Progress)?;
        match finished.code {
            Some(0) | Some(2) => {}
            _ => bail!(
                "`terraform plan` failed in {}:\n{}",
                self.workdir.display(),
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
    pub fn run_output(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let finished = self.output().run_ok(Show::Quiet)?;
        let value: serde_json::Value =
            serde_json::from_str(&finished.stdout).context("reading `terraform output -json`")?;
        Ok(value.as_object().cloned().unwrap_or_default())
    }
}

/// Prints outputs as `name = value`; sensitive ones are not shown.
pub fn print_outputs(env: &str, outputs: &serde_json::Map<String, serde_json::Value>) {
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
pub fn output_string(
    outputs: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<String> {
    outputs
        .get(name)?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

/// The state location in words, from the S3 backend block the environment rendered (if any).
fn describe_backend(generated: &Path, workdir: &Path) -> String {
    let backend = std::fs::read_to_string(generated.join("terraform.tf.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.pointer("/terraform/backend/s3").cloned());
    match backend {
        Some(s3) => format!(
            "S3 backend s3://{}/{} in {}, locked with use_lockfile",
            s3.get("bucket").and_then(|v| v.as_str()).unwrap_or("?"),
            s3.get("key").and_then(|v| v.as_str()).unwrap_or("?"),
            s3.get("region").and_then(|v| v.as_str()).unwrap_or("?"),
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
        assert_eq!(
            Providers::detect(&options),
            Providers::Registry { forced: true }
        );
    }

    #[test]
    fn plugin_dir_flag_is_used_as_given() {
        let options = Options {
            work_dir: None,
            plugin_dir: Some("/somewhere".into()),
            registry: false,
        };
        assert_eq!(
            Providers::detect(&options),
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
            workdir: work.path().to_path_buf(),
            providers: Providers::Registry { forced: false },
            generated: generated.path().to_path_buf(),
            vars: Vec::new(),
            env: Vec::new(),
            color: false,
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
