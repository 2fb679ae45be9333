//! An environment as written (every field public, defaults from [`Environment::new`]) and its validation
//! into a [`Validated`] environment, the only thing the pipeline model accepts.
//!
//! Validation reports every violated invariant at once, each naming the field and the fix, so one run of
//! `cargo xtask generate` shows everything wrong with an environment.

use std::fmt;
use std::time::Duration;

use redelivery::Schedule;

use crate::retention::Retention;
use crate::sizing::Sizing;

/// Receives that failures other than the endpoint's (a crash, a timeout, a throttled invocation) may cost a
/// message on top of the outage, before it must still not reach the dead-letter queue.
pub const OTHER_FAILURES_MARGIN: u32 = 10;
/// SQS's maximum message retention (14 days).
pub const SQS_MAX_RETENTION_SECONDS: u32 = 1_209_600;
/// SQS's minimum message retention.
pub const SQS_MIN_RETENTION_SECONDS: u32 = 60;
/// SQS's maximum visibility timeout (12 hours).
pub const SQS_MAX_VISIBILITY_SECONDS: u32 = redelivery::SQS_MAX_VISIBILITY_SECONDS;
/// Lambda's maximum batching window for SQS.
pub const MAX_BATCHING_WINDOW_SECONDS: u32 = 300;

/// What kind of environment this is; decides the provider, the state and the production rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Deployed into moto server on this machine, with local state.
    Local,
    /// A real AWS account for development.
    Development,
    /// The production account: the stricter rules apply.
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

/// Where bundles are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Nifi(Endpoint),
    Minio { endpoint: Endpoint, bucket: String },
}

impl Sink {
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Sink::Nifi(endpoint) | Sink::Minio { endpoint, .. } => endpoint,
        }
    }
}

/// The server the aggregator talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A real on-premise server reached over the private network: the link of `network.on_premise`.
    OnPremise {
        /// Its host is an address in `cidrs`, or a name under `network.on_premise.dns`'s domain.
        url: String,
        /// The server's address ranges: the only non-AWS destinations the Lambda's security group allows,
        /// inside the ranges `network.on_premise` routes.
        cidrs: Vec<String>,
        port: u16,
        /// The largest request body the server (or a proxy in front of it, such as nginx's
        /// `client_max_body_size`) accepts, when it has a cap; bundles are kept below it.
        max_request_bytes: Option<u64>,
    },
    /// The project's `receiver` deployed as a Lambda behind a function URL: a mock NiFi for dev. Its request cap
    /// and answer time are AWS's and its own ([`crate::sizing::mock_receiver_limits`]).
    MockReceiver,
    /// A receiver the local runner starts on this machine; nothing is deployed for it.
    LocalProcess { url: String },
}

impl Endpoint {
    pub fn is_mock(&self) -> bool {
        !matches!(self, Endpoint::OnPremise { .. })
    }
}

/// Which party uploads files, from where, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalParty {
    /// The AWS account that may assume the uploader role; `None` means this account (dev and local tests).
    pub account_id: Option<String>,
    /// The only source ranges PutObject is accepted from.
    pub source_cidrs: Vec<String>,
    /// The external id the party must present to assume the uploader role (the confused-deputy guard of
    /// cross-account roles); agreed with the party, one per environment.
    pub external_id: String,
    /// The key prefix the party may put into (ends with `/`); the rest of the landing bucket is not theirs.
    pub landing_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub availability_zone: String,
    pub cidr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub vpc_cidr: String,
    /// The subnets the Lambda runs in, each named by a letter (`private_a`, ...) in Terraform.
    pub private_subnets: Vec<Subnet>,
    /// A subnet for the NAT gateway, only when the endpoint is on the internet (the dev mock receiver).
    pub public_subnet: Option<Subnet>,
    /// Interface endpoints (VPC endpoints), by service name suffix; moto's local stack may leave some out.
    pub interface_endpoints: Vec<&'static str>,
    /// The private route to an on-premise endpoint and how its names resolve; `None` when the endpoint is not
    /// on-premise (dev's mock receiver, local's process).
    pub on_premise: Option<OnPremise>,
}

