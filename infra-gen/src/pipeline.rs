//! The whole pipeline of DESIGN.md §4 composed from a validated environment. Every field's name is the
//! Terraform name of the blocks it renders (`landing` → `aws_s3_bucket.landing`, `aws_s3_bucket_policy.landing`,
//! ...), so any address in generated/ leads back here in one step.

use std::collections::BTreeMap;

use crate::config::{Endpoint, Kind, Sink, Validated};
use crate::function::{Function, FunctionUrl, LogGroup, Mapping, VpcPlacement};
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::identity::Role;
use crate::monitoring::{AnomalyAlarm, Comparison, CompositeAlarm, Dashboard, MetricAlarm, Topic};
use crate::network::{EndpointEgress, FlowLog, Network};
use crate::queue::{Queue, QueuePolicy};
use crate::secrets::{Key, Secret};
use crate::storage::{Bucket, Lifecycle, Notification, Target};
use crate::tables::Table;
use crate::tf::{Expr, Ref};

/// The archive key layout the aggregator writes (documented for replay).
pub const ARCHIVE_KEY_LAYOUT: &str = "bundles/YYYY/MM/DD/HH/<bundle-id>.tar.gz";
/// The metric namespace the aggregator emits through EMF.
pub const METRIC_NAMESPACE: &str = "FileAggregator";
/// The file the dashboard body is rendered into, next to the Terraform files.
pub const DASHBOARD_FILE: &str = "dashboard.json";

/// The dev-only mock NiFi: the project's receiver behind a function URL.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub receiver: Function,
    pub receiver_logs: LogGroup,
    pub receiver_role: Role,
    pub receiver_url: FunctionUrl,
}

/// Every building block of one environment.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub validated: Validated,
    pub account_id: Ref,
    pub lambda_package: Ref,
    pub key: Key,
    pub credentials: Secret,
    pub landing: Bucket,
    pub archive: Bucket,
    pub landing_events: Notification,
    pub archive_events: Notification,
    pub queue: Queue,
    pub dlq: Queue,
    pub queue_policy: QueuePolicy,
    pub idempotency: Table,
    pub breaker: Table,
    pub aggregator_logs: LogGroup,
    pub aggregator_role: Role,
    pub aggregator: Function,
    pub aggregator_mapping: Mapping,
    pub uploader_role: Role,
    pub network: Network,
    pub flow_logs: LogGroup,
    pub flow_logs_role: Role,
    pub network_flow_log: FlowLog,
    pub receiver: Option<Receiver>,
    pub alarms: Topic,
    pub health: Vec<MetricAlarm>,
    pub incoming_anomaly: AnomalyAlarm,
    pub pipeline_health: Option<CompositeAlarm>,
    pub dashboard: Dashboard,
}

