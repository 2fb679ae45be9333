//! `cargo xtask local` and `cargo xtask load`, for real: moto server, `deploy local` into it, the receiver,
//! and the real handler through the local event source mapping, with the deployed batching window.

mod common;

use std::sync::Mutex;

use common::{workspace_root, xtask};

/// Both runs deploy into the same Terraform working directory, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_local_demo_delivers_every_file_intact() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let run = xtask(&["local", "--files", "40"]).run();
    run.assert_ok()
        .assert_contains("files      40 uploaded, 40 delivered (0 missing)")
        .assert_contains("dlq        0 messages")
        .assert_contains("local: every file arrived intact");
    eprintln!("cargo xtask local took {:?}", run.took);
}

#[test]
fn a_load_run_with_the_receiver_failing_for_a_while_loses_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
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
