//! The aggregator's state: the idempotency table, whose records expire, and the circuit breaker's table.

use super::Context;
use crate::tables::Table;

pub struct StateTables {
    pub idempotency: Table,
    pub breaker: Table,
}

impl StateTables {
    pub fn new(cx: &Context) -> StateTables {
        let [idempotency, breaker] = [("idempotency", Some("expires_at")), ("breaker", None)].map(
            |(name, ttl_attribute)| Table {
                name,
                table_name: cx.named(name),
                ttl_attribute,
                key_arn: cx.key_arn.clone(),
                prevent_destroy: cx.env.prevent_destroy,
            },
        );
        StateTables {
            idempotency,
            breaker,
        }
    }
}
