//! `cargo xtask bundle DIR OUT`: bundles a directory's files with exactly the aggregator's writer — same tar
//! layout, manifest, gzip members and SHA-256 — and prints the bundle's SHA-256 (hex) on the last line.
//!
//! It is what `cargo xtask bench` times, and lets an operator make a bundle by hand (to test a NiFi flow, or
//! to re-send files that never went through S3). Each file is held the way the handler holds a download: in
//! memory up to the handler's default spool limit, hashed as it is read, streamed from disk above it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use app::bundle::BundleWriter;
use app::manifest::FileEntry;
use sha2::{Digest, Sha256};

/// Files up to this size are read into memory once; larger ones are read twice (hash, then bundle).
const MEMORY_LIMIT: u64 = 1 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// The directory whose files (recursively, in path order) go into the bundle, each with its path
    /// relative to DIR as its key, as the aggregator bundles an object (at `files/<index>/<escaped key>`).
    dir: PathBuf,
    /// Where to write the .tar.gz (replaced if it exists).
    out: PathBuf,
    /// Gzip level, 0–9 (the aggregator's default unless given).
    #[arg(long, default_value_t = app::bundle::DEFAULT_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    level: u32,
}

pub fn run(args: Args) -> Result<()> {
    let out_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let bundle = bundle_dir(&args.dir, &out_dir, args.level)?;
    let sha256 = bundle.sha256_hex();
    eprintln!(
        "{} files, {} bytes in, {} bytes out (ratio {:.2}) → {}",
        bundle.manifest.files.len(),
        bundle.bytes_in,
        bundle.size,
        bundle.bytes_in as f64 / bundle.size.max(1) as f64,
        args.out.display()
    );
    bundle
        .file
        .persist(&args.out)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    println!("{sha256}");
    Ok(())
}

/// Bundles the files under `dir` as the aggregator would, spooling in `out_dir`.
pub fn bundle_dir(dir: &Path, out_dir: &Path, level: u32) -> Result<app::bundle::Bundle> {
    let files = list_files(dir)?;
    if files.is_empty() {
        bail!(
            "there are no files under {}: nothing to bundle",
            dir.display()
        );
    }
    let mut writer = BundleWriter::new_in(
        out_dir,
        uuid::Uuid::now_v7().to_string(),
        app::now_rfc3339(),
        level,
    )?;
    let mut buffer = Vec::new();
    for (path, key) in &files {
        append(&mut writer, path, key, &mut buffer)
            .with_context(|| format!("could not bundle {}", path.display()))?;
    }
    Ok(writer.finish()?)
}

/// Every regular file under `dir` with its key (the relative path, `/`-separated), sorted by key.
fn list_files(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory: give the directory whose files to bundle",
            dir.display()
        );
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("could not list {}", current.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("could not list {}", current.display()))?
                .path();
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let key = key_of(dir, &path)?;
                files.push((path, key));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

fn key_of(dir: &Path, path: &Path) -> Result<String> {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let parts = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>();
    match parts {
        Some(parts) => Ok(parts.join("/")),
        None => bail!(
            "{} is not UTF-8: S3 keys are, so rename it before bundling",
            path.display()
        ),
    }
}

fn append(writer: &mut BundleWriter, path: &Path, key: &str, buffer: &mut Vec<u8>) -> Result<()> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut entry = FileEntry {
        bucket: "local".into(),
        key: key.into(),
        path: String::new(),
        version_id: None,
        size: meta.len(),
        etag: String::new(),
        event_time: meta
            .modified()
            .map(|t| app::rfc3339(t.into()))
            .unwrap_or_else(|_| app::now_rfc3339()),
        sha256: String::new(),
    };
    if meta.len() <= MEMORY_LIMIT {
        buffer.clear();
        file.read_to_end(buffer)?;
        entry.size = buffer.len() as u64;
        entry.sha256 = hex::encode(Sha256::digest(&buffer[..]));
        writer.append(entry, buffer.as_slice())?;
    } else {
        entry.sha256 = sha256_file(path)?;
        writer.append(entry, BufReader::new(File::open(path)?).take(meta.len()))?;
    }
    Ok(())
}

/// The hex SHA-256 of a file's bytes, read as a stream.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut BufReader::new(file), &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}
