//! What people see: one line per step with its duration (a spinner with the elapsed time while it runs, when a
//! person is watching), colour only on a terminal without `NO_COLOR`, and the prompts — confirmation, typing
//! the environment's name, a password without echo — which never wait on a stdin that is not a terminal:
//! without `--yes` they fail and say so, so CI cannot hang.
//!
//! What the tools say (Terraform, cargo) is kept, not shown: every line goes to this run's log file under
//! `target/xtask/logs/`, whose tail an error quotes; `--verbose` streams it to the terminal as well.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// This run's choices about output: set once by `main`.
struct Output {
    verbose: bool,
    log: Mutex<Log>,
}

/// The log file: created (empty) when this run first writes to it, so a command that runs no tool leaves none.
struct Log {
    path: PathBuf,
    file: Option<File>,
    /// Opening it failed once: the run goes on without a log rather than failing for it.
    unwritable: bool,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Streams the tools' output with `verbose`, and keeps it in `log`.
pub fn init(verbose: bool, log: PathBuf) {
    let _ = OUTPUT.set(Output {
        verbose,
        log: Mutex::new(Log {
            path: log,
            file: None,
            unwritable: false,
        }),
    });
}

/// `--verbose`: the tools' output streams to the terminal as well as to the log.
pub fn verbose() -> bool {
    OUTPUT.get().is_some_and(|o| o.verbose)
}

/// Appends `text` and a newline to this run's log.
pub fn log(text: &str) {
    let Some(output) = OUTPUT.get() else {
        return;
    };
    let Ok(mut log) = output.log.lock() else {
        return;
    };
    if log.file.is_none() && !log.unwritable {
        let opened = log
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| File::create(&log.path));
        match opened {
            Ok(file) => log.file = Some(file),
            Err(e) => {
                log.unwritable = true;
                eprintln!(
                    "note: cannot write the log {} ({e}); the tools' output is not kept",
                    log.path.display()
                );
            }
        }
    }
    if let Some(file) = &mut log.file {
        let _ = writeln!(file, "{text}");
    }
}

/// The log file, once this run has written to it.
pub fn log_file() -> Option<PathBuf> {
    let log = OUTPUT.get()?.log.lock().ok()?;
    log.file.as_ref().map(|_| log.path.clone())
}

/// Whether progress can be drawn: someone is watching stderr.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Colour on stdout only for a terminal, and never when `NO_COLOR` is set (https://no-color.org).
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `text` in red when colour is on; the caller adds a word ("IAM", "destroy") so it reads without colour too.
pub fn red(text: &str) -> String {
    if color() {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn bold(text: &str) -> String {
    if color() {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A long step: a spinner with its latest line of output on a terminal, then one line with its duration. A
/// step dropped unfinished (an error left through `?`) says it failed.
pub struct Step {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
    /// When a status line was last printed without a terminal.
    last_status: Mutex<Option<Instant>>,
    finished: bool,
}

/// How often a step's status is printed when no terminal redraws it in place.
const STATUS_EVERY: Duration = Duration::from_secs(15);

impl Step {
    pub fn start(label: impl Into<String>) -> Step {
        let label = label.into();
        let bar = if interactive() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            if verbose() {
                eprintln!("==> {label}");
            }
            None
        };
        Step {
            label,
            started: Instant::now(),
            bar,
            last_status: Mutex::new(None),
            finished: false,
        }
    }

    /// Where the step stands (`120 / 300 delivered`): redrawn in place on a terminal, printed every
    /// [`STATUS_EVERY`] otherwise.
    pub fn status(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
            return;
        }
        let Ok(mut last) = self.last_status.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() >= STATUS_EVERY) {
            *last = Some(Instant::now());
            eprintln!("  {}: {text}", self.label);
        }
    }

    /// A line of the step's output: the spinner's message on a terminal; with `--verbose`, printed as well.
    pub fn line(&self, text: &str) {
        match (&self.bar, verbose()) {
            (Some(bar), true) => bar.println(format!("    {text}")),
            (Some(bar), false) => bar.set_message(text.trim().to_string()),
            (None, true) => eprintln!("    {text}"),
            (None, false) => {}
        }
    }

    pub fn done(mut self) {
        self.finish("✓", "done", "");
    }

    /// Done, with what it came to: `✓ label done in 2.1s: 3 versions deleted`.
    pub fn done_with(mut self, outcome: &str) {
        self.finish("✓", "done", &format!(": {outcome}"));
    }

    pub fn fail(mut self) {
        self.finish("✗", "FAILED", "");
    }

    fn finish(&mut self, mark: &str, how: &str, outcome: &str) {
        self.finished = true;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let line = format!(
            "{mark} {} {how} in {}{outcome}",
            self.label,
            elapsed(self.started.elapsed())
        );
        log(&line);
        eprintln!("{line}");
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.finish("✗", "FAILED", "");
        }
    }
}

/// A duration as people read it: `850ms`, `42s`, `3m 05s`, `2h 10m`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.as_millis())
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Fails early, before any work, when a confirmation will be needed and nobody can give it.
pub fn require_confirmable(yes: bool, what: &str) -> Result<()> {
    if !yes && !stdin_is_terminal() {
        bail!(
            "stdin is not a terminal, so {what} cannot be confirmed interactively: pass --yes to confirm (as CI does)"
        );
    }
    Ok(())
}

/// Asks a yes/no question; the default is no.
pub fn confirm(question: &str) -> Result<bool> {
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .context("could not read the answer from the terminal")
}

/// Asks the user to type `name` back; true only when they did.
pub fn type_to_confirm(name: &str) -> Result<bool> {
    let typed: String = dialoguer::Input::new()
        .with_prompt(format!("Type the environment's name ({name}) to confirm"))
        .allow_empty(true)
        .interact_text()
        .context("could not read the answer from the terminal")?;
    Ok(typed.trim() == name)
}

/// A line of visible input.
pub fn input(prompt: &str) -> Result<String> {
    dialoguer::Input::new()
        .with_prompt(prompt)
        .interact_text()
        .context("could not read from the terminal")
}

/// A password, without echo, typed twice so a typo does not lock the pipeline out.
pub fn password(prompt: &str) -> Result<String> {
    dialoguer::Password::new()
        .with_prompt(prompt)
        .with_confirmation("Repeat it", "the two entries differ")
        .interact()
        .context("could not read the password from the terminal")
}
