//! Unit tests of the model: every invariant rejects a bad environment with its message, and every IAM
//! statement is the minimal one.

use std::time::Duration;

use infra_gen::config::{Endpoint, Sink, Subnet};
use infra_gen::iam::{Effect, Statement};
use infra_gen::{Environment, Kind, Pipeline, Violations};
use serde_json::Value;

/// A valid development environment to break one field at a time.
fn valid() -> Environment {
    let mut env = Environment::new("test", Kind::Development, "eu-west-2");
    env.state_bucket = Some("test-tfstate".into());
    env.external_party.source_cidrs = vec!["203.0.113.0/24".into()];
    env.network.public_subnet = Some(Subnet {
        availability_zone: "eu-west-2a".into(),
        cidr: "10.20.100.0/24".into(),
    });
    env
}

fn production() -> Environment {
    let mut env = valid();
    env.kind = Kind::Production;
    env.prevent_destroy = true;
    env.alarms.email = Some("oncall@example.com".into());
    env.network.public_subnet = None;
    env.sink = Sink::Nifi(Endpoint::OnPremise {
        url: "https://nifi.example.internal/contentListener".into(),
        cidrs: vec!["10.100.0.0/24".into()],
        port: 443,
    });
    env
}

fn rejected(env: Environment) -> Violations {
    match env.validate() {
        Ok(_) => panic!("the environment should have been rejected"),
        Err(violations) => violations,
    }
}

/// Asserts that exactly `field` is reported, with a message containing `words`.
fn assert_rejects(env: Environment, field: &str, words: &str) {
    let v = rejected(env);
    let found = v.list.iter().find(|x| x.field == field);
    let Some(found) = found else {
        panic!("expected a violation of {field}, got: {v}");
    };
    assert!(
        found.message.contains(words),
        "message of {field} should mention {words:?}: {}",
        found.message
    );
}

fn pipeline(env: Environment) -> Pipeline {
    Pipeline::new(&env.validate().expect("valid environment"))
}

#[test]
fn the_valid_environments_validate() {
    valid().validate().expect("valid");
    production().validate().expect("valid production");
}

#[test]
fn visibility_timeout_must_cover_six_lambda_timeouts() {
    let mut env = valid();
    env.queue.visibility_timeout_seconds = 5 * env.function.timeout_seconds;
    assert_rejects(
        env,
        "queue.visibility_timeout_seconds",
        "6 x the Lambda timeout",
    );
}

#[test]
fn retention_must_outlast_the_outage() {
    let mut env = valid();
    env.queue.retention_seconds = 4 * 86_400;
    env.queue.dlq_retention_seconds = 4 * 86_400;
    assert_rejects(
        env,
        "queue.retention_seconds",
        "does not outlast the outage",
    );
}

#[test]
fn max_receive_count_must_not_dead_letter_during_the_outage() {
    let mut env = valid();
    env.queue.max_receive_count = 390;
    assert_rejects(env, "queue.max_receive_count", "would dead-letter messages");
}

#[test]
fn a_short_back_off_dead_letters_during_the_outage() {
    // Holding for at most 60 s costs ~5,760 receives in 4 days: no maxReceiveCount can absorb that.
    let mut env = valid();
    env.redelivery.max_seconds = 60;
    assert_rejects(
        env,
        "queue.max_receive_count",
        "raise redelivery.max_seconds",
    );
}

#[test]
fn a_longer_outage_needs_a_longer_retention() {
    let mut env = valid();
    env.redelivery.outage_to_survive = Duration::from_secs(14 * 86_400);
    let v = rejected(env);
    assert!(v.names("queue.retention_seconds"), "{v}");
}

#[test]
fn an_invalid_schedule_is_reported() {
    let mut env = valid();
    env.redelivery.base_seconds = 0;
    assert_rejects(env, "redelivery", "at least 1 second");
}

#[test]
fn dlq_retention_must_cover_the_source_queue() {
    let mut env = valid();
    env.queue.dlq_retention_seconds = env.queue.retention_seconds - 1;
    assert_rejects(
        env,
        "queue.dlq_retention_seconds",
        "shorter than the source queue",
    );
}

#[test]
fn batching_window_within_limits_and_latency() {
    let mut env = valid();
    env.mapping.batching_window_seconds = 301;
    assert_rejects(env, "mapping.batching_window_seconds", "maximum of 300");

    let mut env = valid();
    env.mapping.batching_window_seconds = 120;
    assert_rejects(env, "mapping.batching_window_seconds", "latency objective");
}

