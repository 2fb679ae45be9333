//! The endpoint credentials from Secrets Manager: their shape, and a five-minute cache that can be refreshed
//! and that knows a rotation's pending value (`AWSPENDING`).
//!
//! The secret is a contract of three parties, so it is a crate of its own: `cargo xtask secret` checks a value
//! before putting it, the aggregator's sinks send with it, and the receiver (dev's mock NiFi) requires it.
//!
//! The secret is JSON: `{"username", "password"}` (Basic auth for NiFi; access key and secret key for MinIO),
//! optionally `client_cert_pem` + `client_key_pem` (mutual TLS) and `ca_cert_pem` (a private CA). Neither the
//! values nor any part of the JSON ever reach an error message or a log line: errors name fields only.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use tokio::sync::Mutex;

/// The credentials, validated. `Debug` shows no value.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub client_cert_pem: Option<String>,
    pub client_key_pem: Option<String>,
    pub ca_cert_pem: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &"<redacted>")
            .field("password", &"<redacted>")
            .field("mutual_tls", &self.client_cert_pem.is_some())
            .field("private_ca", &self.ca_cert_pem.is_some())
            .finish()
    }
}

/// What is wrong with a secret value; names fields, never quotes values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the secret is not a JSON object: put {{\"username\": ..., \"password\": ...}}")]
    NotAnObject,
    #[error("the secret's `{0}` is missing or empty: it must be a non-empty string")]
    MissingField(&'static str),
    #[error("the secret's `{0}` is not a string")]
    NotAString(&'static str),
    #[error(
        "the secret has `{present}` without `{absent}`: mutual TLS needs both client_cert_pem and client_key_pem"
    )]
    HalfPair {
        present: &'static str,
        absent: &'static str,
    },
    #[error("the secret's `{0}` is not PEM (it should contain a -----BEGIN ...----- block)")]
    NotPem(&'static str),
    #[error(
        "the secret has an unknown field `{0}`: allowed are username, password, client_cert_pem, client_key_pem, ca_cert_pem"
    )]
    UnknownField(String),
}

const FIELDS: [&str; 5] = [
    "username",
    "password",
    "client_cert_pem",
    "client_key_pem",
    "ca_cert_pem",
];

impl Credentials {
    /// Parses and validates a secret value.
    pub fn parse(json: &str) -> Result<Credentials, ShapeError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|_| ShapeError::NotAnObject)?;
        let object = value.as_object().ok_or(ShapeError::NotAnObject)?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ShapeError::UnknownField(unknown.clone()));
        }
        let text = |name: &'static str| -> Result<Option<String>, ShapeError> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ShapeError::NotAString(name)),
            }
        };
        let username = text("username")?.ok_or(ShapeError::MissingField("username"))?;
        let password = text("password")?.ok_or(ShapeError::MissingField("password"))?;
        let client_cert_pem = text("client_cert_pem")?;
        let client_key_pem = text("client_key_pem")?;
        let ca_cert_pem = text("ca_cert_pem")?;
        match (&client_cert_pem, &client_key_pem) {
            (Some(_), None) => {
                return Err(ShapeError::HalfPair {
                    present: "client_cert_pem",
                    absent: "client_key_pem",
                });
            }
            (None, Some(_)) => {
                return Err(ShapeError::HalfPair {
                    present: "client_key_pem",
                    absent: "client_cert_pem",
                });
            }
            _ => {}
        }
        for (name, pem) in [
            ("client_cert_pem", &client_cert_pem),
            ("client_key_pem", &client_key_pem),
            ("ca_cert_pem", &ca_cert_pem),
        ] {
            if pem.as_deref().is_some_and(|p| !p.contains("-----BEGIN ")) {
                return Err(ShapeError::NotPem(name));
            }
        }
        Ok(Credentials {
            username,
            password,
            client_cert_pem,
            client_key_pem,
            ca_cert_pem,
        })
    }
}

/// Why the credentials could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the secret `{0}` has no value yet: put the endpoint credentials with `cargo xtask secret <env>`"
    )]
    NoValue(String),
    #[error(
        "the secret `{0}` was not found or has no current value: check that it is the secret deploy created, and put the endpoint credentials with `cargo xtask secret <env>`"
    )]
    NotFound(String),
    #[error("could not read the secret `{secret}`: {code}")]
    Unavailable { secret: String, code: String },
    #[error(
        "the secret `{secret}` is malformed: {problem}; fix it with `cargo xtask secret <env>`"
    )]
    Malformed { secret: String, problem: ShapeError },
}

/// The staging label of the value the endpoint uses.
pub const CURRENT: &str = "AWSCURRENT";
/// The staging label of a rotation's new value, put by `cargo xtask secret <env> --rotate` before the endpoint
/// switches to it, and made current by `--promote` after.
pub const PENDING: &str = "AWSPENDING";

/// Which version of the secret a cached value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Current,
    /// The pending value, adopted because the endpoint refused the current one during a rotation.
    Pending,
}

