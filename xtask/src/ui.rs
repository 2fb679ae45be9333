//! What people see: a spinner with the elapsed time for long steps when a person is watching, plain lines
//! when not (CI logs, pipes), colour only on a terminal without `NO_COLOR`, and the prompts — confirmation,
//! typing the environment's name, a password without echo — which never wait on a stdin that is not a
//! terminal: without `--yes` they fail and say so, so CI cannot hang.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

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

/// A long step: a spinner with the latest line of output on a terminal, `==> label` lines otherwise.
pub struct Step {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
}

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
            eprintln!("==> {label}");
            None
        };
        Step {
            label,
            started: Instant::now(),
            bar,
        }
    }

    /// A line of the step's output: the spinner's message on a terminal, echoed as-is otherwise (CI keeps it).
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.trim().to_string()),
            None => eprintln!("    {text}"),
        }
    }

    pub fn done(self) {
        self.finish("done");
    }

    pub fn fail(self) {
        self.finish("FAILED");
    }

    fn finish(self, how: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "{} {} {how} in {}",
            if how == "done" { "✓" } else { "✗" },
            self.label,
            elapsed(self.started.elapsed())
        );
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
