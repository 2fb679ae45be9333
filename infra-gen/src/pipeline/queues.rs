//! The source queue, fed by the landing bucket's events, and its dead-letter queue, each with its policy.

use super::Context;
use crate::queue::{BucketEvents, Queue, QueuePolicy};
use crate::storage::{Bucket, Notification, Target};

pub struct Queues {
    pub queue: Queue,
    pub dlq: Queue,
    pub queue_policy: QueuePolicy,
    pub dlq_policy: QueuePolicy,
    pub landing_events: Notification,
}

impl Queues {
    pub fn new(cx: &Context, landing: &Bucket) -> Queues {
        let settings = &cx.env.queue;
        let queue = |name, retention_seconds, redrive| Queue {
            name,
            queue_name: cx.named(name),
            key_arn: cx.key_arn.clone(),
            visibility_timeout_seconds: settings.visibility_timeout_seconds,
            retention_seconds,
            redrive,
            prevent_destroy: cx.env.prevent_destroy,
        };
        let dlq = queue("dlq", settings.dlq_retention_seconds, None);
        let source = queue(
            "queue",
            settings.retention_seconds,
            Some((dlq.r(), settings.max_receive_count)),
        );
        let policy = |name, queue: &Queue, sender| QueuePolicy {
            name,
            queue_url: queue.url(),
            queue_arn: queue.arn(),
            sender,
        };
        let queue_policy = policy(
            "queue_policy",
            &source,
            Some(BucketEvents {
                bucket_arn: landing.arn(),
                account_id: cx.account.clone(),
            }),
        );
        let landing_events = Notification {
            name: "landing_events",
            bucket: landing.id(),
            target: Target::Queue {
                queue_arn: source.arn(),
                after: queue_policy.r(),
            },
        };
        Queues {
            dlq_policy: policy("dlq_policy", &dlq, None),
            queue: source,
            dlq,
            queue_policy,
            landing_events,
        }
    }
}
