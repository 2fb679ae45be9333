//! The versions that landed in the landing bucket on a day, by ListObjectVersions: paginated (1,000 versions a
//! page), with bounded concurrency over the bucket's prefixes.
//!
//! S3 lists one prefix in key order, a page at a time, so one listing of the whole bucket is one request after
//! another. To list in parallel, the bucket is first split by its "directories": a listing with the delimiter
//! `/` gives the versions at one level and the prefixes below it; prefixes are split this way, level by level
//! (at most [`MAX_DEPTH`] levels), until there are at least as many as may be listed at once, and then each is
//! listed whole, `concurrency` at a time. Every version is listed exactly once: at the level it lies on, or in the
//! one prefix below the split that holds it. The landing bucket keeps every version for days (its lifecycle),
//! so the listing reads more than the day and keeps the versions whose last-modified time falls in it; the S3
//! Inventory (`inventory`) avoids that at volume.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::day::Day;
use crate::error::ReportError;
use crate::landed::Landed;

/// How many levels of `/` the bucket is split by, at most, before each prefix is listed whole.
pub const MAX_DEPTH: usize = 3;

/// What the listing sends: the day's versions of one page (never empty), or why it stopped.
pub type Page = Result<Vec<Landed>, ReportError>;

/// Lists `bucket`'s versions that landed on `day`, page by page, `concurrency` prefixes at a time, in the
/// background; the stream ends after the last page or the first error.
pub fn landed_on(s3: &Client, bucket: &str, day: Day, concurrency: usize) -> mpsc::Receiver<Page> {
    let (tx, rx) = mpsc::channel(concurrency * 2);
    let lister = Lister {
        s3: s3.clone(),
        bucket: bucket.to_string(),
        day,
    };
    tokio::spawn(async move {
        let mut errors = tx.clone();
        if let Err(e) = lister.run(concurrency.max(1), tx).await {
            let _ = errors.send(Err(e)).await;
        }
    });
    rx
}

struct Lister {
    s3: Client,
    bucket: String,
    day: Day,
}

impl Lister {
    async fn run(&self, concurrency: usize, tx: mpsc::Sender<Page>) -> Result<(), ReportError> {
        let mut frontier = vec![String::new()];
        let mut depth = 0;
        while !frontier.is_empty() && frontier.len() < concurrency && depth < MAX_DEPTH {
            let below: Vec<Vec<String>> = futures::stream::iter(frontier)
                .map(|prefix| {
                    let tx = tx.clone();
                    async move { self.list(&prefix, Some("/"), tx).await }
                })
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
            frontier = below.concat();
            depth += 1;
        }
        futures::stream::iter(frontier)
            .map(|prefix| {
                let tx = tx.clone();
                async move { self.list(&prefix, None, tx).await }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Lists `prefix` (one level of it with a delimiter, all of it without), sending each page's versions of
    /// the day; returns the prefixes one level below.
    async fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        mut tx: mpsc::Sender<Page>,
    ) -> Result<Vec<String>, ReportError> {
        let mut below = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_string))
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| ReportError::Listing {
                    bucket: self.bucket.clone(),
                    prefix: prefix.to_string(),
                    detail: DisplayErrorContext(e).to_string(),
                })?;
            below.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            let landed: Vec<Landed> = page
                .versions()
                .iter()
                .filter_map(|v| {
                    let at = v.last_modified().and_then(|t| {
                        OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos()),
                        )
                        .ok()
                    })?;
                    self.day.contains(at).then(|| {
                        Landed::new(
                            &self.bucket,
                            v.key().unwrap_or_default(),
                            v.version_id(),
                            v.size().unwrap_or(0).max(0) as u64,
                            v.e_tag().unwrap_or_default(),
                            at,
                        )
                    })
                })
                .collect();
            if !landed.is_empty() && tx.send(Ok(landed)).await.is_err() {
                // Nobody reads any more: the report stopped.
                return Ok(below);
            }
            if page.is_truncated() != Some(true) {
                return Ok(below);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }
}