#[test]
fn batch_size_within_sqs_limits() {
    for (size, window) in [(0, 60), (10_001, 60), (11, 0)] {
        let mut env = valid();
        env.mapping.batch_size = size;
        env.mapping.batching_window_seconds = window;
        assert_rejects(env, "mapping.batch_size", "outside SQS's range");
    }
}

#[test]
fn mapping_concurrency_fits_reserved_concurrency() {
    let mut env = valid();
    env.mapping.maximum_concurrency = env.function.reserved_concurrency + 1;
    assert_rejects(env, "mapping.maximum_concurrency", "reserved concurrency");
}

#[test]
fn names_within_aws_limits() {
    let mut env = valid();
    env.name_prefix = "a".repeat(60);
    assert_rejects(
        env,
        "name_prefix",
        "over the 63 allowed for S3 bucket names",
    );

    let mut env = valid();
    env.name_prefix = "Has_Upper".into();
    assert_rejects(env, "name_prefix", "lowercase");
}

#[test]
fn production_needs_prevent_destroy_an_alarm_destination_and_a_real_endpoint() {
    let mut env = production();
    env.prevent_destroy = false;
    env.alarms.email = None;
    env.sink = Sink::Nifi(Endpoint::MockReceiver);
    let v = rejected(env);
    // Every violation at once, each naming its field.
    assert!(v.names("prevent_destroy"), "{v}");
    assert!(v.names("alarms.email"), "{v}");
    assert!(v.names("sink"), "{v}");
    assert!(v.to_string().contains("not a mock"), "{v}");
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut env = valid();
    env.queue.visibility_timeout_seconds = 1;
    env.queue.dlq_retention_seconds = 60;
    env.mapping.batch_size = 0;
    let v = rejected(env);
    for field in [
        "queue.visibility_timeout_seconds",
        "queue.dlq_retention_seconds",
        "mapping.batch_size",
    ] {
        assert!(v.names(field), "{field} missing from {v}");
    }
}

fn actions(statements: &[Statement], sid: &str) -> Vec<&'static str> {
    statements
        .iter()
        .find(|s| s.sid == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
        .actions
        .clone()
}

#[test]
fn the_lambda_role_has_exactly_the_actions_its_code_uses() {
    let p = pipeline(valid());
    let statements = &p.aggregator_role.policy.statements;
    for s in statements {
        assert_eq!(s.effect, Effect::Allow);
        assert!(!s.has_wildcard_action(), "wildcard action in {}", s.sid);
        assert!(
            s.principals.is_empty() && !s.resources.is_empty(),
            "{}",
            s.sid
        );
    }
    assert_eq!(
        actions(statements, "ReadLandingObjects"),
        ["s3:GetObject", "s3:GetObjectVersion"]
    );
    assert_eq!(
        actions(statements, "SeeMissingLandingObjects"),
        ["s3:ListBucket"]
    );
    assert_eq!(
        actions(statements, "PutArchiveObjects"),
        [
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:PutObjectTagging"
        ]
    );
    assert_eq!(
        actions(statements, "UseStateTables"),
        [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem"
        ]
    );
    assert_eq!(
        actions(statements, "ReadEndpointCredentials"),
        ["secretsmanager:GetSecretValue"]
    );
    assert_eq!(
        actions(statements, "UseKey"),
        ["kms:Decrypt", "kms:GenerateDataKey"]
    );
    assert_eq!(
        actions(statements, "SendToDeadLetterQueue"),
        ["sqs:SendMessage"]
    );
    assert_eq!(
        actions(statements, "ConsumeSourceQueue"),
        [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility"
        ]
    );
    assert_eq!(
        actions(statements, "WriteOwnLogs"),
        ["logs:CreateLogStream", "logs:PutLogEvents"]
    );
    // Only non-mutating EC2 calls may use resource "*".
    for s in statements {
        if s.resources.iter().any(|r| r.render() == "*") {
            assert!(
                s.actions.iter().all(|a| a.starts_with("ec2:Describe")),
                "{}",
                s.sid
            );
        }
    }
}

