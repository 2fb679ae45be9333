//! The local event source mapping against moto: it cuts a batch before the message that would pass Lambda's
//! 6 MB payload and starts the next batch with it, accepts Lambda's largest batch and holds a batch for its
//! window, and runs several invocations at once when the backlog allows, starting at five and scaling up to
//! the maximum concurrency, and hands on what a batch gathered when a receive fails. The handler here is a
//! probe that records what the mapping hands it; the queue is moto's, through the emulator's launcher, whose
//! changes to moto's SQS (faster scans, deletes under the queue's lock) are checked here too: what a mapping
//! sees of a queue is what they change.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use emulator::Moto;
use latency_model::esm::PAYLOAD_LIMIT_BYTES;
use local_mapping::{Handler, Mapping, Poller, Scaling, queue_depth, record_bytes, run_mapping};
use test_support::moto::sdk_config;

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

/// moto with one empty queue, which the mapping polls.
struct Stack {
    _moto: Moto,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Stack {
    async fn start() -> Stack {
        let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(moto.endpoint()).await);
        let queue_url = sqs
            .create_queue()
            .queue_name("files")
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .expect("a queue url");
        Stack {
            _moto: moto,
            sqs,
            queue_url,
        }
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
        let out = stack
            .sqs
            .send_message()
            .queue_url(&stack.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send a message");
        ids.push(out.message_id.expect("a message id"));
    }
    ids
}

/// Waits until the queue holds no message, visible or in flight.
async fn wait_for_empty_queue(stack: &Stack) {
    let started = Instant::now();
    while queue_depth(&stack.sqs, &stack.queue_url)
        .await
        .expect("the queue's depth")
        > 0
    {
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

/// A receive that fails while a batch is gathering (the emulator gone, a refused connection) ends the window
/// early: the messages already received are in flight, and a batch dropped with the error would hide them for
/// the queue's visibility timeout (nine minutes on the deployed queues) before anyone handled them.
#[tokio::test]
async fn a_receive_that_fails_mid_window_hands_on_the_messages_already_received() {
    let Stack {
        _moto: moto,
        sqs,
        queue_url,
    } = Stack::start().await;
    let sent = sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body("received before the failure")
        .send()
        .await
        .expect("send a message")
        .message_id;
    let poller = Poller::new(
        sqs.clone(),
        Mapping {
            queue_url,
            batch_size: 10,
            batching_window: Duration::from_secs(5),
            function_timeout: Duration::from_secs(60),
        },
    )
    .expect("a valid mapping");
    // The first receive takes the message and opens the window; the emulator stops while the next one waits.
    let failing = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        drop(moto);
    };
    let (batch, ()) = tokio::join!(poller.next_batch(Duration::from_secs(2)), failing);
    let batch = batch.expect("the batch gathered before the failure, not the failure");
    let ids: Vec<Option<String>> = batch.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids, vec![sent]);
}

/// The queue under the mapping keeps every message while batches are deleted and notifications arrive at
/// once: moto's delete rebuilt the queue's list without its lock, so a message sent meanwhile vanished and of
/// two deletes one was undone (the emulator's launcher runs it under the lock).
#[tokio::test]
async fn the_emulated_queue_loses_no_message_to_deletes_and_sends_at_once() {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
    use futures::StreamExt;

    let stack = Stack::start().await;
    let sqs = &stack.sqs;
    let url = &stack.queue_url;
    let send_batches = |prefix: &'static str, batches: usize| {
        futures::stream::iter(0..batches).map(move |b| async move {
            let entries = (0..10)
                .map(|i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(format!("{prefix}-{b}-{i}"))
                        .build()
                        .expect("an entry")
                })
                .collect();
            sqs.send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send a batch");
        })
    };
    // A thousand messages in flight, as in the mapping's open windows.
    send_batches("held", 100)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let mut receipts = Vec::new();
    while receipts.len() < 1000 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        receipts.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.receipt_handle.clone()),
        );
    }
    let deletes = futures::stream::iter(receipts.chunks(10)).map(|chunk| async move {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .expect("an entry")
            })
            .collect();
        let out = sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("delete a batch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    });
    // Every held message deleted while 500 new ones arrive.
    tokio::join!(
        deletes.buffer_unordered(8).collect::<Vec<()>>(),
        send_batches("new", 50)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
    );
    let depth = |name: QueueAttributeName| async move {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .expect("attributes")
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<usize>().ok())
            .expect("a count")
    };
    assert_eq!(
        depth(QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await,
        0,
        "deleted messages came back"
    );
    assert_eq!(
        depth(QueueAttributeName::ApproximateNumberOfMessages).await,
        500,
        "messages sent during the deletes were lost"
    );
}

/// The emulator's launcher counts and lists a queue's messages with one clock reading per scan: a delayed
/// message stays hidden until its delay ends (a long poll picks it up then), a received one until its
/// visibility timeout ends, and the counts say so.
#[tokio::test]
async fn the_emulated_queue_keeps_delays_and_visibility_timeouts() {
    let stack = Stack::start().await;
    let (sqs, url) = (&stack.sqs, &stack.queue_url);
    send(&stack, (0..3).map(|i| format!("now-{i}"))).await;
    sqs.send_message()
        .queue_url(url)
        .message_body("later")
        .delay_seconds(1)
        .send()
        .await
        .expect("send a delayed message");
    let counts = || async {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("attributes");
        let attributes = out.attributes().cloned().unwrap_or_default();
        let count = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a count")
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        )
    };
    let bodies = |out: aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput| {
        let mut b: Vec<String> = out
            .messages()
            .iter()
            .filter_map(|m| m.body.clone())
            .collect();
        b.sort();
        b
    };
    assert_eq!(counts().await, (3, 0, 1), "visible, in flight, delayed");
    let first = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(2)
        .send()
        .await
        .expect("receive");
    assert_eq!(bodies(first), ["now-0", "now-1", "now-2"]);
    assert_eq!(counts().await, (0, 3, 1));
    // A long poll returns the delayed message once its delay is over, and nothing of those in flight.
    let later = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(5)
        .visibility_timeout(30)
        .send()
        .await
        .expect("receive");
    assert_eq!(bodies(later), ["later"]);
    // The first three come back when their visibility timeout ends.
    let again = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive");
    let again = bodies(again);
    assert!(
        !again.is_empty() && again.iter().all(|b| b.starts_with("now-")),
        "{again:?}"
    );
}
