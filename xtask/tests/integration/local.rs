//! `cargo xtask local` and `cargo xtask load`, for real: moto server, `deploy local` into it, the receiver (or
//! a real sink: s3s-fs as MinIO, a receiver of the test's own as NiFi), and the real handler through the local
//! event source mapping, with the deployed batching window.

use std::io::{BufRead, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use emulator::S3sFs;
use endpoint_credentials::Credentials;
use receiver::{BasicCredentials, ReceiverConfig};

use crate::common::{DEPLOYS, Run, assert_never_shown, workspace_root, xtask};

/// The most lines a successful demo may print: a screenful.
const SCREENFUL: usize = 40;

#[test]
fn the_local_demo_delivers_every_file_intact_and_says_so_in_a_screenful() {
    let _turn = DEPLOYS.blocking_lock();
    let run = xtask(&["local", "--files", "40"]).run();
    run.assert_ok()
        .assert_contains("files      40 uploaded, 40 delivered (0 missing)")
        .assert_contains("dlq        0 messages")
        .assert_contains("local: every file arrived intact")
        // A line per step, with its duration.
        .assert_contains("✓ terraform apply of the saved plan done in ")
        .assert_contains("✓ deliver 40 files done in ")
        .assert_contains("40 / 40 delivered");
    let lines = run.all().lines().count();
    eprintln!(
        "cargo xtask local took {:?} and printed {lines} lines:\n{}",
        run.took,
        run.all()
    );
    assert!(lines <= SCREENFUL, "{lines} lines:\n{}", run.all());
    // The tools' words are in the log, not on the screen, and none of them is a warning.
    let log = workspace_root().join("target/xtask/logs/local.log");
    let logged = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    run.assert_contains(&format!("full log {}", log.display()));
    assert!(
        logged.contains("Apply complete!"),
        "Terraform's apply is in the log"
    );
    for text in [run.all().as_str(), logged.as_str()] {
        assert!(
            !text.contains("Warning"),
            "a warning on a clean run:\n{text}"
        );
    }
    let plot = workspace_root().join("target/local/demo.svg");
    assert!(plot.exists(), "{}", plot.display());
}

const SINK_USER: &str = "local-sink";
const SINK_PASSWORD: &str = "Sink-Secret-Key-4e2b9";

fn sink_credentials() -> String {
    serde_json::json!({"username": SINK_USER, "password": SINK_PASSWORD}).to_string()
}

/// Neither the sink's password nor its credentials' JSON appears in what the run printed or logged.
#[track_caller]
fn assert_secret_kept(run: &Run) {
    assert_never_shown(SINK_PASSWORD, &[run]);
    let log = workspace_root().join("target/xtask/logs/local.log");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !logged.contains(SINK_PASSWORD),
        "the password is in {}",
        log.display()
    );
}

#[test]
fn a_local_run_delivers_to_an_independent_minio_store_and_checks_what_it_holds() {
    let _turn = DEPLOYS.blocking_lock();
    let store = S3sFs::start(SINK_USER, SINK_PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    let credentials = Credentials::parse(&sink_credentials()).expect("credentials");
    let client = app::delivery::store_client(&store.endpoint(), &credentials);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the SDK");
    runtime
        .block_on(client.create_bucket().bucket("local-bundles").send())
        .expect("create the bucket in s3s-fs");
    let run = xtask(&[
        "local",
        "--files",
        "20",
        "--minio-endpoint",
        &store.endpoint(),
        "--minio-bucket",
        "local-bundles",
        "--stdin",
    ])
    .stdin(&sink_credentials())
    .run();
    run.assert_ok()
        .assert_contains("files      20 uploaded, 20 delivered (0 missing)")
        .assert_contains("dlq        0 messages")
        .assert_contains(&format!(
            "in s3://local-bundles at {} done in",
            store.endpoint()
        ))
        .assert_contains("each is there, with the SHA-256 the aggregator archived");
    assert_secret_kept(&run);
    // What the store holds, asked independently: bundles under their archive keys.
    let listed = runtime
        .block_on(client.list_objects_v2().bucket("local-bundles").send())
        .expect("list the store");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(!keys.is_empty(), "the store holds the bundles");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("bundles/") && k.ends_with(".tar.gz")),
        "{keys:?}"
    );
}

#[test]
fn a_local_run_delivers_to_a_nifi_endpoint_elsewhere_and_counts_what_the_pipeline_recorded() {
    let _turn = DEPLOYS.blocking_lock();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the receiver");
    let store = tempfile::tempdir().expect("store");
    // The project's receiver stands in for NiFi: it is not the run's own, and wants these credentials.
    let nifi = runtime
        .block_on(receiver::spawn(
            ReceiverConfig::new(store.path())
                .with_credentials(BasicCredentials::new(SINK_USER, SINK_PASSWORD)),
        ))
        .expect("receiver");
    let run = xtask(&["local", "--files", "20", "--nifi-url", &nifi.url()])
        .stdin(&sink_credentials())
        .run();
    run.assert_ok()
        .assert_contains("files      20 uploaded, 20 delivered (0 missing)")
        .assert_contains("dlq        0 messages");
    assert_secret_kept(&run);
    let stored = nifi.stored_bundles().expect("stored bundles");
    let files: usize = stored.iter().map(|b| b.manifest.files.len()).sum();
    assert_eq!(files, 20, "every file reached the endpoint once");
}

