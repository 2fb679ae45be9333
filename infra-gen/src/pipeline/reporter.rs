//! The daily reconciliation report (`reporter/`): the reports bucket, the function and its role (it may read what
//! the pipeline records and write only reports and one notification), the schedule that runs it each morning
//! with the role that lets the scheduler invoke it, and, where the environment asks, the landing bucket's daily
//! inventory that the report reads instead of a listing.

use std::collections::BTreeMap;

use super::identity::{function_role, runs_in_vpc};
use super::{ARCHIVE_PREFIX, Context, METRIC_NAMESPACE, Stores};
use crate::config::Kind;
use crate::function::{Function, LogGroup};
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::identity::Role;
use crate::monitoring::Topic;
use crate::network::Network;
use crate::schedule::Schedule;
use crate::storage::{Bucket, Expiry, Inventory, Lifecycle, Notification, Target};
use crate::tf::{Expr, Ref};

/// Reports are written under this prefix of the reports bucket (`reports/YYYY-MM-DD/report.json`).
pub const REPORTS_PREFIX: &str = "reports";
/// The landing bucket's inventory is delivered under this prefix of the reports bucket.
pub const INVENTORY_PREFIX: &str = "inventory";
/// The inventory configuration's id, which names its folder.
pub const INVENTORY_ID: &str = "daily";
/// How long an inventory is kept: it is read once, by the next morning's report.
pub const INVENTORY_KEPT_DAYS: u32 = 3;

/// The reporter's blocks.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub reports: Bucket,
    pub reports_events: Notification,
    pub landing_inventory: Option<Inventory>,
    pub reporter_logs: LogGroup,
    pub reporter_role: Role,
    pub reporter: Function,
    pub scheduler_role: Role,
    pub daily_report: Schedule,
}

