//! `cargo xtask ci`: exactly what CI runs (`.ci/run` and the GitHub workflow call this), in order, stopping
//! at the first failure.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::{run, setup};

pub fn run_ci(root: &Path) -> Result<()> {
    setup::run_setup(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let lambda = root.join(".venv/bin/cargo-lambda");
    let steps: Vec<(&str, Command)> = vec![
        (
            "format",
            cmd(&cargo, &["fmt", "--all", "--", "--check"], root),
        ),
        (
            "clippy",
            cmd(
                &cargo,
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
                root,
            ),
        ),
        ("tests", cmd(&cargo, &["test", "--workspace"], root)),
        (
            "lambda build (arm64)",
            cmd(
                lambda.to_str().unwrap_or("cargo-lambda"),
                &[
                    "lambda",
                    "build",
                    "--release",
                    "--arm64",
                    "--bin",
                    "aggregator",
                ],
                root,
            ),
        ),
    ];
    // cargo-lambda finds zig through `python3 -m ziglang`, which the venv's python has.
    let path = format!(
        "{}:{}",
        root.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (name, mut command) in steps {
        command.env("PATH", &path);
        let started = Instant::now();
        println!("ci: {name} ...");
        run(&mut command)?;
        println!("ci: {name} passed in {:.0?}", started.elapsed());
    }
    let bootstrap = root.join("target/lambda/aggregator/bootstrap");
    anyhow::ensure!(
        bootstrap.is_file(),
        "cargo lambda build did not produce {}",
        bootstrap.display()
    );
    println!(
        "ci: all steps passed; the Lambda bootstrap is {}",
        bootstrap.display()
    );
    Ok(())
}

fn cmd(program: &str, args: &[&str], root: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(args).current_dir(root);
    c
}
