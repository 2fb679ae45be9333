//! The whole pipeline of DESIGN.md §4 composed from a validated environment, part by part: each part of
//! `pipeline/` builds the blocks of one component from the environment and the parts it refers to, and
//! [`Pipeline::new`] composes them in order. Every field's name is the Terraform name of the blocks it renders
//! (`landing` → `aws_s3_bucket.landing`, `aws_s3_bucket_policy.landing`, ...), so any address in generated/
//! leads back here in one step; [`crate::render`] says which file each field is written to.
//!
//! A new component is a new part (a module of `pipeline/` with a struct of its blocks and its constructor),
//! a field of [`Pipeline`] and its line in [`Pipeline::new`], and its row in `render.rs`.

mod aggregator;
mod identity;
mod monitoring;
mod network;
mod queues;
mod receiver;
mod reporter;
mod secrets;
mod storage;
mod tables;

use std::collections::BTreeMap;

use crate::config::{Endpoint, Environment, Validated};
use crate::function::{Alias, Function, LogGroup, Mapping};
use crate::identity::Role;
use crate::link::{OnPremiseDns, OnPremiseLink};
use crate::monitoring::{Alarm, Budget, CompositeAlarm, Dashboard, Topic};
use crate::network::{FlowLog, Network};
use crate::queue::{Queue, QueuePolicy};
use crate::secrets::{Key, Secret};
use crate::storage::{Bucket, Notification};
use crate::tables::Table;
use crate::tf::{Expr, Ref};

pub use receiver::Receiver;
pub use reporter::{INVENTORY_ID, INVENTORY_PREFIX, REPORTS_PREFIX, Reporter};

/// The object tag the aggregator sets on an archived bundle once the endpoint acknowledged it (app/src/archive.rs).
pub const DELIVERED_TAG: &str = "delivered-at";
/// The archive key layout the aggregator writes (documented for replay).
pub const ARCHIVE_KEY_LAYOUT: &str = "bundles/YYYY/MM/DD/HH/<bundle-id>.tar.gz";
/// Its first component: the aggregator's default `ARCHIVE_PREFIX`.
pub const ARCHIVE_PREFIX: &str = "bundles";
/// The metric namespace the aggregator emits through EMF.
pub const METRIC_NAMESPACE: &str = "FileAggregator";
/// The aggregator's alias the queue invokes; a release moves it between published versions.
pub const LIVE_ALIAS: &str = "live";
/// The file the dashboard body is rendered into, next to the Terraform files.
pub const DASHBOARD_FILE: &str = "dashboard.json";
/// The aggregator's environment variables the model sets from typed fields (`function.tuning` may not).
pub const MODEL_VARIABLES: [&str; 18] = [
    "ARCHIVE_BUCKET",
    "IDEMPOTENCY_TABLE",
    "BREAKER_TABLE",
    "CREDENTIALS_SECRET_ID",
    "DLQ_URL",
    "SOURCE_QUEUE_URL",
    "REDELIVERY_BASE_SECONDS",
    "REDELIVERY_MAX_SECONDS",
    "RUST_LOG",
    "SINK",
    "NIFI_URL",
    "MINIO_ENDPOINT",
    "MINIO_BUCKET",
    "BUNDLE_MAX_BYTES",
    "OBJECT_MAX_BYTES",
    "DOWNLOAD_BUFFER_BYTES",
    "HTTP_TIMEOUT_MS",
    "DEADLINE_MARGIN_MS",
];
/// The tag the provider puts on every resource to say where it comes from. S3 refuses commas and parentheses
/// in tags (docs/emulator-gaps.md), which moto accepts.
pub const MANAGED_BY: &str = "terraform via cargo xtask generate";

/// Every building block of one environment.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub validated: Validated,
    /// The provider's default tags: every taggable resource carries them.
    pub default_tags: BTreeMap<String, String>,
    pub account_id: Ref,
    pub lambda_package: Ref,
    // The key and the secret (pipeline/secrets.rs).
    pub key: Key,
    pub credentials: Secret,
    // The buckets (pipeline/storage.rs) and the queues they feed (pipeline/queues.rs).
    pub landing: Bucket,
    pub archive: Bucket,
    pub landing_events: Notification,
    pub archive_events: Notification,
    pub queue: Queue,
    pub dlq: Queue,
    pub queue_policy: QueuePolicy,
    pub dlq_policy: QueuePolicy,
    // The aggregator's state (pipeline/tables.rs).
    pub idempotency: Table,
    pub breaker: Table,
    // The function and its mapping (pipeline/aggregator.rs).
    pub aggregator_logs: LogGroup,
    pub aggregator_role: Role,
    pub aggregator: Function,
    pub aggregator_live: Alias,
    pub aggregator_mapping: Mapping,
    // The external party (pipeline/identity.rs).
    pub uploader_role: Role,
    // The VPC (pipeline/network.rs).
    pub network: Network,
    pub flow_logs: LogGroup,
    pub flow_logs_role: Role,
    pub network_flow_log: FlowLog,
    /// The link to the on-premise network and the routes over it (an on-premise endpoint only).
    pub on_premise: Option<OnPremiseLink>,
    /// The forwarding of the on-premise domain to its DNS servers (an on-premise endpoint named by a name).
    pub on_premise_dns: Option<OnPremiseDns>,
    /// Dev's mock NiFi (pipeline/receiver.rs).
    pub receiver: Option<Receiver>,
    /// The daily reconciliation report (pipeline/reporter.rs).
    pub reporter: Reporter,
    // Alarms, the dashboard and the budget (pipeline/monitoring.rs).
    pub alarms: Topic,
    pub health: Vec<Alarm>,
    pub incoming_anomaly: Alarm,
    pub pipeline_health: Option<CompositeAlarm>,
    pub dashboard: Dashboard,
    pub budget: Option<Budget>,
}

