//! The resilience promises, with time compressed through configuration: outages lose nothing and do not
//! dead-letter, the breaker protects the endpoint, repeated events and overlapping invocations deliver a file
//! once, crashes lose nothing, a full temp dir or a near deadline hands work back without losing it.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use app::poller::{Invocation, Mapping, Poller};
use app::receiver::Fault;
use app::{Aggregator, RawConfig};
use aws_lambda_events::event::sqs::SqsMessage;
use common::{
    Captured, Stack, breaker_state, event_of, failed_ids, message_ids, noise, s3_message,
    s3_message_of_version,
};

const MINUTE: Duration = Duration::from_secs(60);

/// Uploads `n` files named `<prefix>/<i>.txt` and returns the messages S3 would send for them.
async fn files(stack: &Stack, prefix: &str, n: usize) -> Vec<SqsMessage> {
    let mut messages = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}/{i}.txt");
        let body = format!("{prefix} file {i}").into_bytes();
        stack.upload(&key, body.clone()).await;
        messages.push(s3_message(&format!("{prefix}-{i}"), &key, &body));
    }
    messages
}

/// The status of every record (with the hold's reason for HELD ones), sorted.
async fn statuses(stack: &Stack) -> Vec<String> {
    let mut statuses: Vec<String> = stack
        .claims()
        .await
        .iter()
        .map(|record| {
            let text = |name: &str| record.get(name).and_then(|v| v.as_s().ok()).cloned();
            match (text("status"), text("hold_reason")) {
                (Some(status), Some(reason)) => format!("{status} {reason}"),
                (status, _) => status.unwrap_or_default(),
            }
        })
        .collect();
    statuses.sort();
    statuses
}

fn assert_each_once(stack: &Stack, prefix: &str, n: usize) {
    let delivered = stack.delivered();
    for i in 0..n {
        let key = format!("{prefix}/{i}.txt");
        assert_eq!(
            delivered.get(&key),
            Some(&1),
            "{key} delivered once; all: {delivered:?}"
        );
    }
}