/// How the function's subnets reach the on-premise network: the ranges routed, over which link, and the DNS
/// forwarding for the endpoint's name. Validated by [`crate::on_premise`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnPremise {
    /// The on-premise ranges the private subnets route over the link, and nothing else: they hold the
    /// endpoint's ranges (the security group's egress) and the DNS servers.
    pub cidrs: Vec<String>,
    pub link: Link,
    /// Forwarding of the on-premise domain to the on-premise DNS servers; `None` when the endpoint's URL
    /// names an address.
    pub dns: Option<OnPremiseDns>,
}

/// The link between the VPC and the on-premise network, one of the three AWS offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// An existing Transit Gateway the network team runs, already connected to on-premise (by its own VPN or
    /// Direct Connect): the private subnets are attached to it and the on-premise ranges routed to it.
    TransitGateway { transit_gateway_id: String },
    /// A site-to-site VPN this stack creates (two IPsec tunnels) to the on-premise router.
    Vpn(Vpn),
    /// An existing Direct Connect gateway: a virtual private gateway of the VPC is associated with it.
    DirectConnect {
        gateway_id: String,
        /// The virtual private gateway's side of BGP (a private ASN).
        amazon_side_asn: u32,
    },
}

/// A site-to-site VPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpn {
    /// Where the tunnels end on the AWS side.
    pub gateway: VpnGateway,
    /// The on-premise router.
    pub customer_gateway: CustomerGateway,
    pub routing: VpnRouting,
}

/// The AWS end of a VPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpnGateway {
    /// A virtual private gateway this stack attaches to the VPC.
    VirtualPrivateGateway { amazon_side_asn: u32 },
    /// An existing Transit Gateway: the VPN and the private subnets are both attached to it.
    TransitGateway { transit_gateway_id: String },
}

/// The on-premise router a VPN connects to, as the network team gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerGateway {
    /// The router's static public IPv4 address.
    pub ip_address: String,
    /// The router's BGP autonomous system number (AWS asks for one even with static routing).
    pub bgp_asn: u32,
}

/// How the VPN learns which on-premise ranges lie behind which tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpnRouting {
    /// BGP over both tunnels: a tunnel that goes down is withdrawn by itself (AWS's recommendation).
    Bgp,
    /// The on-premise ranges as static routes of the VPN, for routers without BGP.
    Static,
}

/// The on-premise domain and the servers that answer for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnPremiseDns {
    /// Names under this domain are forwarded (e.g. `onprem.example.internal`); nothing else is.
    pub domain: String,
    /// The on-premise DNS servers' addresses, inside [`OnPremise::cidrs`].
    pub servers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// The size of `/tmp` (Lambda's `ephemeral_storage`, 512..=10240 MB): the spool of the bundle being built
    /// and the downloads in flight live there.
    pub ephemeral_storage_mb: u32,
    /// `BUNDLE_MAX_BYTES`: the largest bundle on the wire. `None` derives it: half of `/tmp`, and never more
    /// than the endpoint accepts in one request.
    pub bundle_max_bytes: Option<u64>,
    /// `OBJECT_MAX_BYTES`: larger objects are dead-lettered at once. `None` derives it: 64 MiB, and never more
    /// than fits in a bundle.
    pub object_max_bytes: Option<u64>,
    /// `DOWNLOAD_BUFFER_BYTES`: the bytes of downloads in flight at once.
    pub download_buffer_bytes: u64,
    /// `HTTP_TIMEOUT_MS`: the longest one delivery request may take.
    pub http_timeout: Duration,
    /// `DEADLINE_MARGIN_MS`: no archive or delivery starts with less than this left before the Lambda deadline.
    pub deadline_margin: Duration,
    pub architecture: Architecture,
    /// Concurrency reserved for the aggregator; the mapping's maximum concurrency must fit in it.
    pub reserved_concurrency: u32,
    pub log_retention_days: u32,
    pub rust_log: String,
    /// Optional tuning passed as environment variables (DOWNLOAD_CONCURRENCY, GZIP_LEVEL, ...).
    pub tuning: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub batch_size: u32,
    pub batching_window_seconds: u32,
    pub maximum_concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub visibility_timeout_seconds: u32,
    pub retention_seconds: u32,
    pub dlq_retention_seconds: u32,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    pub base_seconds: u32,
    pub max_seconds: u32,
    /// The longest outage of the endpoint that must lose nothing and need no manual step.
    pub outage_to_survive: Duration,
}

