//! The SQS source queue and its dead-letter queue, both KMS-encrypted, and their policies: both refuse
//! requests without TLS, and the source queue's lets only the landing bucket send its events.

use serde_json::json;

use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::tf::{Block, Expr, FileWriter, Ref, keep};

/// A queue; `name` is its field in the pipeline.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: &'static str,
    pub queue_name: String,
    pub key_arn: Expr,
    pub visibility_timeout_seconds: u32,
    pub retention_seconds: u32,
    /// The dead-letter queue and the receive count that sends a message there.
    pub redrive: Option<(Ref, u32)>,
    pub prevent_destroy: bool,
}

impl Queue {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_sqs_queue", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    pub fn url(&self) -> Expr {
        self.r().attr("url")
    }

    pub fn queue_name(&self) -> Expr {
        self.r().attr("name")
    }
}

impl Block for Queue {
    fn render(&self, f: &mut FileWriter<'_>) {
        let mut body = json!({
            "name": self.queue_name,
            "kms_master_key_id": self.key_arn,
            "kms_data_key_reuse_period_seconds": 300,
            "visibility_timeout_seconds": self.visibility_timeout_seconds,
            "message_retention_seconds": self.retention_seconds,
            // Long polling: fewer empty receives, and none of them count toward maxReceiveCount.
            "receive_wait_time_seconds": 20,
            "lifecycle": keep(self.prevent_destroy),
        });
        if let Some((dlq, max_receive_count)) = &self.redrive {
            body["redrive_policy"] = json!(Expr::raw(format!(
                "jsonencode({{deadLetterTargetArn = {}.arn, maxReceiveCount = {max_receive_count}}})",
                dlq.address()
            )));
        }
        f.resource(&self.r(), body);
    }
}

/// The bucket whose event notifications a queue accepts, and the account that owns it.
#[derive(Debug, Clone)]
pub struct BucketEvents {
    pub bucket_arn: Expr,
    pub account_id: Expr,
}

/// A queue's policy: no request without TLS, and the events of one bucket when `sender` says so.
#[derive(Debug, Clone)]
pub struct QueuePolicy {
    pub name: &'static str,
    pub queue_url: Expr,
    pub queue_arn: Expr,
    pub sender: Option<BucketEvents>,
}

impl QueuePolicy {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_sqs_queue_policy", self.name)
    }

    pub fn document(&self) -> PolicyDocument {
        let mut statements = Vec::new();
        if let Some(sender) = &self.sender {
            statements.push(
                Statement::allow(
                    "LandingBucketEvents",
                    &["sqs:SendMessage"],
                    vec![self.queue_arn.clone()],
                )
                .principal(Principal::Service("s3.amazonaws.com".into()))
                .condition(Condition::new(
                    "ArnEquals",
                    "aws:SourceArn",
                    vec![sender.bucket_arn.clone()],
                ))
                .condition(Condition::new(
                    "StringEquals",
                    "aws:SourceAccount",
                    vec![sender.account_id.clone()],
                )),
            );
        }
        // moto ignores queue policies (docs/emulator-gaps.md), so unlike the buckets' TLS-only policies the
        // local environment keeps this one too.
        statements.push(Statement::deny_insecure_transport(
            &["sqs:*"],
            vec![self.queue_arn.clone()],
        ));
        PolicyDocument::new(self.name, statements)
    }
}

impl Block for QueuePolicy {
    fn render(&self, f: &mut FileWriter<'_>) {
        let document = self.document();
        f.data(&document.data_ref(), document.data_body());
        f.resource(
            &self.r(),
            json!({"queue_url": self.queue_url, "policy": document.json()}),
        );
    }
}
