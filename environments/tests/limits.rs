//! The committed generated/ keeps AWS's limits and the model's designed ones: read from the files a deploy
//! applies, not from the model, so a stale or hand-edited file cannot hide a broken limit.

mod common;

use serde_json::Value;

fn file(env: &str, name: &str) -> Value {
    let path = common::generated(env).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn number(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

#[test]
fn every_default_tag_is_one_every_tagged_service_accepts() {
    for env in common::names() {
        let main = file(&env, "main.tf.json");
        let tags = main["provider"]["aws"]["default_tags"]["tags"]
            .as_object()
            .expect("default tags");
        for (key, value) in tags {
            infra_gen::aws_rules::tag(key, value.as_str().expect("a string"))
                .unwrap_or_else(|e| panic!("generated/{env}: {key} = {value}: {e}"));
        }
    }
}

#[test]
fn bundles_and_downloads_fit_tmp_and_every_object_fits_a_bundle() {
    for env in common::names() {
        let f = &file(&env, "function.tf.json")["resource"]["aws_lambda_function"]["aggregator"];
        let vars = &f["environment"]["variables"];
        let bundle = number(&vars["BUNDLE_MAX_BYTES"]);
        let object = number(&vars["OBJECT_MAX_BYTES"]);
        let downloads = number(&vars["DOWNLOAD_BUFFER_BYTES"]);
        let tmp = f["ephemeral_storage"]["size"]
            .as_u64()
            .expect("ephemeral storage")
            * 1_000_000;
        assert!(
            object + (64 << 10) <= bundle,
            "generated/{env}: {object} + 64 KiB > {bundle}"
        );
        assert!(
            bundle + downloads.max(object) <= tmp / 10 * 9,
            "generated/{env}: {bundle} + max({downloads}, {object}) does not leave a tenth of {tmp} free"
        );
        let timeout_ms = f["timeout"].as_u64().expect("timeout") * 1000;
        let http = number(&vars["HTTP_TIMEOUT_MS"]);
        let margin = number(&vars["DEADLINE_MARGIN_MS"]);
        assert!(
            http + margin <= timeout_ms,
            "generated/{env}: {http} + {margin} > {timeout_ms}"
        );
    }
}

#[test]
fn dev_bundles_fit_one_request_to_the_mock_receiver() {
    let vars = &file("dev", "function.tf.json")["resource"]["aws_lambda_function"]["aggregator"]["environment"]
        ["variables"];
    // A function URL's event carries the body base64-encoded within Lambda's 6,291,456-byte payload.
    let bundle = number(&vars["BUNDLE_MAX_BYTES"]);
    assert!(bundle <= (6_291_456 - 65_536) / 4 * 3, "{bundle}");
    // The aggregator waits at least as long as the receiver may take: its timeout, a cold start, the upload.
    let receiver = &file("dev", "receiver.tf.json")["resource"]["aws_lambda_function"]["receiver"];
    let receiver_ms = receiver["timeout"].as_u64().expect("timeout") * 1000;
    assert!(number(&vars["HTTP_TIMEOUT_MS"]) >= receiver_ms + 15_000);
}

#[test]
fn landing_versions_outlive_the_outage_plus_a_margin() {
    for env in common::names() {
        let rule = &file(&env, "storage.tf.json")["resource"]["aws_s3_bucket_lifecycle_configuration"]
            ["landing"]["rule"][0];
        // 4 days of outage, the last 15-minute hold and a day's margin, in whole days.
        for days in [
            &rule["expiration"]["days"],
            &rule["noncurrent_version_expiration"]["noncurrent_days"],
        ] {
            assert!(days.as_u64().expect("days") >= 6, "generated/{env}: {rule}");
        }
    }
}

/// The daily report of every environment, as a deploy applies it: scheduled after the day's last file can have
/// been delivered (the batching window and the aggregator's timeout past midnight), invoked by a role that may
/// do nothing else, and run by a role that may write only reports and one notification.
#[test]
fn the_daily_report_runs_after_the_last_delivery_as_roles_that_only_read_and_report() {
    for env in common::names() {
        let reporter = file(&env, "reporter.tf.json");
        let schedule = &reporter["resource"]["aws_scheduler_schedule"]["daily_report"];
        let expression = schedule["schedule_expression"].as_str().expect("a cron");
        let fields: Vec<&str> = expression
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .expect("cron(...)")
            .split(' ')
            .collect();
        assert_eq!(
            &fields[2..],
            ["*", "*", "?", "*"],
            "generated/{env}: daily: {expression}"
        );
        let (minute, hour): (u64, u64) = (
            fields[0].parse().expect("a minute"),
            fields[1].parse().expect("an hour"),
        );
        assert_eq!(schedule["schedule_expression_timezone"], "UTC");
        let function = file(&env, "function.tf.json");
        let window = function["resource"]["aws_lambda_event_source_mapping"]["aggregator_mapping"]
            ["maximum_batching_window_in_seconds"]
            .as_u64()
            .expect("window");
        let timeout = function["resource"]["aws_lambda_function"]["aggregator"]["timeout"]
            .as_u64()
            .expect("timeout");
        assert!(
            hour * 3600 + minute * 60 >= window + timeout,
            "generated/{env}: the report at {hour:02}:{minute:02} runs before the day's last delivery ({window} s + {timeout} s)"
        );
        let target = &schedule["target"];
        assert_eq!(target["arn"], "${aws_lambda_function.reporter.arn}");
        assert_eq!(target["role_arn"], "${aws_iam_role.scheduler_role.arn}");
        assert_eq!(target["input"], "{}");
        assert_eq!(schedule["kms_key_arn"], "${aws_kms_key.key.arn}");

        let identity = file(&env, "identity.tf.json");
        let statements = |document: &str| -> Vec<(Vec<String>, Vec<String>)> {
            identity["data"]["aws_iam_policy_document"][document]["statement"]
                .as_array()
                .unwrap_or_else(|| panic!("generated/{env}: {document}"))
                .iter()
                .map(|s| {
                    assert_eq!(s["effect"], "Allow", "generated/{env}: {document}: {s}");
                    let strings = |field: &str| -> Vec<String> {
                        s[field]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    };
                    (strings("actions"), strings("resources"))
                })
                .collect()
        };
        assert_eq!(
            statements("scheduler_role"),
            [
                (
                    vec!["lambda:InvokeFunction".to_string()],
                    vec!["${aws_lambda_function.reporter.arn}".to_string()]
                ),
                (
                    vec!["kms:Decrypt".to_string()],
                    vec!["${aws_kms_key.key.arn}".to_string()]
                ),
            ],
            "generated/{env}"
        );
        let trust =
            &identity["data"]["aws_iam_policy_document"]["scheduler_role_trust"]["statement"][0];
        assert_eq!(
            trust["principals"][0]["identifiers"][0],
            "scheduler.amazonaws.com"
        );
        // What the reporter may change: its reports, and the visibility of the DLQ's messages (to read them
        // without consuming them); it may publish to the alarm topic. Everything else it may only read, list
        // or count, besides its own logs, the key, and the network interfaces that place it in the VPC.
        for (actions, resources) in statements("reporter_role") {
            for action in &actions {
                let reads_or_runs = [
                    "s3:List",
                    "s3:GetObject",
                    "dynamodb:BatchGetItem",
                    "sqs:ReceiveMessage",
                    "sqs:GetQueueAttributes",
                    "kms:",
                    "logs:",
                    "ec2:",
                ]
                .iter()
                .any(|allowed| action.starts_with(allowed));
                let writes_its_own = match action.as_str() {
                    "s3:PutObject" => resources == ["${aws_s3_bucket.reports.arn}/reports/*"],
                    "sqs:ChangeMessageVisibility" => resources == ["${aws_sqs_queue.dlq.arn}"],
                    "sns:Publish" => resources == ["${aws_sns_topic.alarms.arn}"],
                    _ => false,
                };
                assert!(
                    reads_or_runs || writes_its_own,
                    "generated/{env}: the reporter may {action} on {resources:?}"
                );
                if action == "s3:GetObject" {
                    assert_eq!(
                        resources,
                        ["${aws_s3_bucket.reports.arn}/inventory/*"],
                        "generated/{env}: only the inventory is read"
                    );
                }
            }
        }
    }
}
