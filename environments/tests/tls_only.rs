//! Every real environment refuses plain-HTTP access to its buckets; only the emulator's goes without,
//! because moto would apply the Deny unconditionally.

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
