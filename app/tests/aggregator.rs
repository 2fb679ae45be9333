//! The aggregator end to end against moto server and the receiver, through the real AWS SDK clients.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use app::manifest::Manifest;
use app::receiver::Fault;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_s3::types::{ChecksumMode, StorageClass};
use base64::Engine;
use common::{ARCHIVE, Captured, Stack, event_of, noise, s3_message, s3_message_of_version};
use sha2::{Digest, Sha256};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_file_is_archived_and_delivered_with_one_hash() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    stack
        .upload("reports/one.csv", b"a,b,c\n1,2,3\n".to_vec())
        .await;
    stack.drain(&aggregator, &stack.poller(100), MINUTE).await;

    let bundles = stack.receiver.stored_bundles().expect("bundles");
    assert_eq!(bundles.len(), 1, "the test event must not make a bundle");
    let bundle = &bundles[0];
    assert_eq!(bundle.manifest.files.len(), 1);
    let file = &bundle.manifest.files[0];
    assert_eq!(file.key, "reports/one.csv");
    assert_eq!(file.sha256, hex::encode(Sha256::digest(b"a,b,c\n1,2,3\n")));
    assert_eq!(
        bundle.filename.as_deref(),
        Some(format!("{}.tar.gz", bundle.bundle_id).as_str())
    );

    // The archive holds the same bytes, labelled with the same hash in both forms.
    let (key, head) = the_archived_bundle(&stack, &bundle.sha256).await;
    assert!(
        key.starts_with("bundles/") && key.ends_with(&format!("/{}.tar.gz", bundle.bundle_id)),
        "{key}"
    );
    assert_eq!(
        key.split('/').count(),
        6,
        "bundles/YYYY/MM/DD/HH/<id>.tar.gz: {key}"
    );
    let raw = hex::decode(&bundle.sha256).expect("hex");
    assert_eq!(
        head.checksum_sha256(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(raw)
                .as_str()
        )
    );
    let archived = stack
        .s3
        .get_object()
        .bucket(ARCHIVE)
        .key(&key)
        .send()
        .await
        .expect("get");
    let bytes = archived.body.collect().await.expect("body").into_bytes();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), bundle.sha256);

    assert_eq!(stack.receiver.stats().rejected_total(), 0);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
    assert!(stack.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_with_spaces_plus_percent_and_unicode_round_trip() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    let keys = [
        "my file.txt",
        "a+b.txt",
        "100% = done.txt",
        "dir/ünïcødé 日本.txt",
        "x&y?z#w.txt",
    ];
    for key in keys {
        stack
            .upload(key, format!("content of {key}").into_bytes())
            .await;
    }
    stack.drain(&aggregator, &stack.poller(100), MINUTE).await;
    let delivered = stack.delivered();
    for key in keys {
        assert_eq!(delivered.get(key), Some(&1), "{key} in {delivered:?}");
    }
    assert_eq!(stack.receiver.stats().rejected_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_files_in_one_invocation() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    let files: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| {
            (
                format!("batch/{i:05}.json"),
                format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300)).into_bytes(),
            )
        })
        .collect();
    stack.upload_many(&files).await;
    // One SQS event of 2,000 records, as the mapping hands a full batch over (moto's own queue is too slow
    // to gather it in test time; the mapping path is covered by the other tests).
    let mut event = SqsEvent::default();
    event.records = files
        .iter()
        .enumerate()
        .map(|(i, (key, body))| common::s3_message(&format!("m{i}"), key, body))
        .collect();
    let started = std::time::Instant::now();
    let response = aggregator
        .handle(event, std::time::SystemTime::now() + 5 * MINUTE)
        .await;
    eprintln!("2,000 files in one invocation took {:?}", started.elapsed());
    assert!(response.batch_item_failures.is_empty());
    let bundles = stack.receiver.stored_bundles().expect("bundles");
    assert_eq!(bundles.len(), 1, "one bundle per invocation");
    let delivered = stack.delivered();
    assert_eq!(delivered.len(), 2000);
    assert!(
        delivered.values().all(|&n| n == 1),
        "each file exactly once"
    );
    assert_eq!(stack.receiver.stats().rejected_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_and_deleted_objects_go_to_the_dlq_and_the_rest_is_delivered() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    stack.upload("good/1.txt", b"one".to_vec()).await;
    stack.upload("good/2.txt", b"two".to_vec()).await;
    let gone = stack.put("gone.txt", b"soon deleted".to_vec(), None).await;
    // The version itself: a delete marker would leave the version the event names to be delivered.
    stack
        .s3
        .delete_object()
        .bucket(common::LANDING)
        .key("gone.txt")
        .version_id(gone)
        .send()
        .await
        .expect("delete");
    stack.send("this is not an S3 event").await;

    let invocations = stack.drain(&aggregator, &stack.poller(100), MINUTE).await;
    assert_eq!(
        invocations.iter().map(|i| i.failed).sum::<usize>(),
        0,
        "{invocations:?}"
    );
    let delivered = stack.delivered();
    assert_eq!(delivered.get("good/1.txt"), Some(&1));
    assert_eq!(delivered.get("good/2.txt"), Some(&1));
    assert!(!delivered.contains_key("gone.txt"));

    let mut dead = stack.dead_letters().await;
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|(body, reason, kind)| body == "this is not an S3 event"
                && reason.contains("not an S3 event")
                && kind == "poison")
    );
    assert!(
        dead.iter()
            .any(|(body, reason, kind)| body.contains("gone.txt")
                && reason.contains("does not exist")
                && kind == "gone")
    );
}

