//! Starts the `receiver` binary the way scripts do and reads the URL it announces on its first line of stdout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running receiver binary; killed when dropped, so a failing test leaves nothing behind.
pub struct Announced {
    pub child: Child,
    /// From `receiver listening on <url>`.
    pub url: String,
    /// What it prints after that line (nothing, by its contract).
    pub stdout: Lines<BufReader<ChildStdout>>,
}

/// Spawns `command` (the receiver binary with its arguments; stderr as the caller set it) and waits for its
/// announcement.
pub async fn spawn(mut command: Command) -> Announced {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the receiver binary");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the receiver announced itself within 30 s")
        .expect("read stdout")
        .expect("a first line");
    let url = line
        .strip_prefix("receiver listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Announced { child, url, stdout }
}
