//! Runs a command as a child and measures it as the kernel accounts it: wall time, user and system CPU of
//! the child and everything it waited for (a shell pipeline's processes), and the peak RSS of the largest.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What one run cost.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Cost {
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    /// Peak resident set of the largest process of the run, in MiB.
    pub peak_rss_mib: f64,
}

/// Runs `command` to completion and returns its cost and its standard output.
pub fn run(command: &mut Command) -> Result<(Cost, String)> {
    let shown = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {shown}: is it installed?"))?;
    // Output is read before the wait so a chatty child cannot block on a full pipe.
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .with_context(|| format!("reading the output of {shown}"))?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr)
            .with_context(|| format!("reading the errors of {shown}"))?;
    }
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if status != 0 {
        bail!("{shown} failed (wait status {status}):\n{}", stderr.trim());
    }
    let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
    Ok((
        Cost {
            wall_seconds: wall.as_secs_f64(),
            cpu_seconds: cpu.as_secs_f64(),
            // Linux reports ru_maxrss in KiB.
            peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        },
        stdout,
    ))
}

/// Waits for the child with `wait4`, which (unlike `Child::wait`) returns its resource usage.
fn wait4(pid: u32) -> Result<(i32, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).context("the child's pid does not fit a pid_t")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct, which wait4 then fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("waiting for the measured command");
        }
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// CPU seconds of a running process so far (user + system), from `/proc/<pid>/stat`.
pub fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .with_context(|| format!("/proc/{pid}/stat has no field {}", i + 3))
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / hz.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_is_charged_its_cpu_and_memory() {
        // Python allocates ~50 MiB and spins for ~0.3 s of CPU.
        let (cost, out) = run(Command::new("python3").args([
            "-c",
            "import time\nb = bytearray(50 << 20)\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nprint('done')",
        ]))
        .expect("python3 runs (Debian: apt-get install python3)");
        assert_eq!(out.trim(), "done");
        assert!(cost.cpu_seconds >= 0.25, "{cost:?}");
        assert!(cost.peak_rss_mib >= 50.0, "{cost:?}");
        assert!(cost.wall_seconds >= cost.cpu_seconds * 0.5, "{cost:?}");
    }

    #[test]
    fn a_failing_child_is_an_error_with_its_output() {
        let error = run(Command::new("sh").args(["-c", "echo broken >&2; exit 3"]))
            .expect_err("exit 3 is a failure");
        assert!(error.to_string().contains("broken"), "{error}");
    }

    #[test]
    fn a_running_process_is_charged_the_cpu_it_spins() {
        // Spin until the kernel charges 0.1 s more, rather than for a wall time: on a busy machine a spin of a
        // fixed wall time may get almost no CPU. A reading that never grows fails at the bound.
        let before = process_cpu_seconds(std::process::id()).expect("own /proc stat");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let mut charged = 0.0;
        while charged < 0.1 && started.elapsed() < Duration::from_secs(60) {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            charged = process_cpu_seconds(std::process::id()).expect("own /proc stat") - before;
        }
        assert!(
            charged >= 0.1,
            "charged {charged} s after spinning {:?}",
            started.elapsed()
        );
    }
}