/// Builds a batch by hand from what is in the queue, to look at one invocation's response.
async fn receive_batch(stack: &Stack, want: usize) -> SqsEvent {
    let poller = stack.poller(want);
    let mut event = SqsEvent::default();
    event.records = poller
        .next_batch(Duration::from_secs(5))
        .await
        .expect("batch");
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_503_fails_exactly_the_bundles_messages_and_they_are_delivered_later() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    // The test event is acknowledged first, so the batch below holds only file messages and one poison.
    stack.drain(&aggregator, &stack.poller(10), MINUTE).await;
    for i in 0..5 {
        stack.upload(&format!("f{i}.txt"), vec![b'x'; 100]).await;
    }
    stack.send("{}").await;
    let event = receive_batch(&stack, 6).await;
    assert_eq!(event.records.len(), 6);
    let file_messages: Vec<SqsMessage> = event
        .records
        .iter()
        .filter(|m| m.body.as_deref() != Some("{}"))
        .cloned()
        .collect();

    stack.receiver.set_fault(Fault::Unavailable);
    let response = aggregator
        .handle(event, std::time::SystemTime::now() + MINUTE)
        .await;
    assert_eq!(
        common::failed_ids(&response),
        common::message_ids(&file_messages),
        "exactly the bundle's messages fail; the poison does not"
    );
    assert!(stack.delivered().is_empty());

    stack.receiver.set_fault(Fault::None);
    stack.drain(&aggregator, &stack.poller(10), MINUTE).await;
    let delivered = stack.delivered();
    assert_eq!(delivered.len(), 5);
    assert!(delivered.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_401_makes_the_aggregator_read_the_secret_again() {
    let stack = Stack::start().await;
    stack
        .secrets
        .put_secret_value()
        .secret_id(&stack.secret_id)
        .secret_string(r#"{"username":"nifi","password":"an-old-password"}"#)
        .send()
        .await
        .expect("put old secret");
    let aggregator = stack.aggregator(&stack.raw_config());
    stack.upload("secret.txt", b"payload".to_vec()).await;
    // The first invocation caches the old password and is refused.
    let first = stack
        .poller(10)
        .invoke_once(&aggregator, Duration::from_secs(5))
        .await
        .expect("invoke");
    assert!(first.failed > 0 || first.received == 1, "{first:?}");
    assert!(stack.receiver.stats().unauthorized >= 1);
    // The password is rotated; the cache (5 minutes) still holds the old one, the 401 refreshes it.
    stack
        .secrets
        .put_secret_value()
        .secret_id(&stack.secret_id)
        .secret_string(format!(
            r#"{{"username":"nifi","password":"{}"}}"#,
            common::PASSWORD
        ))
        .send()
        .await
        .expect("rotate secret");
    stack.drain(&aggregator, &stack.poller(10), MINUTE).await;
    assert_eq!(stack.delivered().get("secret.txt"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_minio_sink_puts_and_verifies() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("SINK", "minio");
    raw.set("MINIO_ENDPOINT", stack.moto.endpoint());
    raw.set("MINIO_BUCKET", "minio-bundles");
    let aggregator = stack.aggregator(&raw);
    stack
        .upload("to-minio.txt", b"bytes for minio".to_vec())
        .await;
    stack.drain(&aggregator, &stack.poller(10), MINUTE).await;

    let listed = stack
        .s3
        .list_objects_v2()
        .bucket("minio-bundles")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), 1);
    let key = listed.contents()[0].key().expect("key");
    let object = stack
        .s3
        .get_object()
        .bucket("minio-bundles")
        .key(key)
        .send()
        .await
        .expect("get");
    let stated = object
        .metadata()
        .and_then(|m| m.get("content-sha256"))
        .cloned()
        .expect("metadata");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), stated);
    assert!(
        stack.receiver.stored_bundles().expect("bundles").is_empty(),
        "nothing went to NiFi"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_above_the_threshold_is_archived_in_parts() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("MULTIPART_THRESHOLD_BYTES", (5 << 20).to_string());
    raw.set("MULTIPART_PART_BYTES", (5 << 20).to_string());
    let aggregator = stack.aggregator(&raw);
    // Incompressible content, so the bundle really is larger than the threshold.
    stack.upload("big/1.bin", noise(1, 3 << 20)).await;
    stack.upload("big/2.bin", noise(2, 3 << 20)).await;
    stack.drain(&aggregator, &stack.poller(10), MINUTE).await;

    let bundles = stack.receiver.stored_bundles().expect("bundles");
    assert_eq!(bundles.len(), 1);
    assert!(bundles[0].size > 5 << 20, "{} bytes", bundles[0].size);
    let (key, head) = the_archived_bundle(&stack, &bundles[0].sha256).await;
    assert!(
        head.e_tag()
            .is_some_and(|e| e.trim_matches('"').ends_with("-2")),
        "a two-part upload: {:?}",
        head.e_tag()
    );
    let archived = stack
        .s3
        .get_object()
        .bucket(ARCHIVE)
        .key(&key)
        .send()
        .await
        .expect("get");
    let bytes = archived.body.collect().await.expect("body").into_bytes();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), bundles[0].sha256);
}