/// The backlog alarm fires above one hour of the declared traffic's files (`Traffic::files_per_hour`), and
/// the latency alarms watch the objective over windows the traffic fills (`crate::watch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarms {
    /// Where alarms are sent; production must have one.
    pub email: Option<String>,
    /// A backlog older than this is an incident (1 hour).
    pub oldest_message_age_seconds: u32,
    /// One composite alarm notifies instead of each alarm (moto cannot create composite alarms).
    pub composite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// Current landing objects expire this many days after they land.
    pub landing_expiry_days: u32,
    /// A replaced (noncurrent) landing version expires this many days after it was replaced.
    pub landing_noncurrent_expiry_days: u32,
    pub archive_deep_archive_after_days: u32,
}

/// The daily reconciliation report (`reporter/`): when it runs, its function, and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// When the report of the day before runs, UTC (hour, minute): after the day's last file can have been
    /// delivered (the batching window and the aggregator's timeout past midnight).
    pub runs_at: (u8, u8),
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// How many days reports are kept in the reports bucket.
    pub report_retention_days: u32,
    /// Read the day's versions from a daily S3 Inventory of the landing bucket (delivered into the reports
    /// bucket) instead of listing the bucket: what a volume of 100× the seeds needs.
    pub inventory: bool,
    /// Prefixes of the landing bucket listed at once.
    pub list_concurrency: u32,
}

/// The traffic the environment must carry within the latency objective; validation plays it through the
/// latency model (`latency.rs`). Defaults: the seeds' volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    pub average_files_per_second: u32,
    /// A burst at this rate, held for `burst_seconds` (0: none).
    pub burst_files_per_second: u32,
    pub burst_seconds: u32,
    pub file_bytes: u32,
    /// The link to the endpoint, shared by every delivery (a VPN, Direct Connect, the NAT gateway's internet).
    pub endpoint_megabits_per_second: u32,
}

impl Traffic {
    /// The files one hour of the declared average brings: the backlog that is an incident.
    pub fn files_per_hour(&self) -> u32 {
        self.average_files_per_second.saturating_mul(3600)
    }
}

/// How `cargo xtask deploy` moves the aggregator's `live` alias, which the queue invokes, to the version the
/// deploy published (`cargo xtask rollback` moves it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Every invocation goes to the new version at once.
    AllAtOnce,
    /// `weight_percent` of the invocations go to the new version for `bake`, while the function's error alarm
    /// and the latency alarms are watched; then all of them, or, as soon as one of those alarms fires, none
    /// (rolled back without anyone's help). `bake` must let every watched alarm see a whole period.
    Canary { weight_percent: u32, bake: Duration },
}

/// Whether a budget alert looks at what was spent or at what AWS forecasts for the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Actual,
    Forecasted,
}

/// An alert when the spend passes `percent` of the monthly limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetAlert {
    pub percent: u32,
    pub spend: Spend,
}

/// The monthly cost budget of the environment's account, alerting the alarm topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub monthly_usd: u32,
    pub alerts: Vec<BudgetAlert>,
}

/// An environment as written in `environments/src/<name>.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub kind: Kind,
    pub region: String,
    /// Prefix of every AWS name; buckets are global, so it should be unique to the organisation.
    pub name_prefix: String,
    /// The S3 bucket holding Terraform state (made by `cargo xtask bootstrap`); `None` for local state.
    pub state_bucket: Option<String>,
    pub prevent_destroy: bool,
    pub sink: Sink,
    pub external_party: ExternalParty,
    pub network: Network,
    pub storage: Storage,
    pub function: Function,
    pub mapping: Mapping,
    pub queue: Queue,
    pub redelivery: Redelivery,
    pub alarms: Alarms,
    /// 99.9% of files within this time of landing (DESIGN.md §1: 3 minutes).
    pub latency_objective_seconds: u32,
    pub traffic: Traffic,
    /// How often the endpoint credentials are rotated (`cargo xtask secret <env> --rotate`, then `--promote`):
    /// a secret is due this long after its current version was created.
    pub credentials_rotation_interval: Duration,
    pub reporter: Reporter,
    pub release: Release,
    /// `None` only where there is no bill: the local environment in moto (which cannot read a budget's
    /// subscribers back, docs/emulator-gaps.md).
    pub budget: Option<Budget>,
}

