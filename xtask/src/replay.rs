//! `cargo xtask replay <env>`: sends archived bundles to the endpoint again, by key (`--bundle`) or by time
//! range (`--from`/`--to`). A range takes only the bundles the aggregator marked delivered (the `delivered-at`
//! tag, set after the endpoint's acknowledgement), unless `--include-attempts`; a named bundle is sent as asked,
//! saying whether it was marked delivered. Each bundle is restored from Glacier Deep Archive when it has moved there (the
//! restore is requested, then waited for with progress and an estimate when `--wait` is given, or the
//! command stops and says when to re-run), downloaded, verified against the SHA-256 the aggregator stored in
//! the object's metadata, and delivered by the aggregator's own code (`app::delivery`) with
//! `X-Replay: true` — same headers, same credentials from the environment's secret, same success rule.
//! A bundle whose bytes do not match its recorded hash is refused, never sent.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use app::archive::{DELIVERED_TAG, SHA256_METADATA};
use app::bundle::layout::{self, Place};
use app::delivery::{MinioSink, NifiSink, Parcel, Sink};
use app::manifest::{MANIFEST_NAME, Manifest};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, StorageClass, Tier};
use endpoint_credentials::SecretCache;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use time::{Duration as TimeDuration, OffsetDateTime, PrimitiveDateTime};
use tokio::io::AsyncWriteExt;

use crate::target::{self, Target};
use crate::terraform::{self, Terraform};
use crate::{aws, ui};

/// Exit code when restores were requested and the bundles are not readable yet (EX_TEMPFAIL).
pub const EXIT_PENDING: u8 = 75;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub env: target::Env,
    /// Archive key of a bundle (bundles/YYYY/MM/DD/HH/<id>.tar.gz); repeat for several.
    #[arg(long, value_name = "KEY", required_unless_present = "from", conflicts_with_all = ["from", "to"])]
    pub bundle: Vec<String>,
    /// Replay the bundles archived from this time on (RFC 3339, or YYYY-MM-DD, or YYYY-MM-DDTHH), UTC.
    #[arg(long, value_name = "TIME", requires = "to")]
    pub from: Option<String>,
    /// ... up to this time (inclusive, to the hour).
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// With --from/--to: also send the archived attempts the endpoint never acknowledged (bundles without the
    /// `delivered-at` tag). By default a range sends only what was delivered, so nothing arrives twice.
    #[arg(long, requires = "from")]
    pub include_attempts: bool,
    /// Deliver here instead of the environment's endpoint (e.g. a receiver on this machine).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// When a bundle must first be restored from Glacier Deep Archive, wait for it (with progress) instead
    /// of requesting the restore and exiting with code 75.
    #[arg(long)]
    pub wait: bool,
    /// Restore tier: standard (within 12 h for Deep Archive) or bulk (within 48 h, cheaper).
    #[arg(long, value_enum, default_value = "standard")]
    pub tier: RestoreTier,
    /// How many days a restored copy stays readable.
    #[arg(long, default_value_t = 7)]
    pub restore_days: i32,
    /// Seconds between checks while waiting for a restore.
    #[arg(long, default_value_t = 60)]
    pub poll_seconds: u64,
    /// First component of archive keys (the aggregator's ARCHIVE_PREFIX).
    #[arg(long, default_value = "bundles")]
    pub prefix: String,
    #[command(flatten)]
    pub terraform: terraform::Options,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum RestoreTier {
    Standard,
    Bulk,
}

impl RestoreTier {
    fn tier(self) -> Tier {
        match self {
            RestoreTier::Standard => Tier::Standard,
            RestoreTier::Bulk => Tier::Bulk,
        }
    }

    /// AWS's stated restore times for Deep Archive (Standard within 12 h, Bulk within 48 h) and for
    /// Glacier Flexible Retrieval (3–5 h, 5–12 h).
    fn estimate(self, class: &StorageClass) -> (&'static str, Duration) {
        let deep = *class == StorageClass::DeepArchive;
        match (self, deep) {
            (RestoreTier::Standard, true) => ("up to 12 hours", Duration::from_secs(12 * 3600)),
            (RestoreTier::Bulk, true) => ("up to 48 hours", Duration::from_secs(48 * 3600)),
            (RestoreTier::Standard, false) => ("3 to 5 hours", Duration::from_secs(5 * 3600)),
            (RestoreTier::Bulk, false) => ("5 to 12 hours", Duration::from_secs(12 * 3600)),
        }
    }
}

