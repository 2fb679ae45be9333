//! The static checks of every generated environment: checkov with the committed config, and `terraform
//! validate` with the real provider (from the offline mirror when one is configured, else the registry).

use std::process::Command;

#[test]
fn checkov_reports_no_failed_checks() {
    let checkov = crate::common::venv_tool("checkov");
    let root = crate::common::workspace();
    for env in crate::common::names() {
        let (ok, out) = crate::common::run(
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
    let providers = infra_gen::terraform::Providers::find();
    for env in crate::common::names() {
        infra_gen::terraform::validate(&crate::common::generated(&env), providers.clone())
            .unwrap_or_else(|e| panic!("generated/{env} with {}: {e}", providers.describe()));
    }
}
