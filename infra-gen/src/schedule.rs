//! An EventBridge Scheduler schedule that invokes a function once a day at a time of day (UTC), its input
//! encrypted with the environment's key.

use serde_json::json;

use crate::tf::{Block, Expr, FileWriter, Ref};

/// Invokes `target_arn` every day at `hour:minute` UTC, as `role_arn`, with `input`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: &'static str,
    pub schedule_name: String,
    pub description: String,
    pub hour: u8,
    pub minute: u8,
    pub target_arn: Expr,
    pub role_arn: Expr,
    pub key_arn: Expr,
    pub input: String,
}

impl Schedule {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_scheduler_schedule", self.name)
    }

    /// The schedule's cron expression (minutes, hours, day of month, month, day of week, year).
    pub fn expression(&self) -> String {
        format!("cron({} {} * * ? *)", self.minute, self.hour)
    }
}

impl Block for Schedule {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "name": self.schedule_name,
                "description": self.description,
                "schedule_expression": self.expression(),
                "schedule_expression_timezone": "UTC",
                "flexible_time_window": {"mode": "OFF"},
                "kms_key_arn": self.key_arn,
                "state": "ENABLED",
                "target": {
                    "arn": self.target_arn,
                    "role_arn": self.role_arn,
                    "input": self.input,
                    // A report that cannot be invoked within the hour is better made by hand (xtask report).
                    "retry_policy": {"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 3},
                },
            }),
        );
    }
}
