//! The static checks of every generated environment: the offline schema check (AWS provider 6.x),
//! checkov with the committed config, and `terraform validate` with the real provider 5.100.

mod common;

use std::process::Command;

#[test]
fn tfjson_check_reports_no_problems() {
    let tool = common::workspace().join("../shared/tools/tfjson-check");
    assert!(tool.is_file(), "{} is missing", tool.display());
    for env in common::names() {
        let (ok, out) = common::run(Command::new(&tool).arg(common::generated(&env)));
        assert!(
            ok && out.contains(" 0 problems"),
            "tfjson-check generated/{env}:\n{out}"
        );
    }
}

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