/// The one bundle in the archive: its key and head (with S3's checksum), after checking that its
/// `content-sha256` metadata is `sha256`.
async fn the_archived_bundle(
    stack: &Stack,
    sha256: &str,
) -> (String, aws_sdk_s3::operation::head_object::HeadObjectOutput) {
    let archived = stack.archived_keys().await;
    assert_eq!(archived.len(), 1, "one archived bundle");
    let key = archived[0].clone();
    let head = stack
        .s3
        .head_object()
        .bucket(ARCHIVE)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("content-sha256"))
            .map(String::as_str),
        Some(sha256)
    );
    (key, head)
}

/// Unpacks `bundle` with GNU tar (`tar -xzf`).
fn gnu_untar(bundle: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(bundle)
        .arg("-C")
        .arg(out.path())
        .status()
        .unwrap_or_else(|e| panic!("could not run tar ({e}): install GNU tar and gzip (Debian: apt-get install tar gzip)"));
    assert!(status.success(), "tar -xzf {} failed", bundle.display());
    out
}

/// How many regular files are under `dir`.
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let path = e.expect("entry").path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

/// Keys that collided inside one bundle with the layout of format 1 — a key named `MANIFEST.json`, two
/// versions of one key, a key equal to another key's renamed form — and keys with control bytes, empty, `.`
/// and `..` components or a component longer than a file name (bundle/tests/data/hostile-keys.json): one
/// batch through the handler delivers every version once, in one bundle that GNU tar unpacks byte for byte.
/// (moto refuses a key with a newline; bundle/tests/interop.rs covers it with GNU tar.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn colliding_and_hostile_keys_are_delivered_once_each_and_unpack_with_gnu_tar() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/tests/data/hostile-keys.json");
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the key list")).expect("JSON");
    let keys: Vec<String> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["moto_refuses"] != serde_json::json!(true))
        .map(|k| k["key"].as_str().expect("a key").to_string())
        .collect();
    let mut uploaded: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let body = format!("object {i} under {key:?}").into_bytes();
        let version = stack.put(key, body.clone(), None).await;
        uploaded.insert(version, (key.clone(), body));
    }
    // Every event S3 sent (and its test event), in one batch.
    let poller = stack.poller(100);
    let mut event = SqsEvent::default();
    while event.records.len() < keys.len() + 1 {
        let batch = poller
            .next_batch(Duration::from_secs(5))
            .await
            .expect("receive");
        assert!(
            !batch.is_empty(),
            "S3 sent {} events for {} uploads and its test event",
            event.records.len(),
            keys.len()
        );
        event.records.extend(batch);
    }
    let response = aggregator.handle(event, SystemTime::now() + MINUTE).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}; receiver rejections: {:?}",
        response.batch_item_failures,
        stack.receiver.stats().rejected
    );

    let bundles = stack.receiver.stored_bundles().expect("bundles");
    assert_eq!(bundles.len(), 1);
    let manifest = &bundles[0].manifest;
    assert_eq!(manifest.format, 2);
    let out = gnu_untar(
        &stack
            .receiver
            .store_dir()
            .join(format!("{}.tar.gz", bundles[0].bundle_id)),
    );
    let unpacked: Manifest = serde_json::from_slice(
        &std::fs::read(out.path().join("MANIFEST.json")).expect("the manifest at the top level"),
    )
    .expect("manifest");
    assert_eq!(&unpacked, manifest);
    let mut versions = HashSet::new();
    for file in &manifest.files {
        let version = file.version_id.clone().expect("a version id");
        assert!(
            versions.insert(version.clone()),
            "{version} delivered twice"
        );
        let (key, body) = &uploaded[&version];
        assert_eq!(&file.key, key);
        assert_eq!(
            &std::fs::read(out.path().join(&file.path))
                .unwrap_or_else(|e| panic!("{key:?} at {:?}: {e}", file.path)),
            body,
            "{key:?}"
        );
        assert_eq!(file.sha256, hex::encode(Sha256::digest(body)));
    }
    assert_eq!(versions.len(), keys.len(), "every version once");
    assert_eq!(
        count_files(out.path()),
        keys.len() + 1,
        "the files and the manifest, nothing else"
    );
}

