//! Where xtask finds the workspace and keeps its logs. `main` finds the root once and hands it to every
//! command, which derives its paths from it (`generated/`, `target/...`) rather than finding it again.

use std::path::{Path, PathBuf};

/// The workspace root, whatever the current directory: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The log of a run of `command`: everything the tools it ran said, replaced by its next run.
pub fn log_file(root: &Path, command: &str) -> PathBuf {
    root.join("target/xtask/logs")
        .join(format!("{command}.log"))
}
