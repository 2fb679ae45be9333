//! `cargo xtask doctor`: what is installed and what is missing for each command, with the command that fixes
//! each. Deploy, plan and destroy run the same checks first (only those they need), so a missing tool is
//! reported before anything is built or changed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::ProvideCredentials;

use crate::terraform::Providers;

/// The oldest Terraform the generated configuration accepts (`required_version`).
pub const MIN_TERRAFORM: (u64, u64) = (1, 11);
/// The Rust target of arm64 Lambdas.
pub const ARM64_TARGET: &str = "aarch64-unknown-linux-gnu";

/// A prerequisite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Terraform,
    CargoLambda,
    Zig,
    Arm64Target,
    AwsCredentials,
    PythonEnv,
    /// s3s-fs in `.local/`: the S3-compatible store the MinIO sink's tests use.
    S3Store,
    Providers,
    /// GNU tar, gzip and coreutils: the bench's reference pipeline.
    ReferenceTools,
}

impl Need {
    pub fn label(self) -> &'static str {
        match self {
            Need::Terraform => "terraform >= 1.11",
            Need::CargoLambda => "cargo-lambda",
            Need::Zig => "zig",
            Need::Arm64Target => "the aarch64 Rust target",
            Need::AwsCredentials => "AWS credentials",
            Need::PythonEnv => "the Python environment",
            Need::S3Store => "s3s-fs",
            Need::Providers => "the AWS provider source",
            Need::ReferenceTools => "tar, gzip, sha256sum, tee and sh",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub need: Need,
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub fix: &'static str,
}

/// Which commands need what.
const COMMANDS: [(&str, &[Need]); 7] = [
    (
        "deploy, plan",
        &[
            Need::Terraform,
            Need::Providers,
            Need::CargoLambda,
            Need::Zig,
            Need::Arm64Target,
            Need::AwsCredentials,
        ],
    ),
    (
        "destroy",
        &[Need::Terraform, Need::Providers, Need::AwsCredentials],
    ),
    ("secret, bootstrap, replay", &[Need::AwsCredentials]),
    (
        "deploy local, destroy local (into moto)",
        &[
            Need::Terraform,
            Need::Providers,
            Need::CargoLambda,
            Need::Zig,
            Need::Arm64Target,
            Need::PythonEnv,
        ],
    ),
    (
        "local, tests, ci",
        &[
            Need::PythonEnv,
            Need::S3Store,
            Need::Terraform,
            Need::Arm64Target,
        ],
    ),
    (
        "bench",
        &[
            Need::PythonEnv,
            Need::Terraform,
            Need::Arm64Target,
            Need::ReferenceTools,
        ],
    ),
    ("generate", &[]),
];

pub fn check(need: Need, root: &Path) -> Check {
    match need {
        Need::Terraform => terraform(),
        Need::CargoLambda => cargo_lambda(),
        Need::Zig => zig(root),
        Need::Arm64Target => arm64_target(),
        Need::AwsCredentials => aws_credentials(),
        Need::PythonEnv => python_env(),
        Need::S3Store => s3_store(),
        Need::Providers => providers(),
        Need::ReferenceTools => reference_tools(),
    }
}

/// Fails, listing every missing prerequisite with its fix, unless all of `needs` are there.
pub fn require(needs: &[Need], root: &Path, command: &str) -> Result<()> {
    let missing: Vec<Check> = needs
        .iter()
        .map(|n| check(*n, root))
        .filter(|c| !c.ok)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(|c| format!("  - {}: {}\n    fix: {}", c.name, c.detail, c.fix))
        .collect::<Vec<_>>()
        .join("\n");
    bail!("`cargo xtask {command}` cannot run: missing prerequisites:\n{list}")
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A deployed environment (dev or prod): probe the path from its aggregator to its endpoint instead
    /// (name resolution, TCP, TLS, the healthcheck), by invoking the function with a probe payload.
    pub env: Option<String>,
    /// The function version or alias to invoke (default: $LATEST).
    #[arg(long, requires = "env")]
    pub qualifier: Option<String>,
}

/// `cargo xtask doctor [<env>]`.
pub fn dispatch(root: &Path, args: Args) -> Result<()> {
    match &args.env {
        Some(env) => {
            let target = crate::target::resolve(env, crate::target::Aws::from_env())?;
            crate::aws::runtime()?.block_on(crate::reach::run(&target, args.qualifier.as_deref()))
        }
        None => run(root),
    }
}

pub fn run(root: &Path) -> Result<()> {
    let all = [
        Need::Terraform,
        Need::Providers,
        Need::CargoLambda,
        Need::Zig,
        Need::Arm64Target,
        Need::AwsCredentials,
        Need::PythonEnv,
        Need::S3Store,
        Need::ReferenceTools,
    ];
    let checks: Vec<Check> = all.iter().map(|n| check(*n, root)).collect();
    println!("Prerequisites:");
    for c in &checks {
        let mark = if c.ok { "ok     " } else { "MISSING" };
        println!("  {mark} {:<28} {}", c.name, c.detail);
        if !c.ok {
            println!("          fix: {}", c.fix);
        }
    }
    println!("\nCommands:");
    for (commands, needs) in COMMANDS {
        let missing: Vec<&str> = checks
            .iter()
            .filter(|c| needs.contains(&c.need) && !c.ok)
            .map(|c| c.name)
            .collect();
        if missing.is_empty() {
            println!("  ready    {commands}");
        } else {
            println!("  blocked  {commands}: needs {}", missing.join(", "));
        }
    }
    let missing = checks.iter().filter(|c| !c.ok).count();
    if missing > 0 {
        bail!("{missing} prerequisites are missing: run the fixes above");
    }
    println!("\nEverything is installed.");
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    // stdout only: tools warn on stderr (terraform about a missing CLI configuration file), and JSON is on stdout.
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn terraform() -> Check {
    let fix = "install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)";
    let version = output("terraform", &["version", "-json"]).and_then(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()?
            .get("terraform_version")?
            .as_str()
            .map(str::to_string)
    });
    let (ok, detail) = match &version {
        None => (false, "not found on PATH".to_string()),
        Some(v) => {
            let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
            let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            if found >= MIN_TERRAFORM {
                (true, v.clone())
            } else {
                (false, format!("{v} is older than 1.11"))
            }
        }
    };
    Check {
        need: Need::Terraform,
        name: "terraform >= 1.11",
        ok,
        detail,
        fix,
    }
}

fn providers() -> Check {
    let providers = Providers::find();
    Check {
        need: Need::Providers,
        name: "hashicorp/aws provider source",
        // The registry cannot be judged without trying it; `terraform init` says clearly when it fails.
        ok: true,
        detail: providers.describe(),
        fix: "set TF_PLUGIN_DIR to a provider mirror, or allow access to registry.terraform.io",
    }
}

fn cargo_lambda() -> Check {
    let program = crate::lambda::cargo_lambda();
    let version = output(&program, &["lambda", "--version"]);
    Check {
        need: Need::CargoLambda,
        name: "cargo-lambda",
        ok: version.is_some(),
        detail: version.map_or_else(
            || "not in .venv nor on PATH".into(),
            |v| format!("{} ({program})", v.trim()),
        ),
        fix: "cargo xtask setup   (installs it into .venv from requirements.txt)",
    }
}

fn zig(root: &Path) -> Check {
    // cargo-lambda runs zig as `python3 -m ziglang` when there is no zig on PATH.
    let python = root.join(".venv/bin/python3");
    let version = output(&python.display().to_string(), &["-m", "ziglang", "version"])
        .map(|v| format!("{} (python -m ziglang in .venv)", v.trim()))
        .or_else(|| output("zig", &["version"]).map(|v| format!("{} (on PATH)", v.trim())));
    Check {
        need: Need::Zig,
        name: "zig (cross-linker)",
        ok: version.is_some(),
        detail: version.unwrap_or_else(|| "not found".into()),
        fix: "cargo xtask setup   (the ziglang wheel comes with cargo-lambda)",
    }
}

fn arm64_target() -> Check {
    let installed = output("rustup", &["target", "list", "--installed"])
        .is_some_and(|list| list.lines().any(|l| l.trim() == ARM64_TARGET));
    Check {
        need: Need::Arm64Target,
        name: "Rust target aarch64",
        ok: installed,
        detail: if installed {
            ARM64_TARGET.into()
        } else {
            format!("{ARM64_TARGET} not installed")
        },
        fix: "rustup target add aarch64-unknown-linux-gnu   (or cargo xtask setup)",
    }
}

fn reference_tools() -> Check {
    // dash, Debian's sh, has no --version; running it is the check.
    let probes: [(&str, &[&str]); 5] = [
        ("tar", &["--version"]),
        ("gzip", &["--version"]),
        ("sha256sum", &["--version"]),
        ("tee", &["--version"]),
        ("sh", &["-c", "true"]),
    ];
    let missing: Vec<&str> = probes
        .into_iter()
        .filter(|(tool, args)| output(tool, args).is_none())
        .map(|(tool, _)| tool)
        .collect();
    Check {
        need: Need::ReferenceTools,
        name: "GNU tar, gzip, coreutils",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            "on PATH".to_string()
        } else {
            format!("not found on PATH: {}", missing.join(", "))
        },
        fix: "apt-get install tar gzip coreutils (Debian)",
    }
}

