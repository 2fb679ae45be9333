//! Builds the Lambda packages with cargo-lambda for the environment's architecture: the aggregator and the
//! daily report always, and the mock receiver where the environment deploys one (dev). Zips land in
//! `target/lambda/<bin>/`.

use std::path::Path;

use infra_gen::config::Architecture;

use crate::exec::Cmd;
use crate::target::Target;

/// The binaries an environment deploys as Lambda functions.
pub fn binaries(target: &Target) -> Vec<&'static str> {
    target
        .pipeline
        .packages()
        .into_iter()
        .map(|(bin, _)| bin)
        .collect()
}

/// cargo-lambda from the project's Python environment, else from PATH (installed some other way).
pub fn cargo_lambda() -> String {
    emulator::venv_tool("cargo-lambda")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "cargo-lambda".into())
}

/// `cargo lambda build --release` for the environment's architecture, as zips.
pub fn build(root: &Path, target: &Target) -> Cmd {
    let arch = target.env().function.architecture;
    let flag = match arch {
        Architecture::Arm64 => "--arm64",
        Architecture::X86_64 => "--x86-64",
    };
    let bins = binaries(target);
    let mut cmd = Cmd::new(
        format!(
            "cargo lambda build --release for {} ({})",
            arch.as_str(),
            bins.join(", ")
        ),
        cargo_lambda(),
        root,
    )
    .args([
        "lambda",
        "build",
        "--release",
        flag,
        "--output-format",
        "zip",
    ]);
    for bin in bins {
        cmd = cmd.args(["--bin", bin]);
    }
    // cargo-lambda finds zig through `python3 -m ziglang`, which the venv's python has.
    let path = format!(
        "{}:{}",
        root.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
}
