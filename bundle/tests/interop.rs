//! Bundles are several gzip members; the tools that read them downstream must read them whole. GNU tar
//! (what an operator uses) and Python's tarfile (what NiFi's scripted processors and the seeds use) are run
//! for real on a bundle of several members.

use std::process::Command;

use bundle::manifest::FileEntry;
use bundle::{BLOCK_SIZE, BundleWriter, entry_path};
use sha2::{Digest, Sha256};

fn entry(key: &str, data: &[u8]) -> FileEntry {
    FileEntry {
        bucket: "b".into(),
        key: key.into(),
        path: entry_path(key),
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

#[test]
fn gnu_tar_extracts_every_member() {
    let bundle = bundle();
    let out = tempfile::tempdir().expect("temp dir");
    run(
        Command::new("tar")
            .arg("-xzf")
            .arg(bundle.path())
            .arg("-C")
            .arg(out.path()),
        "install GNU tar and gzip (Debian: apt-get install tar gzip)",
    );
    for (key, data) in files() {
        assert_eq!(
            std::fs::read(out.path().join(&key)).expect("extracted"),
            data,
            "{key}"
        );
    }
    let manifest = std::fs::read(out.path().join("MANIFEST.json")).expect("manifest extracted");
    let manifest: bundle::manifest::Manifest = serde_json::from_slice(&manifest).expect("manifest");
    assert_eq!(manifest.files.len(), 3);
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
