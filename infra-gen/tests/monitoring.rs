//! The latency objective and the bill are watched: the alarms on `EndToEndLatency`'s percentiles, the backlog
//! alarm sized from the declared traffic, the dashboard's latency widget with the objective's lines, and the
//! monthly budget alerting the alarm topic, which lets Budgets (and CloudWatch) publish; all read from the
//! generated JSON.

mod common;

use common::{assert_rejects, json, production, rendered, valid};
use infra_gen::config::{Budget, BudgetAlert, Spend};
use infra_gen::monitoring::Percentile;
use infra_gen::{Environment, Kind};
use serde_json::{Value, json};

fn alarm(files: &std::collections::BTreeMap<String, String>, name: &str) -> Value {
    let monitoring = json(files, "monitoring.tf.json");
    let alarm = &monitoring["resource"]["aws_cloudwatch_metric_alarm"][name];
    assert!(alarm.is_object(), "no alarm {name} in {monitoring:#}");
    alarm.clone()
}

#[test]
fn percentiles_are_named_as_cloudwatch_names_them() {
    assert_eq!(Percentile::of_share(0.95).to_string(), "p95");
    assert_eq!(Percentile::of_share(0.999).to_string(), "p99.9");
    assert_eq!(Percentile::of_share(0.999).percent(), "99.9%");
    assert_eq!(Percentile::of_share(0.5).to_string(), "p50");
}

#[test]
fn the_objective_is_alarmed_through_extended_statistics() {
    let files = rendered(production());
    for (name, stat, limit_ms, period) in [
        ("latency_p95", "p95", 120_000, 300),
        ("latency_p999", "p99.9", 180_000, 600),
    ] {
        let a = alarm(&files, name);
        assert_eq!(a["namespace"], "FileAggregator", "{name}");
        assert_eq!(a["metric_name"], "EndToEndLatency", "{name}");
        assert_eq!(
            a["dimensions"],
            json!({"Function": "${aws_lambda_function.aggregator.function_name}"}),
            "{name}"
        );
        // A percentile is an extended statistic: `statistic` would be refused by CloudWatch.
        assert_eq!(a["extended_statistic"], stat, "{name}");
        assert!(a.get("statistic").is_none(), "{name}: {a:#}");
        assert_eq!(a["threshold"], limit_ms, "{name}");
        assert_eq!(a["comparison_operator"], "GreaterThanThreshold", "{name}");
        assert_eq!(a["period"], period, "{name}");
        assert_eq!(a["evaluation_periods"], 1, "{name}");
        // No files, no latency: an idle pipeline is not late (the queue's age alarm sees a stuck one).
        assert_eq!(a["treat_missing_data"], "notBreaching", "{name}");
        assert_eq!(
            a["alarm_name"],
            format!("file-aggregator-test-{}", name.replace('_', "-"))
        );
    }
    // Both notify through the composite alarm, as every health alarm does.
    let monitoring = json(&files, "monitoring.tf.json");
    let rule =
        monitoring["resource"]["aws_cloudwatch_composite_alarm"]["pipeline_health"]["alarm_rule"]
            .as_str()
            .expect("rule");
    assert!(
        rule.contains("aws_cloudwatch_metric_alarm.latency_p95.alarm_name")
            && rule.contains("aws_cloudwatch_metric_alarm.latency_p999.alarm_name"),
        "{rule}"
    );
}

#[test]
fn latency_windows_hold_enough_files_for_their_percentile() {
    // At 10 files/s, 5 minutes hold 3,000 files (150 beyond p95) and p99.9 needs 10 minutes for 6 beyond it.
    let files = rendered(valid());
    assert_eq!(alarm(&files, "latency_p95")["period"], 300);
    assert_eq!(alarm(&files, "latency_p999")["period"], 600);
    // Ten times the traffic fills 5 minutes for both; a trickle stretches them to the hour at most.
    let mut busy = valid();
    busy.traffic.average_files_per_second = 100;
    busy.traffic.burst_files_per_second = 100;
    busy.mapping.maximum_concurrency = 20;
    let files = rendered(busy);
    assert_eq!(alarm(&files, "latency_p999")["period"], 300);
    let mut quiet = valid();
    quiet.traffic.average_files_per_second = 1;
    quiet.traffic.burst_files_per_second = 0;
    let files = rendered(quiet);
    assert_eq!(alarm(&files, "latency_p95")["period"], 300);
    assert_eq!(alarm(&files, "latency_p999")["period"], 3600);
}

