//! The probe of the path to the delivery endpoint, answered by the deployed aggregator when it is invoked with
//! `{"probe": "endpoint"}` instead of an SQS batch (`cargo xtask doctor <env>`): from where deliveries start,
//! it resolves the endpoint's host, opens a TCP connection to each address found, then TLS and a `GET` of the
//! endpoint's healthcheck with the trust and client certificate a delivery uses, and answers what each step
//! saw. It sends no credential and answers none: the secret is read only to build the same TLS client, and the
//! answer says only which of its parts exist.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use serde::{Deserialize, Serialize};

use crate::config::{Config, SinkConfig};
use crate::credentials::{Credentials, SecretCache};
use crate::delivery::{build_client, describe};

/// The payload that asks for a probe: `{"probe": "endpoint"}`.
pub const PROBE_KEY: &str = "probe";
pub const PROBE_ENDPOINT: &str = "endpoint";
/// At most this many of the addresses a name resolves to are tried.
const MOST_ADDRESSES: usize = 4;

/// What an invocation asks for, told by its payload's shape.
#[derive(Debug)]
pub enum Request {
    /// `{"probe": "endpoint"}`.
    Probe,
    /// An SQS batch, from the event source mapping.
    Batch(SqsEvent),
}

/// A payload that is neither a probe nor an SQS batch.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "the probe {0:?} is unknown: invoke with {{\"probe\": \"endpoint\"}} (cargo xtask doctor <env>)"
    )]
    UnknownProbe(serde_json::Value),
    #[error("the payload is neither a probe nor an SQS batch: {0}")]
    NotABatch(#[from] serde_json::Error),
}

impl Request {
    pub fn parse(payload: serde_json::Value) -> Result<Request, RequestError> {
        match payload.get(PROBE_KEY) {
            Some(target) if target == PROBE_ENDPOINT => Ok(Request::Probe),
            Some(other) => Err(RequestError::UnknownProbe(other.clone())),
            None => Ok(Request::Batch(serde_json::from_value(payload)?)),
        }
    }
}

/// One step of the probe and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `secret`, `dns`, `tcp <address>`, `tls` or `http`.
    pub name: String,
    pub ok: bool,
    pub millis: u64,
    pub detail: String,
}

/// The probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The URL probed: the endpoint's scheme, host, port and health path (never userinfo or a query).
    pub url: String,
    pub host: String,
    pub port: u16,
    pub steps: Vec<Step>,
    /// Every step succeeded: the endpoint answered its healthcheck with 2xx over the path deliveries take.
    pub reachable: bool,
}

impl ProbeReport {
    /// The first step that failed, if one did.
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }
}

/// What to probe: the endpoint's URL and the healthcheck it answers without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub health: reqwest::Url,
}