#[test]
fn a_load_run_with_the_receiver_failing_for_a_while_loses_nothing() {
    let _turn = DEPLOYS.blocking_lock();
    let run = xtask(&[
        "load",
        "--rate",
        "10",
        "--duration",
        "12",
        "--min-size",
        "2000",
        "--max-size",
        "20000",
        "--fail",
        "503",
        "--fail-after",
        "2",
        "--fail-for",
        "20",
    ])
    .run();
    run.assert_ok()
        .assert_contains("the receiver fails (503) for 20s")
        .assert_contains("files      120 uploaded, 120 delivered (0 missing)")
        .assert_contains("dlq        0 messages");
    let plot = workspace_root().join("target/local/load-10fps-12s.svg");
    let svg = std::fs::read_to_string(&plot).unwrap_or_else(|e| panic!("{}: {e}", plot.display()));
    assert!(
        svg.contains("<polyline") && svg.contains("SLO 95.0%"),
        "the plot has its curves and objective lines"
    );
    eprintln!("cargo xtask load took {:?}", run.took);
}

/// The next line the child prints that contains `text`, within `deadline`; every line is echoed for the log.
fn wait_for_line(lines: &Receiver<String>, text: &str, deadline: Instant) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                eprintln!("local up | {line}");
                if line.contains(text) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("`{text}` not printed in time"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("local up ended before printing `{text}`")
            }
        }
    }
}

#[test]
fn local_up_serves_uploads_until_interrupted_then_stops_everything() {
    let _turn = DEPLOYS.blocking_lock();
    let mut child = xtask(&["local", "up"]).spawn();
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(900);
    wait_for_line(&lines, "local: the stack is up", deadline);
    let bucket = wait_for_line(&lines, "landing bucket", deadline)
        .split_whitespace()
        .last()
        .expect("a bucket name")
        .to_string();
    // The printed upload command names the emulator's endpoint; an upload with the SDK is what it does.
    let command = wait_for_line(&lines, "upload a file:", deadline);
    let endpoint = command
        .split_whitespace()
        .skip_while(|w| *w != "--endpoint-url")
        .nth(1)
        .expect("the upload command names the endpoint")
        .to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the SDK");
    let sdk = runtime.block_on(test_support::moto::sdk_config(&endpoint));
    let s3 = test_support::moto::s3(&sdk);
    runtime
        .block_on(
            s3.put_object()
                .bucket(&bucket)
                .key("up/one.txt")
                .body(ByteStream::from_static(b"delivered while the stack is up"))
                .send(),
        )
        .expect("an upload into the landing bucket");
    // The status line comes every 10 s without a terminal; the batching window holds the file 60 s.
    wait_for_line(&lines, "files delivered 1 ", deadline);

    // `load --env local` treats the running stack as a deployed environment: it finds the names in the
    // function's configuration and times each file by its idempotency record.
    let load = xtask(&[
        "load",
        "--env",
        "local",
        "--rate",
        "5",
        "--duration",
        "4",
        "--min-size",
        "1000",
        "--max-size",
        "5000",
        "--drain-timeout",
        "300",
    ])
    .aws(&endpoint)
    .run();
    load.assert_ok()
        .assert_contains("files      20 uploaded, 20 delivered (0 missing)")
        .assert_contains("dlq        0 messages")
        .assert_contains("load: report ");
    // The window holds every file at least its 60 s (the first file in a batch waits the longest).
    let p50 = load
        .stdout
        .split_once("latency    p50 ")
        .and_then(|(_, rest)| rest.split_once('s'))
        .and_then(|(seconds, _)| seconds.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("a p50 latency in:\n{}", load.all()));
    assert!((50.0..200.0).contains(&p50), "p50 {p50} s");
    assert!(
        !load.stdout.contains("bundles    0 ") && !load.stdout.contains("compression ratio 0.00"),
        "bundles found in the archive:\n{}",
        load.stdout
    );
    let plot = workspace_root().join("target/load/local/load-5fps-4s.svg");
    assert!(plot.exists(), "{}", plot.display());
    wait_for_line(&lines, "files delivered 21 ", deadline);

    // The daily report of today on the running stack: the deployed reporter's configuration, the reporter's
    // code; every file that landed is delivered, so there is nothing to requeue.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let report = xtask(&[
        "report",
        "local",
        "--date",
        &today,
        "--requeue-unexplained",
        "--yes",
    ])
    .aws(&endpoint)
    .run();
    report
        .assert_ok()
        .assert_contains(&format!("local {today}: "))
        .assert_contains(" 0 dead-lettered, 0 pending, 0 unexplained")
        .assert_contains(&format!(
            "Report: s3://file-aggregator-local-reports/reports/{today}/report.html"
        ))
        .assert_contains("Nothing to requeue");
    let headline = report
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("local {today}: ")))
        .expect("the headline");
    let counts: Vec<u64> = headline
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .skip(3)
        .collect();
    assert_eq!(counts[0], counts[1], "landed = delivered: {headline}");
    assert!(counts[0] >= 1, "{headline}");
    assert!(
        workspace_root()
            .join(format!("target/report/local/{today}/report.html"))
            .exists()
    );

    // SAFETY: kill only sends a signal to the child this test started.
    let pid = i32::try_from(child.id()).expect("a pid");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    wait_for_line(&lines, "local: shutting down", deadline);
    let status = child.wait().expect("local up exits");
    assert!(status.success(), "local up exited with {status}");
    assert!(
        runtime.block_on(s3.list_buckets().send()).is_err(),
        "the emulator is stopped with the stack"
    );
}