/// Runs `instances` aggregators, each with its own mapping poller, concurrently until `until` returns true
/// or `limit` passes; returns every invocation.
async fn run_instances(
    stack: &Stack,
    raw: &RawConfig,
    instances: usize,
    limit: Duration,
    until: impl Fn() -> bool + Sync,
) -> Vec<Invocation> {
    let aggregators: Vec<Aggregator> = (0..instances).map(|_| stack.aggregator(raw)).collect();
    let started = Instant::now();
    let runs = aggregators.iter().map(|aggregator| {
        let poller = stack.poller_with(10, Duration::from_millis(200));
        let until = &until;
        async move {
            let mut seen = Vec::new();
            while started.elapsed() < limit && !until() {
                match poller
                    .invoke_once(aggregator, Duration::from_millis(500))
                    .await
                {
                    Ok(i) if i.received > 0 => seen.push(i),
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            seen
        }
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_across_many_cool_downs_loses_nothing_and_spares_the_endpoint() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("BREAKER_FAILURE_THRESHOLD", "1");
    raw.set("BREAKER_COOLDOWN_SECONDS", "2");
    raw.set("BREAKER_COOLDOWN_MAX_SECONDS", "2");
    let instances = 3;
    let outage = Duration::from_secs(14);

    stack.receiver.set_fault(Fault::Unavailable);
    let faulted_before = stack.receiver.stats().faulted;
    let outage_started = Instant::now();
    let uploading = async {
        for i in 0..30 {
            stack
                .upload(
                    &format!("outage/{i}.txt"),
                    format!("outage file {i}").into_bytes(),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let (_, _during) = tokio::join!(
        uploading,
        run_instances(&stack, &raw, instances, outage, || false)
    );
    let contacts = stack.receiver.stats().faulted - faulted_before;
    let elapsed = outage_started.elapsed();
    // Before the breaker opens every instance may fail once; after that, one probe per cool-down at most.
    let cool_downs = elapsed.as_secs().div_ceil(2);
    assert!(
        contacts <= instances as u64 + cool_downs + 1,
        "the endpoint was contacted {contacts} times in {elapsed:?} ({cool_downs} cool-downs, {instances} instances)"
    );
    assert!(contacts >= 1, "the endpoint was tried");
    assert!(
        stack.delivered().is_empty(),
        "nothing delivered while the endpoint is down"
    );

    stack.receiver.set_fault(Fault::None);
    let queue_empty = std::sync::atomic::AtomicBool::new(false);
    let after = run_instances(&stack, &raw, instances, 2 * MINUTE, || {
        queue_empty.load(std::sync::atomic::Ordering::Relaxed)
    });
    let watch = async {
        let deadline = Instant::now() + 2 * MINUTE;
        while Instant::now() < deadline {
            if stack.delivered().len() == 30 && stack.queue_depth(&stack.queue_url).await == 0 {
                queue_empty.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let (invocations, ()) = tokio::join!(after, watch);
    assert_each_once(&stack, "outage", 30);
    assert!(
        stack.dead_letters().await.is_empty(),
        "no message reached the DLQ"
    );
    assert!(!invocations.is_empty());
    assert_eq!(stack.receiver.stats().rejected_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_endpoint_counts_as_failing_and_opens_the_breaker() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("HTTP_TIMEOUT_MS", "500");
    raw.set("BREAKER_FAILURE_THRESHOLD", "2");
    raw.set("BREAKER_COOLDOWN_SECONDS", "60");
    raw.set("BREAKER_COOLDOWN_MAX_SECONDS", "60");
    let metrics = common::Captured::default();
    let aggregator = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    stack.receiver.set_fault(Fault::Timeout {
        delay: Duration::from_secs(3),
    });
    let messages = files(&stack, "slow", 3).await;
    let deadline = SystemTime::now() + MINUTE;
    for m in &messages[..2] {
        let response = aggregator
            .handle(event_of(std::slice::from_ref(m)), deadline)
            .await;
        assert_eq!(
            failed_ids(&response),
            vec![m.message_id.clone().unwrap_or_default()]
        );
    }
    let text = metrics.text();
    assert_eq!(text.matches("\"FailuresTimeout\":1.0").count(), 2, "{text}");
    assert!(text.contains("\"BreakerOpened\":1.0"), "{text}");
    let state = common::breaker_state(&stack).await;
    assert_eq!(state.as_deref(), Some("OPEN"));

    // Open: the third file fails fast, without contacting the endpoint.
    let requests = stack.receiver.stats().requests;
    let response = aggregator.handle(event_of(&messages[2..]), deadline).await;
    assert_eq!(failed_ids(&response).len(), 1);
    assert_eq!(
        stack.receiver.stats().requests,
        requests,
        "the open breaker did not call the endpoint"
    );
    // Counted as refused by the breaker, not as another delivery failure.
    let refused = metrics
        .documents()
        .last()
        .and_then(|d| d["FailuresBreakerOpen"].as_f64());
    assert_eq!(refused, Some(1.0), "{}", metrics.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_between_archive_and_delivery_loses_nothing() {
    let stack = Stack::start_with(4, 50).await;
    let mut raw = stack.raw_config();
    // The function timeout below is 3 s: leave it time to archive and begin the delivery.
    raw.set("DEADLINE_MARGIN_MS", "500");
    // The endpoint stalls, so the invocation is surely between archive and delivery when it is killed.
    stack.receiver.set_fault(Fault::Timeout {
        delay: Duration::from_secs(30),
    });
    for i in 0..5 {
        stack
            .upload(
                &format!("crash/{i}.txt"),
                format!("crash file {i}").into_bytes(),
            )
            .await;
    }
    let doomed = stack.aggregator(&raw);
    // A short function timeout, so the claims' leases (the invocation's deadline) end soon after the kill.
    let poller = Poller::new(
        stack.sqs.clone(),
        Mapping {
            queue_url: stack.queue_url.clone(),
            batch_size: 10,
            batching_window: Duration::from_millis(500),
            function_timeout: Duration::from_secs(3),
        },
    )
    .expect("a mapping Lambda accepts");
    let invoking = async {
        loop {
            let _ = poller.invoke_once(&doomed, Duration::from_secs(2)).await;
        }
    };
    let archived = async {
        let started = Instant::now();
        loop {
            if !stack.archived_keys().await.is_empty() {
                break;
            }
            assert!(started.elapsed() < MINUTE, "no bundle was archived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The kill: the invocation is dropped wherever it is, as a Lambda instance that dies mid-way.
    tokio::select! {
        () = invoking => unreachable!("the invocation loop does not end"),
        () = archived => {}
    }
    assert!(stack.delivered().is_empty(), "killed before delivery");

    stack.receiver.set_fault(Fault::None);
    let survivor = stack.aggregator(&raw);
    stack.drain(&survivor, &stack.poller(10), 2 * MINUTE).await;
    assert_each_once(&stack, "crash", 5);
    assert!(stack.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_events_and_retried_batches_deliver_each_file_once() {
    let stack = Stack::start().await;
    let metrics = common::Captured::default();
    let aggregator = stack
        .aggregator(&stack.raw_config())
        .with_metrics_writer(Box::new(metrics.clone()));
    let mut messages = files(&stack, "repeat", 3).await;
    // S3 may send the same event twice: the same body under another message id, in the same batch.
    let mut twin = messages[0].clone();
    twin.message_id = Some("twin".into());
    messages.push(twin);
    let deadline = SystemTime::now() + MINUTE;
    let before_ms = epoch_ms(SystemTime::now());
    let first = aggregator.handle(event_of(&messages), deadline).await;
    assert!(first.batch_item_failures.is_empty());
    let after_ms = epoch_ms(SystemTime::now());
    // Each file's record says which bundle carried it and when the endpoint acknowledged it (what
    // `cargo xtask load --env` measures latency by).
    let stored = stack.receiver.stored_bundles().expect("bundles");
    let records = stack.claims().await;
    assert_eq!(records.len(), 3, "one record per distinct file");
    for record in &records {
        let field = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.as_s().or_else(|_| v.as_n()).ok())
                .cloned()
                .unwrap_or_else(|| panic!("{name} in {record:?}"))
        };
        assert_eq!(field("status"), "COMPLETED");
        assert_eq!(field("bundle_id"), stored[0].bundle_id);
        let at: i64 = field("completed_at_ms").parse().expect("a number");
        assert!(
            (before_ms..=after_ms).contains(&at),
            "{at} within the invocation"
        );
    }
    // The whole batch again, as if the response had been lost.
    let second = aggregator.handle(event_of(&messages), deadline).await;
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(stack.receiver.stored_bundles().expect("bundles").len(), 1);
    assert_each_once(&stack, "repeat", 3);
    assert!(
        metrics.text().contains("\"Duplicates\":3.0"),
        "{}",
        metrics.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_concurrent_invocations_deliver_each_file_once() {
    let stack = Stack::start().await;
    let raw = stack.raw_config();
    let (a, b) = (stack.aggregator(&raw), stack.aggregator(&raw));
    let messages = files(&stack, "overlap", 20).await;
    let mut first: Vec<SqsMessage> = messages[..15].to_vec();
    let mut second: Vec<SqsMessage> = messages[5..].to_vec();
    for m in &mut second {
        m.message_id = m.message_id.as_ref().map(|id| format!("{id}-b"));
    }
    let deadline = SystemTime::now() + MINUTE;
    for _round in 0..5 {
        let (ra, rb) = tokio::join!(
            a.handle(event_of(&first), deadline),
            b.handle(event_of(&second), deadline)
        );
        let (fa, fb) = (failed_ids(&ra), failed_ids(&rb));
        // What was reported failed comes back, as SQS would redeliver it.
        first.retain(|m| fa.contains(&m.message_id.clone().unwrap_or_default()));
        second.retain(|m| fb.contains(&m.message_id.clone().unwrap_or_default()));
        if first.is_empty() && second.is_empty() {
            break;
        }
    }
    assert!(first.is_empty() && second.is_empty(), "everything settled");
    assert_each_once(&stack, "overlap", 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_breaker_table_lets_delivery_proceed_and_is_counted() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("BREAKER_TABLE", "no-such-breaker-table");
    let metrics = common::Captured::default();
    let aggregator = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    let messages = files(&stack, "failopen", 2).await;
    let response = aggregator
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_each_once(&stack, "failopen", 2);
    let errors: f64 = metrics
        .documents()
        .iter()
        .filter_map(|d| d["BreakerErrors"].as_f64())
        .sum();
    assert!(
        errors >= 1.0,
        "breaker table errors are counted: {}",
        metrics.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_cannot_push_a_message_to_the_redrive_limit() {
    // The environment's promise, compressed: an outage of 10 s with holds doubling from 1 s to 2 s.
    let schedule = redelivery::Schedule::new(1, 2).expect("schedule");
    let outage = Duration::from_secs(10);
    let margin = 3;
    let max_receive_count = schedule.receives_within(outage) + margin;
    let stack = Stack::start_with(30, max_receive_count).await;
    let mut raw = stack.raw_config();
    raw.set("BREAKER_FAILURE_THRESHOLD", "1");
    raw.set("BREAKER_COOLDOWN_SECONDS", "1");
    raw.set("BREAKER_COOLDOWN_MAX_SECONDS", "1");
    for i in 0..10 {
        stack
            .upload(
                &format!("count/{i}.txt"),
                format!("count file {i}").into_bytes(),
            )
            .await;
    }
    stack.receiver.set_fault(Fault::Unavailable);
    let during = run_instances(&stack, &raw, 2, outage, || false).await;
    stack.receiver.set_fault(Fault::None);
    let aggregator = stack.aggregator(&raw);
    let after = stack.drain(&aggregator, &stack.poller(20), MINUTE).await;

    let highest = during
        .iter()
        .chain(&after)
        .map(|i| i.max_receive_count)
        .max()
        .unwrap_or(0);
    assert!(
        highest >= 3,
        "the outage made messages come back several times: {highest}"
    );
    assert!(
        highest < max_receive_count,
        "a message was received {highest} times; the redrive limit is {max_receive_count}"
    );
    assert!(stack.dead_letters().await.is_empty());
    assert_each_once(&stack, "count", 10);
    let by_count: HashMap<u32, usize> = during.iter().fold(HashMap::new(), |mut m, i| {
        *m.entry(i.max_receive_count).or_insert(0) += 1;
        m
    });
    eprintln!("receive counts during the outage: {by_count:?}; limit {max_receive_count}");
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped; mounting needs root or passwordless sudo.
struct Tmpfs {
    mount_point: tempfile::TempDir,
    sudo: bool,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let mount_point = tempfile::tempdir().expect("a mount point");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        let status = Tmpfs::command(!root, "mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=1777"),
                "tmpfs",
            ])
            .arg(mount_point.path())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "could not mount a {size} tmpfs at {} ({status:?}): this test needs root, or passwordless sudo \
             for mount and umount",
            mount_point.path().display()
        );
        Tmpfs {
            mount_point,
            sudo: !root,
        }
    }

    fn command(sudo: bool, program: &str) -> Command {
        if sudo {
            let mut command = Command::new("sudo");
            command.args(["-n", program]);
            command
        } else {
            Command::new(program)
        }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Tmpfs::command(self.sudo, "umount")
            .arg(self.path())
            .status();
    }
}

/// A temp dir too small for the batch (a 1 MiB tmpfs as SPOOL_DIR, downloads spooled there too): what fit in
/// a finished bundle is delivered, every other file's claim is released and its message comes back, nothing
/// is left in the temp dir, the failure is counted; with room, the same messages deliver the rest, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_temp_dir_loses_nothing_and_releases_every_claim() {
    let stack = Stack::start().await;
    let tmpfs = Tmpfs::mount("1m");
    let mut raw = stack.raw_config();
    raw.set("SPOOL_DIR", tmpfs.path().display().to_string());
    raw.set("MEMORY_SPOOL_LIMIT_BYTES", "0");
    let metrics = Captured::default();
    let cramped = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    let mut messages = Vec::new();
    for i in 0..6 {
        let key = format!("cramped/{i}.txt");
        let body = noise(i, 400_000);
        stack.upload(&key, body.clone()).await;
        messages.push(s3_message(&format!("cramped-{i}"), &key, &body));
    }
    let response = cramped
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    let failed = failed_ids(&response);
    let delivered = stack.delivered();
    assert!(
        !failed.is_empty(),
        "2.4 MB cannot pass through 1 MiB at once"
    );
    for i in 0..6 {
        let was_delivered = delivered.get(&format!("cramped/{i}.txt")).copied();
        let came_back = failed.contains(&format!("cramped-{i}"));
        assert!(
            matches!((was_delivered, came_back), (Some(1), false) | (None, true)),
            "file {i}: delivered {was_delivered:?}, message failed {came_back}"
        );
    }
    // The rest were handed back: their claims are given up as HELD (deferred), which a retry may claim at once.
    let statuses = statuses(&stack).await;
    assert_eq!(statuses.len(), 6, "a record for every file: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "COMPLETED").count(),
        delivered.len(),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "HELD deferred").count(),
        failed.len(),
        "{statuses:?}"
    );
    assert!(stack.dead_letters().await.is_empty());
    let left: Vec<_> = std::fs::read_dir(tmpfs.path()).expect("list").collect();
    assert!(left.is_empty(), "left in the temp dir: {left:?}");
    let document = &metrics.documents()[0];
    assert!(
        document["FailuresLocal"].as_f64() >= Some(1.0),
        "{document}"
    );
    assert_eq!(
        document["FilesDeferred"].as_f64(),
        Some(failed.len() as f64),
        "{document}"
    );

    let roomy = stack.aggregator(&stack.raw_config());
    let response = roomy
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_each_once(&stack, "cramped", 6);
}

/// With less than DEADLINE_MARGIN_MS (10 s by default) left, nothing is claimed, archived or delivered: the
/// batch is handed back whole, counted, and the next invocation delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadline_too_close_starts_no_delivery_and_claims_nothing() {
    let stack = Stack::start().await;
    let metrics = Captured::default();
    let aggregator = stack
        .aggregator(&stack.raw_config())
        .with_metrics_writer(Box::new(metrics.clone()));
    let messages = files(&stack, "late", 3).await;
    let response = aggregator
        .handle(
            event_of(&messages),
            SystemTime::now() + Duration::from_secs(5),
        )
        .await;
    assert_eq!(failed_ids(&response), message_ids(&messages));
    assert_eq!(
        statuses(&stack).await,
        ["HELD deferred"; 3],
        "nothing claimed; each file marked as waiting in the queue"
    );
    assert!(stack.archived_keys().await.is_empty(), "nothing archived");
    assert!(stack.delivered().is_empty(), "nothing delivered");
    assert_eq!(metrics.documents()[0]["FilesDeferred"].as_f64(), Some(3.0));

    let response = aggregator
        .handle(event_of(&messages), SystemTime::now() + MINUTE)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_each_once(&stack, "late", 3);
}

/// A POST that would outlive the deadline is cut at the time left minus DEADLINE_MARGIN_MS: the invocation
/// answers in time, the bundle is handed back without counting against the endpoint (the breaker stays
/// closed), and nothing stays claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_running_into_the_deadline_is_cut_and_handed_back() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("DEADLINE_MARGIN_MS", "1000");
    raw.set("HTTP_TIMEOUT_MS", "30000");
    raw.set("BREAKER_FAILURE_THRESHOLD", "1");
    let metrics = Captured::default();
    let aggregator = stack
        .aggregator(&raw)
        .with_metrics_writer(Box::new(metrics.clone()));
    let messages = files(&stack, "slow", 2).await;
    stack.receiver.set_fault(Fault::Timeout {
        delay: Duration::from_secs(20),
    });
    let deadline = SystemTime::now() + Duration::from_secs(5);
    let response = aggregator.handle(event_of(&messages), deadline).await;
    assert!(SystemTime::now() < deadline, "answered after the deadline");
    assert_eq!(failed_ids(&response), message_ids(&messages));
    assert_eq!(
        statuses(&stack).await,
        ["HELD deferred"; 2],
        "every claim given up"
    );
    assert!(stack.delivered().is_empty());
    assert_eq!(
        stack.archived_keys().await.len(),
        1,
        "archived before the delivery began"
    );
    assert_ne!(breaker_state(&stack).await.as_deref(), Some("OPEN"));
    let document = &metrics.documents()[0];
    assert_eq!(
        document["BundlesDeferred"].as_f64(),
        Some(1.0),
        "{document}"
    );
    assert!(document.get("FailuresTimeout").is_none(), "{document}");
}

/// A file whose message goes back to the queue leaves a HELD record saying when and why, so the daily report can
/// tell a file waiting in the queue from one that is lost: a claim given up after the endpoint failed, and a
/// file the open breaker turned away on its message's first receive; delivery then replaces it with COMPLETED.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_returned_to_the_queue_leaves_a_held_record_until_it_is_delivered() {
    let stack = Stack::start().await;
    let mut raw = stack.raw_config();
    raw.set("BREAKER_FAILURE_THRESHOLD", "1");
    let aggregator = stack.aggregator(&raw);
    stack.receiver.set_fault(Fault::Unavailable);
    let failed_first = files(&stack, "held", 2).await;
    let response = aggregator
        .handle(event_of(&failed_first), SystemTime::now() + MINUTE)
        .await;
    assert_eq!(failed_ids(&response), message_ids(&failed_first));
    assert_eq!(breaker_state(&stack).await.as_deref(), Some("OPEN"));
    let turned_away = s3_message("refused", "refused/0.txt", b"refused");
    stack.upload("refused/0.txt", b"refused".to_vec()).await;
    let response = aggregator
        .handle(
            event_of(std::slice::from_ref(&turned_away)),
            SystemTime::now() + MINUTE,
        )
        .await;
    assert_eq!(failed_ids(&response), ["refused"]);

    let mut held: Vec<(String, String, String)> = stack
        .claims()
        .await
        .iter()
        .map(|record| {
            let text = |name: &str| {
                record
                    .get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let key = text("id")
                .split_once('#')
                .map(|(k, _)| k.to_string())
                .unwrap_or_default();
            assert!(
                record
                    .get("held_at_ms")
                    .and_then(|v| v.as_n().ok())
                    .is_some(),
                "{record:?}"
            );
            (key, text("status"), text("hold_reason"))
        })
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            (
                "s3://landing/held/0.txt".to_string(),
                "HELD".to_string(),
                "endpoint-failed".to_string()
            ),
            (
                "s3://landing/held/1.txt".to_string(),
                "HELD".to_string(),
                "endpoint-failed".to_string()
            ),
            (
                "s3://landing/refused/0.txt".to_string(),
                "HELD".to_string(),
                "breaker-open".to_string()
            ),
        ]
    );

    stack.receiver.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut all = failed_first.clone();
    all.push(turned_away);
    let response = aggregator
        .handle(event_of(&all), SystemTime::now() + MINUTE)
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    let records = stack.claims().await;
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r["status"].as_s().is_ok_and(|s| s == "COMPLETED")),
        "{records:?}"
    );
}

/// Two events for one object version, one naming its version id and one not (as moto's never do): one file,
/// delivered once, whether they come in two batches or in one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_with_its_version_id_and_one_without_are_one_file() {
    let stack = Stack::start().await;
    let aggregator = stack.aggregator(&stack.raw_config());
    let deadline = SystemTime::now() + MINUTE;
    let body = b"one version, two events".to_vec();
    let first = stack.put("versions/0.txt", body.clone(), None).await;
    let second = stack.put("versions/1.txt", body.clone(), None).await;
    for batch in [
        vec![s3_message("0-without", "versions/0.txt", &body)],
        vec![s3_message_of_version(
            "0-with",
            "versions/0.txt",
            &body,
            Some(&first),
        )],
        vec![
            s3_message_of_version("1-with", "versions/1.txt", &body, Some(&second)),
            s3_message("1-without", "versions/1.txt", &body),
        ],
    ] {
        let response = aggregator.handle(event_of(&batch), deadline).await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_each_once(&stack, "versions", 2);
    let mut ids: Vec<String> = stack
        .claims()
        .await
        .iter()
        .filter_map(|c| c["id"].as_s().ok().cloned())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("s3://landing/versions/0.txt#version={first}"),
            format!("s3://landing/versions/1.txt#version={second}"),
        ]
    );
}