impl Environment {
    /// The defaults every environment starts from (DESIGN.md and the seeds); override fields per environment.
    pub fn new(name: &str, kind: Kind, region: &str) -> Environment {
        Environment {
            name: name.to_owned(),
            kind,
            region: region.to_owned(),
            name_prefix: format!("file-aggregator-{name}"),
            state_bucket: None,
            prevent_destroy: kind == Kind::Production,
            sink: Sink::Nifi(Endpoint::MockReceiver),
            external_party: ExternalParty {
                account_id: None,
                source_cidrs: Vec::new(),
                external_id: format!("file-aggregator-{name}"),
                landing_prefix: "incoming/".into(),
            },
            network: Network {
                vpc_cidr: "10.20.0.0/16".into(),
                private_subnets: vec![
                    Subnet {
                        availability_zone: format!("{region}a"),
                        cidr: "10.20.1.0/24".into(),
                    },
                    Subnet {
                        availability_zone: format!("{region}b"),
                        cidr: "10.20.2.0/24".into(),
                    },
                ],
                public_subnet: None,
                // SNS: the daily report publishes its summary to the alarm topic.
                interface_endpoints: vec![
                    "sqs",
                    "secretsmanager",
                    "kms",
                    "logs",
                    "monitoring",
                    "sns",
                ],
                on_premise: None,
            },
            storage: Storage {
                landing_expiry_days: 7,
                landing_noncurrent_expiry_days: 7,
                archive_deep_archive_after_days: 30,
            },
            function: Function {
                memory_mb: 1024,
                timeout_seconds: 90,
                ephemeral_storage_mb: 512,
                bundle_max_bytes: None,
                object_max_bytes: None,
                download_buffer_bytes: 64 << 20,
                http_timeout: Duration::from_secs(60),
                deadline_margin: Duration::from_secs(10),
                architecture: Architecture::Arm64,
                reserved_concurrency: 20,
                log_retention_days: 365,
                rust_log: "info".into(),
                tuning: Vec::new(),
            },
            mapping: Mapping {
                batch_size: 1000,
                batching_window_seconds: 60,
                maximum_concurrency: 10,
            },
            queue: Queue {
                visibility_timeout_seconds: 540,
                retention_seconds: SQS_MAX_RETENTION_SECONDS,
                dlq_retention_seconds: SQS_MAX_RETENTION_SECONDS,
                max_receive_count: 500,
            },
            redelivery: Redelivery {
                base_seconds: 20,
                max_seconds: 900,
                outage_to_survive: Duration::from_secs(4 * 86_400),
            },
            alarms: Alarms {
                email: None,
                oldest_message_age_seconds: 3_600,
                composite: true,
            },
            latency_objective_seconds: 180,
            // 864,000 files a day: 10 files/s on average, bursts of 100 files/s (five minutes assumed), ~100 KB.
            traffic: Traffic {
                average_files_per_second: 10,
                burst_files_per_second: 100,
                burst_seconds: 300,
                file_bytes: 100_000,
                endpoint_megabits_per_second: 100,
            },
            credentials_rotation_interval: Duration::from_secs(90 * 86_400),
            reporter: Reporter {
                runs_at: (8, 0),
                memory_mb: 1024,
                timeout_seconds: 900,
                // Production keeps a year and a month of reports (a month-on-month audit); elsewhere a month.
                report_retention_days: if kind == Kind::Production { 400 } else { 30 },
                inventory: false,
                list_concurrency: 8,
            },
            release: if kind == Kind::Production {
                Release::Canary {
                    weight_percent: 10,
                    bake: Duration::from_secs(15 * 60),
                }
            } else {
                Release::AllAtOnce
            },
            // About 1.5 times the model's bill for the seeds' volume (docs/performance-model.md: 389 USD a month
            // for prod, 413 for dev): a month that crosses it is not ordinary traffic.
            budget: Some(Budget {
                monthly_usd: 600,
                alerts: vec![
                    BudgetAlert {
                        percent: 80,
                        spend: Spend::Actual,
                    },
                    BudgetAlert {
                        percent: 100,
                        spend: Spend::Forecasted,
                    },
                ],
            }),
        }
    }

