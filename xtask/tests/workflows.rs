//! The workflows that guard main: actionlint (as `cargo xtask ci` runs it) passes them and refuses a broken
//! one; ci.yml runs exactly `cargo xtask ci`; deploy.yml deploys only a commit ci passed on, that exact commit,
//! prod after dev and behind its environment's approval; plan.yml keeps one comment per environment.

mod common;

use common::{workspace_root, xtask};

fn workflow(name: &str) -> String {
    let path = workspace_root().join(".github/workflows").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commands of a workflow's `run:` steps, one per step, in order.
fn runs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.trim_start()
                .strip_prefix("- run: ")
                .or_else(|| l.trim_start().strip_prefix("run: "))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn actionlint_passes_the_workflows_and_refuses_a_broken_one() {
    xtask(&["lint-workflows"])
        .run()
        .assert_ok()
        .assert_contains("actionlint: 3 workflow files pass");
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.yml");
    // A pull request's title spliced into a script, and an input checkout does not have.
    std::fs::write(
        &broken,
        "name: broken\non: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          depth: 1\n      - run: echo \"${{ github.event.pull_request.title }}\"\n",
    )
    .expect("write");
    let refused = xtask(&["lint-workflows", broken.to_str().expect("utf-8")]).run();
    refused
        .assert_code(1)
        .assert_contains("\"github.event.pull_request.title\" is potentially untrusted")
        .assert_contains("input \"depth\" is not defined in action \"actions/checkout@v4\"")
        .assert_contains("actionlint found problems in the workflows");
    // A file that is not there is not a file that passed.
    xtask(&["lint-workflows", "no-such-workflow.yml"])
        .run()
        .assert_code(1)
        .assert_contains("actionlint did not read every one of no-such-workflow.yml");
}

#[test]
fn ci_runs_exactly_cargo_xtask_ci_with_terraform_and_caches() {
    let ci = workflow("ci.yml");
    assert_eq!(runs(&ci), ["cargo xtask ci"]);
    for needed in [
        "branches: [main]",
        "pull_request:",
        "uses: hashicorp/setup-terraform@v3",
        "terraform_wrapper: false",
        "uses: Swatinem/rust-cache@v2",
        "cache: pip",
        "cache-dependency-path: requirements.txt",
        "targets: aarch64-unknown-linux-gnu",
    ] {
        assert!(ci.contains(needed), "ci.yml lacks {needed:?}");
    }
    // No provider mirror on a hosted runner: the provider comes from the registry.
    assert!(!ci.contains("TF_PLUGIN_DIR"), "{ci}");
}

#[test]
fn deploy_takes_only_a_commit_ci_passed_on_and_prod_waits_for_approval() {
    let deploy = workflow("deploy.yml");
    for needed in [
        "workflow_run:\n    workflows: [ci]\n    types: [completed]\n    branches: [main]",
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
        "gh run list --repo \"$GITHUB_REPOSITORY\" --workflow ci.yml --commit \"$SHA\"",
        "SHA: ${{ github.event.workflow_run.head_sha || github.sha }}",
        "cancel-in-progress: false",
    ] {
        assert!(deploy.contains(needed), "deploy.yml lacks {needed:?}");
    }
    // Both jobs check out the commit ci passed on, not whatever main is by then.
    assert_eq!(
        deploy.matches("ref: ${{ needs.gate.outputs.sha }}").count(),
        2
    );
    let prod = &deploy[deploy.find("  deploy-prod:").expect("a prod job")..];
    assert!(prod.contains("needs: [gate, deploy-dev]"), "{prod}");
    assert!(prod.contains("environment: prod"), "{prod}");
    assert!(prod.contains("cargo xtask deploy prod --yes"), "{prod}");
    assert!(
        !deploy.contains("pull_request"),
        "deploy.yml must not run on pull requests"
    );
}

#[test]
fn each_environment_keeps_one_plan_comment() {
    let plan = workflow("plan.yml");
    assert!(
        plan.contains("marker=\"<!-- cargo xtask plan $ENVIRONMENT -->\""),
        "{plan}"
    );
    assert!(plan.contains("--summary-file plan.md"), "{plan}");
    // Forks get no AWS role: their pull requests are not planned.
    assert!(
        plan.contains("if: github.event.pull_request.head.repo.full_name == github.repository"),
        "{plan}"
    );
}
