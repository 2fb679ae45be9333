//! `cargo xtask secret <env>`: puts the endpoint credentials into the environment's secret, after deploy
//! created it empty (so the value never enters Terraform state). The value comes from a no-echo prompt,
//! from JSON on stdin, and/or PEM files for mutual TLS; its shape is checked by the parser the aggregator reads
//! it with (`endpoint_credentials::Credentials::parse`) before anything is sent. The value is never printed or logged:
//! messages name fields and version ids, not contents.
//!
//! Rotation without downtime, every `credentials_rotation_interval` of the environment: `--rotate` stages the
//! new value as `AWSPENDING` (deliveries go on with `AWSCURRENT`); the on-premise side switches to it, and the
//! aggregator, refused with the current value, tries the pending one; `--promote` then makes it `AWSCURRENT`
//! (the old one becomes `AWSPREVIOUS`). `--status` shows the versions and when the secret is due.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use endpoint_credentials::{CURRENT, Credentials, PENDING};
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use crate::target::{self, Target};
use crate::{aws, ui};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub env: target::Env,
    #[command(flatten)]
    pub value: ValueArgs,
    /// Stage the new value as AWSPENDING instead of replacing the current one: deliveries go on with the
    /// current value, and fall back to the pending one once the endpoint refuses the current one.
    #[arg(long, conflicts_with_all = ["promote", "status"])]
    pub rotate: bool,
    /// Make the pending value current (AWSCURRENT), once the endpoint has switched to it; the old value
    /// becomes AWSPREVIOUS.
    #[arg(long, conflicts_with_all = ["status", "stdin", "username", "client_cert", "client_key", "ca_cert"])]
    pub promote: bool,
    /// Show the secret's versions (ids, stages, creation dates; never values) and when it is due for rotation.
    #[arg(long, conflicts_with_all = ["stdin", "username", "client_cert", "client_key", "ca_cert"])]
    pub status: bool,
}

/// Where the endpoint credentials come from: a no-echo prompt or JSON on stdin, plus PEM files. `cargo xtask
/// local` takes a real sink's credentials with the same options (global there, so they may follow `up`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ValueArgs {
    /// Read the whole value as a JSON object from stdin: {"username", "password", optional
    /// "client_cert_pem", "client_key_pem", "ca_cert_pem"}. Implied when stdin is not a terminal.
    #[arg(long, global = true)]
    pub stdin: bool,
    /// The username (not secret; MinIO's access key); the password is then prompted for without echo.
    #[arg(long, global = true)]
    pub username: Option<String>,
    /// PEM file of the client certificate, for mutual TLS (with --client-key).
    #[arg(long, value_name = "FILE", requires = "client_key", global = true)]
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key, for mutual TLS (with --client-cert).
    #[arg(long, value_name = "FILE", requires = "client_cert", global = true)]
    pub client_key: Option<PathBuf>,
    /// PEM file of the private CA that signed the endpoint's certificate.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
}

impl ValueArgs {
    /// Whether any of these options was given.
    pub fn given(&self) -> bool {
        self.stdin
            || self.username.is_some()
            || self.client_cert.is_some()
            || self.client_key.is_some()
            || self.ca_cert.is_some()
    }

    /// Reads the value and checks it with the aggregator's own parser: what it would refuse at delivery
    /// time is refused here, before anything is stored.
    pub fn read(&self) -> Result<Value> {
        let value = gather(self)?;
        Value::from_fields(value)
    }
}

/// A checked secret value. Its `Debug` shows field names only.
pub struct Value {
    json: String,
    pub credentials: Credentials,
    fields: String,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({})", self.fields)
    }
}

impl Value {
    fn from_fields(value: Map<String, Json>) -> Result<Value> {
        let fields = value.keys().cloned().collect::<Vec<_>>().join(", ");
        let json = Json::Object(value).to_string();
        let credentials =
            Credentials::parse(&json).map_err(|problem| anyhow!("{problem}: nothing was put"))?;
        Ok(Value {
            json,
            credentials,
            fields,
        })
    }

    /// Basic credentials only.
    pub fn basic(username: &str, password: &str) -> Result<Value> {
        Value::from_fields(Map::from_iter([
            ("username".to_string(), username.into()),
            ("password".to_string(), password.into()),
        ]))
    }
}

pub async fn run(args: Args) -> Result<()> {
    let target = args.env.target()?;
    target.require_reachable()?;
    // The value (to put or to stage) is read and checked before AWS is asked anything.
    let value = if args.promote || args.status {
        None
    } else {
        Some(args.value.read()?)
    };
    let secret = Secret::of(&target).await;
    secret.ensure_exists().await?;
    match value {
        None if args.promote => secret.promote().await?,
        None => {}
        Some(value) if args.rotate => secret.stage(&value).await?,
        Some(value) => {
            let version = secret.put(&value.json, None).await?;
            println!(
                "Put the endpoint credentials ({}) into secret {} in {} as version {version}.",
                value.fields,
                secret.name,
                target.region()
            );
            println!(
                "The aggregator reads them within its cache time (SECRET_CACHE_SECONDS, 5 minutes), or at once after a 401/403."
            );
        }
    }
    secret.show_status().await
}