    /// Checks every invariant; all violations are returned together.
    pub fn validate(self) -> Result<Validated, Violations> {
        let mut v = Violations::new(&self.name);
        let schedule =
            match Schedule::new(self.redelivery.base_seconds, self.redelivery.max_seconds) {
                Ok(schedule) => Some(schedule),
                Err(error) => {
                    v.push("redelivery", format!("{error}"));
                    None
                }
            };
        self.check_queue(&mut v, schedule);
        self.check_function(&mut v);
        self.check_names(&mut v);
        self.check_production(&mut v);
        self.check_sink(&mut v);
        if self.credentials_rotation_interval < Duration::from_secs(86_400) {
            v.push(
                "credentials_rotation_interval",
                format!(
                    "{:?} is less than a day: a rotation needs the on-premise side to switch between --rotate and --promote; use days (the default is 90)",
                    self.credentials_rotation_interval
                ),
            );
        }
        crate::on_premise::check(&self, &mut v);
        self.check_external_party(&mut v);
        self.check_reporter(&mut v);
        crate::watch::check_release(&self, &mut v);
        self.check_budget(&mut v);
        let sizing = crate::sizing::check(&self, &mut v);
        let retention = schedule.map(|s| crate::retention::check(&self, s, &mut v));
        // The model needs settings that are valid in themselves; it runs last, on an environment that is.
        if v.list.is_empty() {
            crate::latency::check(&self, &mut v);
        }
        match (schedule, retention) {
            (Some(schedule), Some(retention)) if v.list.is_empty() => Ok(Validated {
                env: self,
                schedule,
                sizing,
                retention,
            }),
            _ => Err(v),
        }
    }

    fn check_queue(&self, v: &mut Violations, schedule: Option<Schedule>) {
        let q = &self.queue;
        let f = &self.function;
        let m = &self.mapping;
        let outage = self.redelivery.outage_to_survive.as_secs();
        if u64::from(q.visibility_timeout_seconds) < 6 * u64::from(f.timeout_seconds) {
            v.push(
                "queue.visibility_timeout_seconds",
                format!(
                    "{} s is less than 6 x the Lambda timeout ({} s): raise it to at least {} s (AWS's guidance for SQS event sources)",
                    q.visibility_timeout_seconds,
                    f.timeout_seconds,
                    6 * f.timeout_seconds
                ),
            );
        }
        if q.visibility_timeout_seconds > SQS_MAX_VISIBILITY_SECONDS {
            v.push(
                "queue.visibility_timeout_seconds",
                format!(
                    "{} s exceeds SQS's maximum of {SQS_MAX_VISIBILITY_SECONDS} s: lower it",
                    q.visibility_timeout_seconds
                ),
            );
        }
        for (field, retention) in [
            ("queue.retention_seconds", q.retention_seconds),
            ("queue.dlq_retention_seconds", q.dlq_retention_seconds),
        ] {
            if !(SQS_MIN_RETENTION_SECONDS..=SQS_MAX_RETENTION_SECONDS).contains(&retention) {
                v.push(
                    field,
                    format!(
                        "{retention} s is outside SQS's range {SQS_MIN_RETENTION_SECONDS}..={SQS_MAX_RETENTION_SECONDS} s: use a value within it"
                    ),
                );
            }
        }
        let needed = outage + u64::from(self.redelivery.max_seconds);
        if u64::from(q.retention_seconds) <= needed {
            v.push(
                "queue.retention_seconds",
                format!(
                    "{} s does not outlast the outage to survive ({outage} s) plus the redelivery maximum ({} s): raise it above {needed} s (at most {SQS_MAX_RETENTION_SECONDS} s) or shorten redelivery.outage_to_survive",
                    q.retention_seconds, self.redelivery.max_seconds
                ),
            );
        }
        if q.dlq_retention_seconds < q.retention_seconds {
            v.push(
                "queue.dlq_retention_seconds",
                format!(
                    "{} s is shorter than the source queue's retention ({} s), so a dead-lettered message could expire before anyone reads it: raise it to at least {} s",
                    q.dlq_retention_seconds, q.retention_seconds, q.retention_seconds
                ),
            );
        }
        if !(1..=1000).contains(&q.max_receive_count) {
            v.push(
                "queue.max_receive_count",
                format!(
                    "{} is outside SQS's range 1..=1000: use a value within it",
                    q.max_receive_count
                ),
            );
        }
        if let Some(schedule) = schedule {
            let receives = schedule.receives_within(self.redelivery.outage_to_survive);
            let needed = receives.saturating_add(OTHER_FAILURES_MARGIN);
            if needed >= q.max_receive_count {
                v.push(
                    "queue.max_receive_count",
                    format!(
                        "{} would dead-letter messages during a {outage} s outage: the redelivery schedule ({} s doubling to {} s) costs {receives} receives, plus a margin of {OTHER_FAILURES_MARGIN}; raise it above {needed} or raise redelivery.max_seconds",
                        q.max_receive_count,
                        schedule.base_seconds(),
                        schedule.max_seconds()
                    ),
                );
            }
        }
        if m.batching_window_seconds > MAX_BATCHING_WINDOW_SECONDS {
            v.push(
                "mapping.batching_window_seconds",
                format!(
                    "{} s exceeds Lambda's maximum of {MAX_BATCHING_WINDOW_SECONDS} s: lower it",
                    m.batching_window_seconds
                ),
            );
        }
        if m.batching_window_seconds + f.timeout_seconds > self.latency_objective_seconds {
            v.push(
                "mapping.batching_window_seconds",
                format!(
                    "the batching window ({} s) plus the Lambda timeout ({} s) exceeds the latency objective ({} s): shorten one of them",
                    m.batching_window_seconds, f.timeout_seconds, self.latency_objective_seconds
                ),
            );
        }
        // SQS allows up to 10,000 records per batch only with a batching window; without one, at most 10.
        let max_batch = if m.batching_window_seconds > 0 {
            10_000
        } else {
            10
        };
        if !(1..=max_batch).contains(&m.batch_size) {
            v.push(
                "mapping.batch_size",
                format!(
                    "{} is outside SQS's range 1..={max_batch} for a batching window of {} s: use a value within it",
                    m.batch_size, m.batching_window_seconds
                ),
            );
        }
        if !(2..=1000).contains(&m.maximum_concurrency) {
            v.push(
                "mapping.maximum_concurrency",
                format!(
                    "{} is outside Lambda's range 2..=1000 for SQS: use a value within it",
                    m.maximum_concurrency
                ),
            );
        }
        if m.maximum_concurrency > f.reserved_concurrency {
            v.push(
                "mapping.maximum_concurrency",
                format!(
                    "{} exceeds the function's reserved concurrency ({}), so the mapping would be throttled: lower it or raise function.reserved_concurrency",
                    m.maximum_concurrency, f.reserved_concurrency
                ),
            );
        }
    }

