//! The daily report end to end, against moto server and the receiver, through the real aggregator handler and
//! the local event source mapping: a day with a known mix of fates is accounted for exactly, the report is
//! written, notified and measured, `--requeue-unexplained`'s path heals the gap, and the S3 Inventory reader
//! reads an inventory written in the documented format.

#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use app::RawConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, StorageClass};
use common::{ARCHIVE, Captured, LANDING, Stack};
use reporter::{Config, Day, Reconciliation, Reporter};
use serde_json::Value;
use time::OffsetDateTime;

const MINUTE: Duration = Duration::from_secs(60);
const REPORTS: &str = "reports";

/// What the test sees of the pipeline besides the aggregator's stack: the reports bucket, the alarm topic and a
/// queue subscribed to it.
struct Around {
    topic_arn: String,
    inbox_url: String,
}

async fn around(stack: &Stack) -> Around {
    stack
        .s3
        .create_bucket()
        .bucket(REPORTS)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .expect("reports bucket");
    let sns = aws_sdk_sns::Client::new(&stack.sdk);
    let topic_arn = sns
        .create_topic()
        .name("alarms")
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("topic arn");
    let inbox_url = stack
        .sqs
        .create_queue()
        .queue_name("alarm-inbox")
        .send()
        .await
        .expect("inbox")
        .queue_url
        .expect("inbox url");
    let inbox_arn = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&inbox_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("inbox arn")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("an arn");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(inbox_arn)
        .send()
        .await
        .expect("subscription");
    Around {
        topic_arn,
        inbox_url,
    }
}

fn reporter(
    stack: &Stack,
    around: &Around,
    extra: &[(&str, &str)],
    metrics: &Captured,
) -> Reporter {
    let mut raw = RawConfig::from_pairs([
        ("ENVIRONMENT", "test"),
        ("LANDING_BUCKET", LANDING),
        ("IDEMPOTENCY_TABLE", "claims"),
        ("ARCHIVE_BUCKET", ARCHIVE),
        ("SOURCE_QUEUE_URL", stack.queue_url.as_str()),
        ("DLQ_URL", stack.dlq_url.as_str()),
        ("REPORTS_BUCKET", REPORTS),
        ("TOPIC_ARN", around.topic_arn.as_str()),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("DLQ_READ_SECONDS", "30"),
        ("FUNCTION_NAME", "test-reporter"),
    ]);
    for (name, value) in extra {
        raw.set(name, *value);
    }
    let config = Config::from_raw(&raw).unwrap_or_else(|e| panic!("{e}"));
    Reporter::new(config, &stack.sdk).with_metrics_writer(Box::new(metrics.clone()))
}

/// Today (UTC), after waiting out the last minutes of a day, so that every file of the test lands on it.
async fn a_whole_day_ahead() -> Day {
    let now = OffsetDateTime::now_utc();
    let left = Day::of(now).end() - now;
    if left < time::Duration::minutes(5) {
        tokio::time::sleep(Duration::from_secs_f64(left.as_seconds_f64() + 2.0)).await;
    }
    Day::of(OffsetDateTime::now_utc())
}

/// The body of the S3 event the notification would send for `key`.
fn event_body(key: &str, body: &[u8]) -> String {
    common::s3_message("m", key, body)
        .body
        .expect("an event body")
}

