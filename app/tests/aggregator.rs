//! The aggregator end to end against moto server and the receiver, through the real AWS SDK clients.

mod common;

use std::time::Duration;

use app::receiver::Fault;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use common::{ARCHIVE, Stack};
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
    stack.upload("gone.txt", b"soon deleted".to_vec()).await;
    stack
        .s3
        .delete_object()
        .bucket(common::LANDING)
        .key("gone.txt")
        .send()
        .await
        .expect("delete");
    stack
        .sqs
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body("this is not an S3 event")
        .send()
        .await
        .expect("send poison");

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
            .any(|(body, reason)| body == "this is not an S3 event"
                && reason.contains("not an S3 event"))
    );
    assert!(
        dead.iter()
            .any(|(body, reason)| body.contains("gone.txt") && reason.contains("does not exist"))
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

fn ids(messages: &[SqsMessage]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    ids.sort();
    ids
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
    stack
        .sqs
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body("{}")
        .send()
        .await
        .expect("poison");
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
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        ids(&file_messages),
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
    let noise = |seed: u64| -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..(3 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    stack.upload("big/1.bin", noise(1)).await;
    stack.upload("big/2.bin", noise(2)).await;
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
    let listed = stack
        .s3
        .list_objects_v2()
        .bucket(ARCHIVE)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), 1, "one archived bundle");
    let key = listed.contents()[0].key().expect("key").to_string();
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