#[test]
fn the_backlog_alarm_fires_at_one_hour_of_the_declared_traffic() {
    let files = rendered(valid());
    let depth = alarm(&files, "queue_depth");
    assert_eq!(depth["threshold"], 36_000);
    assert_eq!(depth["metric_name"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(depth["statistic"], "Maximum");
    assert!(
        depth["alarm_description"]
            .as_str()
            .is_some_and(|d| d.contains("one hour of the declared traffic (10 files/s)")),
        "{depth:#}"
    );
    let mut more = valid();
    more.traffic.average_files_per_second = 25;
    more.traffic.burst_files_per_second = 100;
    assert_eq!(alarm(&rendered(more), "queue_depth")["threshold"], 90_000);
}

#[test]
fn the_dashboard_shows_latency_percentiles_with_the_objectives_lines() {
    let files = rendered(valid());
    let dashboard = json(&files, "dashboard.json");
    let widgets = dashboard["widgets"].as_array().expect("widgets");
    let latency = widgets
        .iter()
        .find(|w| {
            w["properties"]["metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|line| line[1] == "EndToEndLatency"))
        })
        .expect("a widget of EndToEndLatency");
    let stats: Vec<&str> = latency["properties"]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|line| line[4]["stat"].as_str().expect("stat"))
        .collect();
    assert_eq!(stats, ["p50", "p95", "p99.9"]);
    for line in latency["properties"]["metrics"]
        .as_array()
        .expect("metrics")
    {
        assert_eq!(line[0], "FileAggregator");
        assert_eq!(line[2], "Function");
        assert_eq!(line[3], "file-aggregator-test-aggregator");
    }
    assert_eq!(
        latency["properties"]["annotations"]["horizontal"],
        json!([
            {"label": "objective: 95% within 120 s", "value": 120_000},
            {"label": "objective: 99.9% within 180 s", "value": 180_000},
        ])
    );
    // No widget overlaps another: each occupies its own cells of the 24-column grid.
    let cells = |w: &Value| {
        let n = |k: &str| w[k].as_u64().expect("grid position");
        (n("x"), n("y"), n("width"), n("height"))
    };
    for (i, a) in widgets.iter().enumerate() {
        for b in &widgets[i + 1..] {
            let (ax, ay, aw, ah) = cells(a);
            let (bx, by, bw, bh) = cells(b);
            let apart = ax + aw <= bx || bx + bw <= ax || ay + ah <= by || by + bh <= ay;
            assert!(apart, "widgets overlap: {a:#} and {b:#}");
        }
    }
}

#[test]
fn a_monthly_budget_alerts_the_alarm_topic() {
    let files = rendered(production());
    let monitoring = json(&files, "monitoring.tf.json");
    let budget = &monitoring["resource"]["aws_budgets_budget"]["budget"];
    assert_eq!(budget["name"], "file-aggregator-test-monthly");
    assert_eq!(budget["budget_type"], "COST");
    assert_eq!(budget["time_unit"], "MONTHLY");
    assert_eq!(budget["limit_amount"], "600");
    assert_eq!(budget["limit_unit"], "USD");
    assert_eq!(
        budget["account_id"],
        "${data.aws_caller_identity.current.account_id}"
    );
    let topic = json!(["${aws_sns_topic.alarms.arn}"]);
    let alerts: Vec<(u64, &str)> = budget["notification"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| {
            assert_eq!(n["subscriber_sns_topic_arns"], topic);
            assert_eq!(n["threshold_type"], "PERCENTAGE");
            assert_eq!(n["comparison_operator"], "GREATER_THAN");
            (
                n["threshold"].as_u64().expect("threshold"),
                n["notification_type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(alerts, [(80, "ACTUAL"), (100, "FORECASTED")]);
    // Budgets checks its permission when the notification is created: the topic policy must exist first.
    assert_eq!(budget["depends_on"], json!(["aws_sns_topic_policy.alarms"]));

    let mut env = production();
    env.budget = Some(Budget {
        monthly_usd: 1_500,
        alerts: vec![BudgetAlert {
            percent: 50,
            spend: Spend::Forecasted,
        }],
    });
    let files = rendered(env);
    let budget = &json(&files, "monitoring.tf.json")["resource"]["aws_budgets_budget"]["budget"];
    assert_eq!(budget["limit_amount"], "1500");
    assert_eq!(budget["notification"][0]["threshold"], 50);
    assert_eq!(budget["notification"][0]["notification_type"], "FORECASTED");
}

#[test]
fn only_cloudwatch_and_budgets_of_this_account_may_publish_to_the_alarm_topic() {
    let files = rendered(production());
    let monitoring = json(&files, "monitoring.tf.json");
    let policy = &monitoring["resource"]["aws_sns_topic_policy"]["alarms"];
    assert_eq!(policy["arn"], "${aws_sns_topic.alarms.arn}");
    assert_eq!(
        policy["policy"],
        "${data.aws_iam_policy_document.alarms_topic.json}"
    );
    let statements = monitoring["data"]["aws_iam_policy_document"]["alarms_topic"]["statement"]
        .as_array()
        .expect("statements")
        .clone();
    let services: Vec<&str> = statements
        .iter()
        .map(|s| {
            assert_eq!(s["effect"], "Allow");
            assert_eq!(s["actions"], json!(["sns:Publish"]));
            assert_eq!(s["resources"], json!(["${aws_sns_topic.alarms.arn}"]));
            let account = s["condition"]
                .as_array()
                .expect("conditions")
                .iter()
                .find(|c| c["variable"] == "aws:SourceAccount")
                .expect("every publisher is held to this account");
            assert_eq!(
                account["values"],
                json!(["${data.aws_caller_identity.current.account_id}"])
            );
            s["principals"][0]["identifiers"][0]
                .as_str()
                .expect("service")
        })
        .collect();
    assert_eq!(
        services,
        ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    );
    let budgets = &statements[1]["condition"];
    assert!(
        budgets
            .as_array()
            .expect("conditions")
            .iter()
            .any(|c| c["variable"] == "aws:SourceArn"
                && c["values"]
                    == json!([
                        "arn:aws:budgets::${data.aws_caller_identity.current.account_id}:*"
                    ])),
        "{budgets:#}"
    );
    // The topic is encrypted with the environment's key: Budgets must be able to use it, or its alerts are lost.
    let secrets = json(&files, "secrets.tf.json");
    let key_policy: Value = serde_json::from_str(
        secrets["resource"]["aws_kms_key"]["key"]["policy"]
            .as_str()
            .expect("inline key policy"),
    )
    .expect("key policy JSON");
    let budgets_key = key_policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Principal"]["Service"] == "budgets.amazonaws.com")
        .expect("a key statement for Budgets");
    assert_eq!(
        budgets_key["Action"],
        json!(["kms:Decrypt", "kms:GenerateDataKey"])
    );
}

#[test]
fn a_budget_must_be_able_to_alert_someone() {
    let budget = |f: fn(&mut Budget)| {
        let mut env = valid();
        if let Some(b) = env.budget.as_mut() {
            f(b);
        }
        env
    };
    assert_rejects(
        budget(|b| b.monthly_usd = 0),
        "budget.monthly_usd",
        "0 USD alerts every month",
    );
    assert_rejects(
        budget(|b| b.alerts.clear()),
        "budget.alerts",
        "without alerts tells nobody",
    );
    assert_rejects(
        budget(|b| b.alerts[0].percent = 0),
        "budget.alerts",
        "1..=1000 percent",
    );
    let mut env = valid();
    env.budget = None;
    assert_rejects(env, "budget", "a deployed environment has a bill to watch");
}

#[test]
fn without_a_budget_nothing_may_publish_budget_alerts() {
    // Only the local environment (moto) has none: no budget resource, and Budgets gets no grant.
    let mut env = Environment::new("nobill", Kind::Local, "eu-west-2");
    env.sink = infra_gen::config::Sink::Nifi(infra_gen::config::Endpoint::LocalProcess {
        url: "http://127.0.0.1:8080/contentListener".into(),
    });
    env.external_party.source_cidrs = vec!["127.0.0.0/8".into()];
    env.prevent_destroy = false;
    env.budget = None;
    let files = rendered(env);
    let monitoring = json(&files, "monitoring.tf.json");
    assert!(
        monitoring["resource"].get("aws_budgets_budget").is_none(),
        "{monitoring:#}"
    );
    let topic = monitoring["data"]["aws_iam_policy_document"]["alarms_topic"].to_string();
    assert!(!topic.contains("budgets.amazonaws.com"), "{topic}");
    assert!(topic.contains("cloudwatch.amazonaws.com"), "{topic}");
    let key =
        json(&files, "secrets.tf.json")["resource"]["aws_kms_key"]["key"]["policy"].to_string();
    assert!(!key.contains("budgets.amazonaws.com"), "{key}");
}
