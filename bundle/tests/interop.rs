//! Bundles are several gzip members; the tools that read them downstream must read them whole. GNU tar
//! (what an operator uses) and Python's tarfile (what NiFi's scripted processors and the seeds use) are run
//! for real on a bundle of several members, and on one whose keys are as hostile as S3 allows.

use std::process::Command;

use std::collections::HashSet;
use std::path::Path;

use bundle::manifest::{FileEntry, Manifest};
use bundle::{BLOCK_SIZE, BundleWriter};
use sha2::{Digest, Sha256};

fn entry(key: &str, data: &[u8]) -> FileEntry {
    FileEntry {
        bucket: "b".into(),
        key: key.into(),
        path: String::new(),
        version_id: None,
        size: data.len() as u64,
        etag: "e".into(),
        event_time: "2026-11-22T01:02:03Z".into(),
        sha256: hex::encode(Sha256::digest(data)),
    }
}

/// Three files of incompressible-ish bytes, so the bundle spans several 1 MiB members.
fn files() -> Vec<(String, Vec<u8>)> {
    (0..3)
        .map(|i| {
            let mut state = 0x2545_F491_4F6C_DD1D_u64 + i;
            let data = (0..BLOCK_SIZE + 4321)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 64) as u8 + b' '
                })
                .collect();
            (format!("dir/file-{i}.txt"), data)
        })
        .collect()
}

fn bundle() -> bundle::Bundle {
    let mut writer =
        BundleWriter::new("id".into(), "2026-11-22T01:02:04Z".into(), 5).expect("writer");
    for (key, data) in files() {
        writer
            .append(entry(&key, &data), data.as_slice())
            .expect("append");
    }
    let bundle = writer.finish().expect("finish");
    assert!(
        bundle.size > 2 * BLOCK_SIZE as u64 / 4,
        "expected several members, got {} bytes",
        bundle.size
    );
    bundle
}

fn run(command: &mut Command, install: &str) {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {shown} ({e}): {install}"));
    assert!(
        output.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Unpacks `bundle` with GNU tar (`tar -xzf`) into a new directory.
fn gnu_untar(bundle: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temp dir");
    run(
        Command::new("tar")
            .arg("-xzf")
            .arg(bundle)
            .arg("-C")
            .arg(out.path()),
        "install GNU tar and gzip (Debian: apt-get install tar gzip)",
    );
    out
}

/// Every regular file under `dir`, as paths relative to it.
fn regular_files(dir: &Path) -> HashSet<String> {
    let mut found = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("list") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                stack.push(path);
            } else {
                assert!(meta.is_file(), "{} is not a regular file", path.display());
                let relative = path.strip_prefix(dir).expect("under dir");
                found.insert(relative.to_str().expect("UTF-8").to_string());
            }
        }
    }
    found
}

#[test]
fn gnu_tar_extracts_every_member() {
    let bundle = bundle();
    let out = gnu_untar(bundle.path());
    let manifest = std::fs::read(out.path().join("MANIFEST.json")).expect("manifest extracted");
    let manifest: Manifest = serde_json::from_slice(&manifest).expect("manifest");
    assert_eq!(manifest.files.len(), 3);
    for ((key, data), file) in files().into_iter().zip(&manifest.files) {
        assert_eq!(file.key, key);
        assert_eq!(
            std::fs::read(out.path().join(&file.path)).expect("extracted"),
            data,
            "{key}"
        );
    }
}

/// Keys that collided, escaped the bundle or could not be extracted with the layout of format 1, including
/// those moto refuses (a newline) and so app/tests/integration/aggregator.rs cannot send through the handler: each
/// unpacks with GNU tar to its own regular file under `files/`, with its bytes, and the manifest — the last
/// entry, at the top level — names them all.
#[test]
fn hostile_keys_unpack_with_gnu_tar_to_distinct_files() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile-keys.json");
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the key list")).expect("JSON");
    let keys: Vec<String> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"].as_str().expect("a key").to_string())
        .collect();
    assert!(
        keys.iter().any(|k| k.contains('\n')),
        "the list has a newline key"
    );
    let mut writer =
        BundleWriter::new("hostile".into(), "2026-11-22T01:02:04Z".into(), 5).expect("writer");
    let contents: Vec<Vec<u8>> = (0..keys.len())
        .map(|i| format!("file {i}, key {:?}", keys[i]).into_bytes())
        .collect();
    for (key, data) in keys.iter().zip(&contents) {
        writer
            .append(entry(key, data), data.as_slice())
            .expect("append");
    }
    let bundle = writer.finish().expect("finish");

    let out = gnu_untar(bundle.path());
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(out.path().join("MANIFEST.json")).expect("the manifest at the top level"),
    )
    .expect("manifest");
    assert_eq!(manifest, bundle.manifest);
    assert_eq!(manifest.files.len(), keys.len());
    let mut expected: HashSet<String> = HashSet::from(["MANIFEST.json".to_string()]);
    for ((file, key), data) in manifest.files.iter().zip(&keys).zip(&contents) {
        assert_eq!(&file.key, key);
        assert!(file.path.starts_with("files/"), "{}", file.path);
        assert!(
            expected.insert(file.path.clone()),
            "two files at {}",
            file.path
        );
        assert_eq!(
            &std::fs::read(out.path().join(&file.path))
                .unwrap_or_else(|e| panic!("{key:?} at {:?}: {e}", file.path)),
            data,
            "{key:?}"
        );
        assert_eq!(file.sha256, hex::encode(Sha256::digest(data)));
    }
    assert_eq!(
        regular_files(out.path()),
        expected,
        "exactly the manifest and one file per key"
    );
}

#[test]
fn python_tarfile_reads_every_member() {
    let bundle = bundle();
    let script = r#"
import hashlib, json, sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as tar:
    manifest = json.load(tar.extractfile("MANIFEST.json"))
    for f in manifest["files"]:
        data = tar.extractfile(f["path"]).read()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["key"]
    print(len(manifest["files"]))
"#;
    run(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(bundle.path()),
        "install Python 3 (Debian: apt-get install python3)",
    );
}
