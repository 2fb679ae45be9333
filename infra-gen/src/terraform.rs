//! Runs the real Terraform over a generated directory, always in a temporary copy so no `.terraform/` or
//! lock file lands in `generated/`. Offline, providers come from a filesystem mirror.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why Terraform could not check a directory.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error(
        "no offline mirror of the hashicorp/aws provider: set TF_PLUGIN_DIR to a directory containing registry.terraform.io/hashicorp/aws (find one with `find / -path '*registry.terraform.io/hashicorp/aws*'`), or use the registry"
    )]
    NoMirror,
    #[error("could not run terraform ({0}): install Terraform >= 1.11")]
    Spawn(#[source] std::io::Error),
    #[error("could not copy {dir} to a temporary directory: {source}")]
    Copy {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`terraform {args}` failed in a copy of {dir}:\n{output}")]
    Failed {
        args: String,
        dir: PathBuf,
        output: String,
    },
}

/// The offline provider mirror: `TF_PLUGIN_DIR`, else `/opt/tf-plugins` when it holds the AWS provider.
pub fn plugin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TF_PLUGIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    let default = PathBuf::from("/opt/tf-plugins");
    default
        .join("registry.terraform.io/hashicorp/aws")
        .is_dir()
        .then_some(default)
}

/// A temporary copy of a generated directory's files.
pub fn copy(dir: &Path) -> Result<tempfile::TempDir, TerraformError> {
    let wrap = |source| TerraformError::Copy {
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

/// Runs `terraform <args>` in `dir`, non-interactively; the output on failure.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, TerraformError> {
    let output = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .envs(env.iter().copied())
        .output()
        .map_err(TerraformError::Spawn)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(TerraformError::Failed {
            args: args.join(" "),
            dir: dir.to_owned(),
            output: text,
        })
    }
}

/// `terraform init` without the backend, from the mirror when given, in `dir`.
pub fn init(dir: &Path, plugins: Option<&Path>) -> Result<String, TerraformError> {
    let mut args = vec!["init", "-backend=false", "-input=false", "-no-color"];
    let flag;
    if let Some(plugins) = plugins {
        flag = format!("-plugin-dir={}", plugins.display());
        args.push(&flag);
    }
    run(dir, &args, &[])
}

/// `terraform init -backend=false` and `terraform validate` on a temporary copy of `dir`.
pub fn validate(dir: &Path, plugins: Option<&Path>) -> Result<(), TerraformError> {
    let tmp = copy(dir)?;
    init(tmp.path(), plugins)?;
    run(tmp.path(), &["validate", "-no-color"], &[])?;
    Ok(())
}