/// Returned when restores are under way and the user was told to re-run; `main` maps it to [`EXIT_PENDING`].
#[derive(Debug)]
pub struct Pending;

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "restores from Glacier Deep Archive are under way: re-run this command when they are done (or pass --wait)"
        )
    }
}

impl std::error::Error for Pending {}

pub async fn run(root: &Path, args: Args) -> Result<()> {
    let target = args.env.target()?;
    target.require_reachable()?;
    let sdk = aws::sdk(&target).await;
    let s3 = aws::s3(&sdk);
    let bucket = target.archive_bucket().to_string();
    let keys = if args.bundle.is_empty() {
        let (from, to) = (
            parse_time(args.from.as_deref().unwrap_or_default())?,
            parse_time(args.to.as_deref().unwrap_or_default())?,
        );
        let listed = list_range(&s3, &bucket, &args.prefix, from, to)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        select(&s3, &bucket, listed, args.include_attempts).await?
    } else {
        args.bundle.clone()
    };
    if keys.is_empty() {
        bail!(
            "no bundles to replay in s3://{bucket}/{}/ between {} and {}",
            args.prefix,
            args.from.as_deref().unwrap_or("?"),
            args.to.as_deref().unwrap_or("?")
        );
    }
    let sink = sink(root, &target, &args, &sdk)?;
    let mut pending = Vec::new();
    for key in &keys {
        match ensure_readable(&s3, &bucket, key, &args).await? {
            Readable::Now => {}
            Readable::Later(note) => {
                pending.push((key.clone(), note));
                continue;
            }
        }
        if !args.bundle.is_empty() {
            say_whether_delivered(&s3, &bucket, key).await;
        }
        replay_one(&s3, &bucket, key, &sink.0, &sink.1).await?;
    }
    if !pending.is_empty() {
        for (key, note) in &pending {
            eprintln!("restoring s3://{bucket}/{key}: {note}");
        }
        eprintln!(
            "{} of {} bundles are being restored from the archive tier; re-run this same command when they are readable (or pass --wait).",
            pending.len(),
            keys.len()
        );
        return Err(Pending.into());
    }
    println!("Replayed {} bundles to {}.", keys.len(), sink.1);
    Ok(())
}

/// The bundles of a range to send: those marked delivered, or every one with `include_attempts`; says how
/// many attempts it left out.
async fn select(
    s3: &Client,
    bucket: &str,
    keys: Vec<String>,
    include_attempts: bool,
) -> Result<Vec<String>> {
    let marks: Vec<Option<String>> = futures::stream::iter(&keys)
        .map(|key| delivered_at(s3, bucket, key))
        .buffered(16)
        .try_collect()
        .await?;
    let attempts = marks.iter().filter(|m| m.is_none()).count();
    if include_attempts {
        println!(
            "{} bundles in the range: {} marked delivered, {attempts} attempts the endpoint never acknowledged; --include-attempts sends them all.",
            keys.len(),
            keys.len() - attempts
        );
        return Ok(keys);
    }
    if attempts > 0 {
        println!(
            "Leaving out {attempts} archived attempts the endpoint never acknowledged (no {DELIVERED_TAG} tag): their files went out again in a later bundle. Pass --include-attempts to send them too."
        );
    }
    Ok(keys
        .into_iter()
        .zip(marks)
        .filter_map(|(key, mark)| mark.map(|_| key))
        .collect())
}

/// A named bundle is sent as asked; whether it was delivered is said first, so nobody is surprised.
async fn say_whether_delivered(s3: &Client, bucket: &str, key: &str) {
    match delivered_at(s3, bucket, key).await {
        Ok(Some(at)) => println!("s3://{bucket}/{key} was marked delivered at {at}."),
        Ok(None) => println!(
            "s3://{bucket}/{key} is NOT marked delivered: an attempt the endpoint never acknowledged (or whose {DELIVERED_TAG} tag could not be written); sending it as asked."
        ),
        Err(e) => println!(
            "could not tell whether s3://{bucket}/{key} was marked delivered ({e}); sending it as asked."
        ),
    }
}

/// When the archived bundle was marked delivered, if it was.
async fn delivered_at(s3: &Client, bucket: &str, key: &str) -> Result<Option<String>> {
    Ok(app::archive::delivered_at(s3, bucket, key).await?)
}

