//! S3 buckets: versioned, SSE-KMS with a bucket key, public access blocked, owner-enforced, TLS-only,
//! with lifecycle rules; the landing bucket's event notification to the queue, and its daily inventory.

use serde_json::json;

use crate::iam::{PolicyDocument, Statement};
use crate::tf::{Block, Expr, FileWriter, Ref, keep};

/// What happens to objects over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Current objects expire `days` after they land, replaced versions `noncurrent_days` after they were
    /// replaced: both as long as a message may wait for them (see [`crate::retention`]).
    Expire { days: u32, noncurrent_days: u32 },
    /// Objects move to Glacier Deep Archive after `days` and are kept.
    DeepArchive { days: u32 },
    /// Objects under each prefix expire as its rule says; the prefixes do not overlap, so one expiry applies to
    /// each object (a rule for the whole bucket only aborts incomplete uploads).
    ExpireByPrefix(Vec<Expiry>),
}

/// How long objects under a prefix are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub id: &'static str,
    pub prefix: &'static str,
    pub days: u32,
    pub noncurrent_days: u32,
}

/// A bucket; `name` is its field in the pipeline and the name of every Terraform block it makes.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: &'static str,
    pub bucket: String,
    pub key_arn: Expr,
    pub lifecycle: Lifecycle,
    pub prevent_destroy: bool,
    /// Whether the TLS-only bucket policy is rendered. Only the local environment goes without: moto applies
    /// the Deny without evaluating its `aws:SecureTransport` condition, which would refuse every request.
    pub tls_only: bool,
    /// What the bucket policy allows besides (an AWS service delivering into it).
    pub grants: Vec<Statement>,
}

impl Bucket {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_s3_bucket", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    /// The bucket's name as Terraform knows it (a reference, so dependents wait for the bucket).
    pub fn id(&self) -> Expr {
        self.r().attr("bucket")
    }

    /// Objects in the bucket, for IAM resources.
    pub fn objects(&self) -> Expr {
        self.arn().suffix("/*")
    }

    /// The bucket policy: refuse every request that does not use TLS (where `tls_only`), then the grants.
    pub fn policy(&self) -> PolicyDocument {
        let tls = self.tls_only.then(|| {
            Statement::deny_insecure_transport(&["s3:*"], vec![self.arn(), self.objects()])
        });
        PolicyDocument::new(
            format!("{}_policy", self.name),
            tls.into_iter().chain(self.grants.iter().cloned()).collect(),
        )
    }
}