/// What Lambda needs to attach a function to the VPC: its network interfaces, in its subnets and security
/// group, and nothing else in EC2.
fn network_interfaces(
    env: &crate::config::Environment,
    account: &Expr,
    network: &Network,
    security_group: Ref,
) -> Vec<Statement> {
    let ec2_arn = |resource: Expr| {
        Expr::concat([
            Expr::lit(format!("arn:aws:ec2:{}:", env.region)),
            account.clone(),
            Expr::lit(":"),
            resource,
        ])
    };
    let mut create = vec![
        ec2_arn(Expr::lit("network-interface/*")),
        ec2_arn(Expr::concat([
            Expr::lit("security-group/"),
            security_group.attr("id"),
        ])),
    ];
    create.extend(
        network
            .subnet_ids()
            .into_iter()
            .map(|id| ec2_arn(Expr::concat([Expr::lit("subnet/"), id]))),
    );
    vec![
        // Describe calls cannot be limited to resources; they reveal, they do not change.
        Statement::allow(
            "DescribeNetworkInterfaces",
            &["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            vec![Expr::lit("*")],
        ),
        Statement::allow(
            "CreateNetworkInterfaces",
            &["ec2:CreateNetworkInterface"],
            create,
        ),
        Statement::allow(
            "ReleaseNetworkInterfaces",
            &[
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec![ec2_arn(Expr::lit("network-interface/*"))],
        ),
    ]
}

fn lambda_trust(name: &str) -> PolicyDocument {
    PolicyDocument::new(
        format!("{name}_trust"),
        vec![
            Statement::allow("LambdaAssumesRole", &["sts:AssumeRole"], Vec::new())
                .principal(Principal::Service("lambda.amazonaws.com".into())),
        ],
    )
}

impl Pipeline {
    pub fn new(validated: &Validated) -> Pipeline {
        let env = validated.env();
        let p = &env.name_prefix;
        let keep = env.prevent_destroy;
        let account_id = Ref::data("aws_caller_identity", "current");
        let account = account_id.attr("account_id");
        let lambda_package = Ref::var("lambda_package");

        let key = Key {
            name: "key",
            alias: format!("alias/{p}"),
            region: env.region.clone(),
            account_id: account.clone(),
            deletion_window_days: if env.kind == Kind::Production { 30 } else { 7 },
            prevent_destroy: keep,
        };
        let key_arn = key.arn();
        let credentials = Secret {
            name: "credentials",
            secret_name: format!("{p}/endpoint-credentials"),
            key_arn: key_arn.clone(),
            recovery_window_days: if env.kind == Kind::Production { 30 } else { 0 },
            prevent_destroy: keep,
        };
        let landing = Bucket {
            name: "landing",
            bucket: format!("{p}-landing"),
            key_arn: key_arn.clone(),
            lifecycle: Lifecycle::Expire {
                days: env.storage.landing_expiry_days,
            },
            prevent_destroy: keep,
            tls_only: env.kind != Kind::Local,
        };
        let archive = Bucket {
            name: "archive",
            bucket: format!("{p}-archive"),
            key_arn: key_arn.clone(),
            lifecycle: Lifecycle::DeepArchive {
                days: env.storage.archive_deep_archive_after_days,
            },
            prevent_destroy: keep,
            tls_only: env.kind != Kind::Local,
        };
        let dlq = Queue {
            name: "dlq",
            queue_name: format!("{p}-dlq"),
            key_arn: key_arn.clone(),
            visibility_timeout_seconds: env.queue.visibility_timeout_seconds,
            retention_seconds: env.queue.dlq_retention_seconds,
            redrive: None,
            prevent_destroy: keep,
        };
        let queue = Queue {
            name: "queue",
            queue_name: format!("{p}-queue"),
            key_arn: key_arn.clone(),
            visibility_timeout_seconds: env.queue.visibility_timeout_seconds,
            retention_seconds: env.queue.retention_seconds,
            redrive: Some((dlq.r(), env.queue.max_receive_count)),
            prevent_destroy: keep,
        };
        let queue_policy = QueuePolicy {
            name: "queue_policy",
            queue_url: queue.url(),
            queue_arn: queue.arn(),
            bucket_arn: landing.arn(),
            account_id: account.clone(),
        };
        let landing_events = Notification {
            name: "landing_events",
            bucket: landing.id(),
            target: Target::Queue {
                queue_arn: queue.arn(),
                after: queue_policy.r(),
            },
        };
        let archive_events = Notification {
            name: "archive_events",
            bucket: archive.id(),
            target: Target::EventBridge,
        };
        let idempotency = Table {
            name: "idempotency",
            table_name: format!("{p}-idempotency"),
            ttl_attribute: Some("expires_at"),
            key_arn: key_arn.clone(),
            prevent_destroy: keep,
        };
        let breaker = Table {
            name: "breaker",
            table_name: format!("{p}-breaker"),
            ttl_attribute: None,
            key_arn: key_arn.clone(),
            prevent_destroy: keep,
        };
        let function_name = format!("{p}-aggregator");
        let aggregator_logs = LogGroup {
            name: "aggregator_logs",
            group_name: format!("/aws/lambda/{function_name}"),
            retention_days: env.function.log_retention_days,
            key_arn: key_arn.clone(),
        };

        let (public_subnet, egress) = match env.sink.endpoint() {
            Endpoint::OnPremise { cidrs, port, .. } => (
                None,
                EndpointEgress::Cidrs {
                    cidrs: cidrs.clone(),
                    port: *port,
                },
            ),
            Endpoint::MockReceiver => (env.network.public_subnet.clone(), EndpointEgress::Internet),
            Endpoint::LocalProcess { .. } => (None, EndpointEgress::None),
        };
        let network = Network {
            name_prefix: p.clone(),
            region: env.region.clone(),
            vpc_cidr: env.network.vpc_cidr.clone(),
            private_subnets: env.network.private_subnets.clone(),
            public_subnet,
            interface_endpoints: env.network.interface_endpoints.clone(),
            egress,
            receiver: matches!(env.sink.endpoint(), Endpoint::MockReceiver),
        };
        let flow_logs = LogGroup {
            name: "flow_logs",
            group_name: format!("/vpc/{p}/flow-logs"),
            retention_days: env.function.log_retention_days,
            key_arn: key_arn.clone(),
        };
        let flow_logs_role = Role {
            name: "flow_logs_role",
            role_name: format!("{p}-flow-logs"),
            description: "VPC flow logs: write into their one log group",
            trust: PolicyDocument::new(
                "flow_logs_role_trust",
                vec![
                    Statement::allow("FlowLogsAssumeRole", &["sts:AssumeRole"], Vec::new())
                        .principal(Principal::Service("vpc-flow-logs.amazonaws.com".into()))
                        .condition(Condition::new(
                            "StringEquals",
                            "aws:SourceAccount",
                            vec![account.clone()],
                        )),
                ],
            ),
            policy: PolicyDocument::new(
                "flow_logs_role",
                vec![Statement::allow(
                    "WriteFlowLogs",
                    &[
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    vec![flow_logs.arn(), flow_logs.arn().suffix(":*")],
                )],
            ),
        };
        let network_flow_log = FlowLog {
            name: "network",
            vpc_id: network.vpc().attr("id"),
            log_group_arn: flow_logs.arn(),
            role_arn: flow_logs_role.arn(),
        };

        let ec2_arn = |resource: Expr| {
            Expr::concat([
                Expr::lit(format!("arn:aws:ec2:{}:", env.region)),
                account.clone(),
                Expr::lit(":"),
                resource,
            ])
        };
        let mut eni_create = vec![
            ec2_arn(Expr::lit("network-interface/*")),
            ec2_arn(Expr::concat([
                Expr::lit("security-group/"),
                network.aggregator_sg().attr("id"),
            ])),
        ];
        eni_create.extend(
            network
                .subnet_ids()
                .into_iter()
                .map(|id| ec2_arn(Expr::concat([Expr::lit("subnet/"), id]))),
        );
        let aggregator_role = Role {
            name: "aggregator_role",
            role_name: function_name.clone(),
            description: "The aggregator Lambda: exactly the actions its code uses, on exactly its resources",
            trust: lambda_trust("aggregator_role"),
            policy: PolicyDocument::new(
                "aggregator_role",
                vec![
                    Statement::allow(
                        "ReadLandingObjects",
                        &["s3:GetObject", "s3:GetObjectVersion"],
                        vec![landing.objects()],
                    ),
                    // Without ListBucket, S3 answers a deleted object with 403 instead of 404, and the
                    // aggregator could not tell "deleted before processing" (dead-letter it) from a denial.
                    Statement::allow(
                        "SeeMissingLandingObjects",
                        &["s3:ListBucket"],
                        vec![landing.arn()],
                    ),
                    // PutObjectTagging: the `delivered-at` tag once the endpoint acknowledged a bundle.
                    Statement::allow(
                        "PutArchiveObjects",
                        &[
                            "s3:PutObject",
                            "s3:AbortMultipartUpload",
                            "s3:PutObjectTagging",
                        ],
                        vec![archive.objects()],
                    ),
                    Statement::allow(
                        "UseStateTables",
                        &[
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem",
                        ],
                        vec![idempotency.arn(), breaker.arn()],
                    ),
                    Statement::allow(
                        "ReadEndpointCredentials",
                        &["secretsmanager:GetSecretValue"],
                        vec![credentials.arn()],
                    ),
                    Statement::allow(
                        "UseKey",
                        &["kms:Decrypt", "kms:GenerateDataKey"],
                        vec![key_arn.clone()],
                    ),
                    Statement::allow(
                        "ConsumeSourceQueue",
                        &[
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:GetQueueAttributes",
                            "sqs:ChangeMessageVisibility",
                        ],
                        vec![queue.arn()],
                    ),
                    Statement::allow(
                        "SendToDeadLetterQueue",
                        &["sqs:SendMessage"],
                        vec![dlq.arn()],
                    ),
                    Statement::allow(
                        "WriteOwnLogs",
                        &["logs:CreateLogStream", "logs:PutLogEvents"],
                        vec![aggregator_logs.arn().suffix(":*")],
                    ),
                    // Describe calls cannot be limited to resources; they reveal, they do not change.
                    Statement::allow(
                        "DescribeNetworkInterfaces",
                        &["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
                        vec![Expr::lit("*")],
                    ),
                    Statement::allow(
                        "CreateNetworkInterfaces",
                        &["ec2:CreateNetworkInterface"],
                        eni_create,
                    ),
                    Statement::allow(
                        "ReleaseNetworkInterfaces",
                        &[
                            "ec2:DeleteNetworkInterface",
                            "ec2:AssignPrivateIpAddresses",
                            "ec2:UnassignPrivateIpAddresses",
                        ],
                        vec![ec2_arn(Expr::lit("network-interface/*"))],
                    ),
                ],
            ),
        };

        let ip_condition = || {
            Condition::new(
                "IpAddress",
                "aws:SourceIp",
                env.external_party
                    .source_cidrs
                    .iter()
                    .cloned()
                    .map(Expr::Lit)
                    .collect(),
            )
        };
        let party_account = match &env.external_party.account_id {
            Some(id) => Expr::lit(id.clone()),
            None => account.clone(),
        };
        let uploader_role = Role {
            name: "uploader_role",
            role_name: format!("{p}-uploader"),
            description: "The external party: PutObject into the landing bucket from its IP ranges, nothing else",
            trust: PolicyDocument::new(
                "uploader_role_trust",
                vec![
                    Statement::allow("ExternalPartyAssumesRole", &["sts:AssumeRole"], Vec::new())
                        .principal(Principal::Aws(Expr::concat([
                            Expr::lit("arn:aws:iam::"),
                            party_account,
                            Expr::lit(":root"),
                        ])))
                        .condition(ip_condition()),
                ],
            ),
            policy: PolicyDocument::new(
                "uploader_role",
                vec![
                    Statement::allow(
                        "PutLandingObjects",
                        &["s3:PutObject"],
                        vec![landing.objects()],
                    )
                    .condition(ip_condition()),
                    // SSE-KMS: S3 asks the key for a data key on the uploader's behalf; only through S3.
                    Statement::allow(
                        "EncryptLandingObjects",
                        &["kms:GenerateDataKey"],
                        vec![key_arn.clone()],
                    )
                    .condition(Condition::new(
                        "StringEquals",
                        "kms:ViaService",
                        vec![Expr::lit(format!("s3.{}.amazonaws.com", env.region))],
                    )),
                ],
            ),
        };

        let receiver = match env.sink.endpoint() {
            Endpoint::MockReceiver => Some(Self::receiver(
                env,
                &account,
                &key_arn,
                &credentials,
                &network,
            )),
            _ => None,
        };

        let schedule = validated.schedule();
        let mut variables: BTreeMap<&'static str, Expr> = BTreeMap::new();
        variables.insert("ARCHIVE_BUCKET", archive.id());
        variables.insert("IDEMPOTENCY_TABLE", idempotency.table_name());
        variables.insert("BREAKER_TABLE", breaker.table_name());
        variables.insert("CREDENTIALS_SECRET_ID", credentials.arn());
        variables.insert("DLQ_URL", dlq.url());
        variables.insert("SOURCE_QUEUE_URL", queue.url());
        variables.insert(
            "REDELIVERY_BASE_SECONDS",
            Expr::lit(schedule.base_seconds().to_string()),
        );
        variables.insert(
            "REDELIVERY_MAX_SECONDS",
            Expr::lit(schedule.max_seconds().to_string()),
        );
        variables.insert("RUST_LOG", Expr::lit(env.function.rust_log.clone()));
        let endpoint_url = |endpoint: &Endpoint| match endpoint {
            Endpoint::OnPremise { url, .. } | Endpoint::LocalProcess { url } => {
                Expr::lit(url.clone())
            }
            Endpoint::MockReceiver => match &receiver {
                Some(r) => r.receiver_url.url().suffix("contentListener"),
                None => Expr::lit(""),
            },
        };
        match &env.sink {
            Sink::Nifi(endpoint) => {
                variables.insert("SINK", Expr::lit("nifi"));
                variables.insert("NIFI_URL", endpoint_url(endpoint));
            }
            Sink::Minio { endpoint, bucket } => {
                variables.insert("SINK", Expr::lit("minio"));
                variables.insert("MINIO_ENDPOINT", endpoint_url(endpoint));
                variables.insert("MINIO_BUCKET", Expr::lit(bucket.clone()));
            }
        }
        for (name, value) in &env.function.tuning {
            variables.insert(name, Expr::lit(value.clone()));
        }
        let aggregator = Function {
            name: "aggregator",
            function_name: function_name.clone(),
            description: "Bundles landed files into tar.gz, archives and delivers them",
            role_arn: aggregator_role.arn(),
            package: lambda_package.clone(),
            architecture: env.function.architecture.as_str(),
            memory_mb: env.function.memory_mb,
            timeout_seconds: env.function.timeout_seconds,
            reserved_concurrency: env.function.reserved_concurrency,
            environment: variables,
            vpc: Some(VpcPlacement {
                subnet_ids: network.subnet_ids(),
                security_group_ids: vec![network.aggregator_sg().attr("id")],
            }),
            layers: Vec::new(),
            key_arn: key_arn.clone(),
            after: vec![aggregator_role.policy_ref(), aggregator_logs.r()],
        };
        let aggregator_mapping = Mapping {
            name: "aggregator_mapping",
            queue_arn: queue.arn(),
            function_arn: aggregator.arn(),
            batch_size: env.mapping.batch_size,
            batching_window_seconds: env.mapping.batching_window_seconds,
            maximum_concurrency: env.mapping.maximum_concurrency,
        };

        let alarms = Topic {
            name: "alarms",
            topic_name: format!("{p}-alarms"),
            key_arn: key_arn.clone(),
            email: env.alarms.email.clone(),
        };
        let on_queue = |q: &Queue| BTreeMap::from([("QueueName", q.queue_name())]);
        let on_function = || BTreeMap::from([("FunctionName", aggregator.function_name())]);
        // With a composite alarm only it notifies (one message per incident); without, each alarm does.
        let actions = if env.alarms.composite {
            Vec::new()
        } else {
            vec![alarms.arn()]
        };
        let health = vec![
 MetricAlarm {
                actions: actions.clone(),
                name: "queue_depth",
                alarm_name: format!("{p}-queue-depth"),
                description: format!(
                    "More than {} files waiting: delivery is slower than landing (endpoint down or slow, or the Lambda failing)",
                    env.alarms.queue_depth_threshold
                ),
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: on_queue(&queue),
                statistic: "Maximum",
                period_seconds: 300,
                evaluation_periods: 3,
                threshold: env.alarms.queue_depth_threshold,
                comparison: Comparison::Above,
            },
 MetricAlarm {
                actions: actions.clone(),
                name: "queue_age",
                alarm_name: format!("{p}-queue-age"),
                description: format!(
                    "The oldest waiting file is older than {} s: the latency objective is broken, see the runbook",
                    env.alarms.oldest_message_age_seconds
                ),
                namespace: "AWS/SQS",
                metric: "ApproximateAgeOfOldestMessage",
                dimensions: on_queue(&queue),
                statistic: "Maximum",
                period_seconds: 300,
                evaluation_periods: 1,
                threshold: env.alarms.oldest_message_age_seconds,
                comparison: Comparison::Above,
            },
 MetricAlarm {
                actions: actions.clone(),
                name: "dlq_not_empty",
                alarm_name: format!("{p}-dlq-not-empty"),
                description: "Messages reached the dead-letter queue: inspect and redrive them (runbook)".into(),
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: on_queue(&dlq),
                statistic: "Maximum",
                period_seconds: 60,
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
 MetricAlarm {
                actions: actions.clone(),
                name: "lambda_errors",
                alarm_name: format!("{p}-lambda-errors"),
                description: "The aggregator failed invocations (not delivery failures, which it reports per message)".into(),
                namespace: "AWS/Lambda",
                metric: "Errors",
                dimensions: on_function(),
                statistic: "Sum",
                period_seconds: 300,
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
 MetricAlarm {
                actions: actions.clone(),
                name: "lambda_throttles",
                alarm_name: format!("{p}-lambda-throttles"),
                description: "The aggregator was throttled: its reserved concurrency is too low for the mapping".into(),
                namespace: "AWS/Lambda",
                metric: "Throttles",
                dimensions: on_function(),
                statistic: "Sum",
                period_seconds: 300,
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
 MetricAlarm {
                actions: actions.clone(),
                name: "circuit_open",
                alarm_name: format!("{p}-circuit-open"),
                description: "The circuit breaker has been open for 5 minutes: the endpoint is down; messages are held and redelivered".into(),
                namespace: METRIC_NAMESPACE,
                metric: "BreakerOpen",
                dimensions: BTreeMap::from([("Function", aggregator.function_name())]),
                statistic: "Maximum",
                period_seconds: 60,
                evaluation_periods: 5,
                threshold: 1,
                comparison: Comparison::AtLeast,
            },
        ];
        let incoming_anomaly = AnomalyAlarm {
            name: "incoming_anomaly",
            actions,
            alarm_name: format!("{p}-incoming-anomaly"),
            description:
                "Files land at an unusual rate: the external party stopped sending, or a flood"
                    .into(),
            namespace: "AWS/SQS",
            metric: "NumberOfMessagesSent",
            dimensions: on_queue(&queue),
            statistic: "Sum",
            period_seconds: 300,
            evaluation_periods: 3,
            band_width: 3,
        };
        let mut children: Vec<Ref> = health.iter().map(MetricAlarm::r).collect();
        children.push(incoming_anomaly.r());
        let pipeline_health = env.alarms.composite.then(|| CompositeAlarm {
            name: "pipeline_health",
            alarm_name: format!("{p}-pipeline-health"),
            description: format!(
                "Something is wrong with the {} file pipeline: see which alarm fired in RUNBOOK.md",
                env.name
            ),
            children,
            topic_arn: alarms.arn(),
        });
        let dashboard = Dashboard {
            name: "dashboard",
            dashboard_name: p.clone(),
            body_file: DASHBOARD_FILE,
        };

        Pipeline {
            validated: validated.clone(),
            account_id,
            lambda_package,
            key,
            credentials,
            landing,
            archive,
            landing_events,
            archive_events,
            queue,
            dlq,
            queue_policy,
            idempotency,
            breaker,
            aggregator_logs,
            aggregator_role,
            aggregator,
            aggregator_mapping,
            uploader_role,
            network,
            flow_logs,
            flow_logs_role,
            network_flow_log,
            receiver,
            alarms,
            health,
            incoming_anomaly,
            pipeline_health,
            dashboard,
        }
    }

    fn receiver(
        env: &crate::config::Environment,
        account: &Expr,
        key_arn: &Expr,
        credentials: &Secret,
        network: &Network,
    ) -> Receiver {
        let function_name = format!("{}-receiver", env.name_prefix);
        let receiver_logs = LogGroup {
            name: "receiver_logs",
            group_name: format!("/aws/lambda/{function_name}"),
            retention_days: env.function.log_retention_days,
            key_arn: key_arn.clone(),
        };
        let receiver_role = Role {
            name: "receiver_role",
            role_name: function_name.clone(),
            description: "The mock NiFi receiver: reads the endpoint credentials to check them, writes its logs",
            trust: lambda_trust("receiver_role"),
            policy: PolicyDocument::new(
                "receiver_role",
                vec![
                    Statement::allow(
                        "ReadEndpointCredentials",
                        &["secretsmanager:GetSecretValue"],
                        vec![credentials.arn()],
                    ),
                    Statement::allow(
                        "DecryptCredentials",
                        &["kms:Decrypt"],
                        vec![key_arn.clone()],
                    ),
                    Statement::allow(
                        "WriteOwnLogs",
                        &["logs:CreateLogStream", "logs:PutLogEvents"],
                        vec![receiver_logs.arn().suffix(":*")],
                    ),
                ]
                .into_iter()
                .chain(network_interfaces(
                    env,
                    account,
                    network,
                    network.receiver_sg(),
                ))
                .collect(),
            ),
        };
        let receiver = Function {
            name: "receiver",
            function_name,
            description: "Mock NiFi ListenHTTP (POST /contentListener) for the dev environment",
            role_arn: receiver_role.arn(),
            package: Ref::var("receiver_package"),
            architecture: env.function.architecture.as_str(),
            memory_mb: 512,
            timeout_seconds: 30,
            reserved_concurrency: 5,
            environment: BTreeMap::from([
                ("CREDENTIALS_SECRET_ID", credentials.arn()),
                ("RUST_LOG", Expr::lit(env.function.rust_log.clone())),
                // The adapter forwards function URL requests to the receiver's HTTP server on this port.
                ("AWS_LWA_PORT", Expr::lit("8080")),
                (
                    "AWS_LWA_READINESS_CHECK_PATH",
                    Expr::lit("/contentListener/healthcheck"),
                ),
            ]),
            // AWS Lambda Web Adapter runs the receiver, an ordinary HTTP server, unchanged inside Lambda.
            layers: vec![format!(
                "arn:aws:lambda:{}:753240598075:layer:LambdaAdapterLayer{}:25",
                env.region,
                match env.function.architecture {
                    crate::config::Architecture::Arm64 => "Arm64",
                    crate::config::Architecture::X86_64 => "X86",
                }
            )],
            // Reached through its URL (inbound needs no VPC path); reads its secret through the endpoints.
            vpc: Some(VpcPlacement {
                subnet_ids: network.subnet_ids(),
                security_group_ids: vec![network.receiver_sg().attr("id")],
            }),
            key_arn: key_arn.clone(),
            after: vec![receiver_role.policy_ref(), receiver_logs.r()],
        };
        let receiver_url = FunctionUrl {
            name: "receiver_url",
            function_name: receiver.function_name(),
        };
        Receiver {
            receiver,
            receiver_logs,
            receiver_role,
            receiver_url,
        }
    }
}
