//! Renders a [`Pipeline`] into the files of `generated/<env>/`: one `*.tf.json` per component, the outputs,
//! the variables that must come from outside, and the documents.

use std::collections::BTreeMap;

use serde_json::json;

use crate::config::{Environment, Kind};
use crate::docs;
use crate::pipeline::Pipeline;
use crate::tf::{Block, Expr, FileWriter, Module, ModuleError};

/// Terraform releases the generated JSON is written for (native S3 locking needs 1.10+).
pub const REQUIRED_TERRAFORM: &str = ">= 1.11";
/// Provider 5.100 is what the offline machines carry, 6.x what users get; the JSON is valid for both.
pub const AWS_PROVIDER: &str = ">= 5.100, < 7.0";
/// Attributes moto does not give back as they were written, so that every plan after the first would show
/// them as changed; the local environment ignores their drift, so a second deploy applies nothing:
/// - SQS redrive policies come back re-serialised (whitespace);
/// - S3 notifications lose `eventbridge`;
/// - security group rules lose their description, and referenced groups come back as `account/sg-…`;
/// - an event source mapping to an alias comes back as a mapping to the version the alias pointed at when
///   the mapping was made (moto resolves the alias once; AWS keeps invoking the alias).
pub const MOTO_UNECHOED: [(&str, &[&str]); 5] = [
    ("aws_sqs_queue", &["redrive_policy"]),
    ("aws_s3_bucket_notification", &["eventbridge"]),
    ("aws_lambda_event_source_mapping", &["function_name"]),
    (
        "aws_vpc_security_group_egress_rule",
        &["description", "referenced_security_group_id"],
    ),
    (
        "aws_vpc_security_group_ingress_rule",
        &["description", "referenced_security_group_id"],
    ),
];
/// The AWS services the local environment points at moto.
pub const MOTO_SERVICES: [&str; 14] = [
    "budgets",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
];

/// Where an environment with a state bucket keeps its Terraform state: an S3 backend, encrypted and locked
/// natively (`use_lockfile`: no DynamoDB lock table).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StateBackend {
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub encrypt: bool,
    pub use_lockfile: bool,
}

