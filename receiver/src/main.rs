//! `receiver`: runs the NiFi ListenHTTP-compatible receiver as a process, for local runs and the dev environment.
//!
//! Every flag can also come from the environment (`RECEIVER_*`), which is how the dev environment runs it as
//! its mock NiFi endpoint in Lambda (behind the Lambda Web Adapter, which forwards to 127.0.0.1:8080). There
//! its Basic credentials come from the same Secrets Manager secret the aggregator reads
//! (`CREDENTIALS_SECRET_ID`), so no password is ever in Terraform state or the function's environment.
//!
//! Prints exactly one line, `receiver listening on http://ADDR/PATH` (`https://` with `--tls-cert`), to stdout
//! once bound, so scripts can wait for it; logs go to stderr as JSON.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use receiver::{BasicCredentials, Limits, ReceiverConfig, ReceiverError, TlsConfig, TlsError};

/// The password comes from this variable, never from a flag, so that it stays out of process listings.
const PASSWORD_ENV: &str = "RECEIVER_PASSWORD";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A NiFi ListenHTTP-compatible receiver that verifies and stores bundles"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "RECEIVER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory where accepted bundles and their records are stored (in Lambda, only /tmp is writable).
    #[arg(long, env = "RECEIVER_STORE", default_value = "/tmp/receiver")]
    store: PathBuf,
    /// The content path, as configured on ListenHTTP.
    #[arg(long, env = "RECEIVER_PATH", default_value = receiver::DEFAULT_PATH)]
    path: String,
    /// Require HTTP Basic auth with this user; the password is read from RECEIVER_PASSWORD.
    #[arg(
        long,
        env = "RECEIVER_USERNAME",
        conflicts_with = "credentials_secret_id"
    )]
    username: Option<String>,
    /// Require HTTP Basic auth with the username and password in this Secrets Manager secret (the one the
    /// aggregator sends with).
    #[arg(long, env = "CREDENTIALS_SECRET_ID")]
    credentials_secret_id: Option<String>,
    /// Serve HTTPS with this PEM certificate (server certificate first, then intermediates); needs --tls-key.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by the CA(s) in this PEM file (mutual TLS); needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// The largest request body accepted, in bytes (413 above it) [default: 536870912, 512 MiB].
    #[arg(long, env = "RECEIVER_MAX_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_body_bytes: Option<u64>,
    /// The most bytes a bundle may unpack to while it is verified (413 above it: a gzip bomb stops there)
    /// [default: 8589934592, 8 GiB].
    #[arg(long, env = "RECEIVER_MAX_UNPACKED_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_unpacked_bytes: Option<u64>,
    /// The most tar entries a bundle may hold (422 above it) [default: 100000].
    #[arg(long, env = "RECEIVER_MAX_ENTRIES", value_parser = clap::value_parser!(u64).range(1..))]
    max_entries: Option<u64>,
    /// Seconds to wait for a request's headers, and for each next piece of its body (408 after) [default: 30].
    #[arg(long, env = "RECEIVER_READ_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    read_timeout_seconds: Option<u64>,
}

impl Args {
    /// The limits: each flag given, the default for the rest.
    fn limits(&self) -> Limits {
        let default = Limits::default();
        Limits {
            max_body_bytes: self.max_body_bytes.unwrap_or(default.max_body_bytes),
            max_unpacked_bytes: self
                .max_unpacked_bytes
                .unwrap_or(default.max_unpacked_bytes),
            max_entries: self.max_entries.unwrap_or(default.max_entries),
            read_timeout: self
                .read_timeout_seconds
                .map_or(default.read_timeout, Duration::from_secs),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limits = args.limits();
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    let credentials = if let Some(secret_id) = &args.credentials_secret_id {
        Some(credentials_from_secret(secret_id).await?)
    } else {
        match (args.username, password) {
            (Some(username), Some(password)) => Some(BasicCredentials::new(username, password)),
            (Some(_), None) => bail!(
                "--username is set but {PASSWORD_ENV} is empty: export {PASSWORD_ENV} with the password"
            ),
            (None, Some(_)) => bail!(
                "{PASSWORD_ENV} is set but --username is not: pass --username, or unset {PASSWORD_ENV}"
            ),
            (None, None) => None,
        }
    };

    let tls = tls_config(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.client_ca.as_deref(),
    )?;

    let running = receiver::spawn(ReceiverConfig {
        listen: args.listen,
        store_dir: args.store,
        path: args.path,
        credentials,
        tls,
        limits,
    })
    .await
    .map_err(|e| match &e {
        ReceiverError::Tls(problem) => anyhow::anyhow!("{}: {problem}", tls_flag(problem)),
        _ => anyhow::Error::new(e),
    })
    .context("starting the receiver")?;

    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "receiver listening on {}", running.url()).context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
    }

    wait_for_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// The Basic credentials from the endpoint secret, read once at start.
async fn credentials_from_secret(secret_id: &str) -> anyhow::Result<BasicCredentials> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let cache = endpoint_credentials::SecretCache::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        secret_id.to_string(),
        std::time::Duration::ZERO,
    );
    let credentials = cache
        .get()
        .await
        .context("reading the receiver's credentials")?;
    Ok(BasicCredentials::new(
        credentials.username.clone(),
        credentials.password.clone(),
    ))
}

/// The TLS settings from the flags; a half-given pair is an error rather than silently plain HTTP.
fn tls_config(
    cert: Option<&Path>,
    key: Option<&Path>,
    client_ca: Option<&Path>,
) -> anyhow::Result<Option<TlsConfig>> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            bail!("--tls-cert is set but --tls-key is not: pass both, or neither for plain HTTP")
        }
        (None, Some(_)) => {
            bail!("--tls-key is set but --tls-cert is not: pass both, or neither for plain HTTP")
        }
        (None, None) => {
            if client_ca.is_some() {
                bail!(
                    "--client-ca needs --tls-cert and --tls-key: client certificates only exist over HTTPS"
                );
            }
            return Ok(None);
        }
    };
    let read = |flag: &str, path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("reading {flag} {}", path.display()))
    };
    let mut tls = TlsConfig::new(read("--tls-cert", cert)?, read("--tls-key", key)?);
    if let Some(ca) = client_ca {
        tls = tls.with_client_ca(read("--client-ca", ca)?);
    }
    Ok(Some(tls))
}

/// Which flag's file a TLS problem is in, so the message points at it.
fn tls_flag(problem: &TlsError) -> &'static str {
    match problem {
        TlsError::CertChain(_) | TlsError::NoCertificate => "--tls-cert",
        TlsError::Key => "--tls-key",
        TlsError::ClientCaPem(_)
        | TlsError::NoClientCa
        | TlsError::ClientCaAnchor(_)
        | TlsError::ClientVerifier(_) => "--client-ca",
        TlsError::Server(_) => "--tls-cert/--tls-key",
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
