//! Alarms on the pipeline's health, one composite alarm that notifies the SNS topic, and the dashboard.

use std::collections::BTreeMap;

use serde_json::json;

use crate::tf::{Block, Expr, FileWriter, Ref};

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
}

impl Block for Topic {
    fn render(&self, f: &mut FileWriter<'_>) {
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

/// A metric as an alarm reads it: one statistic of it over each period.
#[derive(Debug, Clone)]
pub struct Metric {
    pub namespace: &'static str,
    pub name: &'static str,
    pub dimensions: BTreeMap<&'static str, Expr>,
    pub statistic: &'static str,
    pub period_seconds: u32,
}

/// When an alarm fires.
#[derive(Debug, Clone)]
pub enum Watch {
    /// The metric's statistic compared with a threshold, for `evaluation_periods` periods in a row.
    Threshold {
        metric: Metric,
        evaluation_periods: u32,
        threshold: u32,
        comparison: Comparison,
    },
    /// The metric leaves the band CloudWatch learned for it (`band_width` standard deviations wide), for
    /// `evaluation_periods` periods in a row.
    Anomaly {
        metric: Metric,
        evaluation_periods: u32,
        band_width: u32,
    },
}

/// An alarm on one metric; without a composite alarm it notifies the topic itself.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub name: &'static str,
    pub actions: Vec<Expr>,
    pub alarm_name: String,
    pub description: String,
    pub watch: Watch,
}

impl Alarm {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_cloudwatch_metric_alarm", self.name)
    }
}

impl Block for Alarm {
    fn render(&self, f: &mut FileWriter<'_>) {
        let mut body = json!({
            "alarm_name": self.alarm_name,
            "alarm_description": self.description,
            "alarm_actions": self.actions,
            "ok_actions": self.actions,
        });
        let rule = match &self.watch {
            Watch::Threshold {
                metric,
                evaluation_periods,
                threshold,
                comparison,
            } => json!({
                "namespace": metric.namespace,
                "metric_name": metric.name,
                "dimensions": metric.dimensions,
                "statistic": metric.statistic,
                "period": metric.period_seconds,
                "evaluation_periods": evaluation_periods,
                "threshold": threshold,
                "comparison_operator": comparison.as_str(),
                "treat_missing_data": "notBreaching",
            }),
            Watch::Anomaly {
                metric,
                evaluation_periods,
                band_width,
            } => json!({
                "comparison_operator": "LessThanLowerOrGreaterThanUpperThreshold",
                "evaluation_periods": evaluation_periods,
                "threshold_metric_id": "band",
                "treat_missing_data": "breaching",
                "metric_query": [
                    {
                        "id": "m1",
                        "return_data": true,
                        "metric": {
                            "namespace": metric.namespace,
                            "metric_name": metric.name,
                            "dimensions": metric.dimensions,
                            "stat": metric.statistic,
                            "period": metric.period_seconds,
                        },
                    },
                    {
                        "id": "band",
                        "expression": format!("ANOMALY_DETECTION_BAND(m1, {band_width})"),
                        "label": format!("{} (expected)", metric.name),
                        "return_data": true,
                    },
                ],
            }),
        };
        if let (Some(body), Some(rule)) = (body.as_object_mut(), rule.as_object()) {
            body.extend(rule.clone());
        }
        f.resource(&self.r(), body);
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
}

impl Block for CompositeAlarm {
    fn render(&self, f: &mut FileWriter<'_>) {
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

impl Block for Dashboard {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &Ref::resource("aws_cloudwatch_dashboard", self.name),
            json!({
                "dashboard_name": self.dashboard_name,
                "dashboard_body": Expr::raw(format!("file(\"${{path.module}}/{}\")", self.body_file)),
            }),
        );
    }
}
