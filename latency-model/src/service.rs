//! What the pipeline is made of, as the model sees it: the mapping's, function's, queue's and endpoint's
//! settings, and the service times of every step of an invocation — measured (the bench) or published (cited
//! here with source and date) or, where AWS publishes nothing, an assumption said to be one.

use std::ops::Range;
use std::time::Duration;

use redelivery::Schedule;
use serde::Serialize;

use crate::esm::{BatchRules, MappingError, Scaler};

/// Lambda gives a function one vCPU's worth of CPU at 1,769 MB and proportionally more or less
/// ("Configuring Lambda function memory", <https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>,
/// read 2026-11-22); at most 10,240 MB, so at most 5.79 vCPU.
pub const MB_PER_VCPU: f64 = 1769.0;

/// The service times of the steps of an invocation, and of the services around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTimes {
    /// CPU seconds per file besides bundling its bytes (parse, claim, download, archive, deliver, mark).
    pub cpu_seconds_per_file: f64,
    /// CPU seconds per input byte bundled (tar, gzip, SHA-256).
    pub cpu_seconds_per_byte: f64,
    /// Input bytes per bundle byte.
    pub compression_ratio: f64,
    /// How much CPU the function has.
    pub compute: Compute,
    /// One HeadObject's latency, seconds, for each file whose event has no version id: the handler looks the
    /// version up before claiming (moto's events omit it; S3's carry it, so none in AWS).
    pub s3_head_latency: f64,
    /// One S3 GET's latency before its bytes flow, seconds.
    pub s3_get_latency: f64,
    /// One connection's download rate, bytes per second.
    pub s3_get_bytes_per_second: f64,
    /// The function's own network, bytes per second, shared by all its downloads.
    pub function_bytes_per_second: f64,
    /// One claim (a conditional DynamoDB put), seconds.
    pub dynamodb_claim_latency: f64,
    /// One completion (a conditional DynamoDB update of the claim), seconds.
    pub dynamodb_complete_latency: f64,
    /// The archive PUT's latency, seconds, and its rate, bytes per second.
    pub s3_put_latency: f64,
    pub s3_put_bytes_per_second: f64,
    /// The POST's round trip to the endpoint (connection reused) and the endpoint's own processing, seconds.
    pub post_round_trip: f64,
    /// One SQS request (receive, delete batch), seconds.
    pub sqs_request_latency: f64,
    /// From the upload's acknowledgement to the notification's arrival in the queue.
    pub notification_delay: Delay,
    /// Lambda's part of invoking a warm function, seconds.
    pub invoke_overhead: f64,
    /// A new execution environment's start, seconds.
    pub cold_start: f64,
    /// One SQS record's bytes in the invocation event (toward the 6 MB payload).
    pub record_bytes: usize,
    /// Whether S3 and DynamoDB keep these times under any load (AWS) or are one server that concurrent
    /// invocations share (an emulator).
    pub backend: Backend,
}

/// S3's, SQS's and DynamoDB's side of the service times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Backend {
    /// Each invocation sees the same latencies however many run (S3 and DynamoDB scale).
    Scales,
    /// One server shared by the requests in flight (moto's one interpreter): claims, downloads, archive PUTs
    /// and marks of concurrent invocations slow each other down, and the uploads and the mapping's SQS
    /// requests are served by it too.
    Shared(Background),
}

/// The shared server's work besides the invocations', in seconds of its time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Background {
    /// One file's upload (its PUT into the landing bucket and the notification the PUT sends).
    pub upload: f64,
    /// One request of the mapping's (a receive, a delete batch).
    pub sqs_request: f64,
}

/// How much CPU an invocation gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Compute {
    /// Lambda's share for the function's memory ([`MB_PER_VCPU`]).
    Lambda,
    /// A fixed number of CPUs (a local run on this machine).
    Cpus(f64),
}

/// How long S3 takes to put an upload's notification into the queue: log-normal, by its median and 99th
/// percentile (zero for an emulator that notifies within the PUT).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delay {
    pub median: f64,
    pub p99: f64,
}

impl Delay {
    pub const NONE: Delay = Delay {
        median: 0.0,
        p99: 0.0,
    };

