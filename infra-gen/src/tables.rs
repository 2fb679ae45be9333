//! The DynamoDB tables of the aggregator's state: idempotency (with TTL) and the circuit breaker.

use serde_json::json;

use crate::tf::{Block, Expr, FileWriter, Ref, keep};

/// An on-demand, KMS-encrypted table with point-in-time recovery and partition key `id` (S).
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub table_name: String,
    pub ttl_attribute: Option<&'static str>,
    pub key_arn: Expr,
    pub prevent_destroy: bool,
}

impl Table {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_dynamodb_table", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    pub fn table_name(&self) -> Expr {
        self.r().attr("name")
    }
}

impl Block for Table {
    fn render(&self, f: &mut FileWriter<'_>) {
        let mut body = json!({
            "name": self.table_name,
            "billing_mode": "PAY_PER_REQUEST",
            "hash_key": "id",
            "attribute": [{"name": "id", "type": "S"}],
            "point_in_time_recovery": {"enabled": true},
            "server_side_encryption": {"enabled": true, "kms_key_arn": self.key_arn},
            "deletion_protection_enabled": self.prevent_destroy,
            "lifecycle": keep(self.prevent_destroy),
        });
        if let Some(attribute) = self.ttl_attribute {
            body["ttl"] = json!({"attribute_name": attribute, "enabled": true});
        }
        f.resource(&self.r(), body);
    }
}