impl StateBackend {
    pub fn of(env: &Environment) -> Option<StateBackend> {
        let bucket = env.state_bucket.clone()?;
        Some(StateBackend {
            bucket,
            key: format!("file-aggregator/{}/terraform.tfstate", env.name),
            region: env.region.clone(),
            encrypt: true,
            use_lockfile: true,
        })
    }
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the Terraform module is inconsistent: {0:?}")]
    Module(Vec<ModuleError>),
    #[error(transparent)]
    Docs(#[from] docs::DocsError),
}

/// Every file of the environment's directory, by file name.
pub fn render(pipeline: &Pipeline) -> Result<BTreeMap<String, String>, RenderError> {
    let mut module = Module::new();
    main(pipeline, &mut module);
    components(pipeline, &mut module);
    outputs(pipeline, &mut module);
    if pipeline.validated.env().kind == Kind::Local {
        for (ty, attributes) in MOTO_UNECHOED {
            module.ignore_changes(ty, attributes);
        }
    }
    let mut files = module.finish().map_err(RenderError::Module)?;
    files.extend(docs::render(pipeline)?);
    Ok(files)
}

fn main(p: &Pipeline, module: &mut Module) {
    let env = p.validated.env();
    let mut terraform = json!({
        "required_version": REQUIRED_TERRAFORM,
        "required_providers": {"aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER}},
    });
    if let Some(backend) = StateBackend::of(env) {
        terraform["backend"] = json!({"s3": backend});
    }
    let mut provider = json!({
        "region": env.region,
        "default_tags": {"tags": p.default_tags},
    });
    // The `terraform` block has a file of its own: checkov's terraform_json parser cannot read it.
    module.file("terraform").top("terraform", terraform);
    let mut f = module.file("main");
    if env.kind == Kind::Local {
        let endpoint = crate::tf::Ref::var("aws_endpoint");
        let endpoints: BTreeMap<&str, Expr> = MOTO_SERVICES
            .iter()
            .map(|s| (*s, endpoint.value()))
            .collect();
        let extra = json!({
            "endpoints": endpoints,
            "skip_credentials_validation": true,
            "skip_requesting_account_id": true,
            "skip_metadata_api_check": true,
            "s3_use_path_style": true,
        });
        if let (Some(provider), Some(extra)) = (provider.as_object_mut(), extra.as_object()) {
            provider.extend(extra.clone());
        }
        f.variable(
            &endpoint,
            json!({
                "type": "string",
                "description": "moto server's URL; tests run it on a free port",
                "default": "http://127.0.0.1:5000",
            }),
        );
    }
    f.top("provider", json!({"aws": provider}));
    f.variable(
        &p.lambda_package,
        json!({
            "type": "string",
            "description": "Path of the aggregator's zip built by cargo-lambda (target/lambda/aggregator/bootstrap.zip); `cargo xtask deploy` passes it",
        }),
    );
    f.origin("Pipeline.account_id");
    f.data(&p.account_id, json!({}));
}

/// `(origin, block)` for fields of a value at `path` in the model: the origin names the field itself, so it
/// cannot drift.
macro_rules! fields {
    ($path:literal, $value:expr; $($field:ident),+ $(,)?) => {
        vec![$((concat!($path, ".", stringify!($field)).to_owned(), &$value.$field as &dyn Block)),+]
    };
}

/// Which component file each block of the pipeline is written to; each block names the field it comes from.
fn components(p: &Pipeline, module: &mut Module) {
    let mut monitoring = fields!("Pipeline", p; alarms, incoming_anomaly, dashboard);
    for alarm in &p.health {
        monitoring.push((format!("Pipeline.health[{}]", alarm.name), alarm));
    }
    if let Some(composite) = &p.pipeline_health {
        monitoring.push(("Pipeline.pipeline_health".into(), composite));
    }
    if let Some(budget) = &p.budget {
        monitoring.push(("Pipeline.budget".into(), budget));
    }
    let files = [
        ("secrets", fields!("Pipeline", p; key, credentials)),
        (
            "storage",
            fields!("Pipeline", p; landing, archive, landing_events, archive_events),
        ),
        (
            "queue",
            fields!("Pipeline", p; queue, dlq, queue_policy, dlq_policy),
        ),
        ("tables", fields!("Pipeline", p; idempotency, breaker)),
        (
            "function",
            fields!("Pipeline", p; aggregator_logs, aggregator, aggregator_live, aggregator_mapping),
        ),
        (
            "identity",
            fields!("Pipeline", p; aggregator_role, uploader_role, flow_logs_role),
        ),
        (
            "identity",
            fields!("Pipeline.reporter", p.reporter; reporter_role, scheduler_role),
        ),
        (
            "network",
            fields!("Pipeline", p; network, flow_logs, network_flow_log, on_premise, on_premise_dns),
        ),
        ("monitoring", monitoring),
    ];
    for (file, blocks) in files {
        write(&mut module.file(file), blocks);
    }
    let r = &p.reporter;
    let mut f = module.file("reporter");
    f.variable(
        &r.reporter.package,
        json!({
            "type": "string",
            "description": "Path of the daily report's zip built by cargo-lambda (target/lambda/reporter/bootstrap.zip); `cargo xtask deploy` passes it",
        }),
    );
    let mut blocks = fields!("Pipeline.reporter", r; reports, reports_events, reporter_logs, reporter, daily_report);
    if let Some(inventory) = &r.landing_inventory {
        blocks.push(("Pipeline.reporter.landing_inventory".into(), inventory));
    }
    write(&mut f, blocks);
    if let Some(r) = &p.receiver {
        let mut f = module.file("receiver");
        f.variable(
            &r.receiver.package,
            json!({
                "type": "string",
                "description": "Path of the mock receiver's zip built by cargo-lambda (target/lambda/receiver/bootstrap.zip)",
            }),
        );
        let blocks =
            fields!("Pipeline.receiver", r; receiver_logs, receiver_role, receiver, receiver_url);
        write(&mut f, blocks);
    }
}

fn write(f: &mut FileWriter<'_>, blocks: Vec<(String, &dyn Block)>) {
    for (origin, block) in blocks {
        f.origin(&origin);
        block.render(f);
    }
}

fn outputs(p: &Pipeline, module: &mut Module) {
    let mut f = module.file("outputs");
    let outputs: Vec<(&str, &str, Expr)> = vec![
        (
            "region",
            "The environment's AWS region",
            Expr::lit(p.validated.env().region.clone()),
        ),
        (
            "landing_bucket",
            "Bucket the external party puts files into",
            p.landing.id(),
        ),
        (
            "archive_bucket",
            "Bucket of delivered bundles, for audit and replay",
            p.archive.id(),
        ),
        ("queue_url", "The source queue", p.queue.url()),
        ("dlq_url", "The dead-letter queue", p.dlq.url()),
        (
            "dlq_arn",
            "The dead-letter queue's ARN (redrive)",
            p.dlq.arn(),
        ),
        (
            "queue_arn",
            "The source queue's ARN (redrive destination)",
            p.queue.arn(),
        ),
        (
            "secret_id",
            "The endpoint credentials' secret; set with `cargo xtask secret`",
            p.credentials.arn(),
        ),
        (
            "function_name",
            "The aggregator Lambda",
            p.aggregator.function_name(),
        ),
        (
            "aggregator_version",
            "The aggregator's newest published version; `cargo xtask deploy` releases it to the live alias",
            p.aggregator.version(),
        ),
        ("key_arn", "The KMS key of every store", p.key.arn()),
        (
            "alarm_topic_arn",
            "The SNS topic alarms notify",
            p.alarms.arn(),
        ),
        (
            "uploader_role_arn",
            "The role the external party assumes to upload",
            p.uploader_role.arn(),
        ),
        (
            "idempotency_table",
            "The idempotency table",
            p.idempotency.table_name(),
        ),
        (
            "breaker_table",
            "The circuit-breaker table",
            p.breaker.table_name(),
        ),
        (
            "reports_bucket",
            "Bucket of the daily reports (reports/YYYY-MM-DD/report.html)",
            p.reporter.reports.id(),
        ),
        (
            "reporter_function_name",
            "The daily report Lambda (`cargo xtask report` runs the same code)",
            p.reporter.reporter.function_name(),
        ),
    ];
    for (name, description, value) in outputs {
        f.output(name, description, value);
    }
    if p.on_premise.as_ref().and_then(|link| link.vpn()).is_some() {
        let vpn = crate::link::OnPremiseLink::vpn_connection();
        f.output(
            "vpn_connection_id",
            "The site-to-site VPN to on-premise: its tunnels' addresses and the router's configuration are in the VPC console",
            vpn.attr("id"),
        );
        f.output(
            "vpn_preshared_key_arn",
            "The secret AWS keeps the VPN tunnels' pre-shared keys in, for the on-premise router",
            vpn.attr("preshared_key_arn"),
        );
    }
    if let Some(r) = &p.receiver {
        f.output(
            "receiver_url",
            "The mock NiFi endpoint (dev)",
            r.receiver_url.url().suffix("contentListener"),
        );
    }
}
