//! Releases that can be rolled back: the aggregator is published as a version on every change, the queue
//! invokes its `live` alias, Terraform creates the alias and leaves its movement to `cargo xtask deploy` and
//! `rollback`, the function's alarms watch the alias, and a canary is refused when it could not be judged.

mod common;

use std::time::Duration;

use common::{assert_rejects, json, pipeline, production, rendered, valid};
use infra_gen::config::Release;
use serde_json::json;

#[test]
fn every_change_is_published_and_the_queue_invokes_the_live_alias() {
    let files = rendered(production());
    let function = json(&files, "function.tf.json");
    let resources = &function["resource"];
    assert_eq!(
        resources["aws_lambda_function"]["aggregator"]["publish"],
        true
    );
    let alias = &resources["aws_lambda_alias"]["aggregator_live"];
    assert_eq!(alias["name"], "live");
    assert_eq!(
        alias["function_name"],
        "${aws_lambda_function.aggregator.function_name}"
    );
    // Created at the version the first apply published ...
    assert_eq!(
        alias["function_version"],
        "${aws_lambda_function.aggregator.version}"
    );
    // ... and moved only by the release commands: an apply neither undoes a release nor sees it as drift.
    // Terraform wants bare attribute names here, not templates.
    assert_eq!(
        alias["lifecycle"]["ignore_changes"],
        json!(["function_version", "routing_config", "description"])
    );
    assert_eq!(
        resources["aws_lambda_event_source_mapping"]["aggregator_mapping"]["function_name"],
        "${aws_lambda_alias.aggregator_live.arn}"
    );
    let outputs = json(&files, "outputs.tf.json");
    assert_eq!(
        outputs["output"]["aggregator_version"]["value"],
        "${aws_lambda_function.aggregator.version}"
    );
}

#[test]
fn the_dev_receiver_is_not_published() {
    let files = rendered(valid());
    let receiver = json(&files, "receiver.tf.json");
    assert_eq!(
        receiver["resource"]["aws_lambda_function"]["receiver"]["publish"],
        false
    );
}

#[test]
fn the_function_alarms_watch_what_the_queue_invokes() {
    let files = rendered(production());
    let monitoring = json(&files, "monitoring.tf.json");
    for name in ["lambda_errors", "lambda_throttles"] {
        assert_eq!(
            monitoring["resource"]["aws_cloudwatch_metric_alarm"][name]["dimensions"],
            json!({
                "FunctionName": "${aws_lambda_function.aggregator.function_name}",
                "Resource": "${aws_lambda_function.aggregator.function_name}:live",
            }),
            "{name}"
        );
    }
}

#[test]
fn a_canary_watches_the_error_alarm_and_the_latency_alarms() {
    let p = pipeline(production());
    let watched: Vec<&str> = p.release_alarms().iter().map(|a| a.name).collect();
    assert_eq!(watched, ["lambda_errors", "latency_p95", "latency_p999"]);
}

#[test]
fn a_production_environment_starts_from_a_canary_and_the_others_from_all_at_once() {
    let prod = infra_gen::Environment::new("p", infra_gen::Kind::Production, "eu-west-2");
    assert_eq!(
        prod.release,
        Release::Canary {
            weight_percent: 10,
            bake: Duration::from_secs(900)
        }
    );
    assert_eq!(valid().release, Release::AllAtOnce);
}

#[test]
fn a_canary_must_be_one_and_bake_until_its_alarms_can_judge_it() {
    for weight_percent in [0, 51, 100] {
        let mut env = production();
        env.release = Release::Canary {
            weight_percent,
            bake: Duration::from_secs(3600),
        };
        assert_rejects(env, "release", "is not a canary");
    }
    // The p99.9 window is 600 s at 10 files/s; with CloudWatch's evaluation, 900 s is the least.
    let mut env = production();
    env.release = Release::Canary {
        weight_percent: 10,
        bake: Duration::from_secs(899),
    };
    assert_rejects(env, "release", "bake at least 900 s");
    // A quieter environment needs longer windows, and so a longer bake.
    let mut env = production();
    env.release = Release::Canary {
        weight_percent: 10,
        bake: Duration::from_secs(900),
    };
    env.traffic.average_files_per_second = 2;
    env.traffic.burst_files_per_second = 20;
    assert_rejects(env, "release", "the longest watched alarm window is 2700 s");
}