/// Reads the secret at most once per `ttl`, unless told the cached value was refused.
///
/// During a rotation the endpoint may switch to the pending value before it is promoted. The delivery code
/// then tries the pending value and, when it is accepted, [`adopt`](SecretCache::adopt)s it: it is used until
/// the rotation ends (promoted to current, or withdrawn), so each delivery is not refused once more first.
pub struct SecretCache {
    client: Client,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Stage, Arc<Credentials>)>>,
}

impl SecretCache {
    pub fn new(client: Client, secret_id: String, ttl: Duration) -> SecretCache {
        SecretCache {
            client,
            secret_id,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The credentials to use, from the cache while it is fresh.
    pub async fn get(&self) -> Result<Arc<Credentials>, SecretError> {
        let mut cached = self.cached.lock().await;
        let adopted = match cached.as_ref() {
            Some((fetched, _, credentials)) if fetched.elapsed() < self.ttl => {
                return Ok(credentials.clone());
            }
            Some((_, Stage::Pending, credentials)) => Some(credentials.clone()),
            _ => None,
        };
        let current = Arc::new(self.fetch(CURRENT).await?);
        // An adopted pending value stays in use while it is still pending (the rotation is not promoted yet).
        let mut entry = (Stage::Current, current);
        if let Some(adopted) = adopted
            && adopted != entry.1
            && self.pending().await.ok().flatten().as_ref() == Some(&adopted)
        {
            entry = (Stage::Pending, adopted);
        }
        *cached = Some((Instant::now(), entry.0, entry.1.clone()));
        Ok(entry.1)
    }

    /// Forgets the cached value, so the next `get` reads the current value again (after a 401/403).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The pending value of a rotation under way, if there is one.
    pub async fn pending(&self) -> Result<Option<Arc<Credentials>>, SecretError> {
        match self.fetch(PENDING).await {
            Ok(credentials) => Ok(Some(Arc::new(credentials))),
            Err(SecretError::NoValue(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uses the pending value from now on, because the endpoint accepted it and refused the current one.
    pub async fn adopt(&self, pending: Arc<Credentials>) {
        *self.cached.lock().await = Some((Instant::now(), Stage::Pending, pending));
    }

    async fn fetch(&self, stage: &str) -> Result<Credentials, SecretError> {
        let response = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or("unknown error").to_string();
                if code != "ResourceNotFoundException" {
                    return SecretError::Unavailable {
                        secret: self.secret_id.clone(),
                        code,
                    };
                }
                // A stage other than the current one that cannot be found was never staged: the secret itself
                // was just read (its current value is what the endpoint refused). AWS says "value" when the
                // secret exists without one; an emulator may not, so the remaining case names both causes.
                if stage != CURRENT || e.message().is_some_and(|m| m.contains("value")) {
                    SecretError::NoValue(self.secret_id.clone())
                } else {
                    SecretError::NotFound(self.secret_id.clone())
                }
            })?;
        let text = response
            .secret_string()
            .ok_or_else(|| SecretError::NoValue(self.secret_id.clone()))?;
        Credentials::parse(text).map_err(|problem| SecretError::Malformed {
            secret: self.secret_id.clone(),
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_basic_and_mutual_tls_shapes() {
        let basic = Credentials::parse(r#"{"username":"u","password":"p"}"#).expect("valid");
        assert_eq!(basic.username, "u");
        let pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----";
        let mtls = serde_json::json!({"username":"u","password":"p","client_cert_pem":pem,"client_key_pem":pem.replace("CERTIFICATE","PRIVATE KEY"),"ca_cert_pem":pem});
        assert!(Credentials::parse(&mtls.to_string()).is_ok());
    }

    #[test]
    fn rejects_bad_shapes_without_quoting_values() {
        let cases = [
            ("[1]", ShapeError::NotAnObject),
            ("not json hunter2", ShapeError::NotAnObject),
            (
                r#"{"password":"hunter2"}"#,
                ShapeError::MissingField("username"),
            ),
            (
                r#"{"username":"u","password":""}"#,
                ShapeError::MissingField("password"),
            ),
            (
                r#"{"username":"u","password":7}"#,
                ShapeError::NotAString("password"),
            ),
            (
                r#"{"username":"u","password":"hunter2","client_cert_pem":"-----BEGIN X"}"#,
                ShapeError::HalfPair {
                    present: "client_cert_pem",
                    absent: "client_key_pem",
                },
            ),
            (
                r#"{"username":"u","password":"hunter2","ca_cert_pem":"hunter2"}"#,
                ShapeError::NotPem("ca_cert_pem"),
            ),
            (
                r#"{"username":"u","password":"hunter2","pasword":"x"}"#,
                ShapeError::UnknownField("pasword".into()),
            ),
        ];
        for (json, expected) in cases {
            let err = Credentials::parse(json).expect_err(json);
            assert_eq!(err, expected);
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::parse(r#"{"username":"alice","password":"hunter2"}"#).expect("valid");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