    /// A draw, given a standard normal.
    pub fn draw(&self, standard_normal: f64) -> f64 {
        if self.median <= 0.0 {
            return 0.0;
        }
        // p99 of a log-normal is median × e^(2.326 σ).
        let sigma = (self.p99 / self.median).max(1.0).ln() / 2.326;
        self.median * (sigma * standard_normal).exp()
    }
}

impl ServiceTimes {
    /// The figures for AWS, with the handler's CPU as the bench measured it on 2026-11-22 (docs/performance.md) until `cargo xtask bench` measures it again (the xtask reads `target/bench/bench.json`).
    pub fn aws() -> ServiceTimes {
        ServiceTimes {
            // Bench 2026-11-22: 2.46 CPU s per 1,000 files of 100 KB for the whole handler, of which bundling is
            // 8.47 CPU s per GB (0.85 ms per 100 KB file): the rest, 1.61 ms, is per file.
            cpu_seconds_per_file: 0.001_61,
            cpu_seconds_per_byte: 8.47e-9,
            // Bench 2026-11-22: 6.513 at level 5 on JSON-lines files (the local test data).
            compression_ratio: 6.513,
            compute: Compute::Lambda,
            // "Amazon S3 Performance: Timeouts and Retries for Latency-Sensitive Applications" (AWS whitepaper
            // "Best Practices Design Patterns: Optimizing Amazon S3 Performance", read 2026-11-22): for small
            // requests (< 512 KB) "median latencies [are] often in the range of tens of milliseconds". 30 ms.
            // S3's events of a versioned bucket carry the version id: no lookup.
            s3_head_latency: 0.0,
            s3_get_latency: 0.030,
            // Not published per connection; assumed 80 MB/s per connection and 75 MB/s (600 Mbit/s) for the
            // function's network, which AWS does not publish for Lambda either.
            s3_get_bytes_per_second: 80e6,
            function_bytes_per_second: 75e6,
            // "consistent, single-digit millisecond latency" (How AWS Pricing Works, DynamoDB, read
            // 2026-11-22); 8 ms assumed for a conditional write from a VPC through the gateway endpoint.
            dynamodb_claim_latency: 0.008,
            dynamodb_complete_latency: 0.008,
            s3_put_latency: 0.030,
            s3_put_bytes_per_second: 80e6,
            // Assumed: 20 ms round trip over the VPN to the on-premise NiFi plus its hash check.
            post_round_trip: 0.020,
            // Not published; assumed 15 ms per request.
            sqs_request_latency: 0.015,
            // "Typically, event notifications are delivered in seconds but can sometimes take a minute or
            // longer" (Amazon S3 Event Notifications, read 2026-11-22). The shape is assumed: median 1 s, 99th
            // percentile 10 s (99.9th about 21 s).
            notification_delay: Delay {
                median: 1.0,
                p99: 10.0,
            },
            // Assumed 20 ms; cold start: 10.5 ms for the process (bench, 2026-11-22) plus an assumed 200 ms
            // for Lambda to create the execution environment in the VPC.
            invoke_overhead: 0.020,
            cold_start: 0.21,
            // One S3 ObjectCreated notification as an SQS record in the event, with the attributes, receipt
            // handle and ARN Lambda adds; `local_mapping`'s tests check this against a real serialization.
            record_bytes: 1_800,
            backend: Backend::Scales,
        }
    }

    /// The CPUs an invocation gets with `memory_mb`.
    pub fn cpus(&self, memory_mb: u32) -> f64 {
        match self.compute {
            Compute::Lambda => f64::from(memory_mb) / MB_PER_VCPU,
            Compute::Cpus(n) => n,
        }
    }
}

/// The mapping's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MappingSettings {
    pub batch_size: u32,
    pub window: Duration,
    pub maximum_concurrency: u32,
}

/// The function's settings that shape its work.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Function {
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Objects downloaded (and claims written) at once (`DOWNLOAD_CONCURRENCY`).
    pub download_concurrency: u32,
    /// Input bytes per bundle (`BUNDLE_MAX_BYTES`): a larger batch becomes several bundles, delivered in sequence.
    pub bundle_max_bytes: u64,
    /// Consecutive endpoint failures that open the breaker (`BREAKER_FAILURE_THRESHOLD`).
    pub breaker_failure_threshold: u32,
}

/// The source queue's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QueueSettings {
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    #[serde(skip)]
    pub redelivery: Schedule,
}