    fn check_function(&self, v: &mut Violations) {
        let f = &self.function;
        if !(1..=900).contains(&f.timeout_seconds) {
            v.push(
                "function.timeout_seconds",
                format!(
                    "{} s is outside Lambda's range 1..=900 s",
                    f.timeout_seconds
                ),
            );
        }
        if !(128..=10_240).contains(&f.memory_mb) {
            v.push(
                "function.memory_mb",
                format!(
                    "{} MB is outside Lambda's range 128..=10240 MB",
                    f.memory_mb
                ),
            );
        }
        const RETENTIONS: [u32; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        if !RETENTIONS.contains(&f.log_retention_days) {
            v.push(
                "function.log_retention_days",
                format!(
                    "{} is not a retention CloudWatch Logs accepts: use one of {RETENTIONS:?}",
                    f.log_retention_days
                ),
            );
        }
        for (name, _) in &f.tuning {
            if crate::pipeline::MODEL_VARIABLES.contains(name) {
                v.push(
                    "function.tuning",
                    format!(
                        "{name} is set by the model from the environment's typed fields, so tuning cannot override it: set the typed field instead (see infra-gen/src/pipeline.rs MODEL_VARIABLES)"
                    ),
                );
            }
        }
        if self.network.private_subnets.len() < 2 {
            v.push(
                "network.private_subnets",
                "a Lambda in a VPC needs subnets in at least two availability zones: add one"
                    .into(),
            );
        }
    }

    fn check_names(&self, v: &mut Violations) {
        let p = &self.name_prefix;
        let valid_prefix = !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
            && !p.ends_with('-');
        if !valid_prefix {
            v.push(
                "name_prefix",
                format!(
                    "{p:?} must be lowercase letters, digits and inner hyphens, because it starts S3 bucket names (every rendered name is then checked against its service's rules, infra-gen/src/aws_rules.rs)"
                ),
            );
        }
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_lowercase()) {
            v.push(
                "name",
                format!(
                    "{:?} must be lowercase letters: it names the directory generated/<name>/",
                    self.name
                ),
            );
        }
    }

