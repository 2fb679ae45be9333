//! Runs the real Terraform: the one place that says where the AWS provider comes from, how Terraform runs
//! unattended, and what a failure to install the provider means. `cargo xtask` (deploy, plan, destroy,
//! `generate --validate`) and the tests all run Terraform through [`Terraform`].
//!
//! Providers come from, in this order: `TF_PLUGIN_DIR`, Terraform's implied local mirror directories (which
//! Terraform searches by itself), the mirror this machine image carries ([`MACHINE_MIRROR`]), and otherwise
//! the registry. A caller may choose one itself (xtask's `--plugin-dir` and `--registry`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the machine image used by this project's CI keeps its provider mirror.
pub const MACHINE_MIRROR: &str = "/opt/tf-plugins";
/// How to get Terraform, for an error that finds none.
pub const INSTALL: &str = "install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install; `cargo xtask doctor` checks it)";
/// The CLI configuration that makes Terraform install providers from the registry only, written into the
/// working directory when the registry is forced: an explicit configuration is the only way to make
/// Terraform skip its implied mirrors.
const REGISTRY_ONLY_CONFIG: &str = ".terraformrc-registry";

/// Why Terraform could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error("could not run terraform ({0}): {INSTALL}")]
    Spawn(#[source] std::io::Error),
    #[error("could not prepare Terraform's working directory {dir}: {source}")]
    WorkDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "terraform init could not install the hashicorp/aws provider from {providers}.\n\
         Neither the registry nor a usable mirror is reachable. To fix it, either\n  \
         - allow this machine to reach https://registry.terraform.io, or\n  \
         - point TF_PLUGIN_DIR (or --plugin-dir) at a mirror holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/ \
         (make one elsewhere with `terraform providers mirror DIR`; find one here with \
         `find / -path '*registry.terraform.io/hashicorp/aws*' -name 'terraform-provider-aws*'`).\n\
         Terraform said:\n{said}"
    )]
    ProviderUnavailable { providers: String, said: String },
    #[error("`{command}` failed in {dir}:\n{said}")]
    Failed {
        command: String,
        dir: PathBuf,
        said: String,
    },
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
    /// The source nobody chose: `TF_PLUGIN_DIR`, an implied mirror that holds the provider, the machine's
    /// mirror, else the registry.
    pub fn find() -> Providers {
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

/// Terraform in one working directory: the arguments and environment of every command, and running them.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub dir: PathBuf,
    pub providers: Providers,
    /// Set on top of the inherited environment.
    env: Vec<(String, String)>,
    color: bool,
}

impl Terraform {
    /// Terraform in `dir`, unattended and without colours.
    pub fn new(dir: &Path, providers: Providers) -> Terraform {
        let mut env = vec![
            ("TF_IN_AUTOMATION".to_string(), "1".to_string()),
            ("TF_INPUT".into(), "0".into()),
        ];
        if providers == (Providers::Registry { forced: true }) {
            env.push((
                "TF_CLI_CONFIG_FILE".into(),
                dir.join(REGISTRY_ONLY_CONFIG).display().to_string(),
            ));
        } else if let Some(value) =
            cli_config_override(std::env::var_os("TF_CLI_CONFIG_FILE").as_deref())
        {
            env.push(("TF_CLI_CONFIG_FILE".into(), value));
        }
        Terraform {
            dir: dir.to_owned(),
            providers,
            env,
            color: false,
        }
    }

    /// Also sets `key` for every command.
    pub fn env(mut self, key: &str, value: &str) -> Terraform {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Lets Terraform colour its output (for a terminal).
    pub fn color(mut self, color: bool) -> Terraform {
        self.color = color;
        self
    }

    /// The variables every command runs with, on top of the inherited environment.
    pub fn environment(&self) -> &[(String, String)] {
        &self.env
    }

    /// The arguments of `terraform <args>`: `-no-color` goes right after the subcommand, since Terraform
    /// stops reading options at the first positional argument (a plan file).
    pub fn args(&self, args: &[&str]) -> Vec<String> {
        let mut words: Vec<String> = args.iter().take(1).map(|a| a.to_string()).collect();
        if !self.color {
            words.push("-no-color".into());
        }
        words.extend(args.iter().skip(1).map(|a| a.to_string()));
        words
    }

    /// The arguments of `terraform init <args>`, from the mirror when the providers come from one.
    pub fn init_args(&self, args: &[&str]) -> Vec<String> {
        let mut words = self.args(&[&["init"], args].concat());
        if let Providers::Mirror { dir, .. } = &self.providers {
            words.push(format!("-plugin-dir={}", dir.display()));
        }
        words
    }

    /// Writes into the working directory what the provider source needs (the registry-only configuration).
    pub fn prepare(&self) -> Result<(), TerraformError> {
        if self.providers != (Providers::Registry { forced: true }) {
            return Ok(());
        }
        std::fs::write(
            self.dir.join(REGISTRY_ONLY_CONFIG),
            "# written by cargo xtask (--registry): install providers from the registry only\nprovider_installation {\n  direct {}\n}\n",
        )
        .map_err(|source| TerraformError::WorkDir {
            dir: self.dir.clone(),
            source,
        })
    }

    /// What a failed `terraform init` means: a provider that could not be installed is said so, with the
    /// ways to provide it.
    pub fn init_failed(&self, command: String, said: String) -> TerraformError {
        let unreachable = said.contains("could not connect to registry.terraform.io")
            || said.contains("Failed to query available provider packages")
            || said.contains("Failed to install provider");
        if unreachable {
            TerraformError::ProviderUnavailable {
                providers: self.providers.describe(),
                said,
            }
        } else {
            TerraformError::Failed {
                command,
                dir: self.dir.clone(),
                said,
            }
        }
    }

    /// Runs `terraform <args>` to its end; what it printed, or why it failed.
    pub fn run(&self, args: &[&str]) -> Result<String, TerraformError> {
        let words = self.args(args);
        match self.execute(&words)? {
            (true, said) => Ok(said),
            (false, said) => Err(TerraformError::Failed {
                command: command_line(&words),
                dir: self.dir.clone(),
                said,
            }),
        }
    }

    /// Runs `terraform init <args>` (see [`Terraform::init_args`]).
    pub fn init(&self, args: &[&str]) -> Result<String, TerraformError> {
        self.prepare()?;
        let words = self.init_args(args);
        match self.execute(&words)? {
            (true, said) => Ok(said),
            (false, said) => Err(self.init_failed(command_line(&words), said)),
        }
    }

    /// Runs `terraform <words>`: whether it succeeded, and what it printed.
    fn execute(&self, words: &[String]) -> Result<(bool, String), TerraformError> {
        let output = Command::new("terraform")
            .args(words)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(TerraformError::Spawn)?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), said))
    }
}