/// Objects in an archive storage class and a deleted version can never be read: their messages go to the DLQ
/// at once with the reason, and the rest of the batch is delivered in the same invocation. (SSE-C and access
/// denied, which moto does not produce, are classified in src/download.rs's unit test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_that_can_never_be_read_go_to_the_dlq_at_once_and_the_rest_is_delivered() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    let readable = b"readable".to_vec();
    stack.put("readable.txt", readable.clone(), None).await;
    stack
        .put(
            "cold/glacier.txt",
            b"frozen".to_vec(),
            Some(StorageClass::Glacier),
        )
        .await;
    stack
        .put(
            "cold/deep.txt",
            b"deeper".to_vec(),
            Some(StorageClass::DeepArchive),
        )
        .await;
    let first = stack.put("versioned.txt", b"first".to_vec(), None).await;
    stack.put("versioned.txt", b"second".to_vec(), None).await;
    stack
        .s3
        .delete_object()
        .bucket(common::LANDING)
        .key("versioned.txt")
        .version_id(&first)
        .send()
        .await
        .expect("delete the first version");
    let event = event_of(&[
        s3_message("readable", "readable.txt", &readable),
        s3_message("glacier", "cold/glacier.txt", b"frozen"),
        s3_message("deep", "cold/deep.txt", b"deeper"),
        s3_message_of_version("deleted", "versioned.txt", b"first", Some(&first)),
    ]);
    let response = aggregator.handle(event, SystemTime::now() + MINUTE).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "nothing is retried: {:?}",
        response.batch_item_failures
    );
    let delivered = stack.delivered();
    assert_eq!(delivered, HashMap::from([("readable.txt".to_string(), 1)]));

    let dead = stack.dead_letters().await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    for (key, kind, says) in [
        ("cold/glacier.txt", "unreadable", "archive storage class"),
        ("cold/deep.txt", "unreadable", "archive storage class"),
        ("versioned.txt", "gone", "NoSuchVersion"),
    ] {
        assert!(
            dead.iter().any(
                |(body, reason, k)| body.contains(&app::event::encode_key(key))
                    && k == kind
                    && reason.contains(says)
            ),
            "{key}: {dead:?}"
        );
    }
    let claims = stack.claims().await;
    assert_eq!(
        claims.len(),
        1,
        "only the delivered file is recorded: {claims:?}"
    );
    assert_eq!(
        claims[0]["status"].as_s().ok().map(String::as_str),
        Some("COMPLETED")
    );
}

