//! The committed generated/ keeps AWS's limits and the model's designed ones: read from the files a deploy
//! applies, not from the model, so a stale or hand-edited file cannot hide a broken limit.

use serde_json::Value;

fn file(env: &str, name: &str) -> Value {
    let path = crate::common::generated(env).join(name);
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
    for env in crate::common::names() {
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
    for env in crate::common::names() {
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
    for env in crate::common::names() {
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
