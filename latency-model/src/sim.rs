//! The discrete-event simulation: files land, S3 notifies the queue after a delay, the mapping's concurrent
//! batches long-poll the queue (ten messages per receive), each gathering until its window ends, its batch is
//! full or the next record would pass 6 MB; each invokes the handler, whose invocation claims the files, then
//! per bundle downloads, bundles and archives them and POSTs the bundle over the link to the endpoint (one link,
//! its bandwidth shared equally by the POSTs under way), marks them delivered, and the mapping deletes the
//! batch. With an emulator for S3, SQS and DynamoDB (`Backend::Shared`), everything it serves shares it by
//! requests in flight: the claims, downloads, archive PUTs and marks of concurrent invocations (up to the
//! download concurrency each), the uploads (a file lands, and its notification is queued, when its PUT is
//! served), the mapping's receives and its deletes (one batch of ten after another).
//! Every minute the mapping scales as Lambda's does ([`crate::esm::Scaler`]).
//!
//! Failures as the aggregator handles them: while the endpoint is down (an outage window), a POST fails and the
//! batch's undelivered messages are held for the redelivery schedule's hold (`redelivery`); after as many
//! consecutive failures as the breaker's threshold, invocations fail fast without downloading. An invocation
//! that would outrun the function's timeout is cut at the timeout, and its messages come back after the queue's
//! visibility timeout. A message received more than maxReceiveCount times is dead-lettered.
//!
//! Not modelled: the breaker's cool-down after the endpoint recovers (the first invocation after the outage
//! delivers), throttling by S3 or DynamoDB, retries inside the SDK, other functions sharing the account's
//! concurrency.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::esm::{self, Batch, BatchRules, MappingError, Offer, Scaler};
use crate::outcome::{Invocations, Judgement, Outcome, Percentiles, Sample};
use crate::rng::Rng;
use crate::service::{Backend, FileWork, InvocationPlan, Objective, Pipeline};
use crate::shared::Shared;
use crate::traffic::{Judged, Scenario};

/// How often the backlog is sampled for the picture, seconds.
const SAMPLE_EVERY: f64 = 1.0;
/// Marks a shared backend's job as a message's upload (the message's id in the other bits; a poller's jobs
/// carry its id, counting up from 0).
const UPLOAD: u32 = 1 << 31;
/// How long after the last file lands the model keeps going before it calls the rest undelivered, seconds.
const HORIZON_AFTER: f64 = 6.0 * 3600.0;

/// Plays `scenario` through `pipeline` until every file is settled (or six hours after the last lands); the same
/// seed gives the same outcome.
pub fn simulate(
    pipeline: &Pipeline,
    scenario: &Scenario,
    seed: u64,
) -> Result<Outcome, MappingError> {
    run(pipeline, scenario, seed, None)
}

/// Like [`simulate`], but stops once a file has waited four times the objective's longest limit: it misses the
/// objective whenever it arrives, and a pipeline that cannot keep up would otherwise be played for hours. Files
/// not delivered by then count as never delivered; whether the objective is met is the same.
pub fn simulate_against(
    pipeline: &Pipeline,
    scenario: &Scenario,
    seed: u64,
    objective: &Objective,
) -> Result<Outcome, MappingError> {
    let longest = objective.targets.iter().map(|t| t.1).fold(0.0, f64::max);
    run(pipeline, scenario, seed, Some(4.0 * longest))
}

fn run(
    pipeline: &Pipeline,
    scenario: &Scenario,
    seed: u64,
    give_up_after: Option<f64>,
) -> Result<Outcome, MappingError> {
    let (rules, scaler) = pipeline.rules()?;
    let mut rng = Rng::new(seed);
    let mut messages: Vec<Message> = scenario
        .arrivals(&mut rng)
        .into_iter()
        .map(|a| Message {
            landed: a.landed,
            sent: a.landed + pipeline.service.notification_delay.draw(rng.normal()),
            bytes: a.bytes,
            judged: a.judged,
            receives: 0,
            received_at: 0.0,
            visible_since: 0.0,
            delivered: f64::NAN,
            gone: false,
            dead: false,
        })
        .collect();
    // Message ids are positions in the order the queue receives them.
    messages.sort_by(|a, b| a.sent.total_cmp(&b.sent));
    let mut landed: Vec<f64> = messages.iter().map(|m| m.landed).collect();
    landed.sort_by(f64::total_cmp);
    let outage_end = pipeline
        .endpoint
        .outage
        .map_or(0.0, |o| (o.start + o.duration).as_secs_f64());
    let horizon = scenario.length().max(outage_end) + HORIZON_AFTER;
    let mut sim = Sim {
        p: pipeline,
        rules,
        scaler,
        rng,
        messages,
        landed,
        now: 0.0,
        events: BinaryHeap::new(),
        sequence: 0,
        queue: VecDeque::new(),
        pollers: Vec::new(),
        idle: Idle::default(),
        next_arrival: 0,
        gone: 0,
        oldest: 0,
        oldest_undelivered: 0,
        give_up_after,
        delivered: 0,
        dead: 0,
        link: pipeline.endpoint.bytes_per_second.map(Shared::new),
        backend: matches!(pipeline.service.backend, Backend::Shared(_)).then(|| Shared::new(1.0)),
        invocations: 0,
        breaker_failures: 0,
        concurrency: 0,
        stats: Stats::default(),
        samples: Vec::new(),
    };
    sim.run(horizon);
    Ok(sim.outcome(seed))
}

