//! Renders a [`Pipeline`] into the files of `generated/<env>/`: one `*.tf.json` per component, the outputs,
//! the variables that must come from outside, and the documents.

use std::collections::BTreeMap;

use serde_json::json;

use crate::config::Kind;
use crate::docs;
use crate::pipeline::Pipeline;
use crate::tf::{Expr, Module, ModuleError};

/// Terraform releases the generated JSON is written for (native S3 locking needs 1.10+).
pub const REQUIRED_TERRAFORM: &str = ">= 1.11";
/// Provider 5.100 is what the offline machines carry, 6.x what users get; the JSON is valid for both.
pub const AWS_PROVIDER: &str = ">= 5.100, < 7.0";
/// Attributes moto does not give back as they were written, so that every plan after the first would show
/// them as changed; the local environment ignores their drift, so a second deploy applies nothing:
/// - SQS redrive policies come back re-serialised (whitespace);
/// - S3 notifications lose `eventbridge`;
/// - security group rules lose their description, and referenced groups come back as `account/sg-…`.
pub const MOTO_UNECHOED: [(&str, &[&str]); 4] = [
    ("aws_sqs_queue", &["redrive_policy"]),
    ("aws_s3_bucket_notification", &["eventbridge"]),
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
pub const MOTO_SERVICES: [&str; 12] = [
    "cloudwatch",
    "dynamodb",
    "ec2",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
];

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
    if let Some(bucket) = &env.state_bucket {
        terraform["backend"] = json!({"s3": {
            "bucket": bucket,
            "key": format!("file-aggregator/{}/terraform.tfstate", env.name),
            "region": env.region,
            "encrypt": true,
            "use_lockfile": true,
        }});
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

fn components(p: &Pipeline, module: &mut Module) {
    {
        let mut f = module.file("secrets");
        f.origin("Pipeline.key");
        p.key.render(&mut f);
        f.origin("Pipeline.credentials");
        p.credentials.render(&mut f);
    }
    {
        let mut f = module.file("storage");
        f.origin("Pipeline.landing");
        p.landing.render(&mut f);
        f.origin("Pipeline.archive");
        p.archive.render(&mut f);
        f.origin("Pipeline.landing_events");
        p.landing_events.render(&mut f);
        f.origin("Pipeline.archive_events");
        p.archive_events.render(&mut f);
    }
    {
        let mut f = module.file("queue");
        f.origin("Pipeline.queue");
        p.queue.render(&mut f);
        f.origin("Pipeline.dlq");
        p.dlq.render(&mut f);
        f.origin("Pipeline.queue_policy");
        p.queue_policy.render(&mut f);
        f.origin("Pipeline.dlq_policy");
        p.dlq_policy.render(&mut f);
    }
    {
        let mut f = module.file("tables");
        f.origin("Pipeline.idempotency");
        p.idempotency.render(&mut f);
        f.origin("Pipeline.breaker");
        p.breaker.render(&mut f);
    }
    {
        let mut f = module.file("function");
        f.origin("Pipeline.aggregator_logs");
        p.aggregator_logs.render(&mut f);
        f.origin("Pipeline.aggregator");
        p.aggregator.render(&mut f);
        f.origin("Pipeline.aggregator_mapping");
        p.aggregator_mapping.render(&mut f);
    }
    {
        let mut f = module.file("identity");
        f.origin("Pipeline.aggregator_role");
        p.aggregator_role.render(&mut f);
        f.origin("Pipeline.uploader_role");
        p.uploader_role.render(&mut f);
        f.origin("Pipeline.flow_logs_role");
        p.flow_logs_role.render(&mut f);
    }
    {
        let mut f = module.file("network");
        f.origin("Pipeline.network");
        p.network.render(&mut f);
        f.origin("Pipeline.flow_logs");
        p.flow_logs.render(&mut f);
        f.origin("Pipeline.network_flow_log");
        p.network_flow_log.render(&mut f);
    }
    {
        let mut f = module.file("monitoring");
        f.origin("Pipeline.alarms");
        p.alarms.render(&mut f);
        for alarm in &p.health {
            f.origin(&format!("Pipeline.health[{}]", alarm.name));
            alarm.render(&mut f);
        }
        f.origin("Pipeline.incoming_anomaly");
        p.incoming_anomaly.render(&mut f);
        if let Some(composite) = &p.pipeline_health {
            f.origin("Pipeline.pipeline_health");
            composite.render(&mut f);
        }
        f.origin("Pipeline.dashboard");
        p.dashboard.render(&mut f);
    }
    if let Some(r) = &p.receiver {
        let mut f = module.file("receiver");
        f.variable(
            &r.receiver.package,
            json!({
                "type": "string",
                "description": "Path of the mock receiver's zip built by cargo-lambda (target/lambda/receiver/bootstrap.zip)",
            }),
        );
        f.origin("Pipeline.receiver.receiver_logs");
        r.receiver_logs.render(&mut f);
        f.origin("Pipeline.receiver.receiver_role");
        r.receiver_role.render(&mut f);
        f.origin("Pipeline.receiver.receiver");
        r.receiver.render(&mut f);
        f.origin("Pipeline.receiver.receiver_url");
        r.receiver_url.render(&mut f);
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
    ];
    for (name, description, value) in outputs {
        f.output(name, description, value);
    }
    if let Some(r) = &p.receiver {
        f.output(
            "receiver_url",
            "The mock NiFi endpoint (dev)",
            r.receiver_url.url().suffix("contentListener"),
        );
    }
}
