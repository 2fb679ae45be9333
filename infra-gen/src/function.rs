//! Lambda functions from cargo-lambda zips, their log groups, the alias a release moves, the SQS event
//! source mapping, and the dev mock receiver's function URL.

use std::collections::BTreeMap;

use serde_json::json;

use crate::tf::{Block, Expr, FileWriter, Ref};

/// A KMS-encrypted log group with retention.
#[derive(Debug, Clone)]
pub struct LogGroup {
    pub name: &'static str,
    pub group_name: String,
    pub retention_days: u32,
    pub key_arn: Expr,
}

impl LogGroup {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_cloudwatch_log_group", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }
}

impl Block for LogGroup {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "name": self.group_name,
                "retention_in_days": self.retention_days,
                "kms_key_id": self.key_arn,
            }),
        );
    }
}

/// Where a function runs in the VPC.
#[derive(Debug, Clone)]
pub struct VpcPlacement {
    pub subnet_ids: Vec<Expr>,
    pub security_group_ids: Vec<Expr>,
}

/// A `provided.al2023` function whose code is the zip cargo-lambda built, passed in as a variable so a
/// changed binary changes `source_code_hash` and redeploys. With `publish`, every change of code or
/// configuration is published as a new numbered version, which an [`Alias`] can point at.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: &'static str,
    pub function_name: String,
    pub description: &'static str,
    pub role_arn: Expr,
    pub package: Ref,
    pub architecture: &'static str,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// The size of `/tmp`, in MB.
    pub ephemeral_storage_mb: u32,
    pub reserved_concurrency: u32,
    pub environment: BTreeMap<&'static str, Expr>,
    pub vpc: Option<VpcPlacement>,
    pub layers: Vec<String>,
    pub key_arn: Expr,
    pub publish: bool,
    /// The role's policy and the log group must exist before the function first runs.
    pub after: Vec<Ref>,
}

impl Function {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_lambda_function", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    pub fn function_name(&self) -> Expr {
        self.r().attr("function_name")
    }

    /// The version the last apply published (`$LATEST` without `publish`).
    pub fn version(&self) -> Expr {
        self.r().attr("version")
    }
}

impl Block for Function {
    fn render(&self, f: &mut FileWriter<'_>) {
        let package = self.package.address();
        let mut body = json!({
            "function_name": self.function_name,
            "description": self.description,
            "role": self.role_arn,
            "runtime": "provided.al2023",
            "handler": "bootstrap",
            "architectures": [self.architecture],
            "filename": self.package.value(),
            "source_code_hash": Expr::raw(format!("filebase64sha256({package})")),
            "memory_size": self.memory_mb,
            "timeout": self.timeout_seconds,
            "ephemeral_storage": {"size": self.ephemeral_storage_mb},
            "reserved_concurrent_executions": self.reserved_concurrency,
            "kms_key_arn": self.key_arn,
            "environment": {"variables": self.environment},
            "publish": self.publish,
            "depends_on": self.after.iter().map(Ref::address).collect::<Vec<_>>(),
        });
        if !self.layers.is_empty() {
            body["layers"] = json!(self.layers);
        }
        if let Some(vpc) = &self.vpc {
            body["vpc_config"] = json!({
                "subnet_ids": vpc.subnet_ids,
                "security_group_ids": vpc.security_group_ids,
            });
        }
        f.resource(&self.r(), body);
    }
}

/// An alias of a function's published versions, created by Terraform at the version the first apply
/// published. From then on `cargo xtask deploy` and `rollback` move it (its version, the canary's weighted
/// routing, and the release record they keep in its description), so Terraform ignores those three
/// attributes: an apply never undoes a release, and a release never shows up as drift.
#[derive(Debug, Clone)]
pub struct Alias {
    pub name: &'static str,
    pub alias_name: &'static str,
    pub function_name: Expr,
    pub function_version: Expr,
}

impl Alias {
    /// What Terraform leaves to the release commands.
    pub const RELEASED_ATTRIBUTES: [&'static str; 3] =
        ["function_version", "routing_config", "description"];

    pub fn r(&self) -> Ref {
        Ref::resource("aws_lambda_alias", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }
}

impl Block for Alias {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "name": self.alias_name,
                "function_name": self.function_name,
                "function_version": self.function_version,
                "lifecycle": {"ignore_changes": Alias::RELEASED_ATTRIBUTES},
            }),
        );
    }
}

/// The SQS event source mapping, reporting partial batch failures (without which a partial response is ignored).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: &'static str,
    pub queue_arn: Expr,
    /// What the queue invokes: the `live` alias, so a release decides which version that is.
    pub function_arn: Expr,
    pub batch_size: u32,
    pub batching_window_seconds: u32,
    pub maximum_concurrency: u32,
}

impl Mapping {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_lambda_event_source_mapping", self.name)
    }
}

impl Block for Mapping {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "event_source_arn": self.queue_arn,
                "function_name": self.function_arn,
                "batch_size": self.batch_size,
                "maximum_batching_window_in_seconds": self.batching_window_seconds,
                "function_response_types": ["ReportBatchItemFailures"],
                "scaling_config": {"maximum_concurrency": self.maximum_concurrency},
                "enabled": true,
            }),
        );
    }
}

/// A public HTTPS URL for a function (the dev mock receiver, which checks Basic credentials itself as
/// the proxy in front of a real NiFi would).
#[derive(Debug, Clone)]
pub struct FunctionUrl {
    pub name: &'static str,
    pub function_name: Expr,
}

impl FunctionUrl {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_lambda_function_url", self.name)
    }

    pub fn url(&self) -> Expr {
        self.r().attr("function_url")
    }
}

impl Block for FunctionUrl {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({"function_name": self.function_name, "authorization_type": "NONE"}),
        );
        f.resource(
            &Ref::resource("aws_lambda_permission", self.name),
            json!({
                "statement_id": "FunctionUrlInvoke",
                "action": "lambda:InvokeFunctionUrl",
                "function_name": self.function_name,
                "principal": "*",
                "function_url_auth_type": "NONE",
            }),
        );
    }
}
