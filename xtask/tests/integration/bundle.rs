//! `cargo xtask bundle DIR OUT` as an operator (and `cargo xtask bench`) runs it: the real binary on a real
//! directory; the result is read back with GNU tar and checked against the files and the printed hash.

use std::process::Command;

use crate::common::xtask;
use sha2::{Digest, Sha256};

#[test]
fn bundles_a_directory_as_the_aggregator_does_and_prints_the_hash_last() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = [
        ("a.jsonl", b"{\"a\":1}\n".repeat(300_000)),
        ("nested/deeper/b.jsonl", b"{\"b\":2}\n".to_vec()),
        ("c with space+plus.txt", Vec::new()),
    ];
    for (key, data) in &files {
        let path = dir.path().join("in").join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, data).expect("write");
    }
    let out = dir.path().join("out/bundle.tar.gz");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
    let run = xtask(&[
        "bundle",
        &dir.path().join("in").display().to_string(),
        &out.display().to_string(),
    ])
    .run();
    run.assert_ok();

    let bytes = std::fs::read(&out).expect("bundle written");
    let printed = run.stdout.lines().last().expect("a last line");
    assert_eq!(printed, hex::encode(Sha256::digest(&bytes)));
    assert!(run.stderr.contains("3 files"), "{}", run.stderr);

    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("GNU tar runs (Debian: apt-get install tar gzip)");
    assert!(tar.success());
    let manifest: app::manifest::Manifest =
        serde_json::from_slice(&std::fs::read(unpacked.join("MANIFEST.json")).expect("manifest"))
            .expect("manifest parses");
    let mut keys: Vec<&str> = manifest.files.iter().map(|f| f.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["a.jsonl", "c with space+plus.txt", "nested/deeper/b.jsonl"]
    );
    for (key, data) in &files {
        let entry = manifest
            .files
            .iter()
            .find(|f| f.key == *key)
            .expect("listed");
        assert!(entry.path.starts_with("files/"), "{}", entry.path);
        assert_eq!(
            &std::fs::read(unpacked.join(&entry.path)).expect("unpacked"),
            data,
            "{key}"
        );
        assert_eq!(entry.sha256, hex::encode(Sha256::digest(data)), "{key}");
        assert_eq!(entry.size, data.len() as u64, "{key}");
    }
}

#[test]
fn a_missing_or_empty_directory_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.tar.gz").display().to_string();
    let missing = dir.path().join("nope").display().to_string();
    xtask(&["bundle", &missing, &out])
        .run()
        .assert_code(1)
        .assert_contains("nope is not a directory");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    xtask(&["bundle", &empty.display().to_string(), &out])
        .run()
        .assert_code(1)
        .assert_contains("there are no files under");
    assert!(
        !dir.path().join("out.tar.gz").exists(),
        "nothing half-written"
    );
    xtask(&[
        "bundle",
        &empty.display().to_string(),
        &out,
        "--level",
        "10",
    ])
    .run()
    .assert_code(2)
    .assert_contains("10 is not in 0..=9");
}