/// The aggregator's delivery code for the environment's endpoint, with the environment's credentials.
fn sink(
    root: &Path,
    target: &Target,
    args: &Args,
    sdk: &aws_config::SdkConfig,
) -> Result<(Sink, String)> {
    let url = match (&args.endpoint_url, target.endpoint_url()) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url.to_string(),
        (None, None) => {
            // dev's mock receiver: its function URL is a Terraform output of the deployment.
            let tf = Terraform::new(root, target, &args.terraform)?;
            let outputs = tf.run_output().with_context(|| {
                format!(
                    "reading the receiver's URL from the deployment of {} (deploy it, or pass --endpoint-url)",
                    target.name()
                )
            })?;
            terraform::output_string(&outputs, "receiver_url").ok_or_else(|| {
                anyhow!(
                    "{} has no receiver_url output: deploy it first (`cargo xtask deploy {}`) or pass --endpoint-url",
                    target.name(),
                    target.name()
                )
            })?
        }
    };
    let secrets = Arc::new(SecretCache::new(
        aws::secrets(sdk),
        target.secret_name().to_string(),
        Duration::from_secs(300),
    ));
    let sink = match target.minio_bucket() {
        Some(bucket) => Sink::Minio(Arc::new(MinioSink::new(
            url.clone(),
            bucket.to_string(),
            secrets,
        ))),
        None => Sink::Nifi(Arc::new(NifiSink::new(
            url.clone(),
            secrets,
            Duration::from_secs(10),
            Duration::from_secs(300),
        ))),
    };
    Ok((sink, url))
}

enum Readable {
    Now,
    Later(String),
}

/// Whether the object can be read; requests (and with --wait, waits for) a restore when it cannot.
async fn ensure_readable(s3: &Client, bucket: &str, key: &str, args: &Args) -> Result<Readable> {
    let head = head_object(s3, bucket, key).await?;
    let class = head
        .storage_class()
        .cloned()
        .unwrap_or(StorageClass::Standard);
    if !matches!(class, StorageClass::DeepArchive | StorageClass::Glacier) {
        return Ok(Readable::Now);
    }
    let (estimate, expected) = args.tier.estimate(&class);
    match restore_state(head.restore()) {
        Restore::Done => return Ok(Readable::Now),
        Restore::InProgress => {}
        Restore::None => {
            let request = RestoreRequest::builder()
                .days(args.restore_days)
                .glacier_job_parameters(
                    GlacierJobParameters::builder()
                        .tier(args.tier.tier())
                        .build()?,
                )
                .build();
            match s3
                .restore_object()
                .bucket(bucket)
                .key(key)
                .restore_request(request)
                .send()
                .await
            {
                Ok(_) => eprintln!(
                    "requested a {:?} restore of s3://{bucket}/{key} from {}: AWS states {estimate}",
                    args.tier,
                    class.as_str()
                ),
                Err(e) if e.code() == Some("RestoreAlreadyInProgress") => {}
                Err(e) => bail!(
                    "could not request the restore of s3://{bucket}/{key}: {}",
                    crate::aws::describe(&e)
                ),
            }
        }
    }
    if !args.wait {
        return Ok(Readable::Later(format!(
            "{:?} restore from {} under way ({estimate})",
            args.tier,
            class.as_str()
        )));
    }
    let started = Instant::now();
    let step = ui::Step::start(format!("restore of {key} ({estimate})"));
    loop {
        let head = head_object(s3, bucket, key).await?;
        if let Restore::Done = restore_state(head.restore()) {
            step.done();
            return Ok(Readable::Now);
        }
        let left = expected.saturating_sub(started.elapsed());
        step.line(&format!(
            "waiting: {} so far, at most about {} left (checking every {}s)",
            ui::elapsed(started.elapsed()),
            ui::elapsed(left),
            args.poll_seconds
        ));
        tokio::time::sleep(Duration::from_secs(args.poll_seconds.max(1))).await;
    }
}

async fn head_object(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            let missing = e.raw_response().map(|r| r.status().as_u16()) == Some(404);
            if missing {
                anyhow!("s3://{bucket}/{key} does not exist: list the archive with `aws s3 ls s3://{bucket}/bundles/ --recursive`")
            } else {
                anyhow!(
                    "could not read s3://{bucket}/{key}: {}",
                    crate::aws::describe(&e)
                )
            }
        })
}

