//! Whether the bundles that carried the day's files are in the archive, without reading any: the archive is
//! listed by the hour folders the bundles were written to (`<prefix>/YYYY/MM/DD/HH/<bundle-id>.tar.gz`,
//! app/src/archive.rs). A listing reads no object, so it works the same on objects in Glacier Deep Archive; it
//! needs only s3:ListBucket (a HeadObject would need s3:GetObject, which also reads), and one request covers up
//! to 1,000 bundles of an hour.
//!
//! The hour comes from the bundle id: a UUIDv7 whose timestamp is taken right after the bundle's creation time,
//! which names its folder. The two can straddle an hour only within the same millisecond, so the folder of the
//! hour a second earlier is listed too when it differs.

use std::collections::{BTreeMap, BTreeSet};

use app::archive::archive_key;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::ReportError;

/// What the archive holds of the bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Archived {
    pub bundles: u64,
    pub in_archive: u64,
    /// The missing ones (or ids that are not UUIDv7, whose folder cannot be known), sorted.
    pub missing: Vec<String>,
}

/// When a bundle was made, from its UUIDv7 id.
fn made_at(bundle_id: &str) -> Option<OffsetDateTime> {
    let (secs, nanos) = uuid::Uuid::parse_str(bundle_id)
        .ok()?
        .get_timestamp()?
        .to_unix();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
        .ok()
}

/// Checks every bundle in `bundles` against the archive's listing, `concurrency` hour folders at a time.
pub async fn check(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    bundles: &BTreeSet<String>,
    concurrency: usize,
) -> Result<Archived, ReportError> {
    // Folder → the bundles that may be in it.
    let mut folders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut missing = Vec::new();
    for id in bundles {
        let Some(at) = made_at(id) else {
            missing.push(id.clone());
            continue;
        };
        let mut hours: Vec<String> = [at, at - time::Duration::SECOND]
            .into_iter()
            .map(|t| archive_key(prefix, t, ""))
            .collect();
        hours.dedup();
        for folder in hours {
            folders.entry(folder).or_default().push(id);
        }
    }
    let listed: Vec<(String, BTreeSet<String>)> = futures::stream::iter(folders.keys().cloned())
        .map(|folder| async move {
            let names = list(s3, bucket, &folder).await?;
            Ok::<_, ReportError>((folder, names))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let found: BTreeSet<String> = listed
        .into_iter()
        .flat_map(|(folder, names)| {
            folders[&folder]
                .iter()
                .filter(|id| names.contains(&format!("{id}.tar.gz")))
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    missing.extend(
        bundles
            .iter()
            .filter(|id| made_at(id).is_some() && !found.contains(*id))
            .cloned(),
    );
    missing.sort();
    Ok(Archived {
        bundles: bundles.len() as u64,
        in_archive: found.len() as u64,
        missing,
    })
}

/// The file names in one folder of the archive.
async fn list(s3: &Client, bucket: &str, folder: &str) -> Result<BTreeSet<String>, ReportError> {
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(folder)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| ReportError::Archive {
                bucket: bucket.to_string(),
                prefix: folder.to_string(),
                detail: DisplayErrorContext(e).to_string(),
            })?;
        names.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| k.strip_prefix(folder))
                .map(str::to_string),
        );
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => return Ok(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_id_says_when_the_bundle_was_made() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_795_000_000, 123_000_000);
        let id = uuid::Uuid::new_v7(ts).to_string();
        assert_eq!(
            made_at(&id).map(|t| t.unix_timestamp_nanos() / 1_000_000),
            Some(1_795_000_000_123)
        );
        assert_eq!(made_at("not-a-uuid"), None);
        assert_eq!(made_at(&uuid::Uuid::new_v4().to_string()), None);
    }
}