impl Reporter {
    pub(super) fn new(
        cx: &Context,
        stores: &Stores,
        alarms: &Topic,
        network: &Network,
    ) -> Reporter {
        let env = cx.env;
        let settings = &env.reporter;
        let landing = &stores.storage.landing;
        let reports = Bucket {
            name: "reports",
            bucket: cx.named("reports"),
            key_arn: cx.key_arn.clone(),
            lifecycle: Lifecycle::ExpireByPrefix(vec![
                Expiry {
                    id: "reports",
                    prefix: "reports/",
                    days: settings.report_retention_days,
                    noncurrent_days: settings.report_retention_days.min(30),
                },
                Expiry {
                    id: "inventory",
                    prefix: "inventory/",
                    days: INVENTORY_KEPT_DAYS,
                    noncurrent_days: 1,
                },
            ]),
            prevent_destroy: env.prevent_destroy,
            tls_only: env.kind != Kind::Local,
            grants: Vec::new(),
        };
        let landing_inventory = settings.inventory.then(|| Inventory {
            name: "landing_inventory",
            id: INVENTORY_ID,
            bucket: landing.id(),
            destination_arn: reports.arn(),
            prefix: INVENTORY_PREFIX,
            key_arn: cx.key_arn.clone(),
        });
        // S3 delivers the inventory into the reports bucket, for this account's landing bucket only.
        let reports = Bucket {
            grants: landing_inventory
                .iter()
                .map(|_| {
                    Statement::allow(
                        "S3DeliversTheLandingInventory",
                        &["s3:PutObject"],
                        vec![reports.arn().suffix(&format!("/{INVENTORY_PREFIX}/*"))],
                    )
                    .principal(Principal::Service("s3.amazonaws.com".into()))
                    .condition(Condition::new(
                        "ArnLike",
                        "aws:SourceArn",
                        vec![landing.arn()],
                    ))
                    .condition(Condition::new(
                        "StringEquals",
                        "aws:SourceAccount",
                        vec![cx.account.clone()],
                    ))
                })
                .collect(),
            ..reports
        };
        let reports_events = Notification {
            name: "reports_events",
            bucket: reports.id(),
            target: Target::EventBridge,
        };
        let function_name = cx.named("reporter");
        let reporter_logs = cx.log_group("reporter_logs", format!("/aws/lambda/{function_name}"));
        let reporter_role = function_role(
            "reporter_role",
            function_name.clone(),
            "The daily report: reads what the pipeline records, writes reports and one notification, nothing else",
            [
                grants(cx, stores, alarms, &reports, landing_inventory.is_some()),
                runs_in_vpc(cx, &reporter_logs, network, network.reporter_sg()),
            ]
            .concat(),
        );
        let reporter = Function {
            name: "reporter",
            function_name: function_name.clone(),
            description: "The daily reconciliation report: did every file that landed arrive?",
            role_arn: reporter_role.arn(),
            package: Ref::var("reporter_package"),
            architecture: env.function.architecture.as_str(),
            memory_mb: settings.memory_mb,
            timeout_seconds: settings.timeout_seconds,
            ephemeral_storage_mb: 512,
            // One report at a time: a retry that overlaps a slow run waits instead of reading twice.
            reserved_concurrency: 1,
            environment: variables(cx, stores, alarms, &reports, landing_inventory.is_some()),
            vpc: Some(network.placement(network.reporter_sg())),
            layers: Vec::new(),
            key_arn: cx.key_arn.clone(),
            // The schedule invokes `$LATEST`: a report is read-only and made again by hand if one fails, so it
            // needs no versions to roll back to.
            publish: false,
            after: vec![reporter_role.policy_ref(), reporter_logs.r()],
        };
        let scheduler_role = Role {
            name: "scheduler_role",
            role_name: cx.named("scheduler"),
            description: "EventBridge Scheduler: invokes the daily report, nothing else",
            trust: PolicyDocument::new(
                "scheduler_role_trust",
                vec![
                    Statement::allow("SchedulerAssumesRole", &["sts:AssumeRole"], Vec::new())
                        .principal(Principal::Service("scheduler.amazonaws.com".into()))
                        .condition(Condition::new(
                            "StringEquals",
                            "aws:SourceAccount",
                            vec![cx.account.clone()],
                        )),
                ],
            ),
            policy: PolicyDocument::new(
                "scheduler_role",
                vec![
                    Statement::allow(
                        "InvokeTheReport",
                        &["lambda:InvokeFunction"],
                        vec![reporter.arn()],
                    ),
                    // The schedule's input is encrypted with the environment's key.
                    Statement::allow(
                        "DecryptTheInput",
                        &["kms:Decrypt"],
                        vec![cx.key_arn.clone()],
                    ),
                ],
            ),
        };
        let (hour, minute) = settings.runs_at;
        let daily_report = Schedule {
            name: "daily_report",
            schedule_name: cx.named("daily-report"),
            description: format!(
                "The reconciliation report of the day before, every day at {hour:02}:{minute:02} UTC"
            ),
            hour,
            minute,
            target_arn: reporter.arn(),
            role_arn: scheduler_role.arn(),
            key_arn: cx.key_arn.clone(),
            input: "{}".into(),
        };
        Reporter {
            reports,
            reports_events,
            landing_inventory,
            reporter_logs,
            reporter_role,
            reporter,
            scheduler_role,
            daily_report,
        }
    }
}