enum Restore {
    None,
    InProgress,
    Done,
}

/// The `x-amz-restore` header: absent, `ongoing-request="true"`, or `ongoing-request="false", expiry-date=...`.
fn restore_state(header: Option<&str>) -> Restore {
    match header {
        None => Restore::None,
        Some(h) if h.contains("ongoing-request=\"true\"") => Restore::InProgress,
        Some(_) => Restore::Done,
    }
}

/// Downloads, verifies and delivers one bundle.
async fn replay_one(s3: &Client, bucket: &str, key: &str, sink: &Sink, url: &str) -> Result<()> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "could not download s3://{bucket}/{key}: {}",
                crate::aws::describe(&e)
            )
        })?;
    let recorded = object
        .metadata()
        .and_then(|m| m.get(SHA256_METADATA))
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "s3://{bucket}/{key} has no `{SHA256_METADATA}` metadata, so it cannot be verified: it was not archived by the aggregator; refusing to deliver it"
            )
        })?;
    let total = object.content_length().unwrap_or(0).max(0) as u64;
    let file = tempfile::Builder::new()
        .prefix("replay-")
        .suffix(".tar.gz")
        .tempfile()
        .context("creating a temporary file for the download")?;
    let bar = download_bar(total, key);
    let mut out = tokio::fs::File::create(file.path()).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = object.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .with_context(|| format!("downloading s3://{bucket}/{key}"))?
    {
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
        size += chunk.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(size);
        }
    }
    out.flush().await?;
    drop(out);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(recorded.trim()) {
        bail!(
            "s3://{bucket}/{key} does not match its recorded SHA-256 (metadata {SHA256_METADATA} {recorded}, downloaded bytes {actual}): the archived object was changed or damaged; refusing to deliver it"
        );
    }
    let manifest = read_manifest(file.path())
        .with_context(|| format!("reading {MANIFEST_NAME} of s3://{bucket}/{key}"))?;
    let file_name = key.rsplit('/').next().unwrap_or(key).to_string();
    let parcel = Parcel {
        path: file.path().to_path_buf(),
        size,
        sha256_hex: actual.clone(),
        bundle_id: manifest.bundle_id.clone(),
        file_count: manifest.files.len(),
        file_name,
        key: key.to_string(),
        replay: true,
    };
    let step = ui::Step::start(format!("deliver {} to {url}", manifest.bundle_id));
    match sink.deliver(&parcel).await {
        Ok(()) => step.done(),
        Err(e) => {
            step.fail();
            bail!(
                "{e}; the bundle is intact in the archive: fix the endpoint (or its credentials with `cargo xtask secret`) and re-run"
            );
        }
    }
    println!(
        "replayed {key}: bundle {}, {} files, {size} bytes, sha256 {actual} verified",
        manifest.bundle_id,
        manifest.files.len()
    );
    Ok(())
}

fn download_bar(total: u64, key: &str) -> Option<ProgressBar> {
    if !ui::interactive() {
        eprintln!("==> download {key} ({total} bytes)");
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{elapsed}] {bar:30} {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(format!("download {key}"));
    Some(bar)
}

/// The bundle's `MANIFEST.json`, its last entry: the bundle id and file count the endpoint is told. A
/// format-2 bundle with an entry outside `files/` is refused (docs/bundle-format.md); format 1 (no `format`
/// in the manifest) is the layout written before it, replayed as it is.
fn read_manifest(path: &Path) -> Result<Manifest> {
    let file = std::fs::File::open(path)?;
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(
        std::io::BufReader::new(file),
    ));
    let mut manifest: Option<Manifest> = None;
    let mut first_outside: Option<String> = None;
    for entry in archive.entries()? {
        let entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if manifest.is_some() {
            bail!("{MANIFEST_NAME} is not the last entry of the bundle (`{name}` follows it)");
        }
        match layout::place_of(&entry.path_bytes()) {
            Place::Manifest => {
                manifest =
                    Some(serde_json::from_reader(entry).context("the manifest is not valid JSON")?);
            }
            Place::Outside if first_outside.is_none() => first_outside = Some(name),
            Place::Outside | Place::File => {}
        }
    }
    let Some(manifest) = manifest else {
        bail!("the bundle has no {MANIFEST_NAME}")
    };
    if let Some(name) = first_outside.filter(|_| manifest.format >= layout::FORMAT) {
        return Err(layout::OutsideFiles(name).into());
    }
    Ok(manifest)
}

