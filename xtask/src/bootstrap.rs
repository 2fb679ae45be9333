//! `cargo xtask bootstrap <env>`: creates the S3 bucket that holds the environment's Terraform state, once,
//! before the first deploy (the state cannot live in a bucket the same state creates). Idempotent: each
//! property — exists, versioned, encrypted with KMS, public access blocked, TLS-only policy — is read
//! first and set only when missing, so a second run changes nothing and says so. Locking needs no table:
//! the backend uses S3's native lock file (`use_lockfile`).

use anyhow::{Result, anyhow, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::{Value, json};

use crate::target;

/// The statement that makes the bucket refuse plain HTTP.
const TLS_SID: &str = "DenyInsecureTransport";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub env: target::Env,
}

pub async fn run(args: Args) -> Result<()> {
    let target = args.env.target()?;
    let Some(bucket) = target.env().state_bucket.clone() else {
        println!(
            "{} keeps its Terraform state in a local file (Terraform's working directory): nothing to bootstrap.",
            target.name()
        );
        return Ok(());
    };
    let sdk = crate::aws::sdk(&target).await;
    let s3 = crate::aws::s3(&sdk);
    let region = target.region();
    let mut done = Vec::new();
    if ensure_exists(&s3, &bucket, region).await? {
        done.push("created");
    }
    if ensure_versioned(&s3, &bucket).await? {
        done.push("versioning enabled");
    }
    if ensure_encrypted(&s3, &bucket).await? {
        done.push("default encryption set to SSE-KMS");
    }
    if ensure_private(&s3, &bucket).await? {
        done.push("public access blocked");
    }
    if ensure_tls_only(&s3, &bucket).await? {
        done.push("TLS-only policy added");
    }
    if done.is_empty() {
        println!(
            "State bucket s3://{bucket} ({region}) is already bootstrapped: versioned, encrypted, private, TLS-only. Nothing to do."
        );
    } else {
        println!(
            "State bucket s3://{bucket} ({region}): {}.",
            done.join(", ")
        );
    }
    println!("Next: `cargo xtask deploy {}`.", target.name());
    Ok(())
}

fn failed<E>(what: &str, bucket: &str, e: &E) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error,
{
    anyhow!(
        "{what} s3://{bucket} failed: {} (are AWS credentials with S3 rights set? `cargo xtask doctor` checks)",
        crate::aws::describe(e)
    )
}

/// True when the bucket had to be created.
async fn ensure_exists(s3: &Client, bucket: &str, region: &str) -> Result<bool> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            match status {
                Some(404) => {}
                Some(403) => bail!(
                    "s3://{bucket} exists but this account may not use it (bucket names are global): choose another state_bucket in the environment's file under environments/src/"
                ),
                _ => return Err(failed("checking", bucket, &e)),
            }
        }
    }
    let mut create = s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that must not be named as a location constraint.
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(false),
        Err(e) => Err(failed("creating", bucket, &e)),
    }
}

async fn ensure_versioned(s3: &Client, bucket: &str) -> Result<bool> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(current) if current.status() == Some(&BucketVersioningStatus::Enabled) => {
            return Ok(false);
        }
        Ok(_) => {}
        // moto answers with a `GetBucketVersioningResponse` root the SDK cannot parse (AWS sends
        // `VersioningConfiguration`); a 200 is an answer all the same, so read its status from the body.
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(200) => {
            let enabled = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>"));
            if enabled {
                return Ok(false);
            }
        }
        Err(e) => return Err(failed("reading versioning of", bucket, &e)),
    }
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed("enabling versioning on", bucket, &e))?;
    Ok(true)
}

/// SSE-KMS with the AWS-managed key (state can hold sensitive values); S3's default SSE-S3 is upgraded.
async fn ensure_encrypted(s3: &Client, bucket: &str) -> Result<bool> {
    match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(current) => {
            let kms = current
                .server_side_encryption_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.apply_server_side_encryption_by_default())
                .any(|d| d.sse_algorithm() == &ServerSideEncryption::AwsKms);
            if kms {
                return Ok(false);
            }
        }
        Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {}
        Err(e) => return Err(failed("reading encryption of", bucket, &e)),
    }
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .build()?,
        )
        .bucket_key_enabled(true)
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| failed("setting encryption on", bucket, &e))?;
    Ok(true)
}

async fn ensure_private(s3: &Client, bucket: &str) -> Result<bool> {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(current) => {
            let all = current
                .public_access_block_configuration()
                .is_some_and(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                });
            if all {
                return Ok(false);
            }
        }
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => {}
        Err(e) => return Err(failed("reading the public access block of", bucket, &e)),
    }
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed("blocking public access to", bucket, &e))?;
    Ok(true)
}

/// Adds the deny-non-TLS statement, keeping any statements already there.
async fn ensure_tls_only(s3: &Client, bucket: &str) -> Result<bool> {
    let mut policy = match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(current) => serde_json::from_str::<Value>(current.policy().unwrap_or("{}"))
            .unwrap_or_else(|_| json!({})),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => json!({}),
        Err(e) => return Err(failed("reading the policy of", bucket, &e)),
    };
    let statements = policy
        .get("Statement")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(Value::as_str) == Some(TLS_SID))
    {
        return Ok(false);
    }
    let mut statements = statements;
    statements.push(json!({
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    }));
    policy["Version"] = json!("2012-10-17");
    policy["Statement"] = Value::Array(statements);
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| failed("setting the TLS-only policy on", bucket, &e))?;
    Ok(true)
}
