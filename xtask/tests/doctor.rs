//! `cargo xtask doctor <env>` for real, as a subprocess against moto's Lambda API: the function it invokes is
//! the environment's aggregator, and the answers it prints are reports the real probe made against the real
//! receiver. moto stores functions but does not run them (there is no Docker here); its Docker-less Lambda
//! answers an invocation with a result queued through its API, or else echoes the payload, which is what an
//! aggregator that predates the probe would not understand either.

mod common;

use std::time::Duration;

use app::config::SinkConfig;
use app::probe::{self, ProbeReport, Target};
use app::receiver::{ReceiverConfig, RunningReceiver};
use common::{Run, xtask};
use emulator::Moto;

const REGION: &str = "eu-west-2";

async fn run(command: common::Xtask) -> Run {
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("xtask ran")
}

/// moto's own API: `path` with a JSON body.
async fn moto_api(moto: &Moto, path: &str, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", moto.endpoint()))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

/// The report the real probe makes of `url`, without a secret.
async fn report_of(url: &str) -> ProbeReport {
    let target = Target::of(&SinkConfig::Nifi { url: url.into() }).expect("a URL");
    probe::run(
        &target,
        None,
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .await
}

async fn receiver() -> (tempfile::TempDir, RunningReceiver) {
    let store = tempfile::tempdir().expect("tempdir");
    let receiver = app::receiver::spawn(ReceiverConfig::new(store.path()))
        .await
        .expect("receiver");
    (store, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_env_invokes_the_aggregator_with_a_probe_and_reports_its_answer() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let doctor = || {
        xtask(&["doctor", "dev"])
            .aws(moto.endpoint())
            .env("AWS_REGION", REGION)
    };

    // Nothing deployed: the error names the function and the deploy.
    let missing = run(doctor()).await;
    missing
        .assert_code(1)
        .assert_contains("could not invoke file-aggregator-dev-aggregator")
        .assert_contains("cargo xtask deploy dev");

    moto_api(
        &moto,
        "/moto-api/config",
        serde_json::json!({"lambda": {"use_docker": false}}),
    )
    .await;
    // An aggregator that does not answer with a report (moto echoes the payload).
    run(doctor())
        .await
        .assert_code(1)
        .assert_contains("{\"probe\":\"endpoint\"}")
        .assert_contains("not a probe report");

    // A reachable endpoint, then one that refuses: the reports the probe made of the real receiver.
    let (_store, receiver) = receiver().await;
    let reachable = report_of(&receiver.url()).await;
    assert!(reachable.reachable, "{reachable:#?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let refused = report_of(&format!("http://{closed}/contentListener")).await;
    moto_api(
        &moto,
        "/moto-api/static/lambda-simple/response",
        serde_json::json!({
            "region": REGION,
            "results": [
                serde_json::to_string(&reachable).expect("json"),
                serde_json::to_string(&refused).expect("json"),
            ],
        }),
    )
    .await;
    let ok = run(doctor()).await;
    ok.assert_ok()
        .assert_contains("invoking file-aggregator-dev-aggregator with {\"probe\":\"endpoint\"}")
        .assert_contains(&format!("tcp {}", receiver.addr()))
        .assert_contains("answered 200 OK")
        .assert_contains("the endpoint is reachable from the function");
    let failed = run(doctor()).await;
    failed
        .assert_code(1)
        .assert_contains(&format!("FAILED tcp {closed}"))
        .assert_contains("dev cannot deliver to")
        .assert_contains("refuses the port");
}

#[test]
fn doctor_local_says_the_emulator_does_not_run_the_function() {
    xtask(&["doctor", "local"])
        .run()
        .assert_code(1)
        .assert_contains("moto, which never runs it")
        .assert_contains("cargo xtask local");
}
