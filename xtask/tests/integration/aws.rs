//! `bootstrap`, `secret` and `replay` for real, against moto server: the binary runs as a subprocess with
//! `AWS_ENDPOINT_URL` pointing at it; the test checks the result with the AWS SDK and, for replay, with the
//! project's NiFi-compatible receiver running in-process.

// The loopback servers of the aggregator's tests: a redirector and the recorder it points to.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Run, assert_never_shown, xtask};
use app::bundle::{Bundle, BundleWriter};
use app::delivery::{NifiSink, Parcel, Sink};
use app::manifest::FileEntry;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, StorageClass};
use emulator::Moto;
use endpoint_credentials::SecretCache;
use receiver::{BasicCredentials, ReceiverConfig, RunningReceiver};
use sha2::{Digest, Sha256};
use test_support::moto::{s3, sdk_config};

const SECRET: &str = "file-aggregator-local/endpoint-credentials";
const ARCHIVE: &str = "file-aggregator-local-archive";

/// Runs xtask off the async runtime, so the in-process receiver keeps serving meanwhile.
async fn run(command: crate::common::Xtask) -> Run {
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("xtask ran")
}

/// A small bundle of `n` files, as the aggregator builds them.
fn bundle(n: usize) -> Bundle {
    let created = app::now_rfc3339();
    let id = format!("replay-test-{}", uuid_like());
    let mut writer = BundleWriter::new(id, created.clone(), 6).expect("bundle writer");
    for i in 0..n {
        let body = format!("file {i} of the replay test\n").repeat(50);
        let key = format!("incoming/file-{i}.txt");
        writer
            .append(
                FileEntry {
                    bucket: "file-aggregator-local-landing".into(),
                    key: key.clone(),
                    path: String::new(),
                    version_id: None,
                    size: body.len() as u64,
                    etag: "\"etag\"".into(),
                    event_time: created.clone(),
                    sha256: hex::encode(Sha256::digest(body.as_bytes())),
                },
                body.as_bytes(),
            )
            .expect("append");
    }
    writer.finish().expect("finish")
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// moto with the archive bucket and the endpoint secret, as `deploy local` leaves them, and a receiver that
/// wants the secret's credentials.
async fn archive_and_receiver(
    password: &str,
) -> (Moto, aws_sdk_s3::Client, RunningReceiver, tempfile::TempDir) {
    let moto = Moto::start().expect("moto");
    let sdk = &sdk_config(moto.endpoint()).await;
    let s3 = s3(sdk);
    s3.create_bucket()
        .bucket(ARCHIVE)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .expect("archive bucket");
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    secrets
        .create_secret()
        .name(SECRET)
        .secret_string(serde_json::json!({"username": "nifi", "password": password}).to_string())
        .send()
        .await
        .expect("secret");
    let store = tempfile::tempdir().expect("store");
    let receiver = receiver::spawn(
        ReceiverConfig::new(store.path().join("bundles"))
            .with_credentials(BasicCredentials::new("nifi", password)),
    )
    .await
    .expect("receiver");
    (moto, s3, receiver, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_makes_the_state_bucket_once() {
    let moto = Moto::start().expect("moto");
    let first = run(xtask(&["bootstrap", "dev"]).aws(moto.endpoint())).await;
    first
        .assert_ok()
        .assert_contains("s3://file-aggregator-dev-tfstate (eu-west-2): created, versioning enabled, default encryption set to SSE-KMS, public access blocked, TLS-only policy added.");

    let s3 = s3(&sdk_config(moto.endpoint()).await);
    let bucket = "file-aggregator-dev-tfstate";
    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .expect("encryption");
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().clone());
    assert_eq!(algorithm, Some(ServerSideEncryption::AwsKms));
    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .expect("public access block");
    let block = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let policy = s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect("policy");
    let policy = policy.policy().unwrap_or_default();
    assert!(
        policy.contains("aws:SecureTransport") && policy.contains("Deny"),
        "{policy}"
    );

    // moto enforces bucket policies: over plain HTTP, writing is refused.
    let plain = s3
        .put_object()
        .bucket(bucket)
        .key("probe")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    let status = plain
        .err()
        .and_then(|e| e.raw_response().map(|r| r.status().as_u16()));
    assert_eq!(status, Some(403), "the TLS-only policy refuses plain HTTP");

    let second = run(xtask(&["bootstrap", "dev"]).aws(moto.endpoint())).await;
    second
        .assert_ok()
        .assert_contains("already bootstrapped")
        .assert_contains("Nothing to do.");

    // Versioned: a key written twice keeps both versions (moto's GetBucketVersioning answer is not one the
    // Rust SDK parses, so the behaviour is checked instead, with the TLS-only policy out of the way).
    s3.delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect("policy removed");
    for body in ["state v1", "state v2"] {
        s3.put_object()
            .bucket(bucket)
            .key("probe")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .expect("put");
    }
    let versions = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.versions().len(),
        2,
        "the state bucket keeps versions"
    );

    run(xtask(&["bootstrap", "local"]).aws(moto.endpoint()))
        .await
        .assert_ok()
        .assert_contains("nothing to bootstrap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_is_put_validated_and_never_shown() {
    const MARKER: &str = "Pw-Marker-4b1e0d";
    let moto = Moto::start().expect("moto");
    let value = serde_json::json!({"username": "nifi", "password": MARKER}).to_string();

    // Before deploy there is no secret: refused, with the command to run.
    let before = run(xtask(&["secret", "local"])
        .aws(moto.endpoint())
        .stdin(&value))
    .await;
    before
        .assert_code(1)
        .assert_contains("does not exist yet")
        .assert_contains("cargo xtask deploy local");

    let sdk = sdk_config(moto.endpoint()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    secrets
        .create_secret()
        .name(SECRET)
        .send()
        .await
        .expect("create the empty secret as deploy does");

    let put = run(xtask(&["secret", "local"])
        .aws(moto.endpoint())
        .stdin(&value))
    .await;
    put.assert_ok()
        .assert_contains("(password, username)")
        .assert_contains(SECRET)
        .assert_contains("as version ");
    let stored = secrets
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await
        .expect("value");
    let version = stored.version_id().expect("version id").to_string();
    assert!(
        put.stdout.contains(&version),
        "the version id is printed:\n{}",
        put.all()
    );
    let stored: serde_json::Value =
        serde_json::from_str(stored.secret_string().expect("string")).expect("json");
    assert_eq!(
        stored,
        serde_json::json!({"username": "nifi", "password": MARKER})
    );

    // Mutual TLS from files, merged with the JSON on stdin.
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("client.pem");
    let key = dir.path().join("client.key");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .expect("cert");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .expect("key");
    let mtls = run(xtask(&[
        "secret",
        "local",
        "--stdin",
        "--client-cert",
        cert.to_str().expect("path"),
        "--client-key",
        key.to_str().expect("path"),
    ])
    .aws(moto.endpoint())
    .stdin(&value))
    .await;
    mtls.assert_ok()
        .assert_contains("client_cert_pem, client_key_pem");
    let stored = secrets
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await
        .expect("value");
    assert!(
        stored
            .secret_string()
            .unwrap_or_default()
            .contains("BEGIN PRIVATE KEY")
    );

    assert_never_shown(MARKER, &[&before, &put, &mtls]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_restores_verifies_and_delivers_an_archived_bundle() {
    const PASSWORD: &str = "Replay-Pw-91c2";
    let (moto, s3, receiver, _store) = archive_and_receiver(PASSWORD).await;

    let bundle = bundle(3);
    let created = time::OffsetDateTime::now_utc();
    let key = archive(&s3, &bundle, created).await;
    // The archive's lifecycle moves bundles to Deep Archive; do it at once.
    s3.copy_object()
        .bucket(ARCHIVE)
        .key(&key)
        .copy_source(format!("{ARCHIVE}/{key}"))
        .storage_class(StorageClass::DeepArchive)
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .expect("moved to deep archive");

    // First run: the restore is requested; without --wait the command says to re-run and exits 75.
    let first = run(xtask(&[
        "replay",
        "local",
        "--bundle",
        &key,
        "--endpoint-url",
        &receiver.url(),
    ])
    .aws(moto.endpoint()))
    .await;
    first
        .assert_code(75)
        .assert_contains("requested a Standard restore")
        .assert_contains("up to 12 hours")
        .assert_contains("re-run this same command");
    assert_eq!(
        receiver.stats().requests,
        0,
        "nothing delivered before the restore"
    );

    // moto completes restores at once: the same command now delivers, verified, as a replay.
    let second = run(xtask(&[
        "replay",
        "local",
        "--bundle",
        &key,
        "--endpoint-url",
        &receiver.url(),
        "--wait",
    ])
    .aws(moto.endpoint()))
    .await;
    second
        .assert_ok()
        .assert_contains(&format!("sha256 {} verified", bundle.sha256_hex()))
        .assert_contains("Replayed 1 bundles");
    let stored = receiver.stored_bundles().expect("stored");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].bundle_id, bundle.manifest.bundle_id);
    assert_eq!(stored[0].sha256, bundle.sha256_hex());
    assert!(stored[0].replay, "sent with X-Replay: true");
    assert_eq!(stored[0].manifest.files.len(), 3);

    // By time range: the hour around now holds this bundle, which the aggregator marked delivered.
    app::archive::mark_delivered(&s3, ARCHIVE, &key, &bundle.manifest.bundle_id, created)
        .await
        .expect("marked delivered");
    let (from, to) = hour_around(created);
    run(xtask(&[
        "replay",
        "local",
        "--from",
        &from,
        "--to",
        &to,
        "--endpoint-url",
        &receiver.url(),
    ])
    .aws(moto.endpoint()))
    .await
    .assert_ok()
    .assert_contains("Replayed 1 bundles");
    assert_eq!(receiver.stats().stored, 2);
    assert_never_shown(PASSWORD, &[&first, &second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_a_tampered_archive_object() {
    const PASSWORD: &str = "Tamper-Pw-55aa";
    let (moto, s3, receiver, _store) = archive_and_receiver(PASSWORD).await;
    let bundle = bundle(2);
    let key = app::archive::archive_key(
        "bundles",
        time::OffsetDateTime::now_utc(),
        &bundle.file_name(),
    );
    // Other bytes under the original hash: what a damaged or altered object looks like.
    let mut bytes = std::fs::read(bundle.path()).expect("bundle bytes");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    s3.put_object()
        .bucket(ARCHIVE)
        .key(&key)
        .metadata(app::archive::SHA256_METADATA, bundle.sha256_hex())
        .body(ByteStream::from(bytes))
        .send()
        .await
        .expect("tampered object");
    let run = replay(&moto, &receiver.url(), &["--bundle", &key]).await;
    run.assert_code(1)
        .assert_contains("does not match its recorded SHA-256")
        .assert_contains("refusing to deliver it");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.stats().requests, 0, "nothing reached the endpoint");

    // An object without the metadata cannot be verified, so it is refused too.
    s3.put_object()
        .bucket(ARCHIVE)
        .key("bundles/unverifiable.tar.gz")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("object");
    run_unverifiable(&moto, &receiver).await;
}

async fn run_unverifiable(moto: &Moto, receiver: &RunningReceiver) {
    run(xtask(&[
        "replay",
        "local",
        "--bundle",
        "bundles/unverifiable.tar.gz",
        "--endpoint-url",
        &receiver.url(),
    ])
    .aws(moto.endpoint()))
    .await
    .assert_code(1)
    .assert_contains("cannot be verified");
}

/// `cargo xtask replay local <args> --endpoint-url <endpoint>` against moto.
async fn replay(moto: &Moto, endpoint: &str, args: &[&str]) -> Run {
    let mut all = vec!["replay", "local", "--endpoint-url", endpoint];
    all.extend_from_slice(args);
    run(xtask(&all).aws(moto.endpoint())).await
}

/// Archives `bundle` as the aggregator does, under the hour of `at`; returns its key.
async fn archive(s3: &aws_sdk_s3::Client, bundle: &Bundle, at: time::OffsetDateTime) -> String {
    let key = app::archive::archive_key("bundles", at, &bundle.file_name());
    app::archive::put_bundle(s3, ARCHIVE, &key, bundle, u64::MAX, 16 << 20)
        .await
        .expect("archived");
    key
}

/// The hour around `t`, as `--from`/`--to` arguments.
fn hour_around(t: time::OffsetDateTime) -> (String, String) {
    let fmt = &time::format_description::well_known::Rfc3339;
    let hour = time::Duration::HOUR;
    (
        (t - hour).format(fmt).expect("time"),
        (t + hour).format(fmt).expect("time"),
    )
}

/// Every delivery attempt leaves a bundle in the archive; a range replay sends only the ones the endpoint
/// acknowledged (tagged `delivered-at`), unless told to include the attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_replay_sends_only_what_was_delivered() {
    const PASSWORD: &str = "Range-Pw-7d1f";
    let (moto, s3, receiver, _store) = archive_and_receiver(PASSWORD).await;
    let now = time::OffsetDateTime::now_utc();
    let (delivered, attempt) = (bundle(2), bundle(2));
    let delivered_key = archive(&s3, &delivered, now).await;
    let attempt_key = archive(&s3, &attempt, now).await;
    app::archive::mark_delivered(
        &s3,
        ARCHIVE,
        &delivered_key,
        &delivered.manifest.bundle_id,
        now,
    )
    .await
    .expect("marked delivered");
    let (from, to) = hour_around(now);
    let url = receiver.url();
    let stored_ids = || -> Vec<String> {
        receiver
            .stored_bundles()
            .expect("stored")
            .into_iter()
            .map(|b| b.bundle_id)
            .collect()
    };

    replay(&moto, &url, &["--from", &from, "--to", &to])
        .await
        .assert_ok()
        .assert_contains("Leaving out 1 archived attempts")
        .assert_contains("--include-attempts")
        .assert_contains("Replayed 1 bundles");
    assert_eq!(
        stored_ids(),
        std::slice::from_ref(&delivered.manifest.bundle_id)
    );

    replay(
        &moto,
        &url,
        &["--from", &from, "--to", &to, "--include-attempts"],
    )
    .await
    .assert_ok()
    .assert_contains("1 marked delivered, 1 attempts")
    .assert_contains("Replayed 2 bundles");
    assert_eq!(receiver.stats().stored, 3);
    assert!(stored_ids().contains(&attempt.manifest.bundle_id));

    // A bundle named by its key is sent as asked, saying whether it was delivered.
    replay(&moto, &url, &["--bundle", &attempt_key])
        .await
        .assert_ok()
        .assert_contains("is NOT marked delivered");
    replay(&moto, &url, &["--bundle", &delivered_key])
        .await
        .assert_ok()
        .assert_contains("was marked delivered at ");
    assert_eq!(receiver.stats().stored, 5);
}

/// Replay delivers with the aggregator's code: a redirect from the endpoint is a failure, and neither the
/// bundle nor the credentials reach where it points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_never_follows_a_redirect() {
    const PASSWORD: &str = "Redirect-Pw-2c9e";
    let (moto, s3, _receiver, _store) = archive_and_receiver(PASSWORD).await;
    let key = archive(&s3, &bundle(1), time::OffsetDateTime::now_utc()).await;
    let recorder = test_support::loopback::Recorder::start().await;
    let redirector = test_support::loopback::Redirector::start(
        axum::http::StatusCode::TEMPORARY_REDIRECT,
        format!("http://{}/elsewhere", recorder.addr),
    )
    .await;
    let run = replay(
        &moto,
        &redirector.url("/contentListener"),
        &["--bundle", &key],
    )
    .await;
    run.assert_code(1)
        .assert_contains("Redirect")
        .assert_contains("307 Temporary Redirect");
    assert!(recorder.requests().is_empty(), "{:?}", recorder.requests());
    assert_never_shown(PASSWORD, &[&run]);
}

/// Rotation without downtime, as the RUNBOOK tells it: stage the new value, switch the endpoint, promote.
/// Deliveries go on all along through the aggregator's delivery code, and no value is ever shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rotate_without_a_failed_delivery() {
    const OLD: &str = "Old-Pw-Marker-1a7c";
    const NEW: &str = "New-Pw-Marker-93e2";
    let (moto, _s3, receiver, _store) = archive_and_receiver(OLD).await;
    let sdk = sdk_config(moto.endpoint()).await;
    let addr = receiver.addr();
    let store = receiver.store_dir().to_path_buf();
    // No caching: every delivery reads the secret again, so an adopted pending value must survive re-reads
    // for as long as the rotation is under way.
    let secrets = Arc::new(SecretCache::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        SECRET.to_string(),
        Duration::ZERO,
    ));
    let sink = Sink::Nifi(Arc::new(NifiSink::new(
        receiver.url(),
        secrets,
        Duration::from_secs(5),
        Duration::from_secs(30),
    )));
    let deliver = |what: &'static str| {
        let sink = sink.clone();
        async move {
            let bundle = bundle(1);
            let parcel = Parcel::of(&bundle, &format!("bundles/{}", bundle.file_name()));
            sink.deliver(&parcel)
                .await
                .unwrap_or_else(|e| panic!("{what}: the delivery failed: {e}"));
        }
    };
    deliver("before the rotation").await;

    let value =
        |password: &str| serde_json::json!({"username": "nifi", "password": password}).to_string();
    let rotate = run(xtask(&["secret", "local", "--rotate"])
        .aws(moto.endpoint())
        .stdin(&value(NEW)))
    .await;
    rotate
        .assert_ok()
        .assert_contains("labelled AWSPENDING")
        .assert_contains("--promote")
        .assert_contains("Rotation due on");
    deliver("staged, the endpoint not yet switched").await;

    // The on-premise side switches to the new password.
    receiver.shutdown().await;
    let receiver = receiver::spawn(ReceiverConfig {
        listen: addr,
        ..ReceiverConfig::new(store).with_credentials(BasicCredentials::new("nifi", NEW))
    })
    .await
    .expect("the receiver again, with the new password");
    deliver("the endpoint switched, the rotation not promoted").await;
    assert_eq!(
        receiver.stats().unauthorized,
        1,
        "the current value was refused once"
    );
    deliver("the pending value was adopted").await;
    assert_eq!(
        receiver.stats().unauthorized,
        1,
        "an adopted pending value is used at once, without another refusal"
    );

    let promote = run(xtask(&["secret", "local", "--promote"]).aws(moto.endpoint())).await;
    promote
        .assert_ok()
        .assert_contains("to AWSCURRENT")
        .assert_contains("is now AWSPREVIOUS");
    deliver("promoted").await;
    let status = run(xtask(&["secret", "local", "--status"]).aws(moto.endpoint())).await;
    let due = (time::OffsetDateTime::now_utc() + time::Duration::days(90)).date();
    status.assert_ok().assert_contains(&format!(
        "Rotation due on {:04}-{:02}-{:02}",
        due.year(),
        u8::from(due.month()),
        due.day()
    ));
    assert!(!status.all().contains("AWSPENDING"), "{}", status.all());
    let again = run(xtask(&["secret", "local", "--promote"]).aws(moto.endpoint())).await;
    again
        .assert_code(1)
        .assert_contains("no rotation is under way");

    // A fresh aggregator instance reads the promoted value as the current one.
    let fresh = NifiSink::new(
        receiver.url(),
        Arc::new(SecretCache::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            SECRET.to_string(),
            Duration::from_secs(300),
        )),
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    let bundle = bundle(1);
    fresh
        .deliver(&Parcel::of(&bundle, "bundles/fresh.tar.gz"))
        .await
        .expect("a new instance delivers with the promoted value");
    assert_eq!(receiver.stats().unauthorized, 1);
    assert_eq!(
        receiver.stats().stored,
        4,
        "every delivery since the switch"
    );
    for marker in [OLD, NEW] {
        assert_never_shown(marker, &[&rotate, &promote, &status, &again]);
    }
}
