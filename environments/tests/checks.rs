//! The static checks of every generated environment: checkov with the committed config, and `terraform
//! validate` with the real provider. (The offline AWS provider 6.x schema check, `tfjson-check`, lives outside
//! the repository, so it is run by hand and by CI where present, not by the tests: a fresh clone lacks it.)

mod common;

use std::process::Command;

#[test]
fn checkov_reports_no_failed_checks() {
    let checkov = common::venv_tool("checkov");
    let root = common::workspace();
    for env in common::names() {
        let (ok, out) = common::run(
            Command::new(&checkov)
                .current_dir(&root)
                .args([
                    "-d",
                    &format!("generated/{env}"),
                    "--framework",
                    "terraform_json",
                ])
                .args(["--config-file", ".checkov.yaml"])
                // Offline: no guideline download, no telemetry.
                .env("BC_SKIP_MAPPING", "TRUE")
                .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false"),
        );
        assert!(
            ok && out.contains("Failed checks: 0") && !out.contains("Parsing errors: "),
            "checkov on generated/{env}:\n{out}"
        );
    }
}

#[test]
fn terraform_validate_passes() {
    let plugins = common::plugin_dir();
    for env in common::names() {
        infra_gen::terraform::validate(&common::generated(&env), Some(&plugins))
            .unwrap_or_else(|e| panic!("generated/{env}: {e}"));
    }
}
