//! What watches the pipeline: health alarms on the queues, the function (as the queue invokes it, through
//! its `live` alias), the latency objective, the circuit breaker and the daily report, an anomaly alarm on
//! incoming files, the composite alarm that notifies once per incident, the topic, the dashboard and the
//! monthly budget.

use std::collections::BTreeMap;

use super::queues::Queues;
use super::{Context, DASHBOARD_FILE, LIVE_ALIAS, METRIC_NAMESPACE, Pipeline};
use crate::function::Function;
use crate::monitoring::{
    Alarm, Budget, Comparison, CompositeAlarm, Dashboard, Metric, Statistic, Topic, Watch,
};
use crate::queue::Queue;
use crate::retention::{human, human_up};
use crate::tf::{Expr, Ref};
use crate::watch::{FUNCTION_ALARM_PERIOD_SECONDS, latency_watches};

/// The alarms a canary release watches (by Terraform name): the function's errors, and every latency alarm.
const RELEASE_WATCHED: [&str; 1] = ["lambda_errors"];

pub struct Monitoring {
    pub alarms: Topic,
    pub health: Vec<Alarm>,
    pub incoming_anomaly: Alarm,
    pub pipeline_health: Option<CompositeAlarm>,
    pub dashboard: Dashboard,
    pub budget: Option<Budget>,
}

/// The topic alarms notify, and the daily report publishes its summary to.
pub fn topic(cx: &Context) -> Topic {
    Topic {
        name: "alarms",
        topic_name: cx.named("alarms"),
        key_arn: cx.key_arn.clone(),
        account_id: cx.account.clone(),
        email: cx.env.alarms.email.clone(),
        budget_alerts: cx.env.budget.is_some(),
    }
}

impl Monitoring {
    pub fn new(
        cx: &Context,
        queues: &Queues,
        aggregator: &Function,
        reporter: &Function,
        alarms: Topic,
    ) -> Monitoring {
        let settings = &cx.env.alarms;
        // With a composite alarm only it notifies (one message per incident); without, each alarm does.
        let actions = if settings.composite {
            Vec::new()
        } else {
            vec![alarms.arn()]
        };
        // Every alarm is named after its Terraform name: `queue_depth` is `<prefix>-queue-depth`.
        let alarm = |(name, description, watch): (&'static str, String, Watch)| Alarm {
            name,
            actions: actions.clone(),
            alarm_name: cx.named(&name.replace('_', "-")),
            description,
            watch,
        };
        let health: Vec<Alarm> = health_checks(cx, queues, aggregator, reporter)
            .into_iter()
            .map(alarm)
            .collect();
        let incoming_anomaly = alarm((
            "incoming_anomaly",
            "Files land at an unusual rate: the external party stopped sending, or a flood".into(),
            Watch::Anomaly {
                metric: on_queue("NumberOfMessagesSent", &queues.queue, Statistic::Sum, 300),
                evaluation_periods: 3,
                band_width: 3,
            },
        ));
        let mut children: Vec<Ref> = health.iter().map(Alarm::r).collect();
        children.push(incoming_anomaly.r());
        let pipeline_health = settings.composite.then(|| CompositeAlarm {
            name: "pipeline_health",
            alarm_name: cx.named("pipeline-health"),
            description: format!(
                "Something is wrong with the {} file pipeline: see which alarm fired in RUNBOOK.md",
                cx.env.name
            ),
            children,
            topic_arn: alarms.arn(),
        });
        let budget = cx.env.budget.as_ref().map(|budget| Budget {
            name: "budget",
            budget_name: cx.named("monthly"),
            monthly_usd: budget.monthly_usd,
            alerts: budget.alerts.clone(),
            account_id: cx.account.clone(),
            topic_arn: alarms.arn(),
            after: alarms.policy_ref(),
        });
        Monitoring {
            dashboard: Dashboard {
                name: "dashboard",
                dashboard_name: cx.env.name_prefix.clone(),
                body_file: DASHBOARD_FILE,
            },
            budget,
            alarms,
            health,
            incoming_anomaly,
            pipeline_health,
        }
    }
}

/// A metric of a queue.
fn on_queue(
    name: &'static str,
    queue: &Queue,
    statistic: Statistic,
    period_seconds: u32,
) -> Metric {
    Metric {
        namespace: "AWS/SQS",
        name,
        dimensions: BTreeMap::from([("QueueName", queue.queue_name())]),
        statistic,
        period_seconds,
    }
}