fn python_env() -> Check {
    let moto = emulator::venv_tool("moto_server");
    Check {
        need: Need::PythonEnv,
        name: "Python environment (.venv)",
        ok: moto.is_ok(),
        detail: match &moto {
            Ok(path) => format!("moto_server at {}", path.display()),
            Err(e) => e.to_string(),
        },
        fix: "cargo xtask setup",
    }
}

fn s3_store() -> Check {
    let binary = emulator::local_bin("s3s-fs");
    let version = output(&binary.display().to_string(), &["--version"]);
    Check {
        need: Need::S3Store,
        name: "s3s-fs (S3-compatible store)",
        ok: version
            .as_deref()
            .is_some_and(|v| v.trim().ends_with(emulator::S3S_FS_VERSION)),
        detail: match version {
            Some(v) => format!("{} at {}", v.trim(), binary.display()),
            None => format!("not installed at {}", binary.display()),
        },
        fix: "cargo xtask setup   (builds s3s-fs 0.14.1 into .local, a few minutes once)",
    }
}

/// Whether the SDK's default chain finds credentials; never shows them, only where they came from.
fn aws_credentials() -> Check {
    let found = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|rt| {
            rt.block_on(async {
                let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
                let provider = sdk.credentials_provider()?;
                match tokio::time::timeout(Duration::from_secs(10), provider.provide_credentials())
                    .await
                {
                    Ok(Ok(_)) => Some(Ok(
                        "found by the SDK's default chain (environment, profile, SSO, web identity or instance role)".to_string(),
                    )),
                    Ok(Err(e)) => Some(Err(e.to_string())),
                    Err(_) => Some(Err("looking for them timed out".into())),
                }
            })
        });
    let (ok, detail) = match found {
        Some(Ok(detail)) => (true, detail),
        Some(Err(why)) => (false, why),
        None => (false, "no credentials provider".into()),
    };
    Check {
        need: Need::AwsCredentials,
        name: "AWS credentials",
        ok,
        detail,
        fix: "aws configure sso && export AWS_PROFILE=<profile>  (CI: OIDC, see .github/workflows/deploy.yml; moto: export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)",
    }
}