/// What to set `TF_CLI_CONFIG_FILE` to, given its inherited value. A file named there that does not exist
/// makes Terraform warn on every call ("Unable to open CLI configuration file") and changes nothing else, so
/// it is set empty: Terraform then reads its default configuration, and only if that exists.
fn cli_config_override(inherited: Option<&std::ffi::OsStr>) -> Option<String> {
    let file = inherited.filter(|f| !f.is_empty())?;
    (!Path::new(file).exists()).then(String::new)
}

fn command_line(words: &[String]) -> String {
    format!("terraform {}", words.join(" "))
}

/// A temporary copy of a generated directory's files, for a Terraform that writes `.terraform/` and a lock
/// file where it runs (never into `generated/`).
pub fn copy(dir: &Path) -> Result<tempfile::TempDir, TerraformError> {
    let wrap = |source| TerraformError::WorkDir {
        dir: dir.to_owned(),
        source,
    };
    let tmp = tempfile::tempdir().map_err(wrap)?;
    for entry in std::fs::read_dir(dir).map_err(wrap)? {
        let entry = entry.map_err(wrap)?;
        if entry.file_type().map_err(wrap)?.is_file() {
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).map_err(wrap)?;
        }
    }
    Ok(tmp)
}

/// `terraform init -backend=false` and `terraform validate` on a temporary copy of `dir`.
pub fn validate(dir: &Path, providers: Providers) -> Result<(), TerraformError> {
    let tmp = copy(dir)?;
    let terraform = Terraform::new(tmp.path(), providers);
    terraform.init(&["-backend=false", "-input=false"])?;
    terraform.run(&["validate"])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_terraform_says_how_to_install_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let terraform = Terraform::new(dir.path(), Providers::Registry { forced: false })
            .env("PATH", "/nonexistent");
        let error = terraform
            .run(&["version"])
            .expect_err("no terraform on PATH");
        assert!(matches!(error, TerraformError::Spawn(_)), "{error:?}");
        assert!(
            error.to_string().contains("install Terraform >= 1.11"),
            "{error}"
        );
    }

    #[test]
    fn init_reads_the_mirror_and_options_stop_before_a_plan_file() {
        let mirror = Providers::Mirror {
            dir: "/mirror".into(),
            origin: "TF_PLUGIN_DIR",
        };
        let terraform = Terraform::new(Path::new("/work"), mirror);
        assert_eq!(
            terraform.init_args(&["-input=false"]),
            ["init", "-no-color", "-input=false", "-plugin-dir=/mirror"]
        );
        assert_eq!(
            terraform.args(&["apply", "tfplan"]),
            ["apply", "-no-color", "tfplan"]
        );
        let registry = Terraform::new(Path::new("/work"), Providers::Registry { forced: false });
        assert_eq!(registry.init_args(&[]), ["init", "-no-color"]);
    }

    #[test]
    fn a_cli_configuration_that_does_not_exist_is_not_passed_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.terraformrc");
        assert_eq!(
            cli_config_override(Some(missing.as_os_str())),
            Some(String::new())
        );
        let present = dir.path().join("present.terraformrc");
        std::fs::write(&present, "").expect("write");
        assert_eq!(cli_config_override(Some(present.as_os_str())), None);
        assert_eq!(cli_config_override(Some("".as_ref())), None);
        assert_eq!(cli_config_override(None), None);
    }

    #[test]
    fn an_unreachable_registry_is_told_apart_from_other_init_failures() {
        let terraform = Terraform::new(Path::new("/work"), Providers::Registry { forced: true });
        let unreachable = terraform.init_failed(
            "terraform init".into(),
            "Error: Failed to query available provider packages".into(),
        );
        assert!(
            matches!(unreachable, TerraformError::ProviderUnavailable { .. }),
            "{unreachable:?}"
        );
        assert!(unreachable.to_string().contains("TF_PLUGIN_DIR"));
        let other = terraform.init_failed("terraform init".into(), "Error: Invalid JSON".into());
        assert!(matches!(other, TerraformError::Failed { .. }), "{other:?}");
    }
}