impl Target {
    /// NiFi's `<path>/healthcheck` (ListenHTTP's), MinIO's `/minio/health/live`.
    pub fn of(sink: &SinkConfig) -> Result<Target, String> {
        let (base, path) = match sink {
            SinkConfig::Nifi { url } => (url, None),
            SinkConfig::Minio { endpoint, .. } => (endpoint, Some("/minio/health/live")),
        };
        let mut health = reqwest::Url::parse(base)
            .map_err(|e| format!("the endpoint's URL does not parse: {e}"))?;
        let path = path.map_or_else(
            || format!("{}/healthcheck", health.path().trim_end_matches('/')),
            str::to_owned,
        );
        health.set_path(&path);
        health.set_query(None);
        health.set_fragment(None);
        // Credentials in a URL are refused by configuration already; never echo any.
        let _ = health.set_username("");
        let _ = health.set_password(None);
        Ok(Target { health })
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Probes the configured endpoint as the function's deliveries would reach it.
pub async fn probe(config: &Config, sdk: &aws_config::SdkConfig) -> ProbeReport {
    let target = match Target::of(&config.sink) {
        Ok(target) => target,
        Err(detail) => {
            return ProbeReport {
                url: String::new(),
                host: String::new(),
                port: 0,
                steps: vec![Step {
                    name: "url".into(),
                    ok: false,
                    millis: 0,
                    detail,
                }],
                reachable: false,
            };
        }
    };
    let secrets = SecretCache::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        config.credentials_secret_id.clone(),
        Duration::ZERO,
    );
    let started = Instant::now();
    let (credentials, secret_step) = match secrets.get().await {
        Ok(credentials) => {
            let parts: Vec<&str> = [
                Some("username and password"),
                credentials
                    .client_cert_pem
                    .as_ref()
                    .map(|_| "a client certificate"),
                credentials.ca_cert_pem.as_ref().map(|_| "a private CA"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let detail = format!("read; it holds {}", parts.join(", "));
            (Some(credentials), (true, detail))
        }
        // The error names the secret and what to do, never a value.
        Err(e) => (
            None,
            (
                false,
                format!("{e}; probing without its client certificate and CA"),
            ),
        ),
    };
    let mut report = run(
        &target,
        credentials.as_deref(),
        config.http_connect_timeout,
        config.http_timeout,
    )
    .await;
    report.steps.insert(
        0,
        Step {
            name: "secret".into(),
            ok: secret_step.0,
            millis: millis(started),
            detail: secret_step.1,
        },
    );
    report.reachable = report.steps.iter().all(|s| s.ok);
    report
}

/// The network steps of the probe: DNS, TCP to each address, and (for https) TLS, then the healthcheck.
pub async fn run(
    target: &Target,
    credentials: Option<&Credentials>,
    connect_timeout: Duration,
    timeout: Duration,
) -> ProbeReport {
    let url = &target.health;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(0);
    let mut steps = Vec::new();
    let report = |steps: Vec<Step>| ProbeReport {
        url: url.to_string(),
        host: host.clone(),
        port,
        reachable: steps.iter().all(|s| s.ok),
        steps,
    };

    let started = Instant::now();
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved = tokio::time::timeout(
        connect_timeout,
        tokio::net::lookup_host((lookup_host, port)),
    )
    .await;
    let resolved = match resolved {
        Ok(Ok(found)) => Ok(found.collect::<Vec<SocketAddr>>()),
        Ok(Err(e)) => Err(format!("{host} did not resolve: {e}")),
        Err(_) => Err(format!("no answer for {host} within {connect_timeout:?}")),
    };
    let addresses = match resolved {
        Ok(addresses) => addresses,
        Err(detail) => {
            steps.push(Step {
                name: "dns".into(),
                ok: false,
                millis: millis(started),
                detail,
            });
            return report(steps);
        }
    };
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    steps.push(Step {
        name: "dns".into(),
        ok: !addresses.is_empty(),
        millis: millis(started),
        detail: if addresses.is_empty() {
            format!("{host} resolved to no address")
        } else if lookup_host.parse::<std::net::IpAddr>().is_ok() {
            format!("{host} is an address: nothing to resolve")
        } else {
            format!("{host} is {}", shown.join(", "))
        },
    });

    let mut connected = false;
    for address in addresses.iter().take(MOST_ADDRESSES) {
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(address)).await;
        let (ok, detail) = match outcome {
            Ok(Ok(_)) => (true, "connected".to_owned()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
                false,
                "refused: the address answers, but nothing listens on this port".to_owned(),
            ),
            Ok(Err(e)) => (false, format!("failed: {e}")),
            Err(_) => (
                false,
                format!(
                    "no answer within {connect_timeout:?}: a route, the link or a firewall drops the packets"
                ),
            ),
        };
        connected |= ok;
        steps.push(Step {
            name: format!("tcp {address}"),
            ok,
            millis: millis(started),
            detail,
        });
    }
    if !connected {
        return report(steps);
    }

    let started = Instant::now();
    let no_credentials = Credentials {
        username: String::new(),
        password: String::new(),
        client_cert_pem: None,
        client_key_pem: None,
        ca_cert_pem: None,
    };
    let client = match build_client(
        credentials.unwrap_or(&no_credentials),
        connect_timeout,
        timeout,
    ) {
        Ok(client) => client,
        Err(detail) => {
            steps.push(Step {
                name: "tls".into(),
                ok: false,
                millis: 0,
                detail,
            });
            return report(steps);
        }
    };
    let https = url.scheme() == "https";
    // No Authorization header: the healthcheck needs none, and the probe sends no credential.
    match client.get(url.clone()).send().await {
        Ok(response) => {
            if https {
                steps.push(Step {
                    name: "tls".into(),
                    ok: true,
                    millis: millis(started),
                    detail: "handshake completed; the server's certificate is trusted".into(),
                });
            }
            let status = response.status();
            steps.push(Step {
                name: "http".into(),
                ok: status.is_success(),
                millis: millis(started),
                detail: format!("GET {} answered {status}", url.path()),
            });
        }
        Err(e) => {
            // TCP connected above, so a failure to connect now is the TLS handshake's.
            let name = if https && e.is_connect() {
                "tls"
            } else {
                "http"
            };
            steps.push(Step {
                name: name.into(),
                ok: false,
                millis: millis(started),
                detail: describe(&e),
            });
        }
    }
    report(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payloads_shape_tells_a_probe_from_a_batch() {
        assert!(matches!(
            Request::parse(json!({"probe": "endpoint"})),
            Ok(Request::Probe)
        ));
        let batch = json!({"Records": [{"messageId": "m1", "body": "{}"}]});
        match Request::parse(batch) {
            Ok(Request::Batch(event)) => assert_eq!(event.records.len(), 1),
            other => panic!("a batch: {other:?}"),
        }
        let unknown = Request::parse(json!({"probe": "database"})).expect_err("unknown probe");
        assert!(
            unknown.to_string().contains("{\"probe\": \"endpoint\"}"),
            "{unknown}"
        );
        assert!(matches!(
            Request::parse(json!({"hello": 1})),
            Err(RequestError::NotABatch(_))
        ));
    }

    #[test]
    fn the_target_is_the_endpoints_healthcheck_without_userinfo_or_query() {
        let nifi = SinkConfig::Nifi {
            url: "https://nifi.onprem.example.internal:9443/contentListener/?x=1".into(),
        };
        assert_eq!(
            Target::of(&nifi).expect("parses").health.as_str(),
            "https://nifi.onprem.example.internal:9443/contentListener/healthcheck"
        );
        let minio = SinkConfig::Minio {
            endpoint: "https://user:pw@minio.example.internal:9000".into(),
            bucket: "bundles".into(),
        };
        assert_eq!(
            Target::of(&minio).expect("parses").health.as_str(),
            "https://minio.example.internal:9000/minio/health/live"
        );
        assert!(
            Target::of(&SinkConfig::Nifi {
                url: "not a url".into()
            })
            .is_err()
        );
    }
}
