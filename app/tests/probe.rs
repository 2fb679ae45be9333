//! The endpoint probe (`cargo xtask doctor <env>`) against the real receiver over plain HTTP and TLS, with the
//! secret in moto: what it answers when the path works, when nothing listens, when the name does not resolve,
//! when the server's certificate is not trusted, and when the secret has no value; never a credential.

mod common;

use app::probe::{self, ProbeReport};
use app::receiver::{self, BasicCredentials, ReceiverConfig, TlsConfig};
use common::{PASSWORD, Stack, USERNAME};

/// The probe with the stack's configuration, `NIFI_URL` (and the secret) as given.
async fn probe_with(stack: &Stack, url: &str, secret_id: Option<&str>) -> ProbeReport {
    let mut raw = stack.raw_config();
    raw.set("NIFI_URL", url);
    raw.set("HTTP_CONNECT_TIMEOUT_MS", "3000");
    if let Some(secret_id) = secret_id {
        raw.set("CREDENTIALS_SECRET_ID", secret_id);
    }
    let config = raw.validate().unwrap_or_else(|e| panic!("{e}"));
    let report = probe::probe(&config, &stack.sdk).await;
    let answer = serde_json::to_string(&report).expect("serialises");
    assert!(
        !answer.contains(PASSWORD),
        "the answer carries no credential: {answer}"
    );
    report
}

fn step<'a>(report: &'a ProbeReport, name: &str) -> &'a probe::Step {
    report
        .steps
        .iter()
        .find(|s| s.name.starts_with(name))
        .unwrap_or_else(|| panic!("no step {name}: {report:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reachable_endpoint_answers_every_step() {
    let stack = Stack::start().await;
    let report = probe_with(&stack, &stack.receiver.url(), None).await;
    assert!(report.reachable, "{report:#?}");
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    let address = stack.receiver.addr();
    assert_eq!(
        names,
        ["secret", "dns", &format!("tcp {address}"), "http"],
        "plain HTTP has no TLS step"
    );
    assert_eq!(
        step(&report, "secret").detail,
        "read; it holds username and password"
    );
    assert_eq!(
        step(&report, "http").detail,
        "GET /contentListener/healthcheck answered 200 OK"
    );
    assert_eq!(report.host, "127.0.0.1");
    assert_eq!(report.port, address.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_and_an_unknown_name_fail_at_their_step() {
    let stack = Stack::start().await;
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let report = probe_with(&stack, &format!("http://{closed}/contentListener"), None).await;
    assert!(!report.reachable);
    let failed = report.first_failure().expect("a failed step");
    assert_eq!(failed.name, format!("tcp {closed}"));
    assert!(failed.detail.contains("refused"), "{failed:?}");
    assert!(
        report.steps.iter().all(|s| s.name != "http"),
        "no request without a connection"
    );

    let report = probe_with(
        &stack,
        "http://nifi.no-such-name.invalid:8443/contentListener",
        None,
    )
    .await;
    let failed = report.first_failure().expect("a failed step");
    assert_eq!(failed.name, "dns", "{report:#?}");
    assert!(
        failed.detail.contains("nifi.no-such-name.invalid"),
        "{failed:?}"
    );
    assert_eq!(report.steps.last().map(|s| s.name.as_str()), Some("dns"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_trusted_with_the_secrets_ca_and_refused_without_it() {
    let stack = Stack::start().await;
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("a certificate");
    let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let store = tempfile::tempdir().expect("tempdir");
    let tls_receiver = receiver::spawn(
        ReceiverConfig::new(store.path())
            .with_credentials(BasicCredentials::new(USERNAME, PASSWORD))
            .with_tls(TlsConfig::new(&cert, &key)),
    )
    .await
    .expect("receiver starts with TLS");
    let url = tls_receiver.url();
    assert!(url.starts_with("https://"), "{url}");

    let with_ca = stack
        .secrets
        .create_secret()
        .name("endpoint-with-ca")
        .secret_string(
            serde_json::json!({"username": USERNAME, "password": PASSWORD, "ca_cert_pem": cert})
                .to_string(),
        )
        .send()
        .await
        .expect("secret")
        .arn
        .unwrap_or_default();
    let report = probe_with(&stack, &url, Some(&with_ca)).await;
    assert!(report.reachable, "{report:#?}");
    assert!(step(&report, "secret").detail.contains("a private CA"));
    assert!(step(&report, "tls").ok);
    assert!(step(&report, "http").detail.ends_with("answered 200 OK"));

    // The stack's secret has no CA: the server's certificate is not trusted, and the step says so.
    let report = probe_with(&stack, &url, None).await;
    let failed = report.first_failure().expect("a failed step");
    assert_eq!(failed.name, "tls", "{report:#?}");
    assert!(
        failed.detail.to_lowercase().contains("certificate"),
        "{failed:?}"
    );
    assert!(step(&report, "tcp").ok, "TCP connected before TLS failed");
    tls_receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_a_value_is_reported_and_the_path_still_probed() {
    let stack = Stack::start().await;
    let empty = stack
        .secrets
        .create_secret()
        .name("endpoint-empty")
        .send()
        .await
        .expect("secret")
        .arn
        .unwrap_or_default();
    let report = probe_with(&stack, &stack.receiver.url(), Some(&empty)).await;
    let secret = step(&report, "secret");
    assert!(!secret.ok);
    assert!(secret.detail.contains("cargo xtask secret"), "{secret:?}");
    assert!(step(&report, "http").ok, "{report:#?}");
    assert!(
        !report.reachable,
        "a delivery would fail without credentials"
    );
}
