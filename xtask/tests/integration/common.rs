//! Runs the real `xtask` binary as a subprocess, as people and CI do, and keeps what it printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tests that deploy take turns: the local runs share the default Terraform working directory, and two deploys
/// at once on a small machine would distort the latency the local runs check.
pub static DEPLOYS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success:\n{}", self.all());
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}:\n{}",
            self.all()
        );
        self
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Run {
        assert!(
            self.all().contains(text),
            "expected {text:?} in:\n{}",
            self.all()
        );
        self
    }
}

/// An `xtask` invocation with a controlled AWS environment (nothing inherited from the developer's shell).
/// The machine's Terraform provider mirror (`TF_PLUGIN_DIR`) is inherited: a test that deploys uses it when
/// it is configured, and the registry otherwise, as people and CI do.
pub struct Xtask {
    command: Command,
    stdin: Option<String>,
}

pub fn xtask(args: &[&str]) -> Xtask {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).current_dir(workspace_root());
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
    ] {
        command.env_remove(key);
    }
    // Nothing here is a terminal: plain output, and prompts must refuse rather than wait.
    command.env("NO_COLOR", "1");
    Xtask {
        command,
        stdin: None,
    }
}

impl Xtask {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Xtask {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Xtask {
        self.command.env_remove(key);
        self
    }

    /// Points the AWS SDK and Terraform at an emulator, with moto's customary test credentials.
    pub fn aws(self, endpoint: &str) -> Xtask {
        self.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
    }

    pub fn stdin(mut self, text: &str) -> Xtask {
        self.stdin = Some(text.to_string());
        self
    }

    /// Starts the command with its output piped, for a test that talks to it while it runs.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the xtask binary starts")
    }

    pub fn run(mut self) -> Run {
        let started = Instant::now();
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("the xtask binary starts");
        let input = self.stdin.take().unwrap_or_default();
        if let Some(mut pipe) = child.stdin.take() {
            // A closed stdin (no input) is what CI gives a command nobody types into.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("xtask runs to its end");
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        };
        eprintln!(
            "xtask {:?} -> {:?} in {:.1?}",
            self.command.get_args().collect::<Vec<_>>(),
            run.code,
            run.took
        );
        run
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Fails when `marker` appears in anything a run printed.
#[track_caller]
pub fn assert_never_shown(marker: &str, runs: &[&Run]) {
    for run in runs {
        assert!(
            !run.all().contains(marker),
            "the secret value appeared in the output:\n{}",
            run.all()
        );
    }
}