struct Message {
    landed: f64,
    /// When it entered the queue.
    sent: f64,
    bytes: u64,
    judged: Judged,
    receives: u32,
    received_at: f64,
    /// When it last became visible in the queue.
    visible_since: f64,
    /// When the endpoint acknowledged its bundle; NaN until then.
    delivered: f64,
    /// Deleted or dead-lettered.
    gone: bool,
    dead: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A held or timed-out message is visible again.
    Visible(u32),
    ReceiveDone(u32),
    /// A batch's window ends (poller, generation of the batch).
    WindowEnd(u32, u32),
    /// A wait of an invocation's stage is over (poller, invocation).
    Timer(u32, u64),
    /// A shared server may have finished some work (server, its generation then).
    Served(Server, u32),
    /// An invocation's timeout (poller, invocation).
    Deadline(u32, u64),
    /// The mapping has deleted (or left) the batch's messages; the poller gathers again.
    PollerFree(u32),
    Tick,
    Sample,
}

struct Scheduled {
    at: f64,
    sequence: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest, ties in the order scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then(other.sequence.cmp(&self.sequence))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Long-polling: waiting for a message or the end of its batch's window.
    Idle,
    Receiving,
    Invoking,
    /// Deleting what its invocation handled, one batch of ten after another.
    Deleting,
    Retired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Delivered,
    EndpointDown,
    TimedOut,
}

/// The servers invocations may share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Server {
    /// S3 and DynamoDB, when they are one emulator.
    Backend,
    /// The link to the endpoint.
    Link,
}

/// Where an invocation is: Lambda starts it, the handler claims the files, then per bundle downloads and
/// bundles them, archives the bundle, transfers it and waits for the answer; then marks the files delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Starting,
    Claim,
    Bundle(usize),
    Archive(usize),
    Transfer(usize),
    Answer(usize),
    Mark,
    /// The endpoint refused or the breaker is open: the failure takes a round trip.
    Failing,
}

struct Running {
    id: u64,
    started: f64,
    /// Lambda's part of starting it (and the cold start).
    starting: f64,
    plan: InvocationPlan,
    stage: Stage,
    /// Parts of the stage not done yet.
    pending: u8,
    delivered: usize,
}

struct Poller {
    state: State,
    batch: Vec<u32>,
    tally: Batch,
    /// A message that did not fit the last batch's payload: it starts the next.
    carry: Option<u32>,
    window_end: f64,
    generation: u32,
    warm: bool,
    retiring: bool,
    running: Option<Running>,
}

/// The pollers waiting on a long poll, any of which SQS may answer, and the long polls that came back empty
/// while they waited (one per 20 s).
#[derive(Default)]
struct Idle {
    list: Vec<u32>,
    /// Where each poller is in `list`, and since when it waits.
    position: Vec<Option<(usize, f64)>>,
    empty_polls: u64,
}

impl Idle {
    fn insert(&mut self, p: u32, now: f64) {
        let i = p as usize;
        if self.position.len() <= i {
            self.position.resize(i + 1, None);
        }
        if self.position[i].is_none() {
            self.position[i] = Some((self.list.len(), now));
            self.list.push(p);
        }
    }

    fn remove(&mut self, p: u32, now: f64) -> bool {
        let Some((at, since)) = self.position.get(p as usize).copied().flatten() else {
            return false;
        };
        self.empty_polls += ((now - since) / esm::SQS_LONG_POLL_MAX.as_secs_f64()) as u64;
        self.list.swap_remove(at);
        if let Some(&moved) = self.list.get(at)
            && let Some(entry) = self.position[moved as usize].as_mut()
        {
            entry.0 = at;
        }
        self.position[p as usize] = None;
        true
    }

    fn pick(&mut self, rng: &mut Rng, now: f64) -> Option<u32> {
        if self.list.is_empty() {
            return None;
        }
        let p = self.list[rng.below(self.list.len())];
        self.remove(p, now);
        Some(p)
    }
}

#[derive(Default)]
struct Stats {
    invocations: u64,
    timed_out: u64,
    endpoint_failures: u64,
    bundles: u64,
    files_invoked: u64,
    peak_concurrency: usize,
    largest_batch_bytes: u64,
    largest_payload: usize,
    durations: Vec<f64>,
    gb_seconds: f64,
    sqs_requests: u64,
    peak_backlog: usize,
    peak_backlog_at: f64,
    peak_oldest_age: f64,
    finished_at: f64,
}

struct Sim<'a> {
    p: &'a Pipeline,
    rules: BatchRules,
    scaler: Scaler,
    rng: Rng,
    messages: Vec<Message>,
    landed: Vec<f64>,
    now: f64,
    events: BinaryHeap<Scheduled>,
    sequence: u64,
    /// Visible messages, oldest first.
    queue: VecDeque<u32>,
    pollers: Vec<Poller>,
    idle: Idle,
    next_arrival: usize,
    gone: usize,
    /// No message before this id is still in the queue.
    oldest: usize,
    /// Every message before this id is delivered or dead-lettered.
    oldest_undelivered: usize,
    give_up_after: Option<f64>,
    delivered: usize,
    dead: usize,
    link: Option<Shared>,
    backend: Option<Shared>,
    /// Invocations started: the last one's id.
    invocations: u64,
    breaker_failures: u32,
    concurrency: usize,
    stats: Stats,
    samples: Vec<Sample>,
}

