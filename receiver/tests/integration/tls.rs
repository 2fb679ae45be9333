//! The receiver binary over HTTPS: its TLS flags, refused when half given or pointing at the wrong file, and
//! client certificates required with `--client-ca`. Certificates are made afresh by every test
//! (`test_support::pki`), so nothing secret or expiring lives in the repository.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bundle::headers;
use test_support::pki::{Pem, pki};
use test_support::small_bundle;

fn receiver_command(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_receiver"));
    command
        .args(args)
        .env_remove("RECEIVER_PASSWORD")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// Runs the binary expecting it to refuse its arguments; returns its stderr.
fn refused_args(args: &[String]) -> String {
    let output = receiver_command(args)
        .output()
        .expect("run the receiver binary");
    assert!(
        !output.status.success(),
        "{args:?} should be refused, stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_binary_serves_https_with_client_certificates() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path.to_string_lossy().into_owned()
    };
    let cert = write("server.pem", &pki.server.cert);
    let key = write("server.key", &pki.server.key);
    let ca = write("ca.pem", &pki.ca);
    let not_a_key = write("not-a-key.pem", &pki.server.cert);
    let store = dir.path().join("store");
    let store = store.to_string_lossy().into_owned();

    // Half-given flags and bad files fail start-up with the flag named, instead of silently serving plain HTTP.
    let base = ["--listen", "127.0.0.1:0", "--store", store.as_str()];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let stderr = refused_args(&with(&["--tls-cert", &cert]));
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let stderr = refused_args(&with(&["--tls-key", &key]));
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    let stderr = refused_args(&with(&["--client-ca", &ca]));
    assert!(
        stderr.contains("--client-ca") && stderr.contains("--tls-cert"),
        "{stderr}"
    );
    let stderr = refused_args(&with(&["--tls-cert", &cert, "--tls-key", &not_a_key]));
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let missing = dir.path().join("missing.pem");
    let stderr = refused_args(&with(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &missing.to_string_lossy(),
    ]));
    assert!(stderr.contains("--client-ca"), "{stderr}");

    let mut command = tokio::process::Command::from(receiver_command(&with(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &ca,
    ])));
    command.stderr(Stdio::inherit());
    let process = crate::receiver_binary::spawn(command).await;
    let url = process.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(url.ends_with(receiver::DEFAULT_PATH), "{url}");

    let client = |identity: Option<&Pem>| {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.as_bytes()).expect("CA"))
            .timeout(Duration::from_secs(10));
        if let Some(identity) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(
                    format!("{}\n{}", identity.key, identity.cert).as_bytes(),
                )
                .expect("identity"),
            );
        }
        builder.build().expect("client")
    };
    let sent = small_bundle("from-the-binary");
    let body = std::fs::read(sent.path()).expect("bundle bytes");
    let post = |http: reqwest::Client| {
        http.post(&url)
            .header("content-type", headers::BUNDLE_CONTENT_TYPE)
            .header(headers::CONTENT_SHA256, sent.sha256_hex())
            .header(headers::BUNDLE_ID, &sent.manifest.bundle_id)
            .header(headers::FILE_COUNT, sent.manifest.files.len())
            .header(headers::FILENAME, sent.file_name())
            .body(body.clone())
            .send()
    };

    let anonymous = post(client(None)).await;
    assert!(
        anonymous.as_ref().is_err(),
        "a client without a certificate got an answer: {:?}",
        anonymous.map(|r| r.status())
    );
    let accepted = post(client(Some(&pki.client)))
        .await
        .expect("POST with the client certificate");
    assert_eq!(accepted.status(), reqwest::StatusCode::OK);
    let answer: serde_json::Value = accepted.json().await.expect("JSON answer");
    assert_eq!(answer["sha256"], sent.sha256_hex());

    let stored = receiver::read_stored_bundles(Path::new(&store)).expect("read the store");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].bundle_id, "from-the-binary");
    assert_eq!(stored[0].sha256, sent.sha256_hex());
    drop(process);
}