/// The value within which a share `q` of `judged` files lies, nearest rank, `None` beyond the delivered ones.
fn nearest_rank(sorted: &[u64], judged: usize, q: f64) -> Option<u64> {
    let rank = ((q * judged as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// Each delivered file's latency, from S3's own last-modified (HeadObject) to its record's `completed_at_ms`
/// (Scan): the same definition as the report, from other calls.
async fn latencies(stack: &Stack, versions: &HashMap<String, String>) -> Vec<u64> {
    let mut latencies = Vec::new();
    for record in stack.claims().await {
        let text = |name: &str| record.get(name).and_then(|v| v.as_s().ok()).cloned();
        if text("status").as_deref() != Some("COMPLETED") {
            continue;
        }
        let id = text("id").expect("an id");
        let key = id
            .strip_prefix("s3://landing/")
            .and_then(|rest| rest.split_once("#version="))
            .map(|(key, _)| key.to_string())
            .expect("a versioned identity");
        let head = stack
            .s3
            .head_object()
            .bucket(LANDING)
            .key(&key)
            .version_id(&versions[&key])
            .send()
            .await
            .expect("head");
        let modified = head.last_modified().expect("last modified");
        let landed_ms = modified.secs() * 1000 + i64::from(modified.subsec_nanos() / 1_000_000);
        let completed: i64 = record["completed_at_ms"]
            .as_n()
            .expect("a number")
            .parse()
            .expect("ms");
        latencies.push((completed - landed_ms).max(0) as u64);
    }
    latencies.sort_unstable();
    latencies
}

fn assert_percentiles(report: &Value, sorted: &[u64], judged: usize) {
    let latency = &report["latency"];
    assert_eq!(latency["judged"], judged as u64);
    for (field, q) in [
        ("p50_ms", 0.5),
        ("p95_ms", 0.95),
        ("p99_ms", 0.99),
        ("p999_ms", 0.999),
        ("max_ms", 1.0),
    ] {
        assert_eq!(
            latency[field].as_u64(),
            nearest_rank(sorted, judged, q),
            "{field} of {sorted:?} over {judged}"
        );
    }
    let histogram_total: u64 = latency["histogram"]["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .filter_map(Value::as_u64)
        .sum::<u64>()
        + latency["histogram"]["over"].as_u64().expect("over");
    assert_eq!(histogram_total, sorted.len() as u64);
}

/// (key, state) of a list of the report.
fn listed(report: &Value, list: &str) -> Vec<(String, String)> {
    report["oldest"][list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap_or_default().to_string(),
                f["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn notifications(stack: &Stack, inbox: &str) -> Vec<Value> {
    let out = stack
        .sqs
        .receive_message()
        .queue_url(inbox)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("inbox");
    let mut found = Vec::new();
    for m in out.messages() {
        found.push(serde_json::from_str(m.body().unwrap_or_default()).expect("an SNS envelope"));
        stack
            .sqs
            .delete_message()
            .queue_url(inbox)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }
    found
}

async fn report_of(reporter: &Reporter, day: Day) -> (Reconciliation, Value) {
    let reconciliation = reporter
        .reconcile(day)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    reporter
        .publish(&reconciliation)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_value(&reconciliation.report).expect("json");
    (reconciliation, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_with_a_known_mix_is_accounted_for_exactly_and_its_gap_healed() {
    let stack = Stack::start().await;
    let around = around(&stack).await;
    let day = a_whole_day_ahead().await;
    let mut raw = stack.raw_config();
    raw.set("OBJECT_MAX_BYTES", "10000");
    raw.set("BREAKER_FAILURE_THRESHOLD", "1");
    let aggregator = stack.aggregator(&raw);
    let poller = stack.poller(10);
    let mut versions: HashMap<String, String> = HashMap::new();

    // Delivered: five files, and one whose record an operator will delete by hand.
    for name in [
        "delivered-0",
        "delivered-1",
        "delivered-2",
        "delivered-3",
        "delivered-4",
        "lost",
    ] {
        let key = format!("day/{name}.csv");
        let version = stack
            .put(&key, format!("{name}\n").into_bytes(), None)
            .await;
        versions.insert(key, version);
    }
    stack.drain(&aggregator, &poller, MINUTE).await;
    // A duplicate event for a delivered file: acknowledged, not delivered again, counted once.
    stack
        .send(&event_body("day/delivered-0.csv", b"delivered-0\n"))
        .await;
    // Into the DLQ: a file deleted (its version) before it was read, one in an archive storage class, one over
    // OBJECT_MAX_BYTES; beside them, a poison message that names no file.
    let deleted = stack
        .put("day/deleted.csv", b"gone soon".to_vec(), None)
        .await;
    stack
        .s3
        .delete_object()
        .bucket(LANDING)
        .key("day/deleted.csv")
        .version_id(&deleted)
        .send()
        .await
        .expect("delete the version");
    let unreadable = b"frozen".to_vec();
    let version = stack
        .put(
            "day/unreadable.csv",
            unreadable,
            Some(StorageClass::Glacier),
        )
        .await;
    versions.insert("day/unreadable.csv".into(), version);
    let version = stack
        .put("day/oversize.bin", common::noise(7, 20_000), None)
        .await;
    versions.insert("day/oversize.bin".into(), version);
    stack.send("this is not an S3 event").await;
    stack.drain(&aggregator, &poller, MINUTE).await;
    assert_eq!(stack.delivered().get("day/delivered-0.csv"), Some(&1));

    // The record of a delivered file deleted by hand: nothing accounts for it any more.
    stack
        .dynamodb
        .delete_item()
        .table_name("claims")
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "s3://landing/day/lost.csv#version={}",
                versions["day/lost.csv"]
            )),
        )
        .send()
        .await
        .expect("delete the record");
    // Held during an outage of the receiver: their messages wait in the queue.
    stack.receiver.set_fault(app::receiver::Fault::Unavailable);
    for i in 0..3 {
        let key = format!("day/held-{i}.csv");
        let version = stack
            .put(&key, format!("held {i}\n").into_bytes(), None)
            .await;
        versions.insert(key, version);
    }
    for _ in 0..20 {
        poller
            .invoke_once(&aggregator, Duration::from_secs(1))
            .await
            .expect("poll");
        let held = stack
            .claims()
            .await
            .iter()
            .filter(|r| r["status"].as_s().is_ok_and(|s| s == "HELD"))
            .count();
        if held == 3 {
            break;
        }
    }

    let metrics = Captured::default();
    let reporter = reporter(&stack, &around, &[], &metrics);
    let (first, report) = report_of(&reporter, day).await;
    assert_eq!(report["schema"], "file-aggregator.reconciliation-report");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["date"], day.to_string());
    assert_eq!(report["source"]["kind"], "list-object-versions");
    assert_eq!(
        report["counts"],
        serde_json::json!({"landed": 12, "delivered": 5, "dead_lettered": 3, "pending": 3, "unexplained": 1}),
        "{report:#}"
    );
    assert_eq!(
        report["dead_lettered_by_kind"],
        serde_json::json!({"gone": 1, "oversize": 1, "unreadable": 1})
    );
    let pending_states: BTreeMap<String, u64> =
        serde_json::from_value(report["pending_by_state"].clone()).expect("states");
    assert_eq!(
        pending_states.values().sum::<u64>(),
        3,
        "{pending_states:?}"
    );
    assert!(
        pending_states.keys().all(|s| s.starts_with("held: ")),
        "{pending_states:?}"
    );
    assert_eq!(
        listed(&report, "unexplained"),
        [("day/lost.csv".to_string(), "unexplained".to_string())]
    );
    let pending: Vec<String> = listed(&report, "pending")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut held_keys = vec!["day/held-0.csv", "day/held-1.csv", "day/held-2.csv"];
    held_keys.sort();
    let mut pending_sorted = pending.clone();
    pending_sorted.sort();
    assert_eq!(pending_sorted, held_keys);
    let mut dead = listed(&report, "dead_lettered");
    dead.sort();
    assert_eq!(
        dead,
        [
            ("day/deleted.csv".to_string(), "gone".to_string()),
            ("day/oversize.bin".to_string(), "oversize".to_string()),
            ("day/unreadable.csv".to_string(), "unreadable".to_string()),
        ]
    );
    let dlq = &report["dead_letter_queue"];
    assert_eq!(dlq["messages"], 4, "{dlq}");
    assert_eq!(dlq["naming_no_file"], 1, "the poison message is not a file");
    assert_eq!(dlq["files_no_longer_listed"], 1, "the deleted version");
    assert!(
        report["source_queue"]["visible"].as_u64().unwrap_or(0)
            + report["source_queue"]["in_flight"].as_u64().unwrap_or(0)
            >= 3
    );
    // Latency over the 9 files owed delivery (12 landed, less 3 dead-lettered): 5 delivered, so only the
    // percentiles up to rank 5 are reached.
    let sorted = latencies(&stack, &versions).await;
    assert_eq!(sorted.len(), 5);
    assert_percentiles(&report, &sorted, 9);
    assert!(report["latency"]["p95_ms"].is_null());
    let bundles = &report["bundles"];
    assert!(bundles["bundles"].as_u64() >= Some(1));
    assert_eq!(bundles["in_archive"], bundles["bundles"], "{bundles}");
    assert_eq!(bundles["missing"], serde_json::json!([]));
    // The DLQ was read, not consumed.
    assert_eq!(stack.queue_depth(&stack.dlq_url).await, 4);

    // Written, notified, measured.
    let html = stored(&stack, &format!("reports/{day}/report.html")).await;
    let json: Value =
        serde_json::from_str(&stored(&stack, &format!("reports/{day}/report.json")).await)
            .expect("report.json");
    assert_eq!(json["counts"], report["counts"]);
    assert_page(&html, &day, 1);
    let notes = notifications(&stack, &around.inbox_url).await;
    assert_eq!(notes.len(), 1, "one message per report: {notes:?}");
    assert_eq!(
        notes[0]["Subject"],
        format!("test {day}: 1 unexplained of 12 files")
    );
    let text = notes[0]["Message"].as_str().unwrap_or_default().to_string();
    assert!(
        text.contains(&format!("s3://reports/reports/{day}/report.html")),
        "{text}"
    );
    assert!(text.contains("--requeue-unexplained"), "{text}");
    let emf = metrics.documents();
    assert_eq!(emf.len(), 1);
    assert_eq!(emf[0]["FilesUnexplained"], 1.0);
    assert_eq!(emf[0]["FilesLanded"], 12.0);
    assert_eq!(emf[0]["FilesPending"], 3.0);
    assert_eq!(emf[0]["Function"], "test-reporter");

    // Heal: the endpoint is back, the unexplained file is re-sent, the pipeline delivers everything waiting.
    stack.receiver.set_fault(app::receiver::Fault::None);
    assert_eq!(first.unexplained.len(), 1);
    assert_eq!(
        reporter
            .requeue_unexplained(&first, 1000)
            .await
            .expect("requeue"),
        1
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.drain(&aggregator, &poller, 2 * MINUTE).await;
    assert_eq!(
        stack.delivered().get("day/lost.csv"),
        Some(&2),
        "its record was gone: sent again"
    );
    // Safe to run twice: the file is delivered now, so a second requeue is acknowledged as a duplicate.
    assert_eq!(
        reporter
            .requeue_unexplained(&first, 1000)
            .await
            .expect("requeue"),
        1
    );
    stack.drain(&aggregator, &poller, MINUTE).await;
    assert_eq!(stack.delivered().get("day/lost.csv"), Some(&2));

    let (second, report) = report_of(&reporter, day).await;
    assert_eq!(
        report["counts"],
        serde_json::json!({"landed": 12, "delivered": 9, "dead_lettered": 3, "pending": 0, "unexplained": 0}),
        "{report:#}"
    );
    assert!(second.unexplained.is_empty());
    assert!(listed(&report, "unexplained").is_empty());
    assert!(listed(&report, "pending").is_empty());
    let sorted = latencies(&stack, &versions).await;
    assert_eq!(sorted.len(), 9);
    assert_percentiles(&report, &sorted, 9);
    assert_page(
        &stored(&stack, &format!("reports/{day}/report.html")).await,
        &day,
        0,
    );
    let notes = notifications(&stack, &around.inbox_url).await;
    assert_eq!(
        notes[0]["Subject"],
        format!("test {day}: 0 unexplained of 12 files")
    );
    assert_eq!(metrics.documents()[1]["FilesUnexplained"], 0.0);

    // The first report, with its gap, where a person can open it (target/reporter/): the page and the
    // notification's text.
    let dir = emulator::workspace_root().join("target/reporter");
    std::fs::create_dir_all(&dir).expect("target/reporter");
    let page = reporter::html::render(&first.report).expect("renders");
    std::fs::File::create(dir.join("report-with-a-gap.html"))
        .and_then(|mut f| f.write_all(page.as_bytes()))
        .expect("write the page");
    std::fs::write(dir.join("notification-with-a-gap.txt"), text).expect("write the text");
}

async fn stored(stack: &Stack, key: &str) -> String {
    let object = stack
        .s3
        .get_object()
        .bucket(REPORTS)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    String::from_utf8(
        object
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec(),
    )
    .expect("utf-8")
}

/// The page has its parts: the headline cards with the unexplained count, both charts with their bars, the
/// objective lines, and a row per listed file, with every key escaped.
fn assert_page(html: &str, day: &Day, unexplained: u64) {
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    assert!(html.contains(&format!("Did every file arrive? test, {day}")));
    assert!(
        html.contains(&format!(
            r#"<div class="value">{unexplained}</div><div class="label">Unexplained</div>"#
        )),
        "the unexplained card"
    );
    assert_eq!(html.matches("<svg ").count(), 2, "two charts");
    assert!(html.matches("<rect ").count() >= 2, "bars");
    assert!(html.contains("95% within 2 min<"), "the 95% objective line");
    assert!(
        html.contains("99.90% within 3 min<"),
        "the 99.9% objective line"
    );
    assert!(html.contains(r#"<td class="key">day/deleted.csv</td>"#));
    assert_eq!(
        html.contains(r#"<td class="key">day/lost.csv</td>"#),
        unexplained == 1
    );
    assert!(html.trim_end().ends_with("</html>"));
}

/// The inventory reader on an inventory written as S3 writes one: a run started before the day ended is passed
/// over for the first after it, delete markers and versions of other days are skipped, keys are URL-decoded,
/// fields are quoted; nothing of it has a record, so every one of the day's versions is unexplained.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inventory_reader_reads_an_inventory_in_the_documented_format() {
    let stack = Stack::start().await;
    let around = around(&stack).await;
    let day = Day::parse("2026-11-22").expect("a day");
    let prefix = "inventory/landing/daily";
    let schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass";
    let rows = |rows: &[[&str; 9]]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for row in rows {
            let line: Vec<String> = row.iter().map(|f| format!("\"{f}\"")).collect();
            writeln!(gz, "{}", line.join(",")).expect("write");
        }
        gz.finish().expect("gzip")
    };
    // The run of the day's own early hours: it cannot list the day whole, so it is passed over.
    put(
        &stack,
        &format!("{prefix}/2026-11-22T01-00Z/manifest.json"),
        manifest(schema, &[&format!("{prefix}/data/early.csv.gz")]),
    )
    .await;
    put_bytes(
        &stack,
        &format!("{prefix}/data/early.csv.gz"),
        rows(&[[
            "landing",
            "early",
            "v0",
            "true",
            "false",
            "1",
            "2026-11-22T00:30:00.000Z",
            "e0",
            "STANDARD",
        ]]),
    )
    .await;
    // The first run after the day: two files.
    put(
        &stack,
        &format!("{prefix}/2026-11-23T01-00Z/manifest.json"),
        manifest(
            schema,
            &[
                &format!("{prefix}/data/a.csv.gz"),
                &format!("{prefix}/data/b.csv.gz"),
            ],
        ),
    )
    .await;
    put_bytes(
        &stack,
        &format!("{prefix}/data/a.csv.gz"),
        rows(&[
            [
                "landing",
                "incoming/a+file%2B1.csv",
                "v1",
                "true",
                "false",
                "10",
                "2026-11-22T00:00:00.000Z",
                "e1",
                "STANDARD",
            ],
            [
                "landing",
                "incoming/caf%C3%A9.csv",
                "v2",
                "false",
                "false",
                "20",
                "2026-11-22T23:59:59.999Z",
                "e2",
                "STANDARD",
            ],
            [
                "landing",
                "incoming/marker.csv",
                "v3",
                "true",
                "true",
                "",
                "2026-11-22T12:00:00.000Z",
                "",
                "",
            ],
            [
                "landing",
                "incoming/yesterday.csv",
                "v4",
                "true",
                "false",
                "5",
                "2026-11-21T23:59:59.000Z",
                "e4",
                "STANDARD",
            ],
        ]),
    )
    .await;
    put_bytes(
        &stack,
        &format!("{prefix}/data/b.csv.gz"),
        rows(&[
            [
                "landing",
                "incoming/tomorrow.csv",
                "v5",
                "true",
                "false",
                "5",
                "2026-11-23T00:00:00.000Z",
                "e5",
                "STANDARD",
            ],
            [
                "landing",
                "incoming/noon.csv",
                "v6",
                "true",
                "false",
                "30",
                "2026-11-22T12:00:00.000Z",
                "e6",
                "GLACIER",
            ],
        ]),
    )
    .await;
    // A later run, also after the day: the earliest one after it is read.
    put(
        &stack,
        &format!("{prefix}/2026-11-24T01-00Z/manifest.json"),
        manifest(schema, &[]),
    )
    .await;

    let metrics = Captured::default();
    let reporter = reporter(&stack, &around, &[("INVENTORY_PREFIX", prefix)], &metrics);
    let reconciliation = reporter
        .reconcile(day)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = serde_json::to_value(&reconciliation.report).expect("json");
    assert_eq!(report["source"]["kind"], "s3-inventory");
    assert_eq!(
        report["source"]["inventory_manifest"],
        format!("{prefix}/2026-11-23T01-00Z/manifest.json")
    );
    assert_eq!(report["counts"]["landed"], 3);
    assert_eq!(report["counts"]["unexplained"], 3);
    assert_eq!(report["bytes"]["landed"], 60);
    assert_eq!(
        listed(&report, "unexplained")
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        [
            "incoming/a file+1.csv",
            "incoming/noon.csv",
            "incoming/café.csv"
        ],
        "oldest first, keys decoded"
    );
    let hours: Vec<u64> = report["hours"]
        .as_array()
        .expect("hours")
        .iter()
        .map(|h| h["landed"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!((hours[0], hours[12], hours[23]), (1, 1, 1));
    let requeued: Vec<(String, Option<String>)> = reconciliation
        .unexplained
        .iter()
        .map(|o| (o.key.clone(), o.version_id.clone()))
        .collect();
    assert!(requeued.contains(&("incoming/café.csv".into(), Some("v2".into()))));

    // An inventory in another format, or without a needed field, is refused with what to configure.
    put(
        &stack,
        &format!("{prefix}/2026-11-25T01-00Z/manifest.json"),
        manifest("Bucket, Key", &[]),
    )
    .await;
    let error = reporter
        .reconcile(Day::parse("2026-11-24").expect("a day"))
        .await
        .expect_err("a schema without the needed fields");
    assert!(
        error
            .to_string()
            .contains("lacks VersionId, IsDeleteMarker, Size, LastModifiedDate, ETag"),
        "{error}"
    );
}

fn manifest(schema: &str, files: &[&str]) -> String {
    serde_json::json!({
        "sourceBucket": "landing",
        "destinationBucket": "arn:aws:s3:::reports",
        "version": "2016-11-30",
        "creationTimestamp": "1795395600000",
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": files.iter().map(|k| serde_json::json!({"key": k, "size": 1, "MD5checksum": "0"})).collect::<Vec<_>>(),
    })
    .to_string()
}

async fn put(stack: &Stack, key: &str, text: String) {
    put_bytes(stack, key, text.into_bytes()).await;
}

async fn put_bytes(stack: &Stack, key: &str, bytes: Vec<u8>) {
    stack
        .s3
        .put_object()
        .bucket(REPORTS)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"));
}
