//! A command as data — program, arguments, working directory, environment — so `--dry-run` prints exactly
//! what a real run executes, from the same values. Running one keeps its output (for the error message and
//! for JSON answers) while showing progress.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result};

use crate::ui::{self, Step};

/// One external command.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// What the step is for, in words.
    pub purpose: String,
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Variables set on top of the inherited environment (never secrets: they are printed).
    pub env: Vec<(String, String)>,
    /// Exit codes that mean the command did its job (`terraform plan -detailed-exitcode` uses 2 for changes).
    pub ok_codes: Vec<i32>,
}

/// A finished command: its exit code and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last lines of both streams, for an error message that shows what the tool said.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self
            .stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// How a running command is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Spinner (terminal) or echoed lines (CI) under the purpose.
    Progress,
    /// Nothing: the output is data (JSON) for the caller.
    Quiet,
    /// Straight to this process's stdout and stderr, as the child writes it: for output that is the point of
    /// the command (`cargo test` in `cargo xtask ci`).
    Inherit,
}

impl Cmd {
    pub fn new(purpose: impl Into<String>, program: impl Into<String>, cwd: &Path) -> Cmd {
        Cmd {
            purpose: purpose.into(),
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            env: Vec::new(),
            ok_codes: vec![0],
        }
    }

    /// Exit codes besides 0 that are not failures.
    pub fn also_ok(mut self, code: i32) -> Cmd {
        self.ok_codes.push(code);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command line, quoted for a POSIX shell.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The environment on top of the inherited one, as `K=V` words; a PATH that extends the current one is
    /// shown as `<prefix>:$PATH`, which is what it means.
    pub fn env_line(&self) -> String {
        let current = std::env::var("PATH").unwrap_or_default();
        self.env
            .iter()
            .map(|(k, v)| {
                let shown = match v.strip_suffix(&current) {
                    Some(prefix) if k == "PATH" && !current.is_empty() => format!("{prefix}$PATH"),
                    _ => v.clone(),
                };
                format!("{k}={}", quote(&shown))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The dry-run listing of this command: purpose, directory, environment, command line.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{}\n    cd {}\n",
            self.purpose,
            quote(&self.cwd.display().to_string())
        );
        if !self.env.is_empty() {
            text.push_str(&format!("    env {}\n", self.env_line()));
        }
        text.push_str(&format!("    $ {}", self.command_line()));
        text
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Runs the command to its end, whatever its exit code (the caller decides what a code means). What it
    /// prints goes to the run's log (see [`ui::log`]), except under `Inherit`, where it is the terminal's.
    pub fn run(&self, show: Show) -> Result<Finished> {
        ui::log(&format!("\n{}", self.describe()));
        let finished = self.execute(show)?;
        ui::log(&format!(
            "({})",
            finished
                .code
                .map_or_else(|| "killed by a signal".into(), |c| format!("exit code {c}"))
        ));
        Ok(finished)
    }

    fn execute(&self, show: Show) -> Result<Finished> {
        if show == Show::Inherit {
            let status = self
                .command()
                .status()
                .with_context(|| self.not_started())?;
            return Ok(Finished {
                code: status.code(),
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        let step = (show == Show::Progress).then(|| Step::start(self.purpose.clone()));
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| self.not_started())?;
        // Both streams are read on their own threads, so neither can fill its pipe and stall the child.
        let (lines, received) = mpsc::channel::<String>();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .map(|stream| {
            let lines = lines.clone();
            std::thread::spawn(move || {
                let mut all = String::new();
                if let Some(stream) = stream {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        let _ = lines.send(line.clone());
                        all.push_str(&line);
                        all.push('\n');
                    }
                }
                all
            })
        })
        .collect();
        drop(lines);
        for line in received {
            // Data (a JSON plan, the outputs) is the caller's; what the tool says is kept.
            if let Some(step) = &step {
                ui::log(&line);
                step.line(&line);
            }
        }
        let mut outputs = readers.into_iter().map(|r| r.join().unwrap_or_default());
        let stdout = outputs.next().unwrap_or_default();
        let stderr = outputs.next().unwrap_or_default();
        let status = child
            .wait()
            .with_context(|| format!("waiting for `{}`", self.program))?;
        let finished = Finished {
            code: status.code(),
            stdout,
            stderr,
        };
        if let Some(step) = step {
            if finished.code.is_some_and(|c| self.ok_codes.contains(&c)) {
                step.done();
            } else {
                step.fail();
            }
        }
        Ok(finished)
    }

    fn not_started(&self) -> String {
        format!(
            "could not start `{}`: is it installed? `cargo xtask doctor` lists what is missing and how to install it",
            self.program
        )
    }

    /// Runs the command and fails, with its last lines of output, unless it exits 0.
    pub fn run_ok(&self, show: Show) -> Result<Finished> {
        let finished = self.run(show)?;
        if !finished.success() {
            anyhow::bail!(
                "`{}` failed (exit code {}) in {}:\n{}",
                self.command_line(),
                finished
                    .code
                    .map_or_else(|| "none: killed by a signal".into(), |c| c.to_string()),
                self.cwd.display(),
                finished.tail(30)
            );
        }
        Ok(finished)
    }
}

/// A word quoted for a POSIX shell when it needs to be.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%$".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Prints a dry-run plan: numbered steps, each a command or an in-process action, and runs none of them.
pub fn print_dry_run(title: &str, steps: &[DryStep]) {
    println!("{title}");
    println!("Dry run: nothing below is executed.\n");
    for (i, step) in steps.iter().enumerate() {
        let text = match step {
            DryStep::Run(cmd) => cmd.describe(),
            DryStep::Note(note) => note.clone(),
        };
        println!("{:>2}. {text}\n", i + 1);
    }
}

/// One line of a dry run.
pub enum DryStep {
    Run(Cmd),
    /// Something xtask does itself (rendering files, asking for confirmation, an AWS SDK call).
    Note(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("-out=tfplan"), "-out=tfplan");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn runs_and_keeps_both_streams() {
        let cmd =
            Cmd::new("test", "sh", Path::new(".")).args(["-c", "echo out; echo err >&2; exit 3"]);
        let finished = cmd.run(Show::Quiet).expect("sh runs");
        assert_eq!(finished.code, Some(3));
        assert_eq!(finished.stdout, "out\n");
        assert_eq!(finished.stderr, "err\n");
        assert!(cmd.run_ok(Show::Quiet).is_err());
    }
}