    fn check_production(&self, v: &mut Violations) {
        match self.kind {
            Kind::Production => {
                if !self.prevent_destroy {
                    v.push(
                        "prevent_destroy",
                        "production must keep its data: set prevent_destroy to true".into(),
                    );
                }
                if self.alarms.email.is_none() {
                    v.push(
                        "alarms.email",
                        "production alarms must reach someone: set an alarm destination".into(),
                    );
                }
                if !self.alarms.composite {
                    v.push(
                        "alarms.composite",
                        "production notifies once per incident through the composite alarm: set it to true".into(),
                    );
                }
                if self.sink.endpoint().is_mock() {
                    v.push(
                        "sink",
                        "production must deliver to the real on-premise endpoint, not a mock: use Endpoint::OnPremise".into(),
                    );
                }
            }
            Kind::Local => {
                if self.state_bucket.is_some() {
                    v.push(
                        "state_bucket",
                        "the local environment keeps local state: set it to None".into(),
                    );
                }
            }
            Kind::Development => {}
        }
        if self.kind != Kind::Local && self.state_bucket.is_none() {
            v.push(
                "state_bucket",
                "a deployed environment keeps its state in S3: name the bucket `cargo xtask bootstrap` made".into(),
            );
        }
        if self.external_party.source_cidrs.is_empty() {
            v.push(
                "external_party.source_cidrs",
                "the uploader must be restricted to its IP ranges: list at least one".into(),
            );
        }
    }

    fn check_budget(&self, v: &mut Violations) {
        let Some(budget) = &self.budget else {
            if self.kind != Kind::Local {
                v.push(
                    "budget",
                    "a deployed environment has a bill to watch (a flood of files or a loop costs money before any health alarm fires): set a monthly budget".into(),
                );
            }
            return;
        };
        if budget.monthly_usd == 0 {
            v.push(
                "budget.monthly_usd",
                "a budget of 0 USD alerts every month from the first cent: set the most the environment may cost in a month".into(),
            );
        }
        if budget.alerts.is_empty() {
            v.push(
                "budget.alerts",
                "a budget without alerts tells nobody: add at least one (e.g. 80% actual, 100% forecasted)"
                    .into(),
            );
        }
        for alert in &budget.alerts {
            if !(1..=1000).contains(&alert.percent) {
                v.push(
                    "budget.alerts",
                    format!(
                        "{}% is not a useful threshold: use 1..=1000 percent of budget.monthly_usd",
                        alert.percent
                    ),
                );
            }
        }
    }

    fn check_external_party(&self, v: &mut Violations) {
        let party = &self.external_party;
        if let Err(broken) = crate::aws_rules::external_id(&party.external_id) {
            v.push(
                "external_party.external_id",
                format!(
                    "{:?} breaks {broken}: agree another one with the party",
                    party.external_id
                ),
            );
        }
        let prefix = &party.landing_prefix;
        let plain = prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if prefix.len() < 2 || !prefix.ends_with('/') || prefix.starts_with('/') || !plain {
            v.push(
                "external_party.landing_prefix",
                format!(
                    "{prefix:?} must be a key prefix such as \"incoming/\": letters, digits and - _ . /, not starting with / and ending with /, because it is the only place the uploader may put (and IAM would read * ? $ as wildcards or variables)"
                ),
            );
        }
    }

