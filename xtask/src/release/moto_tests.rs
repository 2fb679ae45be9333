//! The release's calls for real, against moto server: a function published in versions with a `live` alias as
//! Terraform creates it, alarms as the pipeline's, and the release moving the alias at once, as a canary that
//! passes, as a canary an alarm rolls back, and not at all when an alarm already fires or cannot be read.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use emulator::Moto;

use super::alias::{Alarms, Live};
use super::decide::{AlarmState, Record, Shift};
use super::{Releaser, release};

const FUNCTION: &str = "release-test-aggregator";
const ERRORS: &str = "release-test-lambda-errors";
const P95: &str = "release-test-latency-p95";
const POLL: Duration = Duration::from_millis(100);

async fn sdk(moto: &Moto) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("eu-west-2"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A function with `versions` published versions and its `live` alias at version 1, as the first apply leaves
/// them, and the two watched alarms, OK.
async fn deployed(moto: &Moto, versions: u32) -> Releaser {
    moto.publish_function(FUNCTION, versions, "live")
        .expect("function");
    let sdk = sdk(moto).await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    for (name, metric) in [(ERRORS, "Errors"), (P95, "EndToEndLatency")] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("FileAggregator")
            .metric_name(metric)
            .statistic(Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(0.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .expect("alarm");
        set_alarm(&cloudwatch, name, StateValue::Ok).await;
    }
    Releaser {
        env: "test".into(),
        live: Live {
            lambda,
            function: FUNCTION.into(),
            alias: "live".into(),
        },
        alarms: Alarms {
            cloudwatch,
            names: vec![ERRORS.into(), P95.into()],
        },
    }
}

async fn set_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("alarm state");
}

#[tokio::test]
async fn all_at_once_moves_the_alias_and_records_it() {
    let moto = Moto::start().expect("moto");
    let r = deployed(&moto, 2).await;
    let alias = r.live.read().await.expect("alias");
    assert_eq!(
        (alias.version, alias.canary, &alias.record),
        (1, None, &Record::default())
    );
    release(&r, &alias, Shift::AllAtOnce { from: 1, to: 2 }, POLL)
        .await
        .expect("released");
    let after = r.live.read().await.expect("alias");
    assert_eq!(after.version, 2);
    assert_eq!(after.canary, None);
    assert_eq!(after.record.served, [2, 1]);
    assert_eq!(r.live.published().await.expect("versions"), [1, 2]);
}

#[tokio::test]
async fn a_clean_canary_routes_its_weight_then_promotes() {
    let moto = Moto::start().expect("moto");
    let r = deployed(&moto, 2).await;
    let alias = r.live.read().await.expect("alias");
    let shift = Shift::Canary {
        from: 1,
        to: 2,
        weight_percent: 10,
        bake: Duration::from_secs(2),
    };
    let (done, during) = tokio::join!(release(&r, &alias, shift, POLL), async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        r.live.read().await.expect("alias during the canary")
    });
    done.expect("the canary passes");
    assert_eq!(during.version, 1, "the old version keeps the rest");
    let canary = during.canary.expect("a weighted route during the bake");
    assert_eq!((canary.version, canary.weight), (2, 0.1));
    let after = r.live.read().await.expect("alias");
    assert_eq!((after.version, after.canary), (2, None));
    assert_eq!(after.record.served, [2, 1]);
}

#[tokio::test]
async fn an_alarm_during_the_canary_rolls_it_back_and_a_deploy_does_not_retry_it() {
    let moto = Moto::start().expect("moto");
    let r = deployed(&moto, 3).await;
    release(
        &r,
        &r.live.read().await.expect("alias"),
        Shift::AllAtOnce { from: 1, to: 2 },
        POLL,
    )
    .await
    .expect("version 2 live");
    let alias = r.live.read().await.expect("alias");
    let shift = Shift::Canary {
        from: 2,
        to: 3,
        weight_percent: 20,
        bake: Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    let (done, ()) = tokio::join!(release(&r, &alias, shift, POLL), async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        set_alarm(&r.alarms.cloudwatch, P95, StateValue::Alarm).await;
    });
    let error = format!("{:#}", done.expect_err("the canary fails"));
    assert!(
        error.contains("the canary of version 3 was rolled back")
            && error.contains(&format!("{P95} is in ALARM")),
        "{error}"
    );
    // It acted on the alarm, not at the end of the bake.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let after = r.live.read().await.expect("alias");
    assert_eq!((after.version, after.canary), (2, None));
    assert_eq!(after.record.served, [2, 1]);
    assert_eq!(after.record.rolled_back, [3]);
    // The next deploy of the same code holds it back.
    assert_eq!(
        super::decide::shift(&after, 3, infra_gen::config::Release::AllAtOnce),
        Shift::HeldBack {
            version: 3,
            live: 2
        }
    );
}

#[tokio::test]
async fn a_canary_does_not_start_under_a_firing_or_missing_alarm() {
    let moto = Moto::start().expect("moto");
    let mut r = deployed(&moto, 2).await;
    set_alarm(&r.alarms.cloudwatch, ERRORS, StateValue::Alarm).await;
    let shift = Shift::Canary {
        from: 1,
        to: 2,
        weight_percent: 10,
        bake: Duration::from_secs(30),
    };
    let alias = r.live.read().await.expect("alias");
    let error = format!(
        "{:#}",
        release(&r, &alias, shift.clone(), POLL)
            .await
            .expect_err("refused")
    );
    assert!(
        error.contains("not starting the canary of version 2")
            && error.contains(&format!("{ERRORS} is in ALARM")),
        "{error}"
    );
    let after = r.live.read().await.expect("alias");
    assert_eq!((after.version, after.canary), (1, None));

    // An alarm that does not exist (a name the model and the account disagree on) is no evidence of health.
    set_alarm(&r.alarms.cloudwatch, ERRORS, StateValue::Ok).await;
    r.alarms.names.push("release-test-no-such-alarm".into());
    assert_eq!(
        r.alarms.states().await.last(),
        Some(&(
            "release-test-no-such-alarm".to_string(),
            AlarmState::Unreadable("no such alarm".into())
        ))
    );
    let error = format!(
        "{:#}",
        release(&r, &alias, shift, POLL).await.expect_err("refused")
    );
    assert!(
        error.contains("could not be read (no such alarm)"),
        "{error}"
    );
}
