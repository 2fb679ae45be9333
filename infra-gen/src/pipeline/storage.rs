//! The landing bucket the external party puts files into and the archive of delivered bundles, whose events
//! go to EventBridge (the landing bucket's go to the queue: see `queues.rs`).

use super::Context;
use crate::config::Kind;
use crate::storage::{Bucket, Lifecycle, Notification, Target};

pub struct Storage {
    pub landing: Bucket,
    pub archive: Bucket,
    pub archive_events: Notification,
}

impl Storage {
    pub fn new(cx: &Context) -> Storage {
        let storage = &cx.env.storage;
        let [landing, archive] = [
            (
                "landing",
                Lifecycle::Expire {
                    days: storage.landing_expiry_days,
                    noncurrent_days: storage.landing_noncurrent_expiry_days,
                },
            ),
            (
                "archive",
                Lifecycle::DeepArchive {
                    days: storage.archive_deep_archive_after_days,
                },
            ),
        ]
        .map(|(name, lifecycle)| Bucket {
            name,
            bucket: cx.named(name),
            key_arn: cx.key_arn.clone(),
            lifecycle,
            prevent_destroy: cx.env.prevent_destroy,
            tls_only: cx.env.kind != Kind::Local,
            grants: Vec::new(),
        });
        let archive_events = Notification {
            name: "archive_events",
            bucket: archive.id(),
            target: Target::EventBridge,
        };
        Storage {
            landing,
            archive,
            archive_events,
        }
    }
}