    fn check_reporter(&self, v: &mut Violations) {
        let r = &self.reporter;
        let (hour, minute) = r.runs_at;
        if hour > 23 || minute > 59 {
            v.push(
                "reporter.runs_at",
                format!(
                    "({hour}, {minute}) is not a time of day: give (hour 0-23, minute 0-59), UTC"
                ),
            );
        }
        // A file that lands at 23:59:59 is in a batch within the batching window, delivered within the
        // aggregator's timeout: a report earlier than that would count it as not yet delivered.
        let after_midnight = u32::from(hour) * 3600 + u32::from(minute) * 60;
        let settled = self.mapping.batching_window_seconds + self.function.timeout_seconds;
        if after_midnight < settled {
            v.push(
                "reporter.runs_at",
                format!(
                    "{hour:02}:{minute:02} UTC is {after_midnight} s after midnight, before the day's last file can have been delivered (the batching window, {} s, plus the aggregator's timeout, {} s): run it at {:02}:{:02} or later",
                    self.mapping.batching_window_seconds,
                    self.function.timeout_seconds,
                    settled.div_ceil(60) / 60,
                    settled.div_ceil(60) % 60
                ),
            );
        }
        if !(1..=900).contains(&r.timeout_seconds) {
            v.push(
                "reporter.timeout_seconds",
                format!(
                    "{} s is outside Lambda's range 1..=900 s",
                    r.timeout_seconds
                ),
            );
        }
        if !(128..=10_240).contains(&r.memory_mb) {
            v.push(
                "reporter.memory_mb",
                format!(
                    "{} MB is outside Lambda's range 128..=10240 MB",
                    r.memory_mb
                ),
            );
        }
        if r.report_retention_days == 0 {
            v.push(
                "reporter.report_retention_days",
                "0 days would delete each report as it is written: keep them at least a day".into(),
            );
        }
        if !(1..=256).contains(&r.list_concurrency) {
            v.push(
                "reporter.list_concurrency",
                format!("{} is outside 1..=256", r.list_concurrency),
            );
        }
    }

    fn check_sink(&self, v: &mut Violations) {
        match self.sink.endpoint() {
            Endpoint::MockReceiver => {
                if matches!(self.sink, Sink::Minio { .. }) {
                    v.push(
                        "sink",
                        "the mock receiver speaks NiFi's protocol only: use Sink::Nifi with it"
                            .into(),
                    );
                }
                if self.kind == Kind::Local {
                    v.push(
                        "sink",
                        "moto does not run Lambdas, so the local environment uses Endpoint::LocalProcess".into(),
                    );
                }
                if self.network.public_subnet.is_none() {
                    v.push(
                        "network.public_subnet",
                        "the mock receiver's function URL is on the internet: the VPC needs a public subnet for its NAT gateway".into(),
                    );
                }
            }
            Endpoint::OnPremise { url, cidrs, .. } => {
                if !url.starts_with("https://") {
                    v.push(
                        "sink",
                        format!(
                            "{url:?} must use https://: bundles and credentials cross the network"
                        ),
                    );
                }
                if cidrs.is_empty() {
                    v.push(
                        "sink",
                        "list the on-premise server's address ranges: they are the only non-AWS egress".into(),
                    );
                }
            }
            Endpoint::LocalProcess { .. } => {
                if self.kind != Kind::Local {
                    v.push(
                        "sink",
                        "Endpoint::LocalProcess exists only on this machine: use it in the local environment only".into(),
                    );
                }
            }
        }
    }
}

/// One violated invariant: the field to change (or, for a rule of AWS checked on the rendered module, the
/// Terraform address and attribute that breaks it) and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Every invariant an environment violates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Violations {
    pub environment: String,
    pub list: Vec<Violation>,
}

impl Violations {
    /// No violation yet, for `environment`.
    pub fn new(environment: &str) -> Violations {
        Violations {
            environment: environment.to_owned(),
            list: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, message: String) {
        self.list.push(Violation {
            field: field.into(),
            message,
        });
    }

    /// True when some violation names this field.
    pub fn names(&self, field: &str) -> bool {
        self.list.iter().any(|v| v.field == field)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "environment {:?} is not valid ({} problems):",
            self.environment,
            self.list.len()
        )?;
        for v in &self.list {
            writeln!(f, "  {}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

/// An environment whose invariants hold, with what validation derived; only [`Environment::validate`] makes one.
#[derive(Debug, Clone)]
pub struct Validated {
    env: Environment,
    schedule: Schedule,
    sizing: Sizing,
    retention: Retention,
}

impl Validated {
    pub fn env(&self) -> &Environment {
        &self.env
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The byte budgets the aggregator is given.
    pub fn sizing(&self) -> Sizing {
        self.sizing
    }

    /// The landing lifecycle against the queue's waits, and the redrive window.
    pub fn retention(&self) -> Retention {
        self.retention
    }
}
