//! What watches the pipeline: health alarms on the queues, the function, the circuit breaker and the daily
//! report, an anomaly alarm on incoming files, the composite alarm that notifies once per incident, the topic
//! and the dashboard.

use std::collections::BTreeMap;

use super::queues::Queues;
use super::{Context, DASHBOARD_FILE, METRIC_NAMESPACE};
use crate::function::Function;
use crate::monitoring::{Alarm, Comparison, CompositeAlarm, Dashboard, Metric, Topic, Watch};
use crate::queue::Queue;
use crate::retention::{human, human_up};
use crate::tf::Ref;

pub struct Monitoring {
    pub alarms: Topic,
    pub health: Vec<Alarm>,
    pub incoming_anomaly: Alarm,
    pub pipeline_health: Option<CompositeAlarm>,
    pub dashboard: Dashboard,
}

/// The topic alarms notify, and the daily report publishes its summary to.
pub fn topic(cx: &Context) -> Topic {
    Topic {
        name: "alarms",
        topic_name: cx.named("alarms"),
        key_arn: cx.key_arn.clone(),
        email: cx.env.alarms.email.clone(),
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
                metric: on_queue("NumberOfMessagesSent", &queues.queue, "Sum", 300),
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
        Monitoring {
            dashboard: Dashboard {
                name: "dashboard",
                dashboard_name: cx.env.name_prefix.clone(),
                body_file: DASHBOARD_FILE,
            },
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
    statistic: &'static str,
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
    let on_function = |namespace, dimension, name, statistic, period_seconds| Metric {
        namespace,
        name,
        dimensions: BTreeMap::from([(dimension, aggregator.function_name())]),
        statistic,
        period_seconds,
    };
    let lambda = |name| on_function("AWS/Lambda", "FunctionName", name, "Sum", 300);
    let visible = "ApproximateNumberOfMessagesVisible";
    vec![
        (
            "queue_depth",
            format!(
                "More than {} files waiting: delivery is slower than landing (endpoint down or slow, or the Lambda failing)",
                settings.queue_depth_threshold
            ),
            Watch::Threshold {
                metric: on_queue(visible, &queues.queue, "Maximum", 300),
                evaluation_periods: 3,
                threshold: settings.queue_depth_threshold,
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
                metric: on_queue("ApproximateAgeOfOldestMessage", &queues.queue, "Maximum", 300),
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
                metric: on_queue(visible, &queues.dlq, "Maximum", 60),
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "lambda_errors",
            "The aggregator failed invocations (not delivery failures, which it reports per message)".into(),
            Watch::Threshold {
                metric: lambda("Errors"),
                evaluation_periods: 1,
                threshold: 0,
                comparison: Comparison::Above,
            },
        ),
        (
            "lambda_throttles",
            "The aggregator was throttled: its reserved concurrency is too low for the mapping".into(),
            Watch::Threshold {
                metric: lambda("Throttles"),
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
                    statistic: "Maximum",
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
                    statistic: "Sum",
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
                metric: on_function(METRIC_NAMESPACE, "Function", "BreakerOpen", "Maximum", 60),
                evaluation_periods: 5,
                threshold: 1,
                comparison: Comparison::AtLeast,
            },
        ),
    ]
}
