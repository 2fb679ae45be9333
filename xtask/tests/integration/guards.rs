//! Argument and guard tests of the real binary: they need no AWS and no emulator, because every guard here
//! must act before anything is built, rendered or sent.

use crate::common::{assert_never_shown, xtask};

#[test]
fn every_command_has_help() {
    for command in [
        "deploy",
        "plan",
        "rollback",
        "destroy",
        "secret",
        "bootstrap",
        "replay",
        "report",
        "doctor",
        "generate",
        "bundle",
        "bench",
        "load",
        "model",
    ] {
        xtask(&[command, "--help"])
            .run()
            .assert_ok()
            .assert_contains("Usage:");
    }
    xtask(&["destroy", "--help"])
        .run()
        .assert_contains("--i-understand-this-destroys-prod");
}

#[test]
fn an_unknown_environment_is_refused_with_the_known_ones() {
    let dry: &[&str] = &["--dry-run"];
    let bundle: &[&str] = &["--bundle", "bundles/x.tar.gz"];
    for (command, extra) in [
        ("deploy", dry),
        ("plan", dry),
        ("destroy", dry),
        ("secret", &[]),
        ("rollback", &[]),
        ("bootstrap", &[]),
        ("replay", bundle),
        ("model", &[]),
    ] {
        let mut args = vec![command, "staging"];
        args.extend_from_slice(extra);
        xtask(&args).run().assert_code(1).assert_contains(
            "unknown environment \"staging\": the known environments are local, dev, prod",
        );
    }
}

#[test]
fn the_model_calibrates_against_the_local_stack_only() {
    let run = xtask(&["model", "prod", "--calibrate"]).run();
    run.assert_code(1)
        .assert_contains("`cargo xtask model local --calibrate`");
    // It stops before starting anything.
    assert!(!run.all().contains("moto server"), "{}", run.all());
    xtask(&["model", "prod", "--burst", "100"])
        .run()
        .assert_code(1)
        .assert_contains("RATE:DURATION");
}

#[test]
fn an_environment_with_placeholder_network_values_is_not_deployed() {
    // prod's on-premise link carries documentation values (RFC 5737, RFC 2606) until the network team's replace them.
    let run = xtask(&["deploy", "prod", "--yes", "--skip-build"]).run();
    run.assert_code(1)
        .assert_contains("refusing to deploy prod")
        .assert_contains("customer gateway");
    // It stops before Terraform.
    assert!(!run.all().contains("terraform init"), "{}", run.all());
    // The dry run still shows what a deploy would do.
    xtask(&["deploy", "prod", "--dry-run"]).run().assert_ok();
}

#[test]
fn a_protected_environment_is_not_destroyed_without_the_named_flag() {
    let run = xtask(&["destroy", "prod", "--yes"]).run();
    run.assert_code(1)
        .assert_contains("refusing to destroy prod")
        .assert_contains("--i-understand-this-destroys-prod");
    // It stops before Terraform: nothing was prepared.
    assert!(!run.all().contains("terraform init"), "{}", run.all());
    // --yes and --empty-buckets do not lift the protection either.
    xtask(&["destroy", "prod", "--yes", "--empty-buckets"])
        .run()
        .assert_code(1)
        .assert_contains("refusing to destroy prod");
    // The acknowledgement names the environment: dev's does not exist (dev is not protected).
    xtask(&["destroy", "dev", "--i-understand-this-destroys-dev"])
        .run()
        .assert_code(2)
        .assert_contains("unexpected argument");
    // With it, the guard lets the dry run through (and says what it would do).
    xtask(&[
        "destroy",
        "prod",
        "--dry-run",
        "--i-understand-this-destroys-prod",
    ])
    .run()
    .assert_ok()
    .assert_contains(
        "terraform plan -no-color -input=false -detailed-exitcode -out=destroy.tfplan -destroy",
    );
}

