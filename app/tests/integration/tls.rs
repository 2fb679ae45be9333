//! HTTPS between the aggregator's NiFi sink and the receiver: mutual TLS as NiFi ListenHTTP does it, the refusals
//! (no, or a foreign, client certificate; an untrusted server), Basic auth and faults over TLS.
//! Certificates are made afresh by every test (`test_support::pki`), so nothing secret or expiring lives in the repository.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use app::bundle::Bundle;
use app::delivery::{FailureKind, NifiSink, Parcel};
use emulator::Moto;
use endpoint_credentials::SecretCache;
use receiver::{BasicCredentials, Fault, ReceiverConfig, RunningReceiver, TlsConfig};
use sha2::{Digest, Sha256};
use test_support::pki::{Pem, Pki, pki};
use test_support::small_bundle;

const USERNAME: &str = "nifi";
const PASSWORD: &str = "tls-horse-battery";

/// The receiver's TLS, requiring client certificates from the first CA.
fn mutual(pki: &Pki) -> TlsConfig {
    TlsConfig::new(&pki.server.cert, &pki.server.key).with_client_ca(&pki.ca)
}

async fn start_receiver(store: &Path, tls: TlsConfig) -> RunningReceiver {
    receiver::spawn(
        ReceiverConfig::new(store)
            .with_credentials(BasicCredentials::new(USERNAME, PASSWORD))
            .with_tls(tls),
    )
    .await
    .expect("receiver starts with TLS")
}

/// moto with a Secrets Manager client pointed at it, as the aggregator tests configure the SDK.
async fn secrets_manager() -> (Moto, aws_sdk_secretsmanager::Client) {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let sdk = test_support::moto::sdk_config(moto.endpoint()).await;
    (moto, aws_sdk_secretsmanager::Client::new(&sdk))
}

/// The endpoint secret, with only the fields given, as `cargo xtask secret` would put it.
async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    password: &str,
    identity: Option<&Pem>,
    ca: Option<&str>,
) -> Arc<SecretCache> {
    let mut value = serde_json::json!({ "username": USERNAME, "password": password });
    if let Some(identity) = identity {
        value["client_cert_pem"] = identity.cert.clone().into();
        value["client_key_pem"] = identity.key.clone().into();
    }
    if let Some(ca) = ca {
        value["ca_cert_pem"] = ca.into();
    }
    client
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create the secret in moto");
    Arc::new(SecretCache::new(
        client.clone(),
        name.to_owned(),
        Duration::from_secs(300),
    ))
}

fn sink(url: String, secrets: Arc<SecretCache>, timeout: Duration) -> NifiSink {
    NifiSink::new(url, secrets, Duration::from_secs(5), timeout)
}

fn assert_stored(rx: &RunningReceiver, bundle: &Bundle) {
    let stored = rx.stored_bundles().expect("read the store");
    let record = stored
        .iter()
        .find(|r| r.bundle_id == bundle.manifest.bundle_id)
        .unwrap_or_else(|| panic!("{} not stored: {stored:?}", bundle.manifest.bundle_id));
    assert_eq!(record.sha256, bundle.sha256_hex());
    assert_eq!(record.size, bundle.size);
    let bytes = std::fs::read(rx.bundle_path(&record.bundle_id)).expect("stored tar.gz");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), bundle.sha256_hex());
}

/// Waits until the receiver has counted `at_least` failed handshakes: the client can see its failure before the
/// server's task has run, so reading the counter at once would race.
async fn handshake_failures_reach(rx: &RunningReceiver, at_least: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rx.stats().tls_handshake_failures < at_least {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn the_sink_delivers_over_mutual_tls_and_faults_still_work() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start_receiver(dir.path(), mutual(&pki)).await;
    assert!(rx.url().starts_with("https://127.0.0.1:"), "{}", rx.url());
    assert!(rx.base_url().starts_with("https://"), "{}", rx.base_url());
    let (_moto, client) = secrets_manager().await;
    let secrets = put_secret(
        &client,
        "nifi-mtls",
        PASSWORD,
        Some(&pki.client),
        Some(&pki.ca),
    )
    .await;
    let nifi = sink(rx.url(), secrets, Duration::from_secs(2));

    let first = small_bundle("tls-bundle-1");
    nifi.deliver(&Parcel::of(
        &first,
        "bundles/2026/03/04/tls-bundle-1.tar.gz",
    ))
    .await
    .expect("delivered over mutual TLS");
    assert_stored(&rx, &first);

    // The faults act after the handshake, so over TLS they must look to the sink exactly as over plain HTTP.
    let second = small_bundle("tls-bundle-2");
    let parcel = Parcel::of(&second, "bundles/2026/03/04/tls-bundle-2.tar.gz");
    for (fault, expected) in [
        (Fault::Unavailable, FailureKind::Backpressure),
        (Fault::Drop, FailureKind::Connect),
        (
            Fault::Timeout {
                delay: Duration::from_secs(10),
            },
            FailureKind::Timeout,
        ),
    ] {
        rx.set_fault(fault);
        let error = nifi
            .deliver(&parcel)
            .await
            .expect_err("a faulted delivery fails");
        assert_eq!(error.kind, expected, "{fault:?}: {error}");
    }
    rx.set_fault(Fault::None);
    nifi.deliver(&parcel)
        .await
        .expect("delivered once the fault is cleared");
    assert_stored(&rx, &second);

    let stats = rx.stats();
    assert_eq!(stats.stored, 2);
    assert_eq!(stats.faulted, 3);
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    rx.shutdown().await;
}

#[tokio::test]
async fn a_receiver_requiring_client_certificates_refuses_none_and_foreign_ones() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start_receiver(dir.path(), mutual(&pki)).await;
    let (_moto, client) = secrets_manager().await;

    let without = put_secret(&client, "nifi-no-cert", PASSWORD, None, Some(&pki.ca)).await;
    let foreign = put_secret(
        &client,
        "nifi-foreign-cert",
        PASSWORD,
        Some(&pki.other_client),
        Some(&pki.ca),
    )
    .await;
    let refused = small_bundle("refused-bundle");
    let parcel = Parcel::of(&refused, "bundles/refused-bundle.tar.gz");
    for (case, secrets) in [("no client certificate", without), ("foreign CA", foreign)] {
        let before = rx.stats().tls_handshake_failures;
        let error = sink(rx.url(), secrets, Duration::from_secs(5))
            .deliver(&parcel)
            .await
            .expect_err(case);
        assert_eq!(error.kind, FailureKind::Connect, "{case}: {error}");
        assert!(
            handshake_failures_reach(&rx, before + 1).await,
            "{case}: the receiver did not count the failed handshake: {:?}",
            rx.stats()
        );
    }
    let stats = rx.stats();
    assert_eq!(stats.stored, 0, "{stats:?}");
    assert_eq!(
        stats.requests, 0,
        "no request may get past the handshake: {stats:?}"
    );
    assert!(rx.stored_bundles().expect("store").is_empty());

    // The same receiver accepts the right certificate, so the refusals above were about the certificates.
    let good = put_secret(
        &client,
        "nifi-good-cert",
        PASSWORD,
        Some(&pki.client),
        Some(&pki.ca),
    )
    .await;
    sink(rx.url(), good, Duration::from_secs(5))
        .deliver(&parcel)
        .await
        .expect("the trusted client certificate is accepted");
    assert_stored(&rx, &refused);
    rx.shutdown().await;
}