/// The endpoint: how fast its link is, and when it is down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Endpoint {
    /// The link's bandwidth to the endpoint, shared by every POST; `None` when it never limits.
    pub bytes_per_second: Option<f64>,
    pub outage: Option<Outage>,
}

/// A window during which every delivery fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outage {
    /// Seconds from the start of the scenario.
    pub start: Duration,
    pub duration: Duration,
}

impl Outage {
    pub fn covers(&self, at: f64) -> bool {
        let start = self.start.as_secs_f64();
        at >= start && at < start + self.duration.as_secs_f64()
    }
}

/// Everything the model simulates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipeline {
    pub mapping: MappingSettings,
    pub function: Function,
    pub queue: QueueSettings,
    pub endpoint: Endpoint,
    pub service: ServiceTimes,
}

impl Pipeline {
    /// The mapping's rules, checked against Lambda's limits.
    pub fn rules(&self) -> Result<(BatchRules, Scaler), MappingError> {
        Ok((
            BatchRules::new(self.mapping.batch_size, self.mapping.window)?,
            Scaler::new(self.mapping.maximum_concurrency)?,
        ))
    }

    /// The work of one invocation of `files` (input bytes each; a duplicate is claimed and acknowledged only).
    pub fn plan(&self, files: &[FileWork]) -> InvocationPlan {
        let s = &self.service;
        let f = &self.function;
        let concurrency = f64::from(f.download_concurrency.max(1));
        let rounds = |n: usize, latency: f64| {
            if n == 0 {
                0.0
            } else {
                latency.max(n as f64 * latency / concurrency)
            }
        };
        let mut bundles = Vec::new();
        let mut start = 0;
        let mut bytes = 0u64;
        for (i, file) in files.iter().enumerate() {
            if file.duplicate {
                continue;
            }
            if bytes > 0 && bytes + file.bytes > f.bundle_max_bytes {
                bundles.push(self.bundle(start..i, files, &rounds));
                start = i;
                bytes = 0;
            }
            bytes += file.bytes;
        }
        if bytes > 0 {
            bundles.push(self.bundle(start..files.len(), files, &rounds));
        }
        InvocationPlan {
            claim: rounds(files.len(), s.s3_head_latency)
                + rounds(files.len(), s.dynamodb_claim_latency),
            bundles,
            mark_per_file: s.dynamodb_complete_latency / concurrency,
        }
    }

    fn bundle(
        &self,
        range: Range<usize>,
        files: &[FileWork],
        rounds: &impl Fn(usize, f64) -> f64,
    ) -> BundleWork {
        let s = &self.service;
        let fresh: Vec<&FileWork> = files[range.clone()]
            .iter()
            .filter(|f| !f.duplicate)
            .collect();
        let n = fresh.len();
        let bytes: f64 = fresh.iter().map(|f| f.bytes as f64).sum();
        let download = (rounds(n, s.s3_get_latency)
            + bytes
                / s.s3_get_bytes_per_second
                / f64::from(self.function.download_concurrency.max(1)))
        .max(bytes / s.function_bytes_per_second);
        let out_bytes = bytes / s.compression_ratio.max(1.0);
        BundleWork {
            files: range,
            download,
            cpu: (n as f64 * s.cpu_seconds_per_file + bytes * s.cpu_seconds_per_byte)
                / s.cpus(self.function.memory_mb).max(0.01),
            archive: s.s3_put_latency + out_bytes / s.s3_put_bytes_per_second,
            out_bytes,
        }
    }
}

/// One file of a batch, as the handler sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileWork {
    pub bytes: u64,
    /// Already delivered: claimed, found COMPLETED, acknowledged.
    pub duplicate: bool,
}

/// What an invocation does, in order: claim every file, then per bundle prepare (download, bundle, archive)
/// and POST, then mark the delivered files.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationPlan {
    pub claim: f64,
    pub bundles: Vec<BundleWork>,
    pub mark_per_file: f64,
}

/// One bundle's work: the downloads stream into the bundle writer, so downloading and bundling overlap and
/// the slower sets the pace; then the archive PUT, then the POST of `out_bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleWork {
    /// Its files: indexes into the batch (duplicates in the range are not in it).
    pub files: Range<usize>,
    /// Seconds of downloads (S3's side).
    pub download: f64,
    /// Seconds of CPU at the function's share.
    pub cpu: f64,
    /// Seconds of the archive PUT (S3's side).
    pub archive: f64,
    /// Bytes to POST.
    pub out_bytes: f64,
}

