//! How large one object may be and still always fit in a bundle alone: the rule both the aggregator (it refuses
//! to start with an `OBJECT_MAX_BYTES` above it) and the infrastructure model (it never renders one) hold
//! `OBJECT_MAX_BYTES` to, so an object under the limit can always be delivered.

/// What a bundle's tar entry and manifest may add to its one object, at most, beside gzip's framing.
pub const ENTRY_AND_MANIFEST_BYTES: u64 = 64 << 10;

/// The largest object a bundle of `bundle_max_bytes` always holds: its tar entry and manifest
/// ([`ENTRY_AND_MANIFEST_BYTES`]) and gzip's worst expansion, which for incompressible data is about 1/1000 of
/// it ([`crate::MEMBER_OVERHEAD`] per 1 MiB member) and is counted as 1/512.
pub fn largest_object_in(bundle_max_bytes: u64) -> u64 {
    bundle_max_bytes.saturating_sub(ENTRY_AND_MANIFEST_BYTES) / 513 * 512
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::BundleWriter;
    use crate::manifest::FileEntry;

    /// Bytes deflate cannot shrink (xorshift), so gzip's framing is at its worst.
    fn incompressible(len: u64) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[3]
            })
            .collect()
    }

    #[test]
    fn the_largest_object_with_the_longest_key_fits_in_its_bundle() {
        for bundle_max_bytes in [1u64 << 20, 5 << 20] {
            let data = incompressible(largest_object_in(bundle_max_bytes));
            let entry = FileEntry {
                bucket: "b".repeat(63),
                // S3's longest key, so the tar entry needs a long-name record and the manifest is at its largest.
                key: "k".repeat(1024),
                path: String::new(),
                version_id: Some("v".repeat(32)),
                size: data.len() as u64,
                etag: "e".repeat(34),
                event_time: "2026-11-22T01:02:03Z".into(),
                sha256: hex::encode(Sha256::digest(&data)),
            };
            let mut writer = BundleWriter::new("id".into(), "2026-11-22T01:02:03Z".into(), 9)
                .expect("a spool file in the temp dir");
            assert!(
                writer.size_bound_with(&entry) <= bundle_max_bytes,
                "the writer's own bound for {} bytes exceeds {bundle_max_bytes}",
                data.len()
            );
            writer.append(entry, data.as_slice()).expect("appended");
            let bundle = writer.finish().expect("finished");
            assert!(
                bundle.size <= bundle_max_bytes,
                "{} bytes of incompressible data made a bundle of {} bytes, over {bundle_max_bytes}",
                data.len(),
                bundle.size
            );
        }
    }
}
