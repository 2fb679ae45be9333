//! Writing rendered files into `generated/<env>/`, and the README's generated table of the aggregator's
//! variables, and finding stale ones, for `cargo xtask generate` and its `--check` mode and the drift test.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How a file on disk differs from what the model renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    Missing(PathBuf),
    Different(PathBuf),
    /// A file the model no longer renders.
    Extra(PathBuf),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Missing(p) => write!(f, "missing:   {}", p.display()),
            Stale::Different(p) => write!(f, "stale:     {}", p.display()),
            Stale::Extra(p) => write!(f, "leftover:  {}", p.display()),
        }
    }
}

/// Files directly in `dir` (generated directories are flat; `.terraform/` and the like are ignored).
fn existing(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_file()
                    && !entry.file_name().to_string_lossy().starts_with('.')
                {
                    files.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    files.sort();
    Ok(files)
}

/// How the file at `path` differs from `content`, if it does.
fn stale_file(path: &Path, content: &str) -> io::Result<Option<Stale>> {
    match fs::read_to_string(path) {
        Ok(on_disk) if on_disk == content => Ok(None),
        Ok(_) => Ok(Some(Stale::Different(path.to_path_buf()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Ok(Some(Stale::Missing(path.to_path_buf())))
        }
        Err(e) => Err(e),
    }
}

/// What differs between `dir` and `files`.
pub fn stale(dir: &Path, files: &BTreeMap<String, String>) -> io::Result<Vec<Stale>> {
    let mut out = Vec::new();
    for (name, content) in files {
        out.extend(stale_file(&dir.join(name), content)?);
    }
    for path in existing(dir)? {
        let known = path
            .file_name()
            .map(|n| files.contains_key(&*n.to_string_lossy()))
            .unwrap_or(false);
        if !known {
            out.push(Stale::Extra(path));
        }
    }
    Ok(out)
}

/// Makes `dir` hold exactly `files`; returns what changed.
pub fn write(dir: &Path, files: &BTreeMap<String, String>) -> io::Result<Vec<Stale>> {
    let changes = stale(dir, files)?;
    fs::create_dir_all(dir)?;
    for change in &changes {
        match change {
            Stale::Missing(path) | Stale::Different(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some(content) = files.get(&name) {
                    fs::write(path, content)?;
                }
            }
            Stale::Extra(path) => fs::remove_file(path)?,
        }
    }
    Ok(changes)
}

/// Brings the table of the aggregator's variables in the README at `path` up to date (`aggregator_config::readme`)
/// when `write`, and says whether it was stale; the rest of the README is left as it is.
pub fn readme(path: &Path, write: bool) -> io::Result<Option<Stale>> {
    let current = fs::read_to_string(path)?;
    let fresh = aggregator_config::readme::splice(&current).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    let change = stale_file(path, &fresh)?;
    if write && change.is_some() {
        fs::write(path, fresh)?;
    }
    Ok(change)
}