impl BundleWork {
    /// Download, bundle and archive, seconds, when S3 keeps its latencies.
    pub fn prepare(&self) -> f64 {
        self.download.max(self.cpu) + self.archive
    }
}

/// The latency objective: a share of files within a time, for each target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub targets: Vec<(f64, f64)>,
}

impl Objective {
    /// 95% of files within 2 minutes, 99.9% within `p999_seconds` (DESIGN.md §1: 3 minutes).
    pub fn new(p999_seconds: f64) -> Objective {
        Objective {
            targets: vec![(0.95, 120.0), (0.999, p999_seconds)],
        }
    }
}

impl Default for Objective {
    fn default() -> Objective {
        Objective::new(180.0)
    }
}

/// A pipeline like the environments' defaults at one vCPU, for tests.
#[cfg(test)]
pub(crate) fn test_pipeline() -> Pipeline {
    Pipeline {
        mapping: MappingSettings {
            batch_size: 1000,
            window: Duration::from_secs(60),
            maximum_concurrency: 10,
        },
        function: Function {
            memory_mb: 1769,
            timeout: Duration::from_secs(90),
            download_concurrency: 32,
            bundle_max_bytes: 1_000_000,
            breaker_failure_threshold: 5,
        },
        queue: QueueSettings {
            visibility_timeout: Duration::from_secs(540),
            max_receive_count: 500,
            redelivery: Schedule::new(20, 900).expect("valid"),
        },
        endpoint: Endpoint {
            bytes_per_second: None,
            outage: None,
        },
        service: ServiceTimes::aws(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        test_pipeline()
    }

    #[test]
    fn a_batch_over_the_bundle_cap_becomes_several_bundles_and_duplicates_are_not_bundled() {
        let p = pipeline();
        let files: Vec<FileWork> = (0..25)
            .map(|i| FileWork {
                bytes: 100_000,
                duplicate: i == 3,
            })
            .collect();
        let plan = p.plan(&files);
        assert_eq!(plan.bundles.len(), 3, "{plan:?}");
        let bundled: usize = plan
            .bundles
            .iter()
            .map(|b| {
                files[b.files.clone()]
                    .iter()
                    .filter(|f| !f.duplicate)
                    .count()
            })
            .sum();
        assert_eq!(bundled, 24);
        assert!(plan.claim > 0.0);
        // One vCPU: 10 files of 100 KB cost 10 × (1.61 ms + 0.85 ms) of CPU, less than the downloads'
        // 30 ms latency plus their bytes over 32 connections; then the archive PUT.
        let first = &plan.bundles[0];
        let download: f64 = 0.030 + 1e6 / 80e6 / 32.0;
        let expected = download.max(10.0 * (0.001_61 + 0.000_847)) + 0.030 + first.out_bytes / 80e6;
        assert!((first.prepare() - expected).abs() < 1e-9, "{first:?}");
    }

    #[test]
    fn more_memory_is_more_cpu() {
        let mut p = pipeline();
        let files = vec![
            FileWork {
                bytes: 100_000,
                duplicate: false
            };
            200
        ];
        p.function.bundle_max_bytes = u64::MAX;
        p.function.memory_mb = 128;
        let small = p.plan(&files).bundles[0].prepare();
        p.function.memory_mb = 1769;
        let one = p.plan(&files).bundles[0].prepare();
        p.function.memory_mb = 4 * 1769;
        let four = p.plan(&files).bundles[0].prepare();
        // CPU-bound at 128 MB; at one vCPU and more the function's network sets the pace.
        assert!(one < small / 5.0, "{small} → {one}");
        assert!(four <= one, "{one} → {four}");
    }

    #[test]
    fn notification_delays_have_their_median_and_tail() {
        let d = ServiceTimes::aws().notification_delay;
        assert!((d.draw(0.0) - 1.0).abs() < 1e-9);
        assert!((d.draw(2.326) - 10.0).abs() < 0.01);
        assert_eq!(Delay::NONE.draw(3.0), 0.0);
    }
}