/// Accepts RFC 3339, `YYYY-MM-DD` and `YYYY-MM-DDTHH`, all UTC.
fn parse_time(text: &str) -> Result<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(t) =
        PrimitiveDateTime::parse(text, format_description!("[year]-[month]-[day]T[hour]"))
    {
        return Ok(t.assume_utc());
    }
    if let Ok(d) = time::Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(d.midnight().assume_utc());
    }
    bail!(
        "{text:?} is not a time: use RFC 3339 (2026-01-02T03:04:05Z), 2026-01-02T03 or 2026-01-02"
    )
}

/// Keys and sizes of the bundles archived in the hours from `from` to `to`, listing one hour prefix at a time
/// (the archive is partitioned `<prefix>/YYYY/MM/DD/HH/`).
pub async fn list_range(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(String, u64)>> {
    if to < from {
        bail!("--to is before --from");
    }
    let hours = (to - from).whole_hours();
    if hours > 24 * 400 {
        bail!("the range is {hours} hours: replay at most about a year at a time");
    }
    let mut hour = from
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))?;
    let mut keys = Vec::new();
    while hour <= to {
        let hour_prefix = app::archive::archive_key(prefix, hour, "");
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&hour_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow!(
                    "listing s3://{bucket}/{hour_prefix}: {}",
                    crate::aws::describe(&e)
                )
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| Some((o.key()?, o.size().unwrap_or(0).max(0) as u64)))
                    .filter(|(k, _)| k.ends_with(".tar.gz"))
                    .map(|(k, size)| (k.to_string(), size)),
            );
        }
        hour += TimeDuration::HOUR;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_time_forms() {
        let t = parse_time("2026-01-02T03:04:05Z").expect("rfc3339");
        assert_eq!(t.hour(), 3);
        assert_eq!(parse_time("2026-01-02T03").expect("hour").hour(), 3);
        assert_eq!(parse_time("2026-01-02").expect("day").hour(), 0);
        assert!(parse_time("yesterday").is_err());
    }

    /// A bundle of `entries` (path, content), in order, written as a file.
    fn bundle_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let gzip = flate2::write::GzEncoder::new(
            file.reopen().expect("reopen"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gzip);
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, path, *data).expect("entry");
        }
        tar.into_inner().expect("tar").finish().expect("gzip");
        file
    }

    #[test]
    fn the_manifest_is_the_last_entry_and_format_2_keeps_every_file_under_files() {
        let v2 = br#"{"format":2,"bundle_id":"b2","created_at":"2026-01-02T03:04:05Z","files":[]}"#;
        let v1 = br#"{"bundle_id":"b1","created_at":"2026-01-02T03:04:05Z","files":[]}"#;
        let read = |entries: &[(&str, &[u8])]| read_manifest(bundle_of(entries).path());

        let manifest = read(&[
            ("files/000000/MANIFEST.json", b"a file"),
            (MANIFEST_NAME, v2),
        ])
        .expect("format 2");
        assert_eq!((manifest.format, manifest.bundle_id.as_str()), (2, "b2"));
        let outside = read(&[("notes.txt", b"x"), (MANIFEST_NAME, v2)]).expect_err("outside");
        assert!(
            outside
                .to_string()
                .contains("`notes.txt` is outside `files/`"),
            "{outside}"
        );
        let not_last = read(&[(MANIFEST_NAME, v2), ("files/000000/a", b"x")]).expect_err("order");
        assert!(
            not_last.to_string().contains("not the last entry"),
            "{not_last}"
        );
        // Archived before format 2: objects under their keys.
        let legacy = read(&[("in/one.txt", b"x"), (MANIFEST_NAME, v1)]).expect("format 1");
        assert_eq!(legacy.format, 1);
    }

    #[test]
    fn reads_restore_states() {
        assert!(matches!(restore_state(None), Restore::None));
        assert!(matches!(
            restore_state(Some("ongoing-request=\"true\"")),
            Restore::InProgress
        ));
        assert!(matches!(
            restore_state(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 23 Dec 2026 00:00:00 GMT\""
            )),
            Restore::Done
        ));
    }
}
