//! The repository stands alone: no tracked file refers to what lies outside it, and every relative link of its
//! documents (README, docs/, the generated runbooks) leads to a file that exists.

use std::path::Path;
use std::process::Command;

use crate::common::workspace;

/// Every file git tracks, as text when it is text.
fn tracked_texts(root: &Path) -> Vec<(String, String)> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files runs (install git)");
    assert!(out.status.success(), "git ls-files: {:?}", out);
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|path| !path.is_empty())
        .filter_map(|path| {
            let text = std::fs::read_to_string(root.join(path)).ok()?;
            Some((path.to_owned(), text))
        })
        .collect()
}

#[test]
fn no_tracked_file_refers_to_a_directory_outside_the_repository() {
    let root = workspace();
    // Split so that this file does not name what it looks for.
    let outside = [["..", "/shared/"].concat(), ["/work", "/shared"].concat()];
    let offenders: Vec<String> = tracked_texts(&root)
        .into_iter()
        .filter(|(_, text)| outside.iter().any(|needle| text.contains(needle.as_str())))
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "these files refer to a directory a clone does not have; move what they need into the repository: {offenders:?}"
    );
}

#[test]
fn every_relative_link_of_the_documents_leads_to_a_file() {
    let root = workspace();
    let mut broken = Vec::new();
    let documents = tracked_texts(&root)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".md"));
    for (path, text) in documents {
        let dir = Path::new(&path).parent().unwrap_or(Path::new(""));
        for target in links(&text) {
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                continue;
            }
            if !root.join(dir).join(file).exists() {
                broken.push(format!("{path}: {target}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to files that do not exist: {broken:#?}"
    );
    // The check finds links at all: the README links its design document.
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        links(&readme).any(|target| target == "docs/DESIGN.md"),
        "README.md links docs/DESIGN.md"
    );
}

/// The targets of Markdown inline links, `[text](target)`.
fn links(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("](").filter_map(move |(at, _)| {
        let rest = &text[at + 2..];
        let end = rest.find(')')?;
        Some(rest[..end].trim())
    })
}
