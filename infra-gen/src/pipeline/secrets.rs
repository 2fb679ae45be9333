//! The key every store is encrypted with, and the secret that holds the endpoint's credentials.

use crate::config::{Environment, Kind};
use crate::secrets::{Key, Secret};
use crate::tf::Expr;

pub struct Secrets {
    pub key: Key,
    pub credentials: Secret,
}

impl Secrets {
    pub fn new(env: &Environment, account: &Expr) -> Secrets {
        // Production keeps a deleted key and secret recoverable as long as AWS allows (30 days); elsewhere a
        // destroyed environment frees the secret's name at once and the key within the shortest window.
        let production = env.kind == Kind::Production;
        let key = Key {
            name: "key",
            alias: format!("alias/{}", env.name_prefix),
            region: env.region.clone(),
            account_id: account.clone(),
            deletion_window_days: if production { 30 } else { 7 },
            prevent_destroy: env.prevent_destroy,
            budget_alerts: env.budget.is_some(),
        };
        let credentials = Secret {
            name: "credentials",
            secret_name: format!("{}/endpoint-credentials", env.name_prefix),
            key_arn: key.arn(),
            recovery_window_days: if production { 30 } else { 0 },
            prevent_destroy: env.prevent_destroy,
        };
        Secrets { key, credentials }
    }
}
