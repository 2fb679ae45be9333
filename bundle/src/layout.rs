//! Where things are inside a bundle (format 2, docs/bundle-format.md): every object at
//! `files/<index>/<escaped key>`, `MANIFEST.json` last and alone at the top level.
//!
//! The index — the entry's position, zero-padded to six digits — makes the path unique whatever the keys
//! are: two versions of one key, a key named `MANIFEST.json` or one that looks like another key's escaped
//! form all land in different directories, and no object can be at the top level where the manifest is.
//! The escaping only makes each key a path GNU tar extracts as a regular file: no control bytes, no empty,
//! `.` or `..` component, no component longer than a file name may be.

use sha2::{Digest, Sha256};

use crate::manifest::MANIFEST_NAME;

/// The manifest schema version this crate writes: 2 is this layout; a manifest without `format` is 1, the
/// earlier layout (each object under its key, renamed to `unsafe-keys/<sha256>` when unsafe).
pub const FORMAT: u32 = 2;

/// The directory every object is under.
pub const FILES_DIR: &str = "files";

/// The longest file name (one path component) Linux file systems take, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Hex digits of the SHA-256 that stand for the cut-off part of a shortened component.
const SHORTENED_HASH_HEX: usize = 16;

/// The path of the object at position `index` with key `key`: `files/<index, 6 digits>/<escaped key>`.
pub fn entry_path(index: usize, key: &str) -> String {
    let mut path = format!("{FILES_DIR}/{index:06}");
    for component in key.split('/') {
        path.push('/');
        path.push_str(&escape_component(component));
    }
    path
}

/// One `/`-separated component of a key as a plain file name: `%`, C0 control bytes and DEL become `%XX`
/// (upper-case hex); the empty component becomes `%`, `.` becomes `%2E` and `..` becomes `%2E%2E` (a bare
/// `%` and an escaped dot never come out of escaping anything else); then, above 255 bytes, the name is cut
/// on a UTF-8 boundary and ends in `~` and the first 16 hex digits of the SHA-256 of the whole escaped name.
pub fn escape_component(component: &str) -> String {
    let escaped = match component {
        "" => "%".to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => {
            let mut out = String::with_capacity(component.len());
            for c in component.chars() {
                match c {
                    '%' | '\u{0}'..='\u{1F}' | '\u{7F}' => {
                        out.push_str(&format!("%{:02X}", c as u32))
                    }
                    _ => out.push(c),
                }
            }
            out
        }
    };
    if escaped.len() <= MAX_COMPONENT_BYTES {
        return escaped;
    }
    let digest = hex::encode(Sha256::digest(escaped.as_bytes()));
    let mut keep = MAX_COMPONENT_BYTES - 1 - SHORTENED_HASH_HEX;
    while !escaped.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{}", &escaped[..keep], &digest[..SHORTENED_HASH_HEX])
}

/// What an entry of a bundle is, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Under `files/`, without a `..` component: an object.
    File,
    /// `MANIFEST.json` at the top level: the manifest, when it is the last entry.
    Manifest,
    /// Anything else, which a format-2 bundle never has.
    Outside,
}

/// An entry a format-2 bundle cannot have, named as the tar has it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "entry `{0}` is outside `files/`: a format-2 bundle holds only files/<index>/<key> and {MANIFEST_NAME} (docs/bundle-format.md)"
)]
pub struct OutsideFiles(pub String);

/// Where the entry at `path` (the raw path bytes of the tar entry) belongs.
pub fn place_of(path: &[u8]) -> Place {
    if path == MANIFEST_NAME.as_bytes() {
        return Place::Manifest;
    }
    let inside = path
        .strip_prefix(FILES_DIR.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"/"))
        .is_some_and(|rest| !rest.is_empty() && !rest.split(|&b| b == b'/').any(|c| c == b".."));
    if inside { Place::File } else { Place::Outside }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_indexed_and_escaped() {
        assert_eq!(entry_path(0, "a/b c.txt"), "files/000000/a/b c.txt");
        assert_eq!(entry_path(7, "MANIFEST.json"), "files/000007/MANIFEST.json");
        assert_eq!(entry_path(1_234_567, "k"), "files/1234567/k");
        assert_eq!(
            entry_path(1, "100%\t\n\u{7F}\u{1}"),
            "files/000001/100%25%09%0A%7F%01"
        );
        assert_eq!(entry_path(2, "a//b/"), "files/000002/a/%/b/%");
        assert_eq!(entry_path(3, "/./../x"), "files/000003/%/%2E/%2E%2E/x");
        assert_eq!(entry_path(4, ""), "files/000004/%");
        assert_eq!(entry_path(5, "ünï/日本"), "files/000005/ünï/日本");
    }

    #[test]
    fn escaping_never_merges_two_components() {
        let components = [
            "", "%", "%25", ".", "%2E", "..", "%2E%2E", "...", "\n", "%0A", "a\u{7F}",
        ];
        let escaped: std::collections::HashSet<String> =
            components.iter().map(|c| escape_component(c)).collect();
        assert_eq!(escaped.len(), components.len(), "{escaped:?}");
    }

    #[test]
    fn long_components_are_cut_on_a_character_boundary_with_a_hash() {
        for component in [
            "x".repeat(256),
            "é".repeat(200),
            "\u{1}".repeat(100),
            "日".repeat(100),
        ] {
            let escaped = escape_component(&component);
            assert!(
                escaped.len() <= MAX_COMPONENT_BYTES,
                "{} bytes",
                escaped.len()
            );
            assert!(
                escaped.len() >= MAX_COMPONENT_BYTES - 3,
                "{} bytes",
                escaped.len()
            );
            assert_eq!(escaped.as_bytes()[escaped.len() - 17], b'~', "{escaped}");
        }
        // Two long names that share their first 238 bytes stay apart.
        let a = format!("{}a", "x".repeat(300));
        let b = format!("{}b", "x".repeat(300));
        assert_ne!(escape_component(&a), escape_component(&b));
        assert_eq!(escape_component(&"y".repeat(255)), "y".repeat(255));
    }

    #[test]
    fn places() {
        assert_eq!(place_of(b"MANIFEST.json"), Place::Manifest);
        assert_eq!(place_of(b"files/000000/MANIFEST.json"), Place::File);
        assert_eq!(place_of(b"files/000000/a/b"), Place::File);
        for outside in [
            &b"files/"[..],
            b"files",
            b"a.txt",
            b"./MANIFEST.json",
            b"files/../x",
            b"filesx/y",
            b"/files/1",
        ] {
            assert_eq!(
                place_of(outside),
                Place::Outside,
                "{}",
                String::from_utf8_lossy(outside)
            );
        }
    }
}