/// Puts `value` into the environment's secret as its current value, as `cargo xtask secret <env>` does;
/// returns the new version's id. For `cargo xtask local`, which puts the credentials in-process.
pub async fn put(target: &Target, value: &Value) -> Result<String> {
    let secret = Secret::of(target).await;
    secret.ensure_exists().await?;
    secret.put(&value.json, None).await
}

/// The environment's endpoint secret.
struct Secret<'a> {
    client: aws_sdk_secretsmanager::Client,
    name: String,
    target: &'a Target,
}

/// One version of the secret: its id, staging labels and creation time (never its value).
struct Version {
    id: String,
    stages: Vec<String>,
    created: Option<OffsetDateTime>,
}

impl Version {
    fn is(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

impl Secret<'_> {
    async fn of(target: &Target) -> Secret<'_> {
        Secret {
            client: aws::secrets(&aws::sdk(target).await),
            name: target.secret_name().to_string(),
            target,
        }
    }

    /// Refuses when the secret does not exist yet (deploy makes it).
    async fn ensure_exists(&self) -> Result<()> {
        let Err(e) = self
            .client
            .describe_secret()
            .secret_id(&self.name)
            .send()
            .await
        else {
            return Ok(());
        };
        let (name, target) = (&self.name, self.target);
        if e.code() == Some("ResourceNotFoundException") {
            bail!(
                "the secret {name} does not exist yet in {}: deploy the environment first with `cargo xtask deploy {}`, then run this again",
                target.region(),
                target.name()
            );
        }
        bail!(
            "could not read the secret {name}: {} (are AWS credentials for {} set? `cargo xtask doctor` checks)",
            crate::aws::describe(&e),
            target.name()
        )
    }

    /// Puts a value, as AWSCURRENT or under `stage`; returns the new version's id.
    async fn put(&self, json: &str, stage: Option<&str>) -> Result<String> {
        // SDK errors describe the request, never its body: the value cannot leak through them.
        let answer = self
            .client
            .put_secret_value()
            .secret_id(&self.name)
            .secret_string(json)
            .set_version_stages(stage.map(|s| vec![s.to_string()]))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "could not put the value into {}: {}",
                    self.name,
                    crate::aws::describe(&e)
                )
            })?;
        Ok(answer.version_id().unwrap_or("(none returned)").to_string())
    }

    /// `--rotate`: the new value as AWSPENDING, next to the current one.
    async fn stage(&self, value: &Value) -> Result<()> {
        let name = &self.name;
        let current = self.current_value().await?.ok_or_else(|| {
            anyhow!(
                "{name} has no current value to rotate from: put the credentials first with `cargo xtask secret {}`",
                self.target.name()
            )
        })?;
        if current == value.credentials {
            bail!(
                "the new credentials are the ones {name} holds already: nothing was staged (give the new password or keys)"
            );
        }
        let version = self.put(&value.json, Some(PENDING)).await?;
        let env = self.target.name();
        println!(
            "Staged the new endpoint credentials ({}) in {name} as version {version}, labelled {PENDING}.",
            value.fields
        );
        println!(
            "Deliveries go on with {CURRENT}. Now switch the endpoint to the new credentials: when it refuses the current ones, the aggregator tries the pending ones and keeps using them."
        );
        println!(
            "Once the endpoint has switched, make them current: `cargo xtask secret {env} --promote`."
        );
        Ok(())
    }

    /// `--promote`: AWSCURRENT moves to the pending version (the old one becomes AWSPREVIOUS), and the
    /// rotation ends (AWSPENDING is removed).
    async fn promote(&self) -> Result<()> {
        let name = &self.name;
        let versions = self.versions().await?;
        let Some(pending) = versions.iter().find(|v| v.is(PENDING)) else {
            bail!(
                "no rotation is under way in {name} (no {PENDING} version): stage one with `cargo xtask secret {} --rotate`",
                self.target.name()
            );
        };
        let current = versions.iter().find(|v| v.is(CURRENT));
        if current.is_none_or(|c| c.id != pending.id) {
            self.move_stage(CURRENT, Some(&pending.id), current.map(|c| c.id.as_str()))
                .await?;
        }
        self.move_stage(PENDING, None, Some(&pending.id)).await?;
        println!(
            "Promoted version {} of {name} to {CURRENT}{}; the rotation is over.",
            pending.id,
            current.map_or(String::new(), |c| format!(
                " (version {} is now AWSPREVIOUS)",
                c.id
            ))
        );
        println!(
            "Aggregator instances that had switched to the pending value keep it; the others read it within their cache time or at their next 401/403."
        );
        Ok(())
    }

    async fn move_stage(&self, stage: &str, to: Option<&str>, from: Option<&str>) -> Result<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.name)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_string))
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "could not move {stage} in {}: {}",
                    self.name,
                    crate::aws::describe(&e)
                )
            })?;
        Ok(())
    }

    /// The current value, parsed, if there is one.
    async fn current_value(&self) -> Result<Option<Credentials>> {
        match self
            .client
            .get_secret_value()
            .secret_id(&self.name)
            .version_stage(CURRENT)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .secret_string()
                .and_then(|json| Credentials::parse(json).ok())),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => bail!("could not read {}: {}", self.name, crate::aws::describe(&e)),
        }
    }

    async fn versions(&self) -> Result<Vec<Version>> {
        let out = self
            .client
            .list_secret_version_ids()
            .secret_id(&self.name)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "could not list the versions of {}: {}",
                    self.name,
                    crate::aws::describe(&e)
                )
            })?;
        Ok(out
            .versions()
            .iter()
            .map(|v| Version {
                id: v.version_id().unwrap_or_default().to_string(),
                stages: v.version_stages().to_vec(),
                created: v
                    .created_date()
                    .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok()),
            })
            .collect())
    }

    /// The versions and when the secret is due for rotation: the current version's creation plus the
    /// environment's interval.
    async fn show_status(&self) -> Result<()> {
        let interval = self.target.env().credentials_rotation_interval;
        let versions = self.versions().await?;
        println!("Versions of {}:", self.name);
        for v in versions.iter().filter(|v| !v.stages.is_empty()) {
            println!(
                "  {}  {:<24} created {}",
                v.id,
                v.stages.join(","),
                v.created.map_or("?".to_string(), day)
            );
        }
        let current = versions.iter().find(|v| v.is(CURRENT));
        match current.and_then(|v| v.created) {
            None => println!(
                "No current value yet: put one with `cargo xtask secret {}`.",
                self.target.name()
            ),
            Some(created) => println!("{}", due(created, interval, OffsetDateTime::now_utc())),
        }
        if versions.iter().any(|v| v.is(PENDING)) {
            println!(
                "A rotation is under way ({PENDING} is staged): promote it with `cargo xtask secret {} --promote` once the endpoint has switched.",
                self.target.name()
            );
        }
        Ok(())
    }
}

