//! The versions that landed on a day, from the landing bucket's daily S3 Inventory instead of a listing: at 100×
//! the seeds' volume a listing of the bucket's days of versions takes too long, while an inventory is read as a
//! few large files.
//!
//! The inventory is delivered into the reports bucket, under `<destination prefix>/<source bucket>/<config id>/`,
//! as one folder per run named by the time the run started (`YYYY-MM-DDTHH-MMZ/manifest.json`), whose
//! `manifest.json` names the gzipped CSV files and their columns (`fileSchema`); a CSV key is URL-encoded
//! (AWS, "Locating your inventory list" and "Amazon S3 Inventory list"). The first run that started after the
//! day ended lists every version of the day that still exists; an earlier one may miss its last hours. When no
//! such run has been delivered yet, [`find`] says so and the report lists the bucket instead.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

use app::event::decode_key;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use futures::SinkExt;
use futures::channel::mpsc;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::day::Day;
use crate::error::ReportError;
use crate::landed::Landed;
use crate::listing::Page;

/// Versions sent per page.
const PAGE: usize = 1000;
/// The columns the report needs; the inventory must be configured with these optional fields.
const COLUMNS: [&str; 7] = [
    "Bucket",
    "Key",
    "VersionId",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
];

/// An inventory run's manifest, as much of it as the report reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Where it is, in the reports bucket (not in the file).
    #[serde(skip)]
    pub key: String,
    #[serde(rename = "sourceBucket")]
    pub source_bucket: String,
    #[serde(rename = "fileFormat")]
    pub file_format: String,
    #[serde(rename = "fileSchema")]
    pub file_schema: String,
    pub files: Vec<DataFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataFile {
    pub key: String,
}

/// The manifest of the first run under `prefix` that started after `day` ended, if one has been delivered.
pub async fn find(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    day: Day,
) -> Result<Option<Manifest>, ReportError> {
    let failed = |detail: String| ReportError::Inventory {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        detail,
    };
    let mut runs: Vec<(OffsetDateTime, String)> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}/"))
            .delimiter("/")
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| failed(DisplayErrorContext(e).to_string()))?;
        for folder in page.common_prefixes().iter().filter_map(|p| p.prefix()) {
            let name = folder
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            if let Some(started) = run_time(name) {
                runs.push((started, folder.to_string()));
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    let Some((_, folder)) = runs
        .into_iter()
        .filter(|(started, _)| *started >= day.end())
        .min()
    else {
        return Ok(None);
    };
    let key = format!("{folder}manifest.json");
    let bytes = get(s3, bucket, &key).await.map_err(failed)?;
    let mut manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| failed(format!("{key} is not an inventory manifest: {e}")))?;
    manifest.key = key;
    if manifest.file_format != "CSV" {
        return Err(failed(format!(
            "{} is in {} format; the report reads CSV: set the inventory's format to CSV",
            manifest.key, manifest.file_format
        )));
    }
    columns(&manifest.file_schema).map_err(failed)?;
    Ok(Some(manifest))
}

/// The start of an inventory run from its folder's name (`2026-11-23T01-00Z`).
fn run_time(name: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]Z");
    time::PrimitiveDateTime::parse(name, &format)
        .ok()
        .map(|t| t.assume_utc())
}

/// The position of each needed column in the schema, or which are missing.
fn columns(schema: &str) -> Result<HashMap<&'static str, usize>, String> {
    let names: Vec<&str> = schema.split(',').map(str::trim).collect();
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for column in COLUMNS {
        match names.iter().position(|n| *n == column) {
            Some(i) => {
                found.insert(column, i);
            }
            None => missing.push(column),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(format!(
            "the inventory's schema `{schema}` lacks {}: configure the inventory with all object versions and the fields Size, LastModifiedDate and ETag",
            missing.join(", ")
        ))
    }
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("reading {key}: {}", DisplayErrorContext(e)))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading {key}: {e}"))?;
    Ok(bytes.into_bytes().to_vec())
}

