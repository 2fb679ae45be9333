//! An object version that landed: what the listing (or the inventory) says of it, as the aggregator would name
//! it in an event, so its identity is the one its idempotency record has.

use app::event::ObjectRef;
use time::OffsetDateTime;

/// One landed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// Bucket, key, version id (None in an unversioned bucket), size, ETag; `event_time` is `landed_at`.
    pub object: ObjectRef,
    /// S3's last-modified time of the version (whole seconds in a listing).
    pub landed_at: OffsetDateTime,
}

impl Landed {
    /// A version as S3 lists it: `version_id` "null" is an unversioned bucket's, and the ETag loses its quotes.
    pub fn new(
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        size: u64,
        etag: &str,
        landed_at: OffsetDateTime,
    ) -> Landed {
        Landed {
            object: ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: version_id
                    .filter(|v| !v.is_empty() && *v != "null")
                    .map(str::to_string),
                size,
                etag: etag.trim_matches('"').to_string(),
                event_time: app::rfc3339(landed_at),
            },
            landed_at,
        }
    }

    /// The key of its idempotency record.
    pub fn identity(&self) -> String {
        self.object.identity()
    }

    pub fn landed_ms(&self) -> i64 {
        (self.landed_at.unix_timestamp_nanos() / 1_000_000) as i64
    }
}
