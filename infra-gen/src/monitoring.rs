//! Alarms on the pipeline's health, one composite alarm that notifies the SNS topic, and the dashboard.

use std::collections::BTreeMap;

use serde_json::json;

use crate::tf::{Expr, FileWriter, Ref};

/// A KMS-encrypted SNS topic for alarms, with an optional email subscription.
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: &'static str,
    pub topic_name: String,
    pub key_arn: Expr,
    pub email: Option<String>,
}

impl Topic {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_sns_topic", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    pub fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({"name": self.topic_name, "kms_master_key_id": self.key_arn}),
        );
        if let Some(email) = &self.email {
            f.resource(
                &Ref::resource("aws_sns_topic_subscription", format!("{}_email", self.name)),
                json!({"topic_arn": self.arn(), "protocol": "email", "endpoint": email}),
            );
        }
    }
}

/// How an alarm compares its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
}

impl Comparison {
    fn as_str(self) -> &'static str {
        match self {
            Comparison::Above => "GreaterThanThreshold",
            Comparison::AtLeast => "GreaterThanOrEqualToThreshold",
        }
    }
}

/// A threshold alarm on one metric; without a composite alarm it notifies the topic itself.
#[derive(Debug, Clone)]
pub struct MetricAlarm {
    pub name: &'static str,
    pub actions: Vec<Expr>,
    pub alarm_name: String,
    pub description: String,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: BTreeMap<&'static str, Expr>,
    pub statistic: &'static str,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub threshold: u32,
    pub comparison: Comparison,
}

impl MetricAlarm {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_cloudwatch_metric_alarm", self.name)
    }

    pub fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "alarm_name": self.alarm_name,
                "alarm_description": self.description,
                "namespace": self.namespace,
                "metric_name": self.metric,
                "dimensions": self.dimensions,
                "statistic": self.statistic,
                "period": self.period_seconds,
                "evaluation_periods": self.evaluation_periods,
                "threshold": self.threshold,
                "comparison_operator": self.comparison.as_str(),
                "treat_missing_data": "notBreaching",
                "alarm_actions": self.actions,
                "ok_actions": self.actions,
            }),
        );
    }
}

/// An anomaly-detection alarm: the metric leaves the band CloudWatch learned for it.
#[derive(Debug, Clone)]
pub struct AnomalyAlarm {
    pub name: &'static str,
    pub actions: Vec<Expr>,
    pub alarm_name: String,
    pub description: String,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: BTreeMap<&'static str, Expr>,
    pub statistic: &'static str,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    /// Width of the band in standard deviations.
    pub band_width: u32,
}

impl AnomalyAlarm {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_cloudwatch_metric_alarm", self.name)
    }

    pub fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({
                "alarm_name": self.alarm_name,
                "alarm_description": self.description,
                "comparison_operator": "LessThanLowerOrGreaterThanUpperThreshold",
                "evaluation_periods": self.evaluation_periods,
                "threshold_metric_id": "band",
                "treat_missing_data": "breaching",
                "alarm_actions": self.actions,
                "ok_actions": self.actions,
                "metric_query": [
                    {
                        "id": "m1",
                        "return_data": true,
                        "metric": {
                            "namespace": self.namespace,
                            "metric_name": self.metric,
                            "dimensions": self.dimensions,
                            "stat": self.statistic,
                            "period": self.period_seconds,
                        },
                    },
                    {
                        "id": "band",
                        "expression": format!("ANOMALY_DETECTION_BAND(m1, {})", self.band_width),
                        "label": format!("{} (expected)", self.metric),
                        "return_data": true,
                    },
                ],
            }),
        );
    }
}

/// One alarm over the others, the only one that notifies: one message per incident, not one per symptom.
#[derive(Debug, Clone)]
pub struct CompositeAlarm {
    pub name: &'static str,
    pub alarm_name: String,
    pub description: String,
    pub children: Vec<Ref>,
    pub topic_arn: Expr,
}

impl CompositeAlarm {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_cloudwatch_composite_alarm", self.name)
    }

    pub fn render(&self, f: &mut FileWriter<'_>) {
        let rule = self
            .children
            .iter()
            .map(|child| format!("ALARM(\"${{{}.alarm_name}}\")", child.address()))
            .collect::<Vec<_>>()
            .join(" OR ");
        f.resource(
            &self.r(),
            json!({
                "alarm_name": self.alarm_name,
                "alarm_description": self.description,
                "alarm_rule": Expr::Template(rule),
                "alarm_actions": [self.topic_arn],
                "ok_actions": [self.topic_arn],
            }),
        );
    }
}

/// The dashboard; its body is rendered from `templates/dashboard.json.hbs` into `dashboard.json`.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub name: &'static str,
    pub dashboard_name: String,
    pub body_file: &'static str,
}

impl Dashboard {
    pub fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &Ref::resource("aws_cloudwatch_dashboard", self.name),
            json!({
                "dashboard_name": self.dashboard_name,
                "dashboard_body": Expr::raw(format!("file(\"${{path.module}}/{}\")", self.body_file)),
            }),
        );
    }
}
