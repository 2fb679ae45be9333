//! The MinIO sink against S3-compatible stores: moto and s3s-fs (independent of moto, and verifying
//! `Content-MD5` and `x-amz-checksum-sha256` on arrival), with a corrupting proxy between the sink and the store,
//! and with keys that change under it.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{PASSWORD, Stack, USERNAME};
use app::delivery::{FailureKind, MinioSink, Sink};
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use emulator::S3sFs;
use endpoint_credentials::SecretCache;
use sha2::{Digest, Sha256};
use test_support::loopback::CorruptingProxy;

const BUCKET: &str = "minio-bundles";

/// Bytes that compress like text but differ from run to run, so no two parcels are alike.
fn bundle_bytes(lines: usize) -> Vec<u8> {
    let seed = uuid::Uuid::now_v7();
    (0..lines)
        .flat_map(|i| format!("{seed} line {i}: the quick brown fox\n").into_bytes())
        .collect()
}

/// A client of an S3-compatible store, configured as the sink configures its own.
fn store_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .force_path_style(true)
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    )
}

fn minio_sink(stack: &Stack, endpoint: String) -> Sink {
    let secrets = Arc::new(SecretCache::new(
        stack.secrets.clone(),
        stack.secret_id.clone(),
        Duration::from_secs(300),
    ));
    Sink::Minio(Arc::new(MinioSink::new(endpoint, BUCKET.into(), secrets)))
}

/// s3s-fs with the stack's endpoint credentials as its keys, and the sink's bucket.
async fn s3s_fs() -> S3sFs {
    let store = S3sFs::start(USERNAME, PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    create_bucket(&store, PASSWORD).await;
    store
}

async fn create_bucket(store: &S3sFs, secret_key: &str) {
    store_client(&store.endpoint(), USERNAME, secret_key)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket in s3s-fs");
}

/// Puts the store's keys into the endpoint secret, labelled `stage`.
async fn put_secret_key(stack: &Stack, secret_key: &str, stage: &str) {
    stack
        .secrets
        .put_secret_value()
        .secret_id(&stack.secret_id)
        .secret_string(
            serde_json::json!({"username": USERNAME, "password": secret_key}).to_string(),
        )
        .version_stages(stage)
        .send()
        .await
        .expect("put the secret value");
}

fn upstream(endpoint: &str) -> std::net::SocketAddr {
    endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("a loopback endpoint")
}

/// A bit flipped in transit (same length) must never be reported delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_corrupted_on_the_way_to_the_store_is_not_delivered() {
    let stack = Stack::start().await;
    let store = s3s_fs().await;
    let (_dir, parcel) = crate::common::parcel_of(&bundle_bytes(20_000));
    // moto keeps what it got, and its ETag (the MD5 of what it got) gives it away; s3s-fs refuses it on arrival.
    for (name, endpoint, found_by) in [
        ("moto", stack.moto.endpoint().to_string(), "ETag"),
        ("s3s-fs", store.endpoint(), "BadDigest"),
    ] {
        let proxy = CorruptingProxy::start(upstream(&endpoint)).await;
        let result = minio_sink(&stack, proxy.url()).deliver(&parcel).await;
        assert!(proxy.flipped() >= 1, "{name}: the proxy corrupted the PUT");
        let error = result.expect_err(&format!("{name}: a corrupted body was reported delivered"));
        assert_eq!(error.kind, FailureKind::Verification, "{name}: {error}");
        assert!(error.detail.contains(found_by), "{name}: {error}");
    }
}

/// An independent S3-compatible store (not moto) accepts the bundle with the checksum the sink sends, and
/// reports it back; the stored bytes are the bundle's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_independent_store_accepts_the_bundle_with_its_checksum() {
    let stack = Stack::start().await;
    let store = s3s_fs().await;
    let mut raw = stack.raw_config();
    raw.set("SINK", "minio");
    raw.set("MINIO_ENDPOINT", store.endpoint());
    raw.set("MINIO_BUCKET", BUCKET);
    let aggregator = stack.aggregator(&raw);
    for i in 0..5 {
        stack
            .upload(
                &format!("s3s/{i}.txt"),
                format!("file {i}\n").repeat(100).into_bytes(),
            )
            .await;
    }
    stack
        .drain(&aggregator, &stack.poller(10), Duration::from_secs(60))
        .await;

    let client = store_client(&store.endpoint(), USERNAME, PASSWORD);
    let listed = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list");
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert!(!keys.is_empty(), "a bundle was stored");
    for key in keys {
        let head = client
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("head");
        let stated = head
            .metadata()
            .and_then(|m| m.get("content-sha256"))
            .cloned()
            .expect("content-sha256 metadata");
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .expect("get");
        let bytes = object.body.collect().await.expect("body").into_bytes();
        let digest = Sha256::digest(&bytes);
        assert_eq!(hex::encode(digest), stated, "{key}: the stored bytes");
        assert_eq!(
            head.checksum_sha256(),
            Some(
                base64::engine::general_purpose::STANDARD
                    .encode(digest)
                    .as_str()
            ),
            "{key}: the store computed and kept the SHA-256 checksum the sink sent"
        );
    }
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
}

/// The store refuses the cached keys (403: they were changed); the sink reads the secret again and retries
/// once, with the new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_keys_are_read_again_and_the_put_retried_once() {
    let stack = Stack::start().await;
    let store = s3s_fs().await;
    let sink = minio_sink(&stack, store.endpoint());
    let (_first, first) = crate::common::parcel_of(&bundle_bytes(100));
    sink.deliver(&first)
        .await
        .expect("delivered with the keys in the secret (now cached for 5 minutes)");

    // The store's secret key changes, and so does the secret; the sink's cache still holds the old one.
    const NEW_SECRET_KEY: &str = "a-new-secret-key-for-the-store";
    let port = store.port();
    drop(store);
    let store = S3sFs::start_on(port, USERNAME, NEW_SECRET_KEY).unwrap_or_else(|e| panic!("{e}"));
    create_bucket(&store, NEW_SECRET_KEY).await;
    put_secret_key(&stack, NEW_SECRET_KEY, endpoint_credentials::CURRENT).await;

    let (_second, second) = crate::common::parcel_of(&bundle_bytes(100));
    sink.deliver(&second)
        .await
        .expect("the 403 made the sink read the secret again and retry");
    let stored = store.object(BUCKET, &second.key).expect("stored object");
    assert_eq!(hex::encode(Sha256::digest(&stored)), second.sha256_hex);
}

/// During a rotation the store already wants the new keys, staged as AWSPENDING: refused with the current
/// ones (and with them again after reading the secret), the sink tries the pending ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pending_keys_of_a_rotation_are_tried_when_the_current_ones_are_refused() {
    const PENDING_SECRET_KEY: &str = "the-rotated-secret-key";
    let stack = Stack::start().await;
    let store = S3sFs::start(USERNAME, PENDING_SECRET_KEY).unwrap_or_else(|e| panic!("{e}"));
    create_bucket(&store, PENDING_SECRET_KEY).await;
    put_secret_key(&stack, PENDING_SECRET_KEY, endpoint_credentials::PENDING).await;
    let (_dir, parcel) = crate::common::parcel_of(&bundle_bytes(100));
    minio_sink(&stack, store.endpoint())
        .deliver(&parcel)
        .await
        .expect("delivered with the pending keys");
    let stored = store.object(BUCKET, &parcel.key).expect("stored object");
    assert_eq!(hex::encode(Sha256::digest(&stored)), parcel.sha256_hex);
}