impl Sim<'_> {
    fn schedule(&mut self, at: f64, event: Event) {
        self.sequence += 1;
        self.events.push(Scheduled {
            at,
            sequence: self.sequence,
            event,
        });
    }

    fn run(&mut self, horizon: f64) {
        for _ in 0..self.scaler.target() {
            self.add_poller();
        }
        self.schedule(esm::SCALE_INTERVAL.as_secs_f64(), Event::Tick);
        self.schedule(0.0, Event::Sample);
        loop {
            if self.gone == self.messages.len() {
                self.stats.finished_at = self.now;
                break;
            }
            let arrival = self.messages.get(self.next_arrival).map(|m| m.sent);
            let event = self.events.peek().map(|e| e.at);
            let arrival_first = match (arrival, event) {
                (Some(a), Some(e)) => a <= e,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if arrival_first {
                self.now = arrival.unwrap_or(self.now);
                let id = self.next_arrival as u32;
                self.next_arrival += 1;
                self.upload(id);
                let backlog = self.next_arrival - self.gone;
                if backlog > self.stats.peak_backlog {
                    self.stats.peak_backlog = backlog;
                    self.stats.peak_backlog_at = self.now;
                }
            } else if let Some(next) = self.events.pop() {
                self.now = next.at;
                if self.now > horizon {
                    break;
                }
                let sampled = next.event == Event::Sample;
                self.handle(next.event);
                if sampled && self.given_up() {
                    break;
                }
            }
        }
        self.sample();
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Visible(id) => self.visible(id),
            Event::ReceiveDone(p) => self.receive_done(p),
            Event::WindowEnd(p, generation) => {
                let poller = &self.pollers[p as usize];
                if poller.generation == generation
                    && poller.state == State::Idle
                    && !poller.batch.is_empty()
                {
                    self.idle.remove(p, self.now);
                    self.invoke(p);
                }
            }
            Event::Timer(p, id) => {
                if self.pollers[p as usize]
                    .running
                    .as_ref()
                    .is_some_and(|r| r.id == id)
                {
                    self.part_done(p);
                }
            }
            Event::Served(server, generation) => self.served(server, generation),
            Event::Deadline(p, id) => self.deadline(p, id),
            Event::PollerFree(p) => self.poller_free(p),
            Event::Tick => {
                // Waiting means left in the queue longer than a receive takes: a message that has just
                // arrived, with a long poll about to take it, is not a backlog (and regular arrivals
                // falling on the tick's instant would scale the mapping up for nothing).
                let waiting = self.queue.front().is_some_and(|&id| {
                    self.now - self.messages[id as usize].visible_since
                        > self.p.service.sqs_request_latency
                });
                let target = self.scaler.tick(waiting);
                self.rescale(target);
                self.schedule(self.now + esm::SCALE_INTERVAL.as_secs_f64(), Event::Tick);
            }
            Event::Sample => {
                self.sample();
                if !self.given_up() {
                    self.schedule(self.now + SAMPLE_EVERY, Event::Sample);
                }
            }
        }
    }

    /// Whether a file has waited longer than the run may let it.
    fn given_up(&mut self) -> bool {
        let Some(limit) = self.give_up_after else {
            return false;
        };
        while let Some(m) = self.messages.get(self.oldest_undelivered) {
            if !(m.delivered.is_finite() || m.dead) {
                break;
            }
            self.oldest_undelivered += 1;
        }
        self.messages
            .get(self.oldest_undelivered)
            .is_some_and(|m| m.sent <= self.now && self.now - m.landed > limit)
    }

    fn sample(&mut self) {
        while self.oldest < self.next_arrival && self.messages[self.oldest].gone {
            self.oldest += 1;
        }
        if self.oldest < self.next_arrival {
            let age = self.now - self.messages[self.oldest].sent;
            self.stats.peak_oldest_age = self.stats.peak_oldest_age.max(age);
        }
        self.samples.push(Sample {
            at: self.now,
            landed: self.landed.partition_point(|&t| t <= self.now),
            delivered: self.delivered,
            backlog: self.next_arrival - self.gone,
        });
    }

    fn visible(&mut self, id: u32) {
        self.messages[id as usize].visible_since = self.now;
        self.queue.push_back(id);
        if let Some(p) = self.idle.pick(&mut self.rng, self.now) {
            self.receive(p);
        }
    }

    /// A file lands. An emulator serves its upload among its other requests, and the notification is in
    /// the queue (and the file landed, for its latency) once the upload is done; S3 takes it at once.
    fn upload(&mut self, id: u32) {
        let pipeline = self.p;
        match (&pipeline.service.backend, self.backend.as_mut()) {
            (Backend::Shared(b), Some(shared)) => {
                if let Some((at, generation)) = shared.add(self.now, UPLOAD | id, b.upload, 1.0) {
                    self.schedule(at, Event::Served(Server::Backend, generation));
                }
            }
            _ => self.visible(id),
        }
    }

    fn uploaded(&mut self, id: u32) {
        self.messages[id as usize].landed = self.now;
        self.visible(id);
    }

    /// One receive: a request an emulator serves among the others, or SQS's latency.
    fn receive(&mut self, p: u32) {
        self.stats.sqs_requests += 1;
        self.pollers[p as usize].state = State::Receiving;
        let pipeline = self.p;
        match (&pipeline.service.backend, self.backend.as_mut()) {
            (Backend::Shared(b), Some(shared)) => {
                if let Some((at, generation)) = shared.add(self.now, p, b.sqs_request, 1.0) {
                    self.schedule(at, Event::Served(Server::Backend, generation));
                }
            }
            _ => self.schedule(
                self.now + pipeline.service.sqs_request_latency,
                Event::ReceiveDone(p),
            ),
        }
    }

    fn add_poller(&mut self) {
        let p = self.pollers.len() as u32;
        self.pollers.push(Poller {
            state: State::Idle,
            batch: Vec::new(),
            tally: Batch::default(),
            carry: None,
            window_end: 0.0,
            generation: 0,
            warm: false,
            retiring: false,
            running: None,
        });
        self.gather(p);
    }

    /// Scales the concurrent batches to `target`: new pollers start gathering; extra ones retire once their
    /// batch is done, at once if they hold none.
    fn rescale(&mut self, target: usize) {
        let mut have = self
            .pollers
            .iter()
            .filter(|p| p.state != State::Retired && !p.retiring)
            .count();
        for i in 0..self.pollers.len() {
            if have >= target {
                break;
            }
            let poller = &mut self.pollers[i];
            if poller.retiring {
                poller.retiring = false;
                have += 1;
            } else if poller.state == State::Retired {
                poller.state = State::Idle;
                have += 1;
                self.gather(i as u32);
            }
        }
        while have < target {
            self.add_poller();
            have += 1;
        }
        for i in (0..self.pollers.len()).rev() {
            if have <= target {
                break;
            }
            let poller = &mut self.pollers[i];
            if poller.state == State::Retired || poller.retiring {
                continue;
            }
            have -= 1;
            if poller.state == State::Idle && poller.batch.is_empty() && poller.carry.is_none() {
                poller.state = State::Retired;
                self.idle.remove(i as u32, self.now);
            } else {
                poller.retiring = true;
            }
        }
    }

    /// A poller starts a batch (with the message the last one could not take, if any).
    fn gather(&mut self, p: u32) {
        if let Some(id) = self.pollers[p as usize].carry.take() {
            let record = self.p.service.record_bytes;
            let poller = &mut self.pollers[p as usize];
            poller.tally.offer(&self.rules, record);
            poller.batch.push(id);
            self.start_window(p);
        }
        self.after_receive(p, false);
    }

    fn start_window(&mut self, p: u32) {
        let window = self.rules.window().as_secs_f64();
        let poller = &mut self.pollers[p as usize];
        poller.generation += 1;
        poller.window_end = self.now + window;
        let (at, generation) = (poller.window_end, poller.generation);
        if window > 0.0 {
            self.schedule(at, Event::WindowEnd(p, generation));
        }
    }

    fn receive_done(&mut self, p: u32) {
        let room = esm::SQS_RECEIVE_MAX
            .min(self.rules.batch_size() - self.pollers[p as usize].batch.len());
        let was_empty = self.pollers[p as usize].batch.is_empty();
        let mut full = false;
        let max_receives = self.p.queue.max_receive_count;
        let record = self.p.service.record_bytes;
        for _ in 0..room {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let message = &mut self.messages[id as usize];
            message.receives += 1;
            message.received_at = self.now;
            if message.receives > max_receives {
                message.dead = true;
                message.gone = true;
                self.dead += 1;
                self.gone += 1;
                continue;
            }
            let poller = &mut self.pollers[p as usize];
            match poller.tally.offer(&self.rules, record) {
                Offer::Taken => poller.batch.push(id),
                Offer::Full => {
                    poller.batch.push(id);
                    full = true;
                    break;
                }
                Offer::Cut => {
                    poller.carry = Some(id);
                    full = true;
                    break;
                }
            }
        }
        if was_empty && !self.pollers[p as usize].batch.is_empty() {
            self.start_window(p);
        }
        self.after_receive(p, full);
    }

    /// After a receive (or when a poller is free): invoke, receive again, or wait on a long poll.
    fn after_receive(&mut self, p: u32, full: bool) {
        let poller = &self.pollers[p as usize];
        let window_over = self.rules.window().is_zero() || self.now >= poller.window_end;
        if !poller.batch.is_empty() && (full || window_over) {
            self.invoke(p);
        } else if !self.queue.is_empty() {
            self.receive(p);
        } else {
            self.pollers[p as usize].state = State::Idle;
            self.idle.insert(p, self.now);
        }
    }

    fn invoke(&mut self, p: u32) {
        let pipeline = self.p;
        let s = &pipeline.service;
        let poller = &mut self.pollers[p as usize];
        poller.state = State::Invoking;
        let cold = !poller.warm;
        poller.warm = true;
        let payload = poller.tally.payload();
        poller.tally = Batch::default();
        self.concurrency += 1;
        self.stats.peak_concurrency = self.stats.peak_concurrency.max(self.concurrency);
        self.stats.invocations += 1;
        self.stats.largest_payload = self.stats.largest_payload.max(payload);
        let files: Vec<FileWork> = poller
            .batch
            .iter()
            .map(|&id| {
                let m = &self.messages[id as usize];
                FileWork {
                    bytes: m.bytes,
                    duplicate: m.delivered.is_finite(),
                }
            })
            .collect();
        self.stats.files_invoked += files.len() as u64;
        let batch_bytes = files.iter().map(|f| f.bytes).sum::<u64>();
        self.stats.largest_batch_bytes = self.stats.largest_batch_bytes.max(batch_bytes);
        let plan = pipeline.plan(&files);
        self.stats.bundles += plan.bundles.len() as u64;
        let starting = s.invoke_overhead + if cold { s.cold_start } else { 0.0 };
        self.invocations += 1;
        let id = self.invocations;
        self.pollers[p as usize].running = Some(Running {
            id,
            started: self.now,
            starting,
            plan,
            stage: Stage::Starting,
            pending: 0,
            delivered: 0,
        });
        // The timeout counts from the handler's start, after Lambda's part and the cold start.
        self.schedule(
            self.now + starting + pipeline.function.timeout.as_secs_f64(),
            Event::Deadline(p, id),
        );
        self.enter(p, Stage::Starting);
    }

    fn endpoint_down(&self, at: f64) -> bool {
        self.p.endpoint.outage.is_some_and(|o| o.covers(at))
    }

    /// Starts a stage of poller `p`'s invocation: each of its parts (a wait, or work on a shared server)
    /// must be done before the next stage.
    fn enter(&mut self, p: u32, stage: Stage) {
        let pipeline = self.p;
        let s = &pipeline.service;
        let batch = self.pollers[p as usize].batch.len();
        let Some(running) = self.pollers[p as usize].running.as_mut() else {
            return;
        };
        running.stage = stage;
        running.pending = 0;
        let (id, starting, claim) = (running.id, running.starting, running.plan.claim);
        let marks = running.delivered as f64 * running.plan.mark_per_file;
        // The requests an invocation has in flight at once: its share of an emulator that serves requests.
        let in_flight = |n: usize| n.min(pipeline.function.download_concurrency as usize) as f64;
        let delivered = in_flight(running.delivered);
        let bundle = match stage {
            Stage::Bundle(k) | Stage::Archive(k) | Stage::Transfer(k) | Stage::Answer(k) => {
                running.plan.bundles.get(k).cloned()
            }
            _ => None,
        };
        match (stage, bundle) {
            (Stage::Starting, _) => self.wait(p, id, starting),
            (Stage::Claim, _) => self.serve(p, id, Server::Backend, claim, in_flight(batch)),
            (Stage::Bundle(_), Some(b)) => {
                self.serve(p, id, Server::Backend, b.download, in_flight(b.files.len()));
                self.wait(p, id, b.cpu);
            }
            (Stage::Archive(_), Some(b)) => self.serve(p, id, Server::Backend, b.archive, 1.0),
            (Stage::Transfer(_), Some(b)) => {
                if self.endpoint_down(self.now) {
                    // A refused connection or a 503 answers within the round trip.
                    self.breaker_failures += 1;
                    self.enter(p, Stage::Failing);
                } else {
                    self.serve(p, id, Server::Link, b.out_bytes, 1.0);
                }
            }
            (Stage::Answer(_), Some(_)) => self.wait(p, id, s.post_round_trip),
            (Stage::Mark, _) => self.serve(p, id, Server::Backend, marks, delivered),
            (Stage::Failing, _) => self.wait(p, id, s.post_round_trip.max(s.sqs_request_latency)),
            // A bundle the plan does not have: nothing to do but go on.
            (_, None) => self.wait(p, id, 0.0),
        }
    }

    /// A part of the current stage that takes `seconds`.
    fn wait(&mut self, p: u32, id: u64, seconds: f64) {
        if let Some(running) = self.pollers[p as usize].running.as_mut() {
            running.pending += 1;
            self.schedule(self.now + seconds, Event::Timer(p, id));
        }
    }

    /// A part of the current stage that is `work` on a server, `weight` requests at once: shared with the
    /// other invocations when the server is shared, a wait otherwise.
    fn serve(&mut self, p: u32, id: u64, server: Server, work: f64, weight: f64) {
        let shared = match server {
            Server::Backend => self.backend.as_mut(),
            Server::Link => self.link.as_mut(),
        };
        match shared {
            Some(shared) => {
                let next = shared.add(self.now, p, work, weight);
                if let Some(running) = self.pollers[p as usize].running.as_mut() {
                    running.pending += 1;
                }
                if let Some((at, generation)) = next {
                    self.schedule(at, Event::Served(server, generation));
                }
            }
            // Without a shared link the POST's bytes cost nothing beyond the round trip.
            None if server == Server::Link => self.wait(p, id, 0.0),
            None => self.wait(p, id, work),
        }
    }

    fn served(&mut self, server: Server, generation: u32) {
        let now = self.now;
        let shared = match server {
            Server::Backend => self.backend.as_mut(),
            Server::Link => self.link.as_mut(),
        };
        let Some(shared) = shared else {
            return;
        };
        let Some(done) = shared.finish(now, generation) else {
            return;
        };
        if let Some((at, generation)) = shared.next() {
            self.schedule(at, Event::Served(server, generation));
        }
        for owner in done {
            if owner & UPLOAD != 0 {
                self.uploaded(owner & !UPLOAD);
            } else {
                match self.pollers[owner as usize].state {
                    State::Receiving => self.receive_done(owner),
                    State::Deleting => self.poller_free(owner),
                    _ => self.part_done(owner),
                }
            }
        }
    }

    fn part_done(&mut self, p: u32) {
        let Some(running) = self.pollers[p as usize].running.as_mut() else {
            return;
        };
        running.pending = running.pending.saturating_sub(1);
        if running.pending > 0 {
            return;
        }
        let stage = running.stage;
        let bundles = running.plan.bundles.len();
        let next = match stage {
            Stage::Starting => {
                let open = self.breaker_failures >= self.p.function.breaker_failure_threshold;
                // The breaker refuses before anything is claimed or downloaded.
                if open && self.endpoint_down(self.now) {
                    Stage::Failing
                } else {
                    Stage::Claim
                }
            }
            Stage::Claim if bundles == 0 => Stage::Mark,
            Stage::Claim => Stage::Bundle(0),
            Stage::Bundle(k) => Stage::Archive(k),
            Stage::Archive(k) => Stage::Transfer(k),
            Stage::Transfer(k) => Stage::Answer(k),
            Stage::Answer(k) => {
                self.delivered_bundle(p, k);
                if k + 1 < bundles {
                    Stage::Bundle(k + 1)
                } else {
                    Stage::Mark
                }
            }
            Stage::Mark => return self.invocation_end(p, Ending::Delivered),
            Stage::Failing => return self.invocation_end(p, Ending::EndpointDown),
        };
        self.enter(p, next);
    }

    /// The endpoint acknowledged bundle `k`: its files are delivered now.
    fn delivered_bundle(&mut self, p: u32, k: usize) {
        self.breaker_failures = 0;
        let now = self.now;
        let poller = &mut self.pollers[p as usize];
        let Some(running) = poller.running.as_mut() else {
            return;
        };
        let Some(bundle) = running.plan.bundles.get(k) else {
            return;
        };
        for &id in &poller.batch[bundle.files.clone()] {
            let message = &mut self.messages[id as usize];
            if !message.delivered.is_finite() {
                message.delivered = now;
                self.delivered += 1;
                running.delivered += 1;
            }
        }
    }

    /// The function's timeout: whatever the invocation was doing stops.
    fn deadline(&mut self, p: u32, id: u64) {
        if self.pollers[p as usize]
            .running
            .as_ref()
            .is_none_or(|r| r.id != id)
        {
            return;
        }
        for server in [Server::Backend, Server::Link] {
            let shared = match server {
                Server::Backend => self.backend.as_mut(),
                Server::Link => self.link.as_mut(),
            };
            if let Some((at, generation)) = shared.and_then(|s| s.remove(self.now, p)) {
                self.schedule(at, Event::Served(server, generation));
            }
        }
        self.invocation_end(p, Ending::TimedOut);
    }

    fn invocation_end(&mut self, p: u32, ending: Ending) {
        let now = self.now;
        let Some(running) = self.pollers[p as usize].running.take() else {
            return;
        };
        self.concurrency -= 1;
        let duration = now - running.started;
        self.stats.durations.push(duration);
        self.stats.gb_seconds += duration * f64::from(self.p.function.memory_mb) / 1024.0;
        let batch = std::mem::take(&mut self.pollers[p as usize].batch);
        let batch_len = batch.len();
        let mut deleted = 0usize;
        match ending {
            Ending::TimedOut => {
                // Lambda deletes nothing of a failed invocation: every message comes back after the queue's
                // visibility timeout, from when it was received.
                self.stats.timed_out += 1;
                let visibility = self.p.queue.visibility_timeout.as_secs_f64();
                for id in batch {
                    let at = self.messages[id as usize].received_at + visibility;
                    self.schedule(at.max(now), Event::Visible(id));
                }
            }
            Ending::EndpointDown | Ending::Delivered => {
                if ending == Ending::EndpointDown {
                    self.stats.endpoint_failures += 1;
                }
                for id in batch {
                    let message = &mut self.messages[id as usize];
                    if message.delivered.is_finite() {
                        message.gone = true;
                        self.gone += 1;
                        deleted += 1;
                    } else {
                        let hold = self.p.queue.redelivery.hold_for(message.receives);
                        self.schedule(now + hold.as_secs_f64(), Event::Visible(id));
                    }
                }
            }
        }
        let held = if ending == Ending::TimedOut {
            0
        } else {
            batch_len - deleted
        };
        self.stats.sqs_requests +=
            (deleted.div_ceil(esm::SQS_RECEIVE_MAX) + held.div_ceil(esm::SQS_RECEIVE_MAX)) as u64;
        let deletes = deleted.div_ceil(esm::SQS_RECEIVE_MAX) as f64;
        // The deletes go one after another: against an emulator, each a request it serves among the others.
        let pipeline = self.p;
        match (&pipeline.service.backend, self.backend.as_mut()) {
            (Backend::Shared(b), Some(shared)) if deletes > 0.0 => {
                self.pollers[p as usize].state = State::Deleting;
                if let Some((at, generation)) = shared.add(now, p, deletes * b.sqs_request, 1.0) {
                    self.schedule(at, Event::Served(Server::Backend, generation));
                }
            }
            _ => self.schedule(
                now + deletes * pipeline.service.sqs_request_latency,
                Event::PollerFree(p),
            ),
        }
    }

    fn poller_free(&mut self, p: u32) {
        let poller = &mut self.pollers[p as usize];
        if poller.retiring && poller.carry.is_none() {
            poller.retiring = false;
            poller.state = State::Retired;
            return;
        }
        self.gather(p);
    }

    fn outcome(self, seed: u64) -> Outcome {
        let mut all = Judgement::default();
        let mut steady = Judgement::default();
        let mut burst = Judgement::default();
        for m in &self.messages {
            let latency = m.delivered - m.landed;
            let count = |set: &mut Judgement| {
                set.total += 1;
                if latency.is_finite() {
                    set.sorted.push(latency);
                }
            };
            count(&mut all);
            match m.judged {
                Judged::WarmUp => {}
                Judged::Steady => count(&mut steady),
                Judged::Burst => count(&mut burst),
            }
        }
        for set in [&mut all, &mut steady, &mut burst] {
            set.sorted.sort_by(f64::total_cmp);
        }
        let mut durations = self.stats.durations.clone();
        durations.sort_by(f64::total_cmp);
        let s = &self.stats;
        Outcome {
            seed,
            files: self.messages.len(),
            delivered: self.delivered,
            dead_lettered: self.dead,
            latency: all.percentiles(),
            steady: steady.percentiles(),
            burst: (burst.total > 0).then(|| burst.percentiles()),
            peak_backlog: s.peak_backlog,
            peak_backlog_at: s.peak_backlog_at,
            peak_oldest_age: s.peak_oldest_age,
            invocations: Invocations {
                count: s.invocations,
                timed_out: s.timed_out,
                endpoint_failures: s.endpoint_failures,
                bundles: s.bundles,
                peak_concurrency: s.peak_concurrency,
                files_per_invocation: s.files_invoked as f64 / s.invocations.max(1) as f64,
                largest_batch_bytes: s.largest_batch_bytes,
                largest_payload_bytes: s.largest_payload,
                duration: Percentiles::of(&durations, durations.len()),
            },
            gb_seconds: s.gb_seconds,
            requests: s.invocations,
            sqs_requests: s.sqs_requests + self.idle.empty_polls,
            finished_at: s.finished_at,
            all_files: all,
            steady_files: steady,
            burst_files: burst,
            samples: self.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::esm::PAYLOAD_LIMIT_BYTES;
    use crate::service::{Background, Objective, Outage, test_pipeline};
    use crate::traffic::{Sizes, Spacing};

    fn steady(rate: f64, seconds: u64) -> Scenario {
        Scenario::steady(
            rate,
            Duration::from_secs(seconds),
            Sizes::Uniform {
                min: 50_000,
                max: 150_000,
            },
            Spacing::Poisson,
        )
    }

    fn run(pipeline: &Pipeline, scenario: &Scenario, seed: u64) -> Outcome {
        simulate(pipeline, scenario, seed).expect("valid mapping")
    }

    #[test]
    fn the_same_seed_gives_the_same_figures_and_another_seed_others() {
        let p = test_pipeline();
        let scenario = steady(20.0, 300);
        let a = run(&p, &scenario, 42);
        let b = run(&p, &scenario, 42);
        let c = run(&p, &scenario, 43);
        assert_eq!(a, b);
        assert_ne!(a.latency, c.latency);
    }

    #[test]
    fn at_a_low_rate_files_wait_for_the_batching_window_and_none_is_lost() {
        let p = test_pipeline();
        let window = p.mapping.window.as_secs_f64();
        let o = run(&p, &steady(1.0, 1200), 1);
        assert_eq!((o.delivered, o.dead_lettered), (o.files, 0), "{o:?}");
        // Every batch's first file waits the whole window; the others less, about half of it on average.
        let (p50, max) = (o.latency.p50.unwrap_or(0.0), o.latency.max.unwrap_or(0.0));
        assert!(max >= window, "max {max}");
        assert!(p50 >= 0.3 * window && p50 <= window + 5.0, "p50 {p50}");
        // Five concurrent batches gather at once: each takes about a fifth of the files of a window.
        assert!(
            (8.0..=16.0).contains(&o.invocations.files_per_invocation),
            "{:?}",
            o.invocations
        );
        assert!(o.meets(&Objective::default()));
    }

    #[test]
    fn an_outage_delays_files_by_at_least_its_length_and_loses_none() {
        let mut p = test_pipeline();
        let (start, length) = (600.0, 1800.0);
        p.endpoint.outage = Some(Outage {
            start: Duration::from_secs_f64(start),
            duration: Duration::from_secs_f64(length),
        });
        let o = run(&p, &steady(5.0, 3600), 7);
        assert_eq!((o.delivered, o.dead_lettered), (o.files, 0));
        assert!(o.invocations.endpoint_failures > 0);
        // The files landing as the outage starts arrive after it ends.
        assert!(o.latency.max.unwrap_or(0.0) >= length, "{:?}", o.latency);
        // Nothing is delivered while the endpoint is down.
        let during: Vec<usize> = o
            .samples
            .iter()
            .filter(|s| s.at > start + 1.0 && s.at < start + length)
            .map(|s| s.delivered)
            .collect();
        assert!(during.first() == during.last() && !during.is_empty());
        assert!(!o.meets(&Objective::default()));
    }

    #[test]
    fn an_invocation_cut_by_its_timeout_loses_nothing() {
        let mut p = test_pipeline();
        p.function.memory_mb = 128;
        p.function.timeout = Duration::from_secs(10);
        p.queue.visibility_timeout = Duration::from_secs(60);
        let o = run(&p, &steady(100.0, 60), 3);
        assert!(o.invocations.timed_out > 0, "{:?}", o.invocations);
        assert_eq!((o.delivered, o.dead_lettered), (o.files, 0));
    }

    #[test]
    fn batches_are_cut_at_six_mb_and_concurrency_grows_to_its_maximum_under_load() {
        let mut p = test_pipeline();
        p.mapping.batch_size = 10_000;
        p.mapping.maximum_concurrency = 40;
        p.function.memory_mb = 10_240;
        p.function.bundle_max_bytes = 2_000_000_000;
        let o = run(&p, &steady(2000.0, 180), 5);
        let per_record = p.service.record_bytes + 1;
        assert!(o.invocations.largest_payload_bytes <= PAYLOAD_LIMIT_BYTES);
        assert!(
            o.invocations.largest_payload_bytes > PAYLOAD_LIMIT_BYTES - per_record,
            "{:?}",
            o.invocations
        );
        assert!(o.invocations.peak_concurrency <= 40);
        assert!(o.invocations.peak_concurrency > 5, "{:?}", o.invocations);
        assert_eq!(o.delivered, o.files);
    }

    #[test]
    fn an_emulator_shared_by_concurrent_invocations_slows_each_of_them() {
        // Five concurrent batches open their windows with the first files and invoke together.
        let mut p = test_pipeline();
        p.service.dynamodb_claim_latency = 0.05;
        let alone = run(&p, &steady(10.0, 120), 4);
        p.service.backend = Backend::Shared(Background {
            upload: 0.0,
            sqs_request: 0.0,
        });
        let shared = run(&p, &steady(10.0, 120), 4);
        let (a, s) = (
            alone.invocations.duration.p50.unwrap_or(0.0),
            shared.invocations.duration.p50.unwrap_or(0.0),
        );
        assert!(s > 2.0 * a, "alone {a} s, sharing {s} s");
        assert_eq!(shared.delivered, shared.files);
    }

    #[test]
    fn uploads_served_by_the_shared_emulator_slow_the_invocations_down() {
        let mut p = test_pipeline();
        p.service.dynamodb_claim_latency = 0.05;
        let quiet = |upload| Background {
            upload,
            sqs_request: 0.0,
        };
        p.service.backend = Backend::Shared(quiet(0.0));
        let alone = run(&p, &steady(10.0, 300), 4);
        // At 10 files/s, 60 ms per upload keeps the emulator 60% busy before any invocation asks for it.
        p.service.backend = Backend::Shared(quiet(0.06));
        let busy = run(&p, &steady(10.0, 300), 4);
        let (a, b) = (
            alone.invocations.duration.p50.unwrap_or(0.0),
            busy.invocations.duration.p50.unwrap_or(0.0),
        );
        assert!(b > 1.5 * a, "alone {a} s, beside the uploads {b} s");
        assert!(
            busy.latency.p95.unwrap_or(0.0) > alone.latency.p95.unwrap_or(f64::INFINITY),
            "{:?} vs {:?}",
            busy.latency,
            alone.latency
        );
        assert_eq!(busy.delivered, busy.files);
    }

    #[test]
    fn arrivals_a_waiting_long_poll_takes_at_once_do_not_scale_the_mapping_up() {
        // Arrivals every 50 ms and receives of 45 ms: at every minute's tick a message has just arrived and a
        // long poll is taking it. Five batches gather them all as they come, so nothing waits and the mapping
        // stays at five; a backlog no poll takes scales it up.
        let mut p = test_pipeline();
        p.service.notification_delay = crate::service::Delay::NONE;
        p.service.sqs_request_latency = 0.045;
        let regular = |rate| {
            Scenario::steady(
                rate,
                Duration::from_secs(300),
                Sizes::Fixed(100_000),
                Spacing::Regular,
            )
        };
        let o = run(&p, &regular(20.0), 2);
        // Five batches of a minute's files each (twenty a second), not ten of half as many.
        assert!(
            o.invocations.files_per_invocation > 200.0,
            "{:?}",
            o.invocations
        );
        let busy = run(&p, &regular(400.0), 2);
        assert!(
            busy.invocations.peak_concurrency > 5,
            "{:?}",
            busy.invocations
        );
    }

    #[test]
    fn a_shared_link_slower_than_the_bundles_backs_up() {
        let mut p = test_pipeline();
        let fast = run(&p, &steady(50.0, 300), 9);
        // 50 files/s of ~100 KB at a ratio of 6.5 is ~770 KB/s of bundles; a 500 KB/s link cannot carry it.
        p.endpoint.bytes_per_second = Some(500_000.0);
        let slow = run(&p, &steady(50.0, 300), 9);
        assert!(
            slow.latency.p95.unwrap_or(f64::INFINITY) > fast.latency.p95.unwrap_or(0.0) + 60.0,
            "{:?} vs {:?}",
            slow.latency,
            fast.latency
        );
    }
}
