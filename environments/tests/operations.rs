//! What each environment declares for running it: how a release reaches the traffic, and the monthly budget.

use infra_gen::config::Release;

#[test]
fn prod_releases_as_a_canary_that_its_alarms_can_judge_and_the_others_at_once() {
    for env in environments::all() {
        let shortest = infra_gen::watch::shortest_bake(&env);
        match (env.name.as_str(), env.release) {
            (
                "prod",
                Release::Canary {
                    weight_percent,
                    bake,
                },
            ) => {
                assert!((1..=50).contains(&weight_percent), "{weight_percent}");
                assert!(bake >= shortest, "{bake:?} < {shortest:?}");
            }
            ("local" | "dev", Release::AllAtOnce) => {}
            (name, release) => panic!("{name} releases {release:?}"),
        }
    }
}

#[test]
fn every_deployed_environment_has_a_budget_above_the_models_bill() {
    // docs/performance-model.md: the model's bill at the declared traffic is 389 USD a month for prod and 413
    // for dev; a budget below it would alert every month and be ignored.
    for env in environments::all() {
        match (env.name.as_str(), &env.budget) {
            ("local", None) => {}
            ("dev" | "prod", Some(budget)) => {
                assert!(budget.monthly_usd > 413, "{}: {budget:?}", env.name);
                assert!(!budget.alerts.is_empty(), "{}", env.name);
            }
            (name, budget) => panic!("{name}: {budget:?}"),
        }
    }
}