/// Each health alarm: its Terraform name, what it means for the operator, and when it fires.
fn health_checks(
    cx: &Context,
    queues: &Queues,
    aggregator: &Function,
    reporter: &Function,
) -> Vec<(&'static str, String, Watch)> {
    let settings = &cx.env.alarms;
    let retention = cx.validated.retention();
    let backlog = cx.env.traffic.files_per_hour();
    // The queue invokes the alias: its metrics are the released code's, not a one-off invocation's.
    let on_alias = |name| Metric {
        namespace: "AWS/Lambda",
        name,
        dimensions: BTreeMap::from([
            ("FunctionName", aggregator.function_name()),
            (
                "Resource",
                Expr::concat([
                    aggregator.function_name(),
                    Expr::lit(format!(":{LIVE_ALIAS}")),
                ]),
            ),
        ]),
        statistic: Statistic::Sum,
        period_seconds: FUNCTION_ALARM_PERIOD_SECONDS,
    };
    let emitted = |name, statistic, period_seconds| Metric {
        namespace: METRIC_NAMESPACE,
        name,
        dimensions: BTreeMap::from([("Function", aggregator.function_name())]),
        statistic,
        period_seconds,
    };
    let visible = "ApproximateNumberOfMessagesVisible";
    let mut checks = vec![
        (
            "queue_depth",
            format!(
                "More than {backlog} files waiting, one hour of the declared traffic ({} files/s): delivery is slower than landing (endpoint down or slow, or the Lambda failing)",
                cx.env.traffic.average_files_per_second
            ),
            Watch::Threshold {
                metric: on_queue(visible, &queues.queue, Statistic::Maximum, 300),
                evaluation_periods: 3,
                threshold: backlog,
                comparison: Comparison::Above,
            },
        ),
        (
            "queue_age",
            format!(
                "The oldest waiting file is older than {} s: the latency objective is broken, see the runbook",
                settings.oldest_message_age_seconds
            ),
            Watch::Threshold {
                metric: on_queue(
                    "ApproximateAgeOfOldestMessage",
                    &queues.queue,
                    Statistic::Maximum,
                    300,
                ),
                evaluation_periods: 1,
                threshold: settings.oldest_message_age_seconds,
                comparison: Comparison::Above,
            },
        ),
        (
            "dlq_not_empty",
            format!(
                "Messages reached the dead-letter queue: inspect and redrive them (runbook) within {} of their arrival there, while their files exist (landed files are kept {}; a message is dead-lettered at most {} after landing)",
                human(retention.redrive_window),
                human(retention.landing_lifetime),
                human_up(retention.longest_wait_before_dead_letter)
            ),
            Watch::Threshold {
                metric: on_queue(visible, &queues.dlq, Statistic::Maximum, 60),
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "lambda_errors",
            "The aggregator's live release failed invocations (not delivery failures, which it reports per message); right after a release, roll it back (runbook)".into(),
            Watch::Threshold {
                metric: on_alias("Errors"),
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "lambda_throttles",
            "The aggregator was throttled: its reserved concurrency is too low for the mapping".into(),
            Watch::Threshold {
                metric: on_alias("Throttles"),
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "files_unexplained",
            "The daily report found files that landed and that nothing in the pipeline accounts for (not delivered, not in the DLQ, not waiting): read the report and requeue them (runbook)".into(),
            Watch::Threshold {
                // One data point a day: the alarm holds until the next report says 0.
                metric: Metric {
                    namespace: METRIC_NAMESPACE,
                    name: "FilesUnexplained",
                    dimensions: BTreeMap::from([("Function", reporter.function_name())]),
                    statistic: Statistic::Maximum,
                    period_seconds: 86_400,
                },
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "report_failed",
            "The daily report failed: read its log group and make it again with `cargo xtask report <env> --date <day>` (runbook)".into(),
            Watch::Threshold {
                metric: Metric {
                    namespace: "AWS/Lambda",
                    name: "Errors",
                    dimensions: BTreeMap::from([("FunctionName", reporter.function_name())]),
                    statistic: Statistic::Sum,
                    period_seconds: 3_600,
                },
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "circuit_open",
            "The circuit breaker has been open for 5 minutes: the endpoint is down; messages are held and redelivered".into(),
            Watch::Threshold {
                metric: emitted("BreakerOpen", Statistic::Maximum, 60),
                evaluation_periods: 5,
                threshold: 1,
                comparison: Comparison::AtLeast,
            },
        ),
    ];
    for watch in latency_watches(cx.env) {
        checks.push((
            watch.alarm_name(),
            format!(
                "The objective is {} of files within {} s of landing; over the last {} s the {} of EndToEndLatency was above it: files arrive late (endpoint slow, a backlog, or a slow release), see the runbook",
                watch.percentile.percent(),
                watch.limit_seconds,
                watch.period_seconds,
                watch.percentile
            ),
            Watch::Threshold {
                metric: emitted(
                    "EndToEndLatency",
                    Statistic::Percentile(watch.percentile),
                    watch.period_seconds,
                ),
                evaluation_periods: 1,
                threshold: watch.limit_seconds.saturating_mul(1000),
                comparison: Comparison::Above,
            },
        ));
    }
    checks
}

impl Pipeline {
    /// The alarms a canary watches: the function's errors and the latency objective's. One in ALARM during
    /// the canary rolls the release back.
    pub fn release_alarms(&self) -> Vec<&Alarm> {
        let latency: Vec<&'static str> = latency_watches(self.validated.env())
            .iter()
            .map(|w| w.alarm_name())
            .collect();
        self.health
            .iter()
            .filter(|a| RELEASE_WATCHED.contains(&a.name) || latency.contains(&a.name))
            .collect()
    }
}