impl Pipeline {
    /// Each Lambda binary the environment deploys, with the Terraform variable that takes its zip.
    pub fn packages(&self) -> Vec<(&'static str, &Ref)> {
        let mut packages = vec![
            ("aggregator", &self.lambda_package),
            ("reporter", &self.reporter.reporter.package),
        ];
        packages.extend(
            self.receiver
                .as_ref()
                .map(|r| ("receiver", &r.receiver.package)),
        );
        packages
    }

    pub fn new(validated: &Validated) -> Pipeline {
        let env = validated.env();
        let account_id = Ref::data("aws_caller_identity", "current");
        let secrets = secrets::Secrets::new(env, &account_id.attr("account_id"));
        let cx = Context {
            validated,
            env,
            account: account_id.attr("account_id"),
            key_arn: secrets.key.arn(),
        };
        let storage = storage::Storage::new(&cx);
        let queues = queues::Queues::new(&cx, &storage.landing);
        let tables = tables::StateTables::new(&cx);
        let mut vpc = network::Vpc::new(&cx);
        let receiver = matches!(env.sink.endpoint(), Endpoint::MockReceiver)
            .then(|| Receiver::new(&cx, &secrets.credentials, &vpc.network));
        let stores = Stores {
            secrets: &secrets,
            storage: &storage,
            queues: &queues,
            tables: &tables,
        };
        let aggregator = aggregator::Aggregator::new(&cx, &stores, &vpc.network, receiver.as_ref());
        let alarms = monitoring::topic(&cx);
        let reporter = Reporter::new(&cx, &stores, &alarms, &vpc.network);
        let mut in_vpc = vec![("Aggregator", &aggregator.aggregator_role)];
        in_vpc.extend(receiver.as_ref().map(|r| ("Receiver", &r.receiver_role)));
        in_vpc.push(("Reporter", &reporter.reporter_role));
        vpc.admit(&cx, &in_vpc);
        let uploader_role = identity::uploader_role(&cx, &storage.landing);
        let monitoring = monitoring::Monitoring::new(
            &cx,
            &queues,
            &aggregator.aggregator,
            &reporter.reporter,
            alarms,
        );

        Pipeline {
            validated: validated.clone(),
            default_tags: [
                ("Project", "file-aggregator"),
                ("Environment", &env.name),
                ("ManagedBy", MANAGED_BY),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            account_id,
            lambda_package: aggregator.aggregator.package.clone(),
            key: secrets.key,
            credentials: secrets.credentials,
            landing: storage.landing,
            archive: storage.archive,
            landing_events: queues.landing_events,
            archive_events: storage.archive_events,
            queue: queues.queue,
            dlq: queues.dlq,
            queue_policy: queues.queue_policy,
            dlq_policy: queues.dlq_policy,
            idempotency: tables.idempotency,
            breaker: tables.breaker,
            aggregator_logs: aggregator.aggregator_logs,
            aggregator_role: aggregator.aggregator_role,
            aggregator: aggregator.aggregator,
            aggregator_live: aggregator.aggregator_live,
            aggregator_mapping: aggregator.aggregator_mapping,
            uploader_role,
            network: vpc.network,
            flow_logs: vpc.flow_logs,
            flow_logs_role: vpc.flow_logs_role,
            network_flow_log: vpc.network_flow_log,
            on_premise: vpc.on_premise,
            on_premise_dns: vpc.on_premise_dns,
            receiver,
            reporter,
            alarms: monitoring.alarms,
            health: monitoring.health,
            incoming_anomaly: monitoring.incoming_anomaly,
            pipeline_health: monitoring.pipeline_health,
            dashboard: monitoring.dashboard,
            budget: monitoring.budget,
        }
    }
}

/// The stores the functions work on.
struct Stores<'a> {
    secrets: &'a secrets::Secrets,
    storage: &'a storage::Storage,
    queues: &'a queues::Queues,
    tables: &'a tables::StateTables,
}

/// What every part is built from: the validated environment, the account, and the key every store is
/// encrypted with.
struct Context<'a> {
    validated: &'a Validated,
    env: &'a Environment,
    account: Expr,
    key_arn: Expr,
}

impl Context<'_> {
    /// `<name_prefix>-<suffix>`: how the environment names what it creates.
    fn named(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.env.name_prefix)
    }

    /// A log group with the environment's retention, encrypted with its key.
    fn log_group(&self, name: &'static str, group_name: String) -> LogGroup {
        LogGroup {
            name,
            group_name,
            retention_days: self.env.function.log_retention_days,
            key_arn: self.key_arn.clone(),
        }
    }
}
