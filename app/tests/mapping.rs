//! The local event source mapping against moto: it cuts a batch before the message that would pass Lambda's
//! 6 MB payload and starts the next batch with it, accepts Lambda's largest batch and holds a batch for its
//! window, and runs several invocations at once when the backlog allows, starting at five and scaling up to
//! the maximum concurrency. The handler here is a probe that records what the mapping hands it; the queue is
//! moto's.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use app::poller::{Handler, Mapping, Poller, Scaling, record_bytes, run_mapping};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::Stack;
use latency_model::esm::PAYLOAD_LIMIT_BYTES;

/// Records every event it is handed and how many invocations run at once; answers with no failures.
#[derive(Default)]
struct Probe {
    events: Mutex<Vec<(usize, Vec<String>)>>,
    running: AtomicUsize,
    /// (seconds since `started`, invocations running) at each invocation's start.
    starts: Mutex<Vec<(f64, usize)>>,
    started: Mutex<Option<Instant>>,
    work: Duration,
}

impl Probe {
    fn handled(&self) -> usize {
        self.events
            .lock()
            .map(|e| e.iter().map(|(_, ids)| ids.len()).sum())
            .unwrap_or(0)
    }
}

/// One probe shared by every unit of concurrency.
struct Shared<'a>(&'a Probe);

impl Handler for Shared<'_> {
    async fn handle(&self, event: SqsEvent, _deadline: SystemTime) -> SqsBatchResponse {
        let probe = self.0;
        let running = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
        let since = probe
            .started
            .lock()
            .ok()
            .and_then(|s| s.map(|s| s.elapsed().as_secs_f64()))
            .unwrap_or(0.0);
        probe.starts.lock().expect("starts").push((since, running));
        let size = serde_json::to_vec(&event)
            .expect("the event serializes")
            .len();
        let ids = event
            .records
            .iter()
            .filter_map(|m| m.message_id.clone())
            .collect();
        probe.events.lock().expect("events").push((size, ids));
        tokio::time::sleep(probe.work).await;
        probe.running.fetch_sub(1, Ordering::SeqCst);
        SqsBatchResponse::default()
    }
}

fn mapping(stack: &Stack, batch_size: usize, window: Duration) -> Mapping {
    Mapping {
        queue_url: stack.queue_url.clone(),
        batch_size,
        batching_window: window,
        function_timeout: Duration::from_secs(60),
    }
}

async fn send(stack: &Stack, bodies: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(stack.send(&body).await);
    }
    ids
}

/// Empties the queue of what setting up the stack left (S3's test event).
async fn purge(stack: &Stack) {
    stack
        .sqs
        .purge_queue()
        .queue_url(&stack.queue_url)
        .send()
        .await
        .expect("purge the queue");
    wait_for_empty_queue(stack).await;
}