/// What the report's code does, and nothing else: it lists the landing bucket and the archive (never reads or
/// writes either), reads the file records, reads the DLQ without consuming it, counts the source queue, writes
/// reports, reads the inventory when there is one, and publishes to the alarm topic.
fn grants(
    cx: &Context,
    stores: &Stores,
    alarms: &Topic,
    reports: &Bucket,
    inventory: bool,
) -> Vec<Statement> {
    let Stores {
        storage,
        queues,
        tables,
        ..
    } = stores;
    let under = |prefix: &str| {
        Condition::new(
            "StringLike",
            "s3:prefix",
            vec![Expr::lit(format!("{prefix}/*"))],
        )
    };
    let mut statements = vec![
        Statement::allow(
            "ListLandingVersions",
            &["s3:ListBucket", "s3:ListBucketVersions"],
            vec![storage.landing.arn()],
        ),
        // Whether each bundle is archived, by listing its hour's folder: no read of the archive at all.
        Statement::allow(
            "ListArchivedBundles",
            &["s3:ListBucket"],
            vec![storage.archive.arn()],
        )
        .condition(under(ARCHIVE_PREFIX)),
        Statement::allow(
            "ReadFileRecords",
            &["dynamodb:BatchGetItem"],
            vec![tables.idempotency.arn()],
        ),
        // Received to be read, made visible again at once: never deleted.
        Statement::allow(
            "ReadDeadLetters",
            &[
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            vec![queues.dlq.arn()],
        ),
        Statement::allow(
            "CountSourceQueue",
            &["sqs:GetQueueAttributes"],
            vec![queues.queue.arn()],
        ),
        Statement::allow(
            "WriteReports",
            &["s3:PutObject"],
            vec![reports.arn().suffix(&format!("/{REPORTS_PREFIX}/*"))],
        ),
        Statement::allow("NotifyAlarmTopic", &["sns:Publish"], vec![alarms.arn()]),
        Statement::allow(
            "UseKey",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![cx.key_arn.clone()],
        ),
    ];
    if inventory {
        statements.extend([
            Statement::allow("ListInventory", &["s3:ListBucket"], vec![reports.arn()])
                .condition(under(INVENTORY_PREFIX)),
            Statement::allow(
                "ReadInventory",
                &["s3:GetObject"],
                vec![reports.arn().suffix(&format!("/{INVENTORY_PREFIX}/*"))],
            ),
        ]);
    }
    statements
}

/// The reporter's environment (reporter/src/config.rs): the stores it reads, where it writes, the objective.
fn variables(
    cx: &Context,
    stores: &Stores,
    alarms: &Topic,
    reports: &Bucket,
    inventory: bool,
) -> BTreeMap<&'static str, Expr> {
    let Stores {
        storage,
        queues,
        tables,
        ..
    } = stores;
    let settings = &cx.env.reporter;
    let number = |n: u32| Expr::lit(n.to_string());
    let mut variables = BTreeMap::from([
        ("ENVIRONMENT", Expr::lit(cx.env.name.clone())),
        ("LANDING_BUCKET", storage.landing.id()),
        ("IDEMPOTENCY_TABLE", tables.idempotency.table_name()),
        ("ARCHIVE_BUCKET", storage.archive.id()),
        ("ARCHIVE_PREFIX", Expr::lit(ARCHIVE_PREFIX)),
        ("SOURCE_QUEUE_URL", queues.queue.url()),
        ("DLQ_URL", queues.dlq.url()),
        ("REPORTS_BUCKET", reports.id()),
        ("REPORTS_PREFIX", Expr::lit(REPORTS_PREFIX)),
        ("TOPIC_ARN", alarms.arn()),
        (
            "OBJECTIVE_P999_SECONDS",
            number(cx.env.latency_objective_seconds),
        ),
        // Should the function stop while it reads the DLQ, its messages come back when it would have ended.
        ("DLQ_READ_SECONDS", number(settings.timeout_seconds.max(30))),
        ("LIST_CONCURRENCY", number(settings.list_concurrency)),
        ("METRICS_NAMESPACE", Expr::lit(METRIC_NAMESPACE)),
        ("RUST_LOG", Expr::lit(cx.env.function.rust_log.clone())),
    ]);
    if inventory {
        variables.insert(
            "INVENTORY_PREFIX",
            Expr::concat([
                Expr::lit(format!("{INVENTORY_PREFIX}/")),
                storage.landing.id(),
                Expr::lit(format!("/{INVENTORY_ID}")),
            ]),
        );
    }
    variables
}
