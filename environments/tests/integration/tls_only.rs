//! Every real environment refuses plain-HTTP access to its buckets; only the emulator's goes without,
//! because moto would apply the Deny unconditionally. Every queue policy of every environment refuses it
//! (moto ignores queue policies).

use std::path::Path;

fn bucket_policies(env: &str) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../generated/{env}/storage.tf.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("storage.tf.json is JSON");
    let mut names: Vec<String> = json["resource"]["aws_s3_bucket_policy"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(
        names.is_empty(),
        !text.contains("DenyInsecureTransport"),
        "{env}: policies and their TLS-only statement go together"
    );
    names
}

#[test]
fn dev_and_prod_buckets_are_tls_only_and_local_is_not() {
    for env in ["dev", "prod"] {
        assert_eq!(bucket_policies(env), ["archive", "landing"], "{env}");
    }
    assert!(bucket_policies("local").is_empty());
}

#[test]
fn every_queue_policy_refuses_requests_without_tls() {
    for env in ["local", "dev", "prod"] {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../generated/{env}/queue.tf.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("queue.tf.json is JSON");
        let queues = json["resource"]["aws_sqs_queue"]
            .as_object()
            .expect("queues");
        let policies = json["resource"]["aws_sqs_queue_policy"]
            .as_object()
            .expect("queue policies");
        assert_eq!(policies.len(), queues.len(), "{env}: a policy per queue");
        for (name, policy) in policies {
            let document = policy["policy"]
                .as_str()
                .and_then(|p| p.strip_prefix("${data.aws_iam_policy_document."))
                .and_then(|p| p.strip_suffix(".json}"))
                .unwrap_or_else(|| panic!("{env}: {name} has no policy document"));
            let statements = json["data"]["aws_iam_policy_document"][document]["statement"]
                .as_array()
                .expect("statements");
            let tls = statements
                .iter()
                .find(|s| s["sid"] == "DenyInsecureTransport")
                .unwrap_or_else(|| panic!("{env}: {name} allows plain HTTP"));
            assert_eq!(tls["effect"], "Deny");
            assert_eq!(tls["actions"][0], "sqs:*");
            assert_eq!(tls["condition"][0]["variable"], "aws:SecureTransport");
            assert_eq!(tls["condition"][0]["values"][0], "false");
        }
    }
}
