//! The customer-managed KMS key every store is encrypted with, and the endpoint-credentials secret,
//! created without a value so no credential enters Terraform state (`cargo xtask secret` puts it).

use serde_json::json;

use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::tf::{Block, Expr, FileWriter, Ref, keep};

/// The key, its alias, and the key policy that lets the AWS services of the pipeline use it.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: &'static str,
    pub alias: String,
    pub region: String,
    pub account_id: Expr,
    pub deletion_window_days: u32,
    pub prevent_destroy: bool,
    /// A budget alerts through the encrypted alarm topic, so Budgets may use the key to publish.
    pub budget_alerts: bool,
}

impl Key {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_kms_key", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    pub fn policy(&self) -> PolicyDocument {
        let usage = ["kms:Decrypt", "kms:GenerateDataKey"];
        let source_account = || {
            Condition::new(
                "StringEquals",
                "aws:SourceAccount",
                vec![self.account_id.clone()],
            )
        };
        let mut statements = vec![
            // The account root must administer the key, or IAM policies (the Lambda's role) could not
            // grant its use and the key could not be managed at all; this is AWS's default key policy.
            Statement::allow(
                "AccountAdministersKeyThroughIam",
                &["kms:*"],
                vec![Expr::lit("*")],
            )
            .principal(Principal::Aws(Expr::concat([
                Expr::lit("arn:aws:iam::"),
                self.account_id.clone(),
                Expr::lit(":root"),
            ]))),
            Statement::allow(
                "LogsEncryptLogGroups",
                &[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                vec![Expr::lit("*")],
            )
            .principal(Principal::Service(format!(
                "logs.{}.amazonaws.com",
                self.region
            )))
            .condition(Condition::new(
                "ArnLike",
                "kms:EncryptionContext:aws:logs:arn",
                vec![Expr::concat([
                    Expr::lit(format!("arn:aws:logs:{}:", self.region)),
                    self.account_id.clone(),
                    Expr::lit(":log-group:*"),
                ])],
            )),
            // S3 encrypts the event notifications it sends to the encrypted queue.
            Statement::allow("S3SendsEncryptedEvents", &usage, vec![Expr::lit("*")])
                .principal(Principal::Service("s3.amazonaws.com".into()))
                .condition(source_account()),
            // CloudWatch alarms publish to the encrypted alarm topic.
            Statement::allow("CloudWatchPublishesAlarms", &usage, vec![Expr::lit("*")])
                .principal(Principal::Service("cloudwatch.amazonaws.com".into()))
                .condition(source_account()),
        ];
        if self.budget_alerts {
            statements.push(
                Statement::allow("BudgetsPublishesAlerts", &usage, vec![Expr::lit("*")])
                    .principal(Principal::Service("budgets.amazonaws.com".into()))
                    .condition(source_account()),
            );
        }
        PolicyDocument::new(format!("{}_key", self.name), statements)
    }
}

impl Block for Key {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "description": format!("{}: S3, SQS, DynamoDB, Secrets Manager, Logs and SNS of the file aggregator", self.alias),
                "enable_key_rotation": true,
                "deletion_window_in_days": self.deletion_window_days,
                "policy": self.policy().inline(),
                "lifecycle": keep(self.prevent_destroy),
            }),
        );
        f.resource(
            &Ref::resource("aws_kms_alias", self.name),
            json!({"name": self.alias, "target_key_id": self.r().attr("key_id")}),
        );
    }
}

/// The secret holding the endpoint's credentials; Terraform makes it but never its value.
#[derive(Debug, Clone)]
pub struct Secret {
    pub name: &'static str,
    pub secret_name: String,
    pub key_arn: Expr,
    pub recovery_window_days: u32,
    pub prevent_destroy: bool,
}

impl Secret {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_secretsmanager_secret", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }
}

impl Block for Secret {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "name": self.secret_name,
                "description": "Credentials of the delivery endpoint; the value is put by `cargo xtask secret`, never by Terraform",
                "kms_key_id": self.key_arn,
                "recovery_window_in_days": self.recovery_window_days,
                "lifecycle": keep(self.prevent_destroy),
            }),
        );
    }
}
