//! What counts as a delivery: redirects (from NiFi and from the MinIO store) never do, through the whole
//! aggregator against moto server and through the delivery code `cargo xtask replay` uses too; and only an
//! acknowledged bundle is marked delivered in the archive.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Captured, Stack, handler};
use app::delivery::{FailureKind, NifiSink, Sink};
use axum::http::StatusCode;
use endpoint_credentials::SecretCache;
use receiver::Fault;
use test_support::loopback::{Recorder, Redirector};

/// What a redirect points to: another host, with userinfo and a query that must never be shown or followed.
fn login_page(recorder: &Recorder) -> String {
    format!(
        "http://intruder:hunter2@{}/login?session=s3cr3t-session",
        recorder.addr
    )
}

/// Invokes the aggregator until the file's message has been handled (the queue also holds S3's test event).
async fn invoke_until_failed(stack: &Stack, aggregator: &app::Aggregator) -> usize {
    let poller = stack.poller(10);
    let mut failed = 0;
    for _ in 0..6 {
        let invocation = poller
            .invoke_once(&handler(aggregator), Duration::from_secs(3))
            .await
            .expect("invoke");
        failed += invocation.failed;
        if failed > 0 {
            break;
        }
    }
    failed
}

/// The number of COMPLETED records in the claims table.
async fn completed_records(stack: &Stack) -> usize {
    let items = stack
        .dynamodb
        .scan()
        .table_name("claims")
        .send()
        .await
        .expect("scan claims")
        .items
        .unwrap_or_default();
    items
        .iter()
        .filter(|item| item.get("status").and_then(|v| v.as_s().ok()) == Some(&"COMPLETED".into()))
        .count()
}

/// The sum of one metric over every EMF document written.
fn metric(captured: &Captured, name: &str) -> f64 {
    captured
        .documents()
        .iter()
        .filter_map(|d| d.get(name).and_then(serde_json::Value::as_f64))
        .sum()
}

async fn assert_redirect_is_a_failure(sink: &str) {
    let stack = Stack::start().await;
    let recorder = Recorder::start().await;
    let redirector = Redirector::start(StatusCode::FOUND, login_page(&recorder)).await;
    let mut raw = stack.raw_config();
    match sink {
        "nifi" => raw.set("NIFI_URL", redirector.url("/contentListener")),
        _ => {
            raw.set("SINK", "minio");
            raw.set("MINIO_ENDPOINT", redirector.url(""));
            raw.set("MINIO_BUCKET", "minio-bundles");
        }
    }
    let metrics = Captured::default();
    let aggregator = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    stack
        .upload(
            "redirected.txt",
            b"a 302 is not an acknowledgement".to_vec(),
        )
        .await;

    let failed = invoke_until_failed(&stack, &aggregator).await;
    assert_eq!(
        completed_records(&stack).await,
        0,
        "no file may be marked COMPLETED after a redirect"
    );
    assert_eq!(failed, 1, "the file's message is reported failed");
    assert!(
        recorder.requests().is_empty(),
        "nothing may reach the redirect's target: {:?}",
        recorder.requests()
    );
    assert_eq!(
        metric(&metrics, "FailuresRedirect"),
        1.0,
        "{}",
        metrics.text()
    );
    assert_eq!(metric(&metrics, "FilesDelivered"), 0.0);
    // The claim was given up as HELD (for the daily report), not left IN_PROGRESS under a lease until the
    // deadline.
    let claims = stack
        .dynamodb
        .scan()
        .table_name("claims")
        .send()
        .await
        .expect("scan");
    let states: Vec<_> = claims
        .items()
        .iter()
        .map(|item| item.get("status").and_then(|s| s.as_s().ok()).cloned())
        .collect();
    assert_eq!(
        states,
        vec![Some("HELD".to_owned())],
        "the claim is given up as HELD: {:?}",
        claims.items()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirect_from_nifi_is_not_a_delivery() {
    assert_redirect_is_a_failure("nifi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirect_from_the_minio_store_is_not_a_delivery() {
    assert_redirect_is_a_failure("minio").await;
}

/// What the delivery code (the aggregator's and replay's) says about a redirect: the status and the target's
/// host, never the path, the query or credentials; and it is its own kind, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirect_is_reported_with_its_status_and_host_only() {
    let stack = Stack::start().await;
    let recorder = Recorder::start().await;
    let (_dir, parcel) = crate::common::parcel_of(b"not really a bundle");
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let redirector = Redirector::start(status, login_page(&recorder)).await;
        let secrets = Arc::new(SecretCache::new(
            stack.secrets.clone(),
            stack.secret_id.clone(),
            Duration::from_secs(300),
        ));
        let sink = Sink::Nifi(Arc::new(NifiSink::new(
            redirector.url("/contentListener"),
            secrets,
            Duration::from_secs(5),
            Duration::from_secs(10),
        )));
        let error = sink.deliver(&parcel).await.expect_err("a redirect fails");
        assert_eq!(error.kind, FailureKind::Redirect, "{error}");
        assert!(!error.kind.is_unavailability());
        let shown = error.to_string();
        assert!(shown.contains(&status.as_u16().to_string()), "{shown}");
        assert!(shown.contains("127.0.0.1"), "names the host: {shown}");
        for secret in [
            "intruder",
            "hunter2",
            "login",
            "s3cr3t-session",
            crate::common::PASSWORD,
        ] {
            assert!(!shown.contains(secret), "{secret} shown in: {shown}");
        }
    }
    assert!(recorder.requests().is_empty(), "{:?}", recorder.requests());
}

/// Every attempt is archived; only the one the endpoint acknowledged carries `delivered-at`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_acknowledged_bundle_is_marked_delivered_in_the_archive() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    stack.receiver.set_fault(Fault::Unavailable);
    stack
        .upload("tagged.txt", b"first refused, then delivered".to_vec())
        .await;
    assert_eq!(invoke_until_failed(&stack, &aggregator).await, 1);
    stack.receiver.set_fault(Fault::None);
    stack
        .drain(&aggregator, &stack.poller(10), Duration::from_secs(60))
        .await;

    let delivered = stack.receiver.stored_bundles().expect("bundles");
    assert_eq!(delivered.len(), 1);
    let listed = stack
        .s3
        .list_objects_v2()
        .bucket(crate::common::ARCHIVE)
        .send()
        .await
        .expect("list the archive");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 2, "the attempt and the delivery: {keys:?}");
    for key in keys {
        let tag = app::archive::delivered_at(&stack.s3, crate::common::ARCHIVE, key)
            .await
            .expect("tags");
        if key.contains(&delivered[0].bundle_id) {
            let at = tag.unwrap_or_else(|| panic!("{key} was delivered but is not marked"));
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{at} is not RFC 3339: {e}"));
        } else {
            assert_eq!(tag, None, "{key} was never acknowledged");
        }
    }
}