#[tokio::test]
async fn the_sink_refuses_a_server_certificate_from_a_ca_it_does_not_trust() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    // Server authentication only, so that the one thing wrong is the sink not trusting the server.
    let rx = start_receiver(
        dir.path(),
        TlsConfig::new(&pki.server.cert, &pki.server.key),
    )
    .await;
    let (_moto, client) = secrets_manager().await;
    let parcel_bundle = small_bundle("untrusted-server");
    let parcel = Parcel::of(&parcel_bundle, "bundles/untrusted-server.tar.gz");

    for (name, case, ca) in [
        ("nifi-no-ca", "no ca_cert_pem", None),
        (
            "nifi-other-ca",
            "an unrelated ca_cert_pem",
            Some(pki.other_ca.as_str()),
        ),
    ] {
        let secrets = put_secret(&client, name, PASSWORD, None, ca).await;
        let error = sink(rx.url(), secrets, Duration::from_secs(5))
            .deliver(&parcel)
            .await
            .expect_err(case);
        assert_eq!(error.kind, FailureKind::Connect, "{case}: {error}");
        assert!(
            error.detail.to_lowercase().contains("certificate"),
            "{case}: the cause should name the certificate: {error}"
        );
    }
    assert!(handshake_failures_reach(&rx, 2).await, "{:?}", rx.stats());
    assert_eq!(rx.stats().stored, 0, "{:?}", rx.stats());

    let trusting = put_secret(&client, "nifi-trusting", PASSWORD, None, Some(&pki.ca)).await;
    sink(rx.url(), trusting, Duration::from_secs(5))
        .deliver(&parcel)
        .await
        .expect("server-auth-only TLS works once the CA is trusted");
    assert_stored(&rx, &parcel_bundle);
    rx.shutdown().await;
}

#[tokio::test]
async fn basic_auth_is_still_enforced_over_tls() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = start_receiver(dir.path(), mutual(&pki)).await;
    let (_moto, client) = secrets_manager().await;
    let wrong = put_secret(
        &client,
        "nifi-wrong-password",
        "not-the-password",
        Some(&pki.client),
        Some(&pki.ca),
    )
    .await;
    let refused = small_bundle("wrong-password");
    let error = sink(rx.url(), wrong, Duration::from_secs(5))
        .deliver(&Parcel::of(&refused, "bundles/wrong-password.tar.gz"))
        .await
        .expect_err("a wrong password is refused even with a trusted certificate");
    assert_eq!(error.kind, FailureKind::Unauthorized, "{error}");

    // Without any Authorization header, straight over the mutually authenticated connection.
    let http = reqwest::Client::builder()
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.as_bytes()).expect("CA"))
        .identity(
            reqwest::Identity::from_pem(
                format!("{}\n{}", pki.client.key, pki.client.cert).as_bytes(),
            )
            .expect("identity"),
        )
        .build()
        .expect("client");
    let anonymous = http.head(rx.url()).send().await.expect("HEAD over TLS");
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let control = http
        .get(format!("{}/_control/stats", rx.base_url()))
        .send()
        .await
        .expect("control over TLS");
    assert_eq!(control.status(), reqwest::StatusCode::UNAUTHORIZED);
    let authorised = http
        .head(rx.url())
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .expect("HEAD with credentials");
    assert_eq!(authorised.status(), reqwest::StatusCode::OK);

    let stats = rx.stats();
    // The sink's 401 (read again, the secret holds the same value and no pending one, so nothing is sent
    // again), and the two anonymous requests.
    assert_eq!(stats.unauthorized, 3, "{stats:?}");
    assert_eq!(stats.stored, 0, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    rx.shutdown().await;
}
