//! S3 buckets: versioned, SSE-KMS with a bucket key, public access blocked, owner-enforced, TLS-only,
//! with lifecycle rules; and the landing bucket's event notification to the queue.

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

    /// The bucket policy: refuse every request that does not use TLS.
    pub fn policy(&self) -> PolicyDocument {
        PolicyDocument::new(
            format!("{}_policy", self.name),
            vec![Statement::deny_insecure_transport(
                &["s3:*"],
                vec![self.arn(), self.objects()],
            )],
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
        let mut rule = json!({
            "id": match self.lifecycle { Lifecycle::Expire { .. } => "expire", Lifecycle::DeepArchive { .. } => "deep-archive" },
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        });
        match self.lifecycle {
            Lifecycle::Expire {
                days,
                noncurrent_days,
            } => {
                rule["expiration"] = json!({"days": days});
                rule["noncurrent_version_expiration"] = json!({"noncurrent_days": noncurrent_days});
            }
            Lifecycle::DeepArchive { days } => {
                rule["transition"] = json!([{"days": days, "storage_class": "DEEP_ARCHIVE"}]);
                rule["noncurrent_version_transition"] =
                    json!([{"noncurrent_days": days, "storage_class": "DEEP_ARCHIVE"}]);
            }
        }
        f.resource(
            &Ref::resource("aws_s3_bucket_lifecycle_configuration", n),
            json!({
                "bucket": bucket,
                "rule": [rule],
                // Lifecycle rules on a bucket whose versioning is still changing are rejected.
                "depends_on": [versioning.address()],
            }),
        );
        if self.tls_only {
            let policy = self.policy();
            f.data(&policy.data_ref(), policy.data_body());
            f.resource(
                &Ref::resource("aws_s3_bucket_policy", n),
                json!({"bucket": bucket, "policy": policy.json()}),
            );
        }
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
