//! `cargo xtask secret <env>`: puts the endpoint credentials into the environment's secret, after deploy
//! created it empty (so the value never enters Terraform state). The value comes from a no-echo prompt,
//! from JSON on stdin, and/or PEM files for mutual TLS; its shape is checked by the aggregator's own parser
//! (`app::credentials::Credentials::parse`) before anything is sent. The value is never printed or logged:
//! messages name fields, not contents.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use app::credentials::Credentials;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use serde_json::{Map, Value};

use crate::target::{self, Target};
use crate::{aws, ui};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment: local, dev or prod.
    pub env: String,
    /// Read the whole value as a JSON object from stdin: {"username", "password", optional
    /// "client_cert_pem", "client_key_pem", "ca_cert_pem"}. Implied when stdin is not a terminal.
    #[arg(long)]
    pub stdin: bool,
    /// The username (not secret); the password is then prompted for without echo.
    #[arg(long)]
    pub username: Option<String>,
    /// PEM file of the client certificate, for mutual TLS (with --client-key).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key, for mutual TLS (with --client-cert).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// PEM file of the private CA that signed the endpoint's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<()> {
    let target = target::resolve(&args.env)?;
    target.local_endpoint()?;
    let value = gather(&args)?;
    let fields: Vec<String> = value.keys().cloned().collect();
    let json = Value::Object(value).to_string();
    // The aggregator's parser: what it would refuse at delivery time is refused here, before it is stored.
    Credentials::parse(&json).map_err(|problem| anyhow!("{problem}: nothing was put"))?;
    let version = put(&target, &json).await?;
    println!(
        "Put the endpoint credentials ({}) into secret {} in {} as version {version}.",
        fields.join(", "),
        target.secret_name(),
        target.region()
    );
    println!(
        "The aggregator reads them within its cache time (SECRET_CACHE_SECONDS, 5 minutes), or at once after a 401/403."
    );
    Ok(())
}

/// The secret's fields, from stdin or prompts, plus the PEM files.
fn gather(args: &Args) -> Result<Map<String, Value>> {
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
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
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
            ("username".to_string(), Value::String(username)),
            ("password".to_string(), Value::String(password)),
        ])
    };
    if from_stdin && let Some(u) = &args.username {
        value.insert("username".into(), Value::String(u.clone()));
    }
    for (field, file) in [
        ("client_cert_pem", &args.client_cert),
        ("client_key_pem", &args.client_key),
        ("ca_cert_pem", &args.ca_cert),
    ] {
        if let Some(file) = file {
            value.insert(field.into(), Value::String(read_pem(file)?));
        }
    }
    Ok(value)
}

fn read_pem(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Puts the value; refuses when the secret does not exist yet (deploy makes it).
async fn put(target: &Target, json: &str) -> Result<String> {
    let sdk = aws::sdk(target).await;
    let client = aws::secrets(&sdk);
    let name = target.secret_name();
    if let Err(e) = client.describe_secret().secret_id(name).send().await {
        if e.code() == Some("ResourceNotFoundException") {
            bail!(
                "the secret {name} does not exist yet in {}: deploy the environment first with `cargo xtask deploy {}`, then run this again",
                target.region(),
                target.name()
            );
        }
        bail!(
            "could not read the secret {name}: {} (are AWS credentials for {} set? `cargo xtask doctor` checks)",
            e.code().unwrap_or("unknown error"),
            target.name()
        );
    }
    // SDK errors describe the request, never its body: the value cannot leak through them.
    let answer = client
        .put_secret_value()
        .secret_id(name)
        .secret_string(json)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "could not put the value into {name}: {}",
                e.message().or(e.code()).unwrap_or("unknown error")
            )
        })?;
    Ok(answer.version_id().unwrap_or("(none returned)").to_string())
}
