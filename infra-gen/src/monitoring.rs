//! Alarms on the pipeline's health, one composite alarm that notifies the SNS topic, the dashboard, and the
//! monthly budget that alerts the same topic.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::json;

use crate::config::{BudgetAlert, Spend};
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::tf::{Block, Expr, FileWriter, Ref};

/// A KMS-encrypted SNS topic for alarms and budget alerts, with an optional email subscription. Its policy
/// lets exactly the services that notify through it publish, for this account only.
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: &'static str,
    pub topic_name: String,
    pub key_arn: Expr,
    pub account_id: Expr,
    pub email: Option<String>,
    /// A budget alerts through it, so Budgets may publish.
    pub budget_alerts: bool,
}

impl Topic {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_sns_topic", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    /// The topic policy: budget alerts need it (Budgets publishes only where a topic policy lets it), and
    /// once a topic has a policy, CloudWatch's alarms need their own statement too.
    pub fn policy_ref(&self) -> Ref {
        Ref::resource("aws_sns_topic_policy", self.name)
    }

    pub fn policy(&self) -> PolicyDocument {
        let source_account = Condition::new(
            "StringEquals",
            "aws:SourceAccount",
            vec![self.account_id.clone()],
        );
        let publish = |sid, service: &str| {
            Statement::allow(sid, &["sns:Publish"], vec![self.arn()])
                .principal(Principal::Service(service.into()))
                .condition(source_account.clone())
        };
        let mut statements = vec![publish(
            "CloudWatchPublishesAlarms",
            "cloudwatch.amazonaws.com",
        )];
        if self.budget_alerts {
            // AWS Cost Management's topic policy for budget notifications (budgets-sns-policy.html).
            statements.push(
                publish("BudgetsPublishesAlerts", "budgets.amazonaws.com").condition(
                    Condition::new(
                        "ArnLike",
                        "aws:SourceArn",
                        vec![Expr::concat([
                            Expr::lit("arn:aws:budgets::"),
                            self.account_id.clone(),
                            Expr::lit(":*"),
                        ])],
                    ),
                ),
            );
        }
        PolicyDocument::new(format!("{}_topic", self.name), statements)
    }
}

impl Block for Topic {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &self.r(),
            json!({"name": self.topic_name, "kms_master_key_id": self.key_arn}),
        );
        let policy = self.policy();
        f.data(&policy.data_ref(), policy.data_body());
        f.resource(
            &self.policy_ref(),
            json!({"arn": self.arn(), "policy": policy.json()}),
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

/// A percentile, in tenths of a percent so that p99.9 is exact: `Percentile::of_share(0.999)` is `p99.9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percentile {
    pub tenths: u16,
}

impl Percentile {
    /// The percentile below which `share` (0..1) of the values lie.
    pub fn of_share(share: f64) -> Percentile {
        Percentile {
            tenths: (share * 1000.0).round().clamp(0.0, 1000.0) as u16,
        }
    }

    /// As a percentage for people: `95%`, `99.9%`.
    pub fn percent(self) -> String {
        match self.tenths % 10 {
            0 => format!("{}%", self.tenths / 10),
            tenth => format!("{}.{tenth}%", self.tenths / 10),
        }
    }
}

/// CloudWatch's name of the percentile: `p95`, `p99.9`.
impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.percent().trim_end_matches('%'))
    }
}

/// What an alarm computes over each period. A percentile is one of CloudWatch's "extended statistics",
/// which an alarm names in `extended_statistic` instead of `statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Sum,
    Maximum,
    Percentile(Percentile),
}

impl Statistic {
    /// The name CloudWatch gives it (`Sum`, `p99.9`), as a metric query's `stat` takes it.
    pub fn name(self) -> String {
        match self {
            Statistic::Sum => "Sum".into(),
            Statistic::Maximum => "Maximum".into(),
            Statistic::Percentile(p) => p.to_string(),
        }
    }

    /// The alarm attribute that takes it: `statistic`, or `extended_statistic` for a percentile.
    pub fn alarm_attribute(self) -> &'static str {
        match self {
            Statistic::Sum | Statistic::Maximum => "statistic",
            Statistic::Percentile(_) => "extended_statistic",
        }
    }
}

/// A metric as an alarm reads it: one statistic of it over each period.
#[derive(Debug, Clone)]
pub struct Metric {
    pub namespace: &'static str,
    pub name: &'static str,
    pub dimensions: BTreeMap<&'static str, Expr>,
    pub statistic: Statistic,
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
            } => {
                let mut rule = json!({
                    "namespace": metric.namespace,
                    "metric_name": metric.name,
                    "dimensions": metric.dimensions,
                    "period": metric.period_seconds,
                    "evaluation_periods": evaluation_periods,
                    "threshold": threshold,
                    "comparison_operator": comparison.as_str(),
                    "treat_missing_data": "notBreaching",
                });
                rule[metric.statistic.alarm_attribute()] = json!(metric.statistic.name());
                rule
            }
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
                            "stat": metric.statistic.name(),
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

/// A monthly cost budget for the account that alerts the alarm topic when the spend (actual, or forecast for
/// the month) crosses each alert's share of the limit: the guard against a denial of wallet (a flood of files,
/// a loop, a forgotten load test) that no health alarm sees.
#[derive(Debug, Clone)]
pub struct Budget {
    pub name: &'static str,
    pub budget_name: String,
    pub monthly_usd: u32,
    pub alerts: Vec<BudgetAlert>,
    pub account_id: Expr,
    pub topic_arn: Expr,
    /// Budgets checks that it may publish when the notification is created: the topic policy comes first.
    pub after: Ref,
}

impl Budget {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_budgets_budget", self.name)
    }
}

impl Block for Budget {
    fn render(&self, f: &mut FileWriter<'_>) {
        let notifications: Vec<_> = self
            .alerts
            .iter()
            .map(|alert| {
                json!({
                    "comparison_operator": "GREATER_THAN",
                    "threshold": alert.percent,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": match alert.spend {
                        Spend::Actual => "ACTUAL",
                        Spend::Forecasted => "FORECASTED",
                    },
                    "subscriber_sns_topic_arns": [self.topic_arn],
                })
            })
            .collect();
        f.resource(
            &self.r(),
            json!({
                "name": self.budget_name,
                "account_id": self.account_id,
                "budget_type": "COST",
                "limit_amount": self.monthly_usd.to_string(),
                "limit_unit": "USD",
                "time_unit": "MONTHLY",
                "notification": notifications,
                "depends_on": [self.after.address()],
            }),
        );
    }
}