#[test]
fn statements_name_exactly_their_resources() {
    let p = pipeline(valid());
    let s = &p.aggregator_role.policy.statements;
    let resources = |sid: &str| -> Vec<String> {
        s.iter()
            .find(|x| x.sid == sid)
            .map(|x| x.resources.iter().map(|r| r.render()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        resources("ReadLandingObjects"),
        ["${aws_s3_bucket.landing.arn}/*"]
    );
    assert_eq!(
        resources("SeeMissingLandingObjects"),
        ["${aws_s3_bucket.landing.arn}"]
    );
    assert_eq!(
        resources("PutArchiveObjects"),
        ["${aws_s3_bucket.archive.arn}/*"]
    );
    assert_eq!(
        resources("UseStateTables"),
        [
            "${aws_dynamodb_table.idempotency.arn}",
            "${aws_dynamodb_table.breaker.arn}"
        ]
    );
    assert_eq!(
        resources("ReadEndpointCredentials"),
        ["${aws_secretsmanager_secret.credentials.arn}"]
    );
    assert_eq!(resources("UseKey"), ["${aws_kms_key.key.arn}"]);
    assert_eq!(
        resources("SendToDeadLetterQueue"),
        ["${aws_sqs_queue.dlq.arn}"]
    );
    assert_eq!(
        resources("ConsumeSourceQueue"),
        ["${aws_sqs_queue.queue.arn}"]
    );
    assert_eq!(
        resources("WriteOwnLogs"),
        ["${aws_cloudwatch_log_group.aggregator_logs.arn}:*"]
    );
}

#[test]
fn nothing_may_delete_from_the_landing_bucket_and_the_archive_is_put_only() {
    let p = pipeline(valid());
    let roles = [&p.aggregator_role, &p.uploader_role];
    for role in roles {
        for s in &role.policy.statements {
            let on = |bucket: &str| s.resources.iter().any(|r| r.render().contains(bucket));
            if on("aws_s3_bucket.landing") {
                assert!(
                    s.actions.iter().all(|a| !a.contains("Delete")),
                    "{} may delete landing objects",
                    s.sid
                );
            }
            if on("aws_s3_bucket.archive") {
                assert!(
                    s.actions.iter().all(|a| [
                        "s3:PutObject",
                        "s3:AbortMultipartUpload",
                        "s3:PutObjectTagging"
                    ]
                    .contains(a)),
                    "{} does more than put into the archive (and tag what was delivered)",
                    s.sid
                );
            }
        }
    }
}

#[test]
fn the_external_party_may_only_put_into_landing_from_its_ranges() {
    let p = pipeline(valid());
    let s = &p.uploader_role.policy.statements;
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].actions, ["s3:PutObject"]);
    assert_eq!(s[0].resources[0].render(), "${aws_s3_bucket.landing.arn}/*");
    let ip = &s[0].conditions[0];
    assert_eq!((ip.test, ip.variable), ("IpAddress", "aws:SourceIp"));
    assert_eq!(ip.values[0].render(), "203.0.113.0/24");
    // The data key for SSE-KMS, and only when S3 asks for it.
    assert_eq!(s[1].actions, ["kms:GenerateDataKey"]);
    assert_eq!(s[1].conditions[0].variable, "kms:ViaService");
    assert!(p.uploader_role.trust.statements[0].conditions[0].variable == "aws:SourceIp");
}

fn rendered(env: Environment) -> std::collections::BTreeMap<String, String> {
    infra_gen::generate(env).expect("renders")
}

fn json(files: &std::collections::BTreeMap<String, String>, name: &str) -> Value {
    serde_json::from_str(&files[name]).expect("valid JSON")
}

