//! The aggregator: its log group, its role (exactly the actions its code uses, on exactly the stores it works
//! on), the function with the variables that name those stores, published as a version on every change, the
//! `live` alias a release moves between versions, and the queue's event source mapping to that alias.

use std::collections::BTreeMap;

use super::identity::{function_role, runs_in_vpc};
use super::receiver::Receiver;
use super::{Context, DELIVERED_TAG, LIVE_ALIAS, Stores};
use crate::config::{Endpoint, Sink};
use crate::function::{Alias, Function, LogGroup, Mapping};
use crate::iam::{Condition, Statement};
use crate::identity::Role;
use crate::network::Network;
use crate::tf::{Expr, Ref};

pub struct Aggregator {
    pub aggregator_logs: LogGroup,
    pub aggregator_role: Role,
    pub aggregator: Function,
    pub aggregator_live: Alias,
    pub aggregator_mapping: Mapping,
}

impl Aggregator {
    pub fn new(
        cx: &Context,
        stores: &Stores,
        network: &Network,
        receiver: Option<&Receiver>,
    ) -> Aggregator {
        let function = &cx.env.function;
        let function_name = cx.named("aggregator");
        let aggregator_logs =
            cx.log_group("aggregator_logs", format!("/aws/lambda/{function_name}"));
        let aggregator_role = function_role(
            "aggregator_role",
            function_name.clone(),
            "The aggregator Lambda: exactly the actions its code uses, on exactly its resources",
            [
                grants(stores, &cx.key_arn),
                runs_in_vpc(cx, &aggregator_logs, network, network.aggregator_sg()),
            ]
            .concat(),
        );
        let aggregator = Function {
            name: "aggregator",
            function_name,
            description: "Bundles landed files into tar.gz, archives and delivers them",
            role_arn: aggregator_role.arn(),
            package: Ref::var("lambda_package"),
            architecture: function.architecture.as_str(),
            memory_mb: function.memory_mb,
            timeout_seconds: function.timeout_seconds,
            ephemeral_storage_mb: function.ephemeral_storage_mb,
            reserved_concurrency: function.reserved_concurrency,
            environment: variables(cx, stores, receiver),
            vpc: Some(network.placement(network.aggregator_sg())),
            layers: Vec::new(),
            key_arn: cx.key_arn.clone(),
            publish: true,
            after: vec![aggregator_role.policy_ref(), aggregator_logs.r()],
        };
        let aggregator_live = Alias {
            name: "aggregator_live",
            alias_name: LIVE_ALIAS,
            function_name: aggregator.function_name(),
            function_version: aggregator.version(),
        };
        let mapping = &cx.env.mapping;
        let aggregator_mapping = Mapping {
            name: "aggregator_mapping",
            queue_arn: stores.queues.queue.arn(),
            function_arn: aggregator_live.arn(),
            batch_size: mapping.batch_size,
            batching_window_seconds: mapping.batching_window_seconds,
            maximum_concurrency: mapping.maximum_concurrency,
        };
        Aggregator {
            aggregator_logs,
            aggregator_role,
            aggregator,
            aggregator_live,
            aggregator_mapping,
        }
    }
}

/// What the aggregator's code does to its stores, and nothing else.
fn grants(stores: &Stores, key_arn: &Expr) -> Vec<Statement> {
    let Stores {
        secrets,
        storage,
        queues,
        tables,
    } = stores;
    vec![
        Statement::allow(
            "ReadLandingObjects",
            &["s3:GetObject", "s3:GetObjectVersion"],
            vec![storage.landing.objects()],
        ),
        // Without ListBucket, S3 answers a deleted object with 403 instead of 404, and the aggregator could
        // not tell "deleted before processing" (dead-letter it) from a denial. ListBucketVersions finds the
        // version an event without a version id means when the key was overwritten since (app/src/version.rs).
        Statement::allow(
            "SeeMissingLandingObjects",
            &["s3:ListBucket", "s3:ListBucketVersions"],
            vec![storage.landing.arn()],
        ),
        Statement::allow(
            "PutArchiveObjects",
            &["s3:PutObject", "s3:AbortMultipartUpload"],
            vec![storage.archive.objects()],
        ),
        // The `delivered-at` tag on an acknowledged bundle (app/src/archive.rs), and no other tag.
        Statement::allow(
            "TagDeliveredArchives",
            &["s3:PutObjectTagging"],
            vec![storage.archive.objects()],
        )
        .condition(Condition::new(
            "ForAllValues:StringEquals",
            "s3:RequestObjectTagKeys",
            vec![Expr::lit(DELIVERED_TAG)],
        )),
        Statement::allow(
            "UseStateTables",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            vec![tables.idempotency.arn(), tables.breaker.arn()],
        ),
        Statement::allow(
            "ReadEndpointCredentials",
            &["secretsmanager:GetSecretValue"],
            vec![secrets.credentials.arn()],
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
            vec![queues.queue.arn()],
        ),
        Statement::allow(
            "SendToDeadLetterQueue",
            &["sqs:SendMessage"],
            vec![queues.dlq.arn()],
        ),
    ]
}

/// The aggregator's environment: the stores it works on, its limits, its sink, and the environment's
/// tuning (which validation keeps off these names: `MODEL_VARIABLES`).
fn variables(
    cx: &Context,
    stores: &Stores,
    receiver: Option<&Receiver>,
) -> BTreeMap<&'static str, Expr> {
    let function = &cx.env.function;
    let schedule = cx.validated.schedule();
    let sizing = cx.validated.sizing();
    let number = |n: u64| Expr::lit(n.to_string());
    let mut variables = BTreeMap::from([
        ("ARCHIVE_BUCKET", stores.storage.archive.id()),
        ("IDEMPOTENCY_TABLE", stores.tables.idempotency.table_name()),
        ("BREAKER_TABLE", stores.tables.breaker.table_name()),
        ("CREDENTIALS_SECRET_ID", stores.secrets.credentials.arn()),
        ("DLQ_URL", stores.queues.dlq.url()),
        ("SOURCE_QUEUE_URL", stores.queues.queue.url()),
        (
            "REDELIVERY_BASE_SECONDS",
            number(schedule.base_seconds().into()),
        ),
        (
            "REDELIVERY_MAX_SECONDS",
            number(schedule.max_seconds().into()),
        ),
        ("RUST_LOG", Expr::lit(function.rust_log.clone())),
        ("BUNDLE_MAX_BYTES", number(sizing.bundle_max_bytes)),
        ("OBJECT_MAX_BYTES", number(sizing.object_max_bytes)),
        (
            "DOWNLOAD_BUFFER_BYTES",
            number(sizing.download_buffer_bytes),
        ),
        (
            "HTTP_TIMEOUT_MS",
            number(function.http_timeout.as_millis() as u64),
        ),
        (
            "DEADLINE_MARGIN_MS",
            number(function.deadline_margin.as_millis() as u64),
        ),
    ]);
    let endpoint_url = |endpoint: &Endpoint| match endpoint {
        Endpoint::OnPremise { url, .. } | Endpoint::LocalProcess { url } => Expr::lit(url.clone()),
        Endpoint::MockReceiver => match receiver {
            Some(r) => r.receiver_url.url().suffix("contentListener"),
            None => Expr::lit(""),
        },
    };
    match &cx.env.sink {
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
    for (name, value) in &function.tuning {
        variables.insert(name, Expr::lit(value.clone()));
    }
    variables
}
