//! `cargo xtask ci`: exactly what CI runs (`.ci/run` and the GitHub workflow call this), in order, stopping
//! at the first failure.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::exec::Show;
use crate::{lambda, run, setup, target, workflows};

pub fn run_ci(root: &Path) -> Result<()> {
    setup::run_setup(root)?;
    println!("ci: workflows ...");
    workflows::lint(root, &workflows::workflows(root)?)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--all", "--", "--check"]),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("tests", &["test", "--workspace"]),
    ];
    for (name, args) in steps {
        let started = Instant::now();
        println!("ci: {name} ...");
        run(Command::new(&cargo).args(args).current_dir(root))?;
        println!("ci: {name} passed in {:.0?}", started.elapsed());
    }
    // The very build `deploy dev` runs: the arm64 aggregator, the daily report and the mock receiver, as zips.
    let started = Instant::now();
    println!("ci: lambda build ...");
    lambda::build(root, &target::resolve("dev")?).run_ok(Show::Progress)?;
    let zip = root.join("target/lambda/aggregator/bootstrap.zip");
    anyhow::ensure!(
        zip.is_file(),
        "cargo lambda build did not produce {}",
        zip.display()
    );
    println!(
        "ci: lambda build passed in {:.0?}; all steps passed ({})",
        started.elapsed(),
        zip.display()
    );
    Ok(())
}