/// A batch that holds more than BUNDLE_MAX_BYTES goes out as several bundles, each within the cap, in one
/// invocation: nothing fails because of its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_larger_than_the_bundle_cap_is_delivered_in_several_bundles_in_one_invocation() {
    let stack = Stack::start().await;
    let cap: u64 = 256 << 10;
    let mut raw = stack.raw_config();
    raw.set("BUNDLE_MAX_BYTES", cap.to_string());
    let aggregator = stack.aggregator(&raw);
    let mut messages = Vec::new();
    for i in 0..12 {
        let key = format!("capped/{i}.bin");
        let body = noise(i, 60_000);
        stack.upload(&key, body.clone()).await;
        messages.push(s3_message(&format!("m{i}"), &key, &body));
    }
    let response = aggregator
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let bundles = stack.receiver.stored_bundles().expect("bundles");
    assert!(
        bundles.len() >= 3,
        "720 kB in bundles of 256 KiB: {} bundles",
        bundles.len()
    );
    for bundle in &bundles {
        assert!(
            bundle.size <= cap,
            "bundle of {} bytes over the cap",
            bundle.size
        );
    }
    let delivered = stack.delivered();
    assert_eq!(delivered.len(), 12);
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    assert_eq!(
        stack.archived_keys().await.len(),
        bundles.len(),
        "each bundle archived once"
    );
}

/// An object larger than OBJECT_MAX_BYTES by its event is dead-lettered without being claimed or read, and
/// counted; the rest of the batch is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_over_the_size_limit_is_dead_lettered_unread_and_the_rest_is_delivered() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("OBJECT_MAX_BYTES", "1000");
    let metrics = Captured::default();
    let aggregator = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    let mut messages = Vec::new();
    for (key, size) in [
        ("small/1.txt", 100),
        ("huge.bin", 5000),
        ("small/2.txt", 1000),
    ] {
        let body = noise(size as u64, size);
        stack.upload(key, body.clone()).await;
        messages.push(s3_message(key, key, &body));
    }
    let response = aggregator
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let delivered = stack.delivered();
    assert_eq!(
        delivered,
        HashMap::from([
            ("small/1.txt".to_string(), 1),
            ("small/2.txt".to_string(), 1)
        ])
    );
    let dead = stack.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (body, reason, kind) = &dead[0];
    assert!(body.contains("huge.bin"), "{body}");
    assert_eq!(kind, "oversize");
    assert!(
        reason.contains("5000 bytes, more than OBJECT_MAX_BYTES (1000)"),
        "{reason}"
    );
    let documents = metrics.documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["FilesOversize"], serde_json::json!(1.0));
    assert_eq!(
        stack.claims().await.len(),
        2,
        "the huge one was never claimed"
    );
}
