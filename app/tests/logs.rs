//! No byte of a file's content, and no credential, ever reaches the logs or the metrics: a marker planted in
//! files and in the password is searched for in everything the run printed, through success and failure paths.

// Its own test binary, apart from tests/integration: it installs the process's one global subscriber, at TRACE,
// to see every thread's output, which would also capture (and slow) every test running beside it.
#[path = "integration/common.rs"]
mod common;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;
use common::{Captured, Stack, handler};
use receiver::Fault;

const CONTENT_MARKER: &str = "CONTENT-MARKER-5b9e1c0d";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_and_metrics_carry_no_content_and_no_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let stack = Stack::start().await;
    let aggregator = stack
        .aggregator(&stack.raw_config())
        .with_metrics_writer(Box::new(captured.clone()));
    let poller = stack.poller(50);
    let content =
        |i: usize| format!("line {i}: {CONTENT_MARKER} and more {CONTENT_MARKER}\n").into_bytes();

    // Success.
    for i in 0..5 {
        stack.upload(&format!("marked/{i}.txt"), content(i)).await;
    }
    stack
        .drain(&aggregator, &poller, Duration::from_secs(60))
        .await;
    // Endpoint failure, then recovery.
    stack.receiver.set_fault(Fault::Unavailable);
    stack.upload("marked/during-outage.txt", content(9)).await;
    poller
        .invoke_once(&handler(&aggregator), Duration::from_secs(5))
        .await
        .expect("invoke");
    // A hold SQS refuses (the receipt handle is not one it gave out) is logged with the message and why.
    stack.upload("marked/held.txt", content(12)).await;
    let mut held = SqsEvent::default();
    held.records = vec![common::s3_message(
        "held-1",
        "marked/held.txt",
        &content(12),
    )];
    aggregator
        .handle(held, SystemTime::now() + Duration::from_secs(60))
        .await;
    stack.receiver.set_fault(Fault::None);
    // A deleted object and a poison message.
    stack.upload("marked/gone.txt", content(10)).await;
    stack
        .s3
        .delete_object()
        .bucket(common::LANDING)
        .key("marked/gone.txt")
        .send()
        .await
        .expect("delete");
    stack
        .drain(&aggregator, &poller, Duration::from_secs(60))
        .await;
    // Refused credentials: a password that is wrong, then the right one.
    stack
        .secrets
        .put_secret_value()
        .secret_id(&stack.secret_id)
        .secret_string(r#"{"username":"nifi","password":"WRONG-PASSWORD-MARKER"}"#)
        .send()
        .await
        .expect("secret");
    let fresh = stack
        .aggregator(&stack.raw_config())
        .with_metrics_writer(Box::new(captured.clone()));
    stack.upload("marked/refused.txt", content(11)).await;
    poller
        .invoke_once(&handler(&fresh), Duration::from_secs(5))
        .await
        .expect("invoke");

    assert!(
        stack.delivered().len() >= 6,
        "the scenario delivered: {:?}",
        stack.delivered()
    );
    let text = captured.text();
    assert!(text.contains("bundle delivered"), "logs were captured");
    assert!(
        captured.documents().iter().any(|line| {
            line["fields"]["message_id"] == "held-1"
                && line["fields"]["code"] == "ReceiptHandleIsInvalid"
        }),
        "the refused hold is logged with its message id and code"
    );
    assert!(text.contains("\"_aws\""), "metrics were captured");
    for secret in [
        CONTENT_MARKER,
        "line 1:",
        common::PASSWORD,
        "WRONG-PASSWORD-MARKER",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked into logs or metrics"
        );
    }
}
