//! `cargo xtask ci`: exactly what CI runs (`.ci/run` and the GitHub workflow call this), in order, stopping
//! at the first failure.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::exec::{Cmd, Show};
use crate::{lambda, setup, target, workflows};

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
        Cmd::new(format!("cargo {}", args.join(" ")), &cargo, root)
            .args(args.iter().copied())
            .run_ok(Show::Inherit)?;
        println!("ci: {name} passed in {:.0?}", started.elapsed());
    }
    // The very build `deploy dev` runs: the arm64 aggregator, the daily report and the mock receiver, as zips.
    let started = Instant::now();
    println!("ci: lambda build ...");
    lambda::build(root, &target::resolve("dev", target::Aws::Real)?).run_ok(Show::Progress)?;
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