#[test]
fn no_rendered_identity_policy_allows_a_wildcard_action() {
    for env in [valid(), production()] {
        let files = rendered(env);
        for (name, text) in &files {
            if !name.ends_with(".tf.json") {
                continue;
            }
            let doc: Value = serde_json::from_str(text).expect("valid JSON");
            let Some(docs) = doc["data"]["aws_iam_policy_document"].as_object() else {
                continue;
            };
            for (doc_name, body) in docs {
                for s in body["statement"].as_array().expect("statements") {
                    if s["effect"] == "Allow" {
                        for a in s["actions"].as_array().expect("actions") {
                            let a = a.as_str().expect("string");
                            assert!(!a.contains('*'), "{name}: {doc_name} allows {a}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_function_gets_its_configuration_from_the_model() {
    let files = rendered(valid());
    let f = json(&files, "function.tf.json");
    let agg = &f["resource"]["aws_lambda_function"]["aggregator"];
    let vars = &agg["environment"]["variables"];
    assert_eq!(vars["ARCHIVE_BUCKET"], "${aws_s3_bucket.archive.bucket}");
    assert_eq!(
        vars["IDEMPOTENCY_TABLE"],
        "${aws_dynamodb_table.idempotency.name}"
    );
    assert_eq!(vars["BREAKER_TABLE"], "${aws_dynamodb_table.breaker.name}");
    assert_eq!(
        vars["CREDENTIALS_SECRET_ID"],
        "${aws_secretsmanager_secret.credentials.arn}"
    );
    assert_eq!(vars["DLQ_URL"], "${aws_sqs_queue.dlq.url}");
    assert_eq!(vars["SOURCE_QUEUE_URL"], "${aws_sqs_queue.queue.url}");
    assert_eq!(vars["SINK"], "nifi");
    assert_eq!(
        vars["NIFI_URL"],
        "${aws_lambda_function_url.receiver_url.function_url}contentListener"
    );
    assert_eq!(vars["REDELIVERY_BASE_SECONDS"], "20");
    assert_eq!(vars["REDELIVERY_MAX_SECONDS"], "900");
    assert_eq!(agg["runtime"], "provided.al2023");
    assert_eq!(agg["architectures"][0], "arm64");
    assert_eq!(agg["filename"], "${var.lambda_package}");
    assert_eq!(
        agg["source_code_hash"],
        "${filebase64sha256(var.lambda_package)}"
    );
    let mapping = &f["resource"]["aws_lambda_event_source_mapping"]["aggregator_mapping"];
    assert_eq!(
        mapping["function_response_types"][0],
        "ReportBatchItemFailures"
    );
    let q = json(&files, "queue.tf.json");
    assert_eq!(
        q["resource"]["aws_sqs_queue"]["queue"]["redrive_policy"],
        "${jsonencode({deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = 500})}"
    );
}

#[test]
fn the_secret_is_created_without_a_value() {
    for env in [valid(), production()] {
        let files = rendered(env);
        for text in files.values() {
            assert!(!text.contains("aws_secretsmanager_secret_version"));
            assert!(!text.contains("secret_string"));
        }
    }
}

#[test]
fn prevent_destroy_is_a_literal_per_environment() {
    let prod = rendered(production());
    let storage = json(&prod, "storage.tf.json");
    assert_eq!(
        storage["resource"]["aws_s3_bucket"]["landing"]["lifecycle"]["prevent_destroy"],
        true
    );
    let dev = rendered(valid());
    let storage = json(&dev, "storage.tf.json");
    assert_eq!(
        storage["resource"]["aws_s3_bucket"]["archive"]["lifecycle"]["prevent_destroy"],
        false
    );
}

#[test]
fn rendering_is_deterministic_and_every_file_has_its_header() {
    let a = rendered(valid());
    let b = rendered(valid());
    assert_eq!(a, b);
    for (name, text) in &a {
        assert!(text.ends_with('\n'), "{name} lacks a final newline");
        if name.ends_with(".tf.json") {
            let doc: Value = serde_json::from_str(text).expect("JSON");
            assert!(
                doc["//"]
                    .as_str()
                    .is_some_and(|h| h.contains("cargo xtask generate")),
                "{name}"
            );
        }
    }
    assert!(a["RUNBOOK.md"].starts_with("<!-- generated by `cargo xtask generate`"));
}

#[test]
fn terraform_settings() {
    let files = rendered(valid());
    let t = json(&files, "terraform.tf.json");
    assert_eq!(t["terraform"]["required_version"], ">= 1.11");
    assert_eq!(
        t["terraform"]["required_providers"]["aws"]["version"],
        ">= 5.100, < 7.0"
    );
    assert_eq!(t["terraform"]["backend"]["s3"]["use_lockfile"], true);
    assert_eq!(
        t["terraform"]["backend"]["s3"]["key"],
        "file-aggregator/test/terraform.tfstate"
    );
}

#[test]
fn credentials_rotate_every_90_days_unless_told_and_never_more_than_daily() {
    assert_eq!(
        valid().credentials_rotation_interval,
        Duration::from_secs(90 * 86_400)
    );
    let mut env = valid();
    env.credentials_rotation_interval = Duration::from_secs(3_600);
    assert_rejects(env, "credentials_rotation_interval", "less than a day");
}