impl Block for Bucket {
    fn render(&self, f: &mut FileWriter<'_>) {
        let n = self.name;
        let bucket = self.id();
        f.resource(
            &self.r(),
            json!({
                "bucket": self.bucket,
                "lifecycle": keep(self.prevent_destroy),
            }),
        );
        let versioning = Ref::resource("aws_s3_bucket_versioning", n);
        f.resource(
            &versioning,
            json!({"bucket": bucket, "versioning_configuration": {"status": "Enabled"}}),
        );
        f.resource(
            &Ref::resource("aws_s3_bucket_server_side_encryption_configuration", n),
            json!({
                "bucket": bucket,
                "rule": [{
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key_arn,
                    },
                    "bucket_key_enabled": true,
                }],
            }),
        );
        f.resource(
            &Ref::resource("aws_s3_bucket_public_access_block", n),
            json!({
                "bucket": bucket,
                "block_public_acls": true,
                "block_public_policy": true,
                "ignore_public_acls": true,
                "restrict_public_buckets": true,
            }),
        );
        f.resource(
            &Ref::resource("aws_s3_bucket_ownership_controls", n),
            json!({"bucket": bucket, "rule": {"object_ownership": "BucketOwnerEnforced"}}),
        );
        let rule = |id: &str, prefix: &str| {
            json!({
                "id": id,
                "status": "Enabled",
                "filter": {"prefix": prefix},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
            })
        };
        let expire = |mut rule: serde_json::Value, days: u32, noncurrent_days: u32| {
            rule["expiration"] = json!({"days": days});
            rule["noncurrent_version_expiration"] = json!({"noncurrent_days": noncurrent_days});
            rule
        };
        let rules = match &self.lifecycle {
            Lifecycle::Expire {
                days,
                noncurrent_days,
            } => vec![expire(rule("expire", ""), *days, *noncurrent_days)],
            Lifecycle::DeepArchive { days } => {
                let mut rule = rule("deep-archive", "");
                rule["transition"] = json!([{"days": days, "storage_class": "DEEP_ARCHIVE"}]);
                rule["noncurrent_version_transition"] =
                    json!([{"noncurrent_days": days, "storage_class": "DEEP_ARCHIVE"}]);
                vec![rule]
            }
            Lifecycle::ExpireByPrefix(expiries) => {
                std::iter::once(rule("abort-incomplete-uploads", ""))
                    .chain(expiries.iter().map(|e| {
                        let mut rule = expire(rule(e.id, e.prefix), e.days, e.noncurrent_days);
                        if let Some(rule) = rule.as_object_mut() {
                            rule.remove("abort_incomplete_multipart_upload");
                        }
                        rule
                    }))
                    .collect()
            }
        };
        f.resource(
            &Ref::resource("aws_s3_bucket_lifecycle_configuration", n),
            json!({
                "bucket": bucket,
                "rule": rules,
                // Lifecycle rules on a bucket whose versioning is still changing are rejected.
                "depends_on": [versioning.address()],
            }),
        );
        let policy = self.policy();
        if !policy.statements.is_empty() {
            f.data(&policy.data_ref(), policy.data_body());
            f.resource(
                &Ref::resource("aws_s3_bucket_policy", n),
                json!({"bucket": bucket, "policy": policy.json()}),
            );
        }
    }
}

/// A bucket's daily S3 Inventory of every version, as gzipped CSV with the fields the daily report reads,
/// delivered under `prefix` of the destination bucket, encrypted with the environment's key.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub name: &'static str,
    /// The configuration's id, which names its folder: `<prefix>/<bucket>/<id>/`.
    pub id: &'static str,
    pub bucket: Expr,
    pub destination_arn: Expr,
    pub prefix: &'static str,
    pub key_arn: Expr,
}

impl Block for Inventory {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &Ref::resource("aws_s3_bucket_inventory", self.name),
            json!({
                "bucket": self.bucket,
                "name": self.id,
                "included_object_versions": "All",
                "schedule": {"frequency": "Daily"},
                "optional_fields": ["Size", "LastModifiedDate", "ETag", "StorageClass"],
                "destination": {"bucket": {
                    "bucket_arn": self.destination_arn,
                    "format": "CSV",
                    "prefix": self.prefix,
                    "encryption": {"sse_kms": {"key_id": self.key_arn}},
                }},
            }),
        );
    }
}

/// Where a bucket's event notifications go.
#[derive(Debug, Clone)]
pub enum Target {
    /// ObjectCreated events to the queue; S3 tests delivery when the notification is written, so the
    /// queue policy must exist first.
    Queue { queue_arn: Expr, after: Ref },
    /// Every event to EventBridge's default bus: an audit hook on the archive that costs nothing unused.
    EventBridge,
}

/// A bucket's event notification.
#[derive(Debug, Clone)]
pub struct Notification {
    pub name: &'static str,
    pub bucket: Expr,
    pub target: Target,
}

impl Block for Notification {
    fn render(&self, f: &mut FileWriter<'_>) {
        let body = match &self.target {
            Target::Queue { queue_arn, after } => json!({
                "bucket": self.bucket,
                "queue": [{"id": "object-created", "queue_arn": queue_arn, "events": ["s3:ObjectCreated:*"]}],
                "depends_on": [after.address()],
            }),
            Target::EventBridge => json!({"bucket": self.bucket, "eventbridge": true}),
        };
        f.resource(
            &Ref::resource("aws_s3_bucket_notification", self.name),
            body,
        );
    }
}