/// When a secret whose current value was created at `created` is due, said against `now`.
fn due(created: OffsetDateTime, interval: std::time::Duration, now: OffsetDateTime) -> String {
    let days = interval.as_secs() / 86_400;
    let due = created + interval;
    if due <= now {
        format!(
            "Rotation OVERDUE since {} (the current value is from {}; this environment rotates every {days} days): run `--rotate`.",
            day(due),
            day(created)
        )
    } else {
        format!(
            "Rotation due on {} (the current value is from {}; this environment rotates every {days} days).",
            day(due),
            day(created)
        )
    }
}

fn day(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The secret's fields, from stdin or prompts, plus the PEM files.
fn gather(args: &ValueArgs) -> Result<Map<String, Json>> {
    let from_stdin = args.stdin || !ui::stdin_is_terminal();
    let mut value = if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the credentials from stdin")?;
        if text.trim().is_empty() {
            bail!(
                "no credentials on stdin: pipe a JSON object {{\"username\": ..., \"password\": ...}}, or run in a terminal to be prompted"
            );
        }
        // Not the parser's message: a JSON syntax error would quote the input.
        match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(map)) => map,
            _ => bail!(
                "stdin is not a JSON object: pipe {{\"username\": ..., \"password\": ...}} (plus optional client_cert_pem, client_key_pem, ca_cert_pem)"
            ),
        }
    } else {
        let username = match &args.username {
            Some(u) => u.clone(),
            None => ui::input("Username")?,
        };
        let password = ui::password("Password (not shown)")?;
        Map::from_iter([
            ("username".to_string(), Json::String(username)),
            ("password".to_string(), Json::String(password)),
        ])
    };
    if from_stdin && let Some(u) = &args.username {
        value.insert("username".into(), Json::String(u.clone()));
    }
    for (field, file) in [
        ("client_cert_pem", &args.client_cert),
        ("client_key_pem", &args.client_key),
        ("ca_cert_pem", &args.ca_cert),
    ] {
        if let Some(file) = file {
            value.insert(field.into(), Json::String(read_pem(file)?));
        }
    }
    Ok(value)
}

fn read_pem(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_due_one_interval_after_its_current_value() {
        let created = time::macros::datetime!(2026-01-10 12:00 UTC);
        let ninety = std::time::Duration::from_secs(90 * 86_400);
        let soon = due(
            created,
            ninety,
            time::macros::datetime!(2026-02-01 0:00 UTC),
        );
        assert!(soon.contains("due on 2026-04-10"), "{soon}");
        assert!(soon.contains("from 2026-01-10"), "{soon}");
        let late = due(
            created,
            ninety,
            time::macros::datetime!(2026-05-01 0:00 UTC),
        );
        assert!(late.contains("OVERDUE since 2026-04-10"), "{late}");
    }
}
