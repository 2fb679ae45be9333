//! What the integration tests of several crates share (the aggregator's, the receiver's, xtask's), so each
//! crate's tests keep only their own helpers: clients of moto server, certificates, a small real bundle, and
//! small HTTP servers an endpoint can turn into.

pub mod loopback;
pub mod moto;
pub mod pki;

use bundle::manifest::FileEntry;
use bundle::{Bundle, BundleWriter};
use sha2::{Digest, Sha256};

/// A small real bundle of two files, written as the handler writes them.
pub fn small_bundle(bundle_id: &str) -> Bundle {
    let mut writer = BundleWriter::new(bundle_id.to_owned(), "2026-03-04T05:06:07Z".to_owned(), 6)
        .expect("bundle writer");
    for (key, data) in [
        ("in/a.csv", &b"id,value\n1,alpha\n"[..]),
        ("in/deep/b.json", &br#"{"b":true}"#[..]),
    ] {
        let entry = FileEntry {
            bucket: "landing".to_owned(),
            key: key.to_owned(),
            path: String::new(),
            version_id: Some("v1".to_owned()),
            size: data.len() as u64,
            etag: "\"etag\"".to_owned(),
            event_time: "2026-03-04T05:06:00Z".to_owned(),
            sha256: hex::encode(Sha256::digest(data)),
        };
        writer.append(entry, data).expect("append");
    }
    writer.finish().expect("finish the bundle")
}
