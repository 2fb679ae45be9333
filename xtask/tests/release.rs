//! `cargo xtask rollback` for real, against moto server: the aggregator of the local environment published in
//! versions with its `live` alias, as Terraform and a few releases leave them; the binary points the alias back,
//! says which version it serves, and refuses what it cannot do with the reason and the next step.

mod common;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use common::{Run, xtask};
use emulator::Moto;

const FUNCTION: &str = "file-aggregator-local-aggregator";

async fn lambda(moto: &Moto) -> aws_sdk_lambda::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("eu-west-2"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_lambda::Client::new(&sdk)
}

async fn run(command: common::Xtask) -> Run {
    tokio::task::spawn_blocking(move || command.run())
        .await
        .expect("xtask ran")
}

/// Where the alias points: its version, its canary weights, its description.
async fn alias(lambda: &aws_sdk_lambda::Client) -> (String, usize, String) {
    let a = lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await
        .expect("alias");
    (
        a.function_version().unwrap_or_default().to_owned(),
        a.routing_config()
            .and_then(|r| r.additional_version_weights())
            .map_or(0, |w| w.len()),
        a.description().unwrap_or_default().to_owned(),
    )
}

async fn point(lambda: &aws_sdk_lambda::Client, version: &str, canary: Option<&str>, record: &str) {
    let mut routing = AliasRoutingConfiguration::builder();
    if let Some(v) = canary {
        routing = routing.additional_version_weights(v, 0.1);
    }
    lambda
        .update_alias()
        .function_name(FUNCTION)
        .name("live")
        .function_version(version)
        .routing_config(routing.build())
        .description(record)
        .send()
        .await
        .expect("alias moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_points_live_back_and_says_which() {
    let moto = Moto::start().expect("moto");
    let endpoint = moto.endpoint().to_string();
    let lambda = lambda(&moto).await;
    // As the applies leave it: three versions published, the alias at version 1, no record.
    moto.publish_function(FUNCTION, 3, "live")
        .expect("function");
    let rollback = |extra: &[&str]| {
        let mut args = vec!["rollback", "local"];
        args.extend_from_slice(extra);
        xtask(&args).aws(&endpoint)
    };

    // Nothing before version 1: it says so and what to do.
    run(rollback(&["--yes"]))
        .await
        .assert_code(1)
        .assert_contains("has served only version 1")
        .assert_contains("--to (published: 1, 2, 3)");

    // No terminal, no --yes: nothing moves.
    point(&lambda, "3", None, "served (newest first): 3 2 1").await;
    run(rollback(&[]))
        .await
        .assert_code(1)
        .assert_contains("pass --yes");
    assert_eq!(alias(&lambda).await.0, "3");

    // Back to the version served before, named with when it was published and its code.
    let back = run(rollback(&["--yes"])).await;
    back.assert_ok()
        .assert_contains("Rolled back local: live serves version 2 (published ")
        .assert_contains("instead of version 3")
        .assert_contains("A deploy will not release version 3 again");
    assert_eq!(
        alias(&lambda).await,
        (
            "2".into(),
            0,
            "served (newest first): 2 1; rolled back: 3".into()
        )
    );

    // During a canary, a rollback ends it: the old version serves alone.
    point(&lambda, "2", Some("3"), "served (newest first): 2 1").await;
    run(rollback(&["--yes"]))
        .await
        .assert_ok()
        .assert_contains("live serves version 2 (published ")
        .assert_contains("instead of version 3");
    assert_eq!(
        alias(&lambda).await,
        (
            "2".into(),
            0,
            "served (newest first): 2 1; rolled back: 3".into()
        )
    );

    // --to a newer version serves it on purpose, and forgets it was rolled back.
    run(rollback(&["--yes", "--to", "3"]))
        .await
        .assert_ok()
        .assert_contains("live serves version 3");
    assert_eq!(
        alias(&lambda).await,
        ("3".into(), 0, "served (newest first): 3 2 1".into())
    );
    run(rollback(&["--yes", "--to", "9"]))
        .await
        .assert_code(1)
        .assert_contains("version 9 is not published: choose one of 1, 2, 3");

    // A description someone wrote by hand is not taken for a record.
    point(&lambda, "3", None, "hotfix by Alice").await;
    run(rollback(&["--yes"]))
        .await
        .assert_code(1)
        .assert_contains("is not a release record written by cargo xtask")
        .assert_contains("--to <version>");
    run(rollback(&["--yes", "--to", "2"]))
        .await
        .assert_ok()
        .assert_contains("live serves version 2");
    assert_eq!(
        alias(&lambda).await,
        (
            "2".into(),
            0,
            "served (newest first): 2; rolled back: 3".into()
        )
    );
}