/// Waits until the queue holds no message, visible or in flight.
async fn wait_for_empty_queue(stack: &Stack) {
    let started = Instant::now();
    while stack.queue_depth(&stack.queue_url).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the queue did not empty"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_cut_before_the_message_that_would_pass_six_mb_and_that_message_starts_the_next()
{
    let stack = Stack::start().await;
    purge(&stack).await;
    // 28 messages of 240 KB: about 6.7 MB, so one invocation cannot take them all.
    let sent = send(
        &stack,
        (0..28).map(|i| format!("{i:03}{}", "x".repeat(240_000))),
    )
    .await;
    let poller = Poller::new(
        stack.sqs.clone(),
        mapping(&stack, 100, Duration::from_secs(3)),
    )
    .expect("a mapping Lambda accepts");
    let probe = Probe::default();
    let mut invocations = Vec::new();
    while probe.handled() < sent.len() {
        let invocation = poller
            .invoke_once(&Shared(&probe), Duration::from_secs(2))
            .await
            .expect("the mapping polls");
        assert!(
            invocations.len() < 5,
            "28 messages took more than 5 invocations"
        );
        invocations.push(invocation);
    }
    let events = probe.events.lock().expect("events").clone();
    assert!(
        events.len() >= 2,
        "the 6.7 MB were not split: {:?}",
        events.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    for (size, ids) in &events {
        assert!(
            *size <= PAYLOAD_LIMIT_BYTES,
            "an event of {size} bytes ({} records)",
            ids.len()
        );
    }
    // The first batch was cut by the payload, not by its size or window: one more record would not fit.
    let (first_size, first_ids) = &events[0];
    let record = first_size / first_ids.len();
    assert!(
        first_size + record > PAYLOAD_LIMIT_BYTES,
        "{first_size} bytes in {} records",
        first_ids.len()
    );
    // Every message exactly once, none lost; the one past the cut opens the next batch.
    let handled: Vec<&String> = events.iter().flat_map(|(_, ids)| ids).collect();
    let unique: HashSet<&String> = handled.iter().copied().collect();
    assert_eq!((handled.len(), unique.len()), (sent.len(), sent.len()));
    assert!(sent.iter().all(|id| unique.contains(id)));
    assert!(
        invocations
            .iter()
            .all(|i| i.failed == 0 && i.deleted == i.received)
    );
    wait_for_empty_queue(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_batch_lambda_allows_is_gathered_for_its_whole_window() {
    let stack = Stack::start().await;
    purge(&stack).await;
    let poller = Poller::new(
        stack.sqs.clone(),
        mapping(&stack, 10_000, Duration::from_secs(3)),
    )
    .expect("10,000 with a window is Lambda's largest batch");
    let first = send(&stack, ["first".to_string()]).await;
    let sending = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        send(&stack, (0..30).map(|i| format!("later {i}"))).await
    };
    let started = Instant::now();
    let (batch, later) = tokio::join!(poller.next_batch(Duration::from_secs(5)), sending);
    let batch = batch.expect("the mapping polls");
    // One batch holds the first message and the ones sent 1.5 s later: the window, not the first receive,
    // ended it, about 3 s after the first message.
    assert_eq!(
        batch.len(),
        1 + later.len(),
        "{} of {}",
        batch.len(),
        1 + later.len()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert!(batch.iter().any(|m| m.message_id == first.first().cloned()));
    let payload: usize = batch.iter().map(record_bytes).sum();
    assert!(payload < PAYLOAD_LIMIT_BYTES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_run_at_once_starting_at_five_and_scaling_to_the_maximum_concurrency() {
    let stack = Stack::start().await;
    purge(&stack).await;
    let sent = send(&stack, (0..80).map(|i| format!("message {i}"))).await;
    let probe = Probe {
        work: Duration::from_millis(300),
        ..Probe::default()
    };
    let handlers: Vec<Shared> = (0..8).map(|_| Shared(&probe)).collect();
    let interval = Duration::from_millis(1500);
    let stop = AtomicBool::new(false);
    *probe.started.lock().expect("started") = Some(Instant::now());
    let watching = async {
        let started = Instant::now();
        while probe.handled() < sent.len() && started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::SeqCst);
    };
    let scaling = Scaling {
        maximum_concurrency: 8,
        interval,
    };
    let one_at_a_time = mapping(&stack, 1, Duration::ZERO);
    let (ran, ()) = tokio::join!(
        run_mapping(&stack.sqs, &one_at_a_time, scaling, &handlers, &stop),
        watching
    );
    ran.expect("the mapping runs");
    assert_eq!(probe.handled(), sent.len());
    let starts = probe.starts.lock().expect("starts").clone();
    let before_tick = starts
        .iter()
        .filter(|(at, _)| *at < interval.as_secs_f64() - 0.1)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let peak = starts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    assert_eq!(before_tick, 5, "{starts:?}");
    assert_eq!(peak, 8, "{starts:?}");
    // Too few handlers for the maximum concurrency is refused, not silently run with fewer.
    let few: Vec<Shared> = (0..2).map(|_| Shared(&probe)).collect();
    let refused = run_mapping(&stack.sqs, &one_at_a_time, Scaling::new(8), &few, &stop).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("one handler per unit")));
}