/// Reads the manifest's CSV files in the background and sends the versions of `day`, a page at a time.
pub fn landed_on(s3: &Client, bucket: &str, manifest: Manifest, day: Day) -> mpsc::Receiver<Page> {
    let (mut tx, rx) = mpsc::channel(2);
    let (s3, bucket) = (s3.clone(), bucket.to_string());
    tokio::spawn(async move {
        let failed = |detail: String| ReportError::Inventory {
            bucket: bucket.clone(),
            prefix: manifest.key.clone(),
            detail,
        };
        let columns = match columns(&manifest.file_schema) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(failed(e))).await;
                return;
            }
        };
        for file in &manifest.files {
            let pages = match get(&s3, &bucket, &file.key).await {
                Ok(gzipped) => versions(&gzipped, &columns, day)
                    .map_err(|e| failed(format!("{}: {e}", file.key))),
                Err(e) => Err(failed(e)),
            };
            let pages = match pages {
                Ok(pages) => pages,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for page in pages {
                if tx.send(Ok(page)).await.is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The versions of `day` in one gzipped CSV file, in pages.
pub fn versions(
    gzipped: &[u8],
    columns: &HashMap<&'static str, usize>,
    day: Day,
) -> Result<Vec<Vec<Landed>>, String> {
    let reader = BufReader::new(flate2::read::MultiGzDecoder::new(gzipped));
    let mut pages = Vec::new();
    let mut page = Vec::with_capacity(PAGE);
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        if line.is_empty() {
            continue;
        }
        let fields = csv_fields(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let field = |name: &str| {
            columns
                .get(name)
                .and_then(|&i| fields.get(i))
                .map(String::as_str)
                .unwrap_or_default()
        };
        if field("IsDeleteMarker").eq_ignore_ascii_case("true") {
            continue;
        }
        let landed_at = OffsetDateTime::parse(field("LastModifiedDate"), &Rfc3339)
            .map_err(|e| format!("line {}: LastModifiedDate: {e}", n + 1))?;
        if !day.contains(landed_at) {
            continue;
        }
        let key = decode_key(field("Key")).map_err(|e| format!("line {}: {e}", n + 1))?;
        let size = field("Size")
            .parse::<u64>()
            .map_err(|e| format!("line {}: Size: {e}", n + 1))?;
        let version = field("VersionId");
        page.push(Landed::new(
            field("Bucket"),
            &key,
            Some(version),
            size,
            field("ETag"),
            landed_at,
        ));
        if page.len() == PAGE {
            pages.push(std::mem::replace(&mut page, Vec::with_capacity(PAGE)));
        }
    }
    if !page.is_empty() {
        pages.push(page);
    }
    Ok(pages)
}

/// One CSV line's fields: comma-separated, each optionally in double quotes with `""` for a quote inside.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => return Err(format!("`{c}` after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_commas_and_empties() {
        assert_eq!(
            csv_fields(r#""a","b,c","say ""hi""","",plain,"#).expect("parses"),
            ["a", "b,c", "say \"hi\"", "", "plain", ""]
        );
        assert!(csv_fields(r#""open"#).is_err());
    }

    #[test]
    fn run_folders_are_read_by_their_start_time() {
        assert_eq!(
            run_time("2026-11-23T01-05Z"),
            Some(time::macros::datetime!(2026-11-23 01:05 UTC))
        );
        assert_eq!(run_time("hive"), None);
        assert_eq!(run_time("data"), None);
    }

    #[test]
    fn a_schema_without_a_needed_field_says_how_to_configure_the_inventory() {
        let error = columns("Bucket, Key, VersionId, IsLatest, IsDeleteMarker").expect_err("lacks");
        assert!(
            error.contains("lacks Size, LastModifiedDate, ETag"),
            "{error}"
        );
    }
}