#[test]
fn confirmations_are_never_waited_for_without_a_terminal() {
    for command in ["deploy", "destroy"] {
        xtask(&[command, "local"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .run()
            .assert_code(1)
            .assert_contains("pass --yes");
    }
}

#[test]
fn a_load_run_against_a_deployed_environment_is_guarded_before_anything_is_sent() {
    // prod would get synthetic files at its on-premise endpoint: refused, even with --yes.
    xtask(&["load", "--env", "prod", "--yes"])
        .run()
        .assert_code(1)
        .assert_contains("prod is protected")
        .assert_contains("--env dev");
    // dev's endpoint receives them too: confirmed, and never waited for without a terminal.
    xtask(&["load", "--env", "dev", "--rate", "2", "--duration", "5"])
        .run()
        .assert_code(1)
        .assert_contains("uploading 10 files (1 MB) to s3://")
        .assert_contains("pass --yes");
    // The local environment is on this machine only.
    xtask(&["load", "--env", "local"])
        .run()
        .assert_code(1)
        .assert_contains("AWS_ENDPOINT_URL is not set");
    xtask(&["load", "--env", "local"])
        .env("AWS_ENDPOINT_URL", "http://10.1.2.3:5000")
        .run()
        .assert_code(1)
        .assert_contains("targets loopback only");
    // The local stack's receiver options mean nothing for a deployed environment.
    xtask(&["load", "--env", "dev", "--fail", "503"])
        .run()
        .assert_code(2)
        .assert_contains("cannot be used with");
    xtask(&["load", "--yes"])
        .run()
        .assert_code(2)
        .assert_contains("--env");
}

#[test]
fn a_report_refuses_a_bad_day_or_an_unconfirmable_requeue_before_calling_aws() {
    xtask(&["report", "dev", "--date", "22/11/2026"])
        .run()
        .assert_code(1)
        .assert_contains("`22/11/2026` is not a day: give it as YYYY-MM-DD");
    xtask(&["report", "dev", "--requeue-unexplained"])
        .run()
        .assert_code(1)
        .assert_contains("the requeue cannot be confirmed interactively: pass --yes");
    xtask(&["report", "dev", "--yes"])
        .run()
        .assert_code(2)
        .assert_contains("--requeue-unexplained");
    xtask(&["report", "local"])
        .run()
        .assert_code(1)
        .assert_contains("AWS_ENDPOINT_URL is not set");
}

#[test]
fn the_local_environment_needs_an_emulator_endpoint() {
    xtask(&["deploy", "local", "--dry-run"])
        .run()
        .assert_code(1)
        .assert_contains("AWS_ENDPOINT_URL is not set");
}

#[test]
fn deploy_dry_run_prints_the_ordered_commands_for_dev_and_runs_none() {
    let run = xtask(&["deploy", "dev", "--dry-run"])
        .env("TF_PLUGIN_DIR", "/nonexistent-mirror")
        .run();
    run.assert_ok();
    let out = &run.stdout;
    let order = [
        "check prerequisites: terraform >= 1.11, cargo-lambda, zig, the aarch64 Rust target, AWS credentials",
        "lambda build --release --arm64 --output-format zip --bin aggregator --bin reporter --bin receiver",
        "render environments/src/dev.rs into generated/dev/",
        "into Terraform's working directory",
        "state: S3 backend s3://file-aggregator-dev-tfstate/file-aggregator/dev/terraform.tfstate in eu-west-2",
        "$ terraform init -no-color -input=false -plugin-dir=/nonexistent-mirror",
        "$ terraform plan -no-color -input=false -detailed-exitcode -out=tfplan -var=lambda_package=",
        "$ terraform show -no-color -json tfplan",
        "ask for confirmation",
        "$ terraform apply -no-color -input=false tfplan",
        "$ terraform output -no-color -json",
        "move alias live to the version the apply published (output aggregator_version), all at once",
    ];
    let mut at = 0;
    for step in order {
        let found = out[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing or out of order in:\n{out}"));
        at += found + step.len();
    }
    // Every command shows where it runs and with what environment.
    assert!(
        out.contains("cd ") && out.contains("env TF_IN_AUTOMATION=1 TF_INPUT=0"),
        "{out}"
    );
    assert!(out.contains("env PATH="), "{out}");
    assert!(
        out.contains("(TF_PLUGIN_DIR)"),
        "the provider source is named:\n{out}"
    );
}

#[test]
fn the_secret_shape_is_checked_before_anything_is_sent() {
    const MARKER: &str = "Marker-Pw-7f3a9c";
    // The endpoint is a closed port: had xtask sent anything, it would fail differently.
    let cases = [
        (
            format!(r#"{{"password":"{MARKER}"}}"#),
            "`username` is missing",
        ),
        (
            r#"{"username":"nifi","password":""}"#.to_string(),
            "`password` is missing",
        ),
        (
            format!(
                r#"{{"username":"nifi","password":"{MARKER}","client_cert_pem":"-----BEGIN CERTIFICATE-----"}}"#
            ),
            "mutual TLS needs both",
        ),
        (
            format!(r#"{{"username":"nifi","password":"{MARKER}","ca_cert_pem":"{MARKER}"}}"#),
            "`ca_cert_pem` is not PEM",
        ),
        (
            format!(r#"{{"username":"nifi","pasword":"{MARKER}"}}"#),
            "unknown field `pasword`",
        ),
        (
            format!(r#"{MARKER} is not json"#),
            "stdin is not a JSON object",
        ),
        (String::new(), "no credentials on stdin"),
    ];
    let mut runs = Vec::new();
    for (input, expected) in &cases {
        let run = xtask(&["secret", "local"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .stdin(input)
            .run();
        run.assert_code(1).assert_contains(expected);
        runs.push(run);
    }
    assert_never_shown(MARKER, &runs.iter().collect::<Vec<_>>());
    // Half a certificate pair is refused by the arguments themselves.
    xtask(&["secret", "local", "--client-cert", "cert.pem"])
        .run()
        .assert_code(2)
        .assert_contains("--client-key");
}

#[test]
fn a_missing_provider_says_so_and_what_to_do() {
    let work = tempfile::tempdir().expect("tempdir");
    let empty_mirror = tempfile::tempdir().expect("tempdir");
    let workdir = work.path().to_str().expect("utf-8 path");
    // The registry made unreachable on any machine (a proxy on a closed loopback port): forcing it must fail
    // clearly, not pretend.
    let registry = xtask(&[
        "plan",
        "local",
        "--skip-build",
        "--registry",
        "--work-dir",
        workdir,
    ])
    .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    .env("HTTPS_PROXY", "http://127.0.0.1:9")
    .env_remove("NO_PROXY")
    .env_remove("no_proxy")
    .run();
    // A mirror without the provider is no better.
    let mirror = xtask(&[
        "plan",
        "local",
        "--skip-build",
        "--work-dir",
        workdir,
        "--plugin-dir",
        empty_mirror.path().to_str().expect("utf-8 path"),
    ])
    .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    .run();
    for (run, source) in [
        (
            &registry,
            "registry.terraform.io (--registry: mirrors ignored)",
        ),
        (&mirror, "(--plugin-dir)"),
    ] {
        run.assert_code(1)
            .assert_contains("could not install the hashicorp/aws provider")
            .assert_contains(source)
            .assert_contains("TF_PLUGIN_DIR")
            .assert_contains("terraform providers mirror");
    }
}

#[test]
fn doctor_names_what_is_missing_and_the_fix() {
    // A PATH without Terraform (nor rustup): both are reported with the command that fixes them.
    let run = xtask(&["doctor"])
        .env("PATH", "/nonexistent")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .run();
    run.assert_code(1)
        .assert_contains("MISSING terraform >= 1.11")
        .assert_contains("install Terraform >= 1.11")
        .assert_contains("rustup target add aarch64-unknown-linux-gnu")
        .assert_contains("cargo-lambda")
        .assert_contains("zig")
        .assert_contains("AWS credentials")
        .assert_contains("Python environment")
        .assert_contains("blocked  deploy, plan: needs terraform >= 1.11");
}

#[test]
fn a_local_runs_sink_options_are_checked_before_anything_starts_before_or_after_up() {
    for (args, expected) in [
        (
            &["local", "up", "--minio-endpoint", "http://127.0.0.1:9"][..],
            "--minio-endpoint needs --minio-bucket",
        ),
        (
            &["local", "--minio-bucket", "b", "up"][..],
            "--minio-bucket goes with --minio-endpoint",
        ),
        (
            &[
                "local",
                "--nifi-url",
                "http://127.0.0.1:9",
                "up",
                "--minio-endpoint",
                "http://127.0.0.1:9",
                "--minio-bucket",
                "b",
            ][..],
            "name two sinks",
        ),
        (&["local", "up", "--username", "u"][..], "are a real sink's"),
        (
            &[
                "local",
                "--fail",
                "503",
                "up",
                "--nifi-url",
                "http://127.0.0.1:9",
            ][..],
            "--fail makes the bundled receiver fail",
        ),
        // A real sink's credentials are read before anything is deployed.
        (
            &["local", "up", "--nifi-url", "http://127.0.0.1:9"][..],
            "no credentials on stdin",
        ),
        (
            &[
                "local",
                "--minio-endpoint",
                "http://127.0.0.1:9",
                "--minio-bucket",
                "b",
            ][..],
            "no credentials on stdin",
        ),
    ] {
        let run = xtask(args).run();
        run.assert_code(1).assert_contains(expected);
        assert!(!run.all().contains("moto server"), "{}", run.all());
    }
}
