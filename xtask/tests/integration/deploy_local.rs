//! `cargo xtask deploy local --yes` and `cargo xtask destroy local --yes` for real, end to end, against moto
//! server: cargo-lambda build, generate, terraform init (from the offline provider mirror where there is one),
//! plan with its summary, apply, outputs; a second deploy; `secret local` and `replay local` against what
//! was deployed; destroy, which first refuses a non-empty archive without `--empty-buckets`.
//!
//! This is the slow test of the crate (the apply is a few minutes on two cores; the Lambda build is cached
//! by cargo after the first run).

use std::time::Instant;

use crate::common::{DEPLOYS, Run, assert_never_shown, xtask};
use app::bundle::BundleWriter;
use app::manifest::FileEntry;
use emulator::Moto;
use receiver::{BasicCredentials, ReceiverConfig};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "Deploy-Local-Pw-0c7e";

async fn run(command: crate::common::Xtask) -> Run {
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("xtask ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_secret_replay_and_destroy_local_for_real() {
    let _turn = DEPLOYS.lock().await;
    let started = Instant::now();
    let moto = Moto::start().expect("moto");
    let work = tempfile::tempdir().expect("work dir");
    let workdir = work.path().to_str().expect("utf-8 path").to_string();
    let endpoint = moto.endpoint().to_string();
    let deploy = || xtask(&["deploy", "local", "--yes", "--work-dir", &workdir]).aws(&endpoint);

    // 1. The first deploy builds, renders, initialises, plans, applies and prints the outputs.
    let first = run(deploy()).await;
    first
        .assert_ok()
        .assert_contains("cargo lambda build --release for arm64 (aggregator, reporter) done")
        .assert_contains("terraform init (state: local state file")
        .assert_contains("Plan for local: ")
        .assert_contains(" to add, 0 to change, 0 to destroy")
        .assert_contains("[IAM]")
        .assert_contains("Applied the plan to local.")
        .assert_contains("Outputs of local:")
        .assert_contains("archive_bucket = file-aggregator-local-archive")
        .assert_contains("secret_id = arn:aws:secretsmanager:eu-west-2:")
        .assert_contains("Next: put the endpoint credentials with `cargo xtask secret local`")
        // Terraform created the live alias at the version it published; nothing to move.
        .assert_contains("aggregator_version = 1")
        .assert_contains("Release: live serves version 1.");
    let provider_source = first
        .stderr
        .lines()
        .find(|l| l.contains("providers: "))
        .map(|l| {
            l.split("providers: ")
                .nth(1)
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    eprintln!("provider source used by deploy: {provider_source}");
    eprintln!("first deploy took {:.0?}", first.took);

    // 2. A second deploy with nothing changed in the model applies nothing.
    let second = run(deploy()).await;
    second
        .assert_ok()
        .assert_contains("Plan for local: no changes.")
        .assert_contains("No changes: local is up to date; nothing to apply.")
        .assert_contains("Release: live serves version 1.");
    assert!(
        !second.all().contains("terraform apply of the saved plan"),
        "a second deploy must apply nothing:\n{}",
        second.all()
    );

    // 3. The credentials go into the deployed secret.
    let value = serde_json::json!({"username": "nifi", "password": PASSWORD}).to_string();
    let secret = run(xtask(&["secret", "local"]).aws(&endpoint).stdin(&value)).await;
    secret
        .assert_ok()
        .assert_contains("into secret file-aggregator-local/endpoint-credentials");

    // 4. A bundle archived into the deployed archive bucket is replayed to a receiver wanting those credentials.
    let sdk = test_support::moto::sdk_config(&endpoint).await;
    let s3 = test_support::moto::s3(&sdk);
    let archive = "file-aggregator-local-archive";
    let created = app::now_rfc3339();
    let mut writer =
        BundleWriter::new("deploy-local-replay".into(), created.clone(), 6).expect("writer");
    let body = b"one file, delivered again from the archive\n".repeat(20);
    writer
        .append(
            FileEntry {
                bucket: "file-aggregator-local-landing".into(),
                key: "in/one.txt".into(),
                path: "in/one.txt".into(),
                version_id: None,
                size: body.len() as u64,
                etag: "\"e\"".into(),
                event_time: created.clone(),
                sha256: hex::encode(Sha256::digest(&body)),
            },
            body.as_slice(),
        )
        .expect("append");
    let bundle = writer.finish().expect("bundle");
    let key = app::archive::archive_key(
        "bundles",
        time::OffsetDateTime::now_utc(),
        &bundle.file_name(),
    );
    app::archive::put_bundle(&s3, archive, &key, &bundle, u64::MAX, 16 << 20)
        .await
        .expect("archived into the deployed bucket");
    let store = tempfile::tempdir().expect("store");
    let receiver = receiver::spawn(
        ReceiverConfig::new(store.path()).with_credentials(BasicCredentials::new("nifi", PASSWORD)),
    )
    .await
    .expect("receiver");
    let replay = run(xtask(&[
        "replay",
        "local",
        "--bundle",
        &key,
        "--endpoint-url",
        &receiver.url(),
    ])
    .aws(&endpoint))
    .await;
    replay.assert_ok().assert_contains("Replayed 1 bundles");
    let stored = receiver.stored_bundles().expect("stored");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].replay);
    assert_eq!(stored[0].sha256, bundle.sha256_hex());

    // 5. Destroy refuses while the archive holds bundles, then empties the buckets and destroys.
    let refused =
        run(xtask(&["destroy", "local", "--yes", "--work-dir", &workdir]).aws(&endpoint)).await;
    refused
        .assert_code(1)
        .assert_contains("s3://file-aggregator-local-archive (1 object versions)")
        .assert_contains("--empty-buckets");
    let destroyed = run(xtask(&[
        "destroy",
        "local",
        "--yes",
        "--empty-buckets",
        "--work-dir",
        &workdir,
    ])
    .aws(&endpoint))
    .await;
    destroyed
        .assert_ok()
        .assert_contains(" to destroy")
        .assert_contains("[DESTROY]")
        .assert_contains("empty s3://file-aggregator-local-archive done")
        .assert_contains("local is destroyed.");
    let gone = s3.head_bucket().bucket(archive).send().await;
    assert!(gone.is_err(), "the archive bucket is gone");

    assert_never_shown(
        PASSWORD,
        &[&first, &second, &secret, &replay, &refused, &destroyed],
    );
    eprintln!("deploy local end to end took {:.0?}", started.elapsed());
}
