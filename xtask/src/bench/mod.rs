//! `cargo xtask bench`: what bundling and the handler cost, against honest references, on this machine.
//!
//! Every bundler runs as a child process of this one and is measured the same way (`measure`): the
//! aggregator's writer through `cargo xtask bundle`, GNU `tar | gzip | sha256sum`, and the seeds' design in
//! Python. The handler is measured as the real `aggregator` binary behind a local Lambda runtime API
//! (`handler`), and its CPU time becomes the cost per million files (`cost`). The table is printed and
//! written to `target/bench/bench.json`.

pub(crate) mod cost;
mod data;
mod handler;
mod measure;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::doctor::Need;
use data::Corpus;
use measure::Cost;

/// The throughput corpus: 2,000 files of about 100 KB (the issue's reference batch).
const THROUGHPUT: Corpus = Corpus {
    files: 2_000,
    file_size: 100_000,
};
/// The memory corpus: 10,000 files of 100 KB, a 1 GB batch.
const MEMORY: Corpus = Corpus {
    files: 10_000,
    file_size: 100_000,
};
/// The references compress at gzip's default level; so does the seeds' design.
const REFERENCE_LEVEL: u32 = 6;
const LEVELS: [u32; 5] = [1, 3, 5, 6, 9];

#[derive(clap::Args)]
pub struct Args {
    /// Runs of each bundling measurement; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Files per handler invocation in the handler cost measurement.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=10_000))]
    handler_files: u32,
}

/// One bundler's row of the throughput table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub level: u32,
    pub cost: Cost,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Row {
    pub fn mb_per_second(&self) -> f64 {
        self.bytes_in as f64 / 1e6 / self.cost.wall_seconds
    }
    pub fn cpu_seconds_per_gb(&self) -> f64 {
        self.cost.cpu_seconds / (self.bytes_in as f64 / 1e9)
    }
    pub fn ratio(&self) -> f64 {
        self.bytes_in as f64 / self.bytes_out.max(1) as f64
    }
}

/// A target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub threads: usize,
    pub throughput: Vec<Row>,
    pub levels: Vec<Row>,
    pub memory: Row,
    pub handler: handler::HandlerCost,
    pub cost: cost::CostModel,
    pub targets: Vec<Target>,
}

pub async fn run(root: &Path, args: Args) -> Result<()> {
    crate::setup::run_setup(root)?;
    // The references must be there: a missing tool fails the bench with its fix, never skips a row.
    crate::doctor::require(
        &[
            Need::PythonEnv,
            Need::Terraform,
            Need::Arm64Target,
            Need::ReferenceTools,
        ],
        root,
        "bench",
    )?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let scratch =
        tempfile::tempdir_in(&out_dir).context("a scratch directory under target/bench")?;

    let corpus = THROUGHPUT.ensure(root)?;
    let bytes_in = THROUGHPUT.bytes(&corpus)?;
    eprintln!(
        "1/5 bundling throughput: {} ({} MB), median of {} runs",
        THROUGHPUT.name(),
        bytes_in / 1_000_000,
        args.runs
    );
    let bundlers = [
        Bundler::Ours(app::bundle::DEFAULT_LEVEL),
        Bundler::Gnu,
        Bundler::Python(root.join(".venv/bin/python")),
    ];
    let mut throughput = Vec::new();
    for bundler in &bundlers {
        throughput.push(bundler.measure(&corpus, bytes_in, scratch.path(), args.runs)?);
    }

    eprintln!("2/5 gzip levels {LEVELS:?}");
    let mut levels = Vec::new();
    for level in LEVELS {
        levels.push(Bundler::Ours(level).measure(&corpus, bytes_in, scratch.path(), args.runs)?);
    }

    let memory_corpus = MEMORY.ensure(root)?;
    let memory_bytes = MEMORY.bytes(&memory_corpus)?;
    eprintln!(
        "3/5 memory: {} ({} MB)",
        MEMORY.name(),
        memory_bytes / 1_000_000
    );
    let memory = Bundler::Ours(app::bundle::DEFAULT_LEVEL).measure(
        &memory_corpus,
        memory_bytes,
        scratch.path(),
        1,
    )?;

    eprintln!(
        "4/5 handler cost and cold start (release aggregator, local stack in moto, the receiver)"
    );
    let handler = handler::measure(root, args.handler_files as usize).await?;

    eprintln!("5/5 cost model");
    let cost = cost::model(&handler)?;

    let targets = targets(&throughput, &memory, &handler);
    let report = Report {
        machine: machine(),
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        throughput,
        levels,
        memory,
        handler,
        cost,
        targets,
    };
    print!("{}", render(&report));
    let json = out_dir.join("bench.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!("\nwritten to {}", json.display());
    if report.targets.iter().any(|t| !t.met) {
        bail!("some targets were not met (✗ above)");
    }
    Ok(())
}

/// One of the bundlers compared.
enum Bundler {
    /// `cargo xtask bundle` at a level: the aggregator's writer.
    Ours(u32),
    /// GNU tar, gzip and sha256sum in a pipeline.
    Gnu,
    /// The seeds' design in Python, run by this interpreter.
    Python(PathBuf),
}

impl Bundler {
    fn name(&self) -> String {
        match self {
            Bundler::Ours(level) => format!("xtask bundle (level {level})"),
            Bundler::Gnu => format!("tar | gzip -{REFERENCE_LEVEL} | sha256sum"),
            Bundler::Python(_) => format!("Python tarfile + gzip {REFERENCE_LEVEL} + hashlib"),
        }
    }

    fn level(&self) -> u32 {
        match self {
            Bundler::Ours(level) => *level,
            _ => REFERENCE_LEVEL,
        }
    }

    fn command(&self, dir: &Path, out: &Path) -> Result<Command> {
        Ok(match self {
            Bundler::Ours(level) => {
                let mut c =
                    Command::new(std::env::current_exe().context("finding the xtask binary")?);
                c.arg("bundle")
                    .arg(dir)
                    .arg(out)
                    .arg("--level")
                    .arg(level.to_string());
                c
            }
            Bundler::Gnu => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        r#"tar -cf - -C "$1" . | gzip -{REFERENCE_LEVEL} | tee "$2" | sha256sum"#
                    ))
                    .arg("sh")
                    .arg(dir)
                    .arg(out);
                c
            }
            Bundler::Python(python) => {
                let mut c = Command::new(python);
                c.arg("-c")
                    .arg(include_str!("reference.py"))
                    .arg(dir)
                    .arg(out)
                    .arg(REFERENCE_LEVEL.to_string());
                c
            }
        })
    }

    /// Runs the bundler `runs` times on `dir`, checks its output is the SHA-256 of what it wrote, and returns
    /// the median of each figure.
    fn measure(&self, dir: &Path, bytes_in: u64, scratch: &Path, runs: u32) -> Result<Row> {
        let out = scratch.join("bundle.tar.gz");
        let mut costs = Vec::new();
        let mut bytes_out = 0;
        for _ in 0..runs {
            let (cost, stdout) = measure::run(&mut self.command(dir, &out)?)
                .with_context(|| format!("running {}", self.name()))?;
            let printed = stdout
                .split_whitespace()
                .rev()
                .find(|w| w.len() == 64)
                .unwrap_or_default()
                .to_string();
            let actual = crate::bundle::sha256_file(&out)?;
            if printed != actual {
                bail!(
                    "{} printed SHA-256 `{printed}` but its output hashes to {actual}",
                    self.name()
                );
            }
            bytes_out = std::fs::metadata(&out)?.len();
            costs.push(cost);
        }
        let of = |f: fn(&Cost) -> f64| median(&costs.iter().map(f).collect::<Vec<_>>());
        let row = Row {
            name: self.name(),
            level: self.level(),
            cost: Cost {
                wall_seconds: of(|c| c.wall_seconds),
                cpu_seconds: of(|c| c.cpu_seconds),
                peak_rss_mib: of(|c| c.peak_rss_mib),
            },
            bytes_in,
            bytes_out,
        };
        eprintln!(
            "  {:<44} {:>7.1} MB/s  ratio {:.3}",
            row.name,
            row.mb_per_second(),
            row.ratio()
        );
        Ok(row)
    }
}

/// The middle of `values` (the upper one of an even count); NaN when there are none.
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!("{cpu}, {cores} cores")
}

fn targets(throughput: &[Row], memory: &Row, handler: &handler::HandlerCost) -> Vec<Target> {
    let (ours, gnu, python) = (&throughput[0], &throughput[1], &throughput[2]);
    let speedup = |r: &Row| ours.mb_per_second() / r.mb_per_second();
    let ratio_gap = |r: &Row| (r.ratio() - ours.ratio()) / r.ratio() * 100.0;
    let cpu = ours.cpu_seconds_per_gb() / python.cpu_seconds_per_gb();
    vec![
        Target {
            what: "wall throughput ≥ 3× Python".into(),
            measured: format!("{:.2}×", speedup(python)),
            met: speedup(python) >= 3.0,
        },
        Target {
            what: "wall throughput ≥ 3× GNU tar | gzip".into(),
            measured: format!("{:.2}×", speedup(gnu)),
            met: speedup(gnu) >= 3.0,
        },
        Target {
            what: "compression ratio within 2% of the references' (level 6)".into(),
            measured: format!(
                "{:+.2}% vs GNU, {:+.2}% vs Python (negative: ours is better)",
                ratio_gap(gnu),
                ratio_gap(python)
            ),
            met: ratio_gap(gnu) <= 2.0 && ratio_gap(python) <= 2.0,
        },
        Target {
            what: "CPU-seconds per GB ≤ 0.5× Python".into(),
            measured: format!("{cpu:.2}×"),
            met: cpu <= 0.5,
        },
        Target {
            what: "peak RSS ≤ 64 MiB bundling 1 GB".into(),
            measured: format!("{:.1} MiB", memory.cost.peak_rss_mib),
            met: memory.cost.peak_rss_mib <= 64.0,
        },
        Target {
            what: "cold start < 50 ms (process start to first poll)".into(),
            measured: format!("{:.1} ms", handler.cold_start_ms),
            met: handler.cold_start_ms < 50.0,
        },
    ]
}

fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nbench on {} ({} compression threads)\n",
        report.machine, report.threads
    );
    let header = format!(
        "{:<44} {:>8} {:>9} {:>10} {:>9} {:>7}",
        "bundler", "wall s", "MB/s", "CPU s/GB", "RSS MiB", "ratio"
    );
    let row = |r: &Row| {
        format!(
            "{:<44} {:>8.2} {:>9.1} {:>10.2} {:>9.1} {:>7.3}",
            r.name,
            r.cost.wall_seconds,
            r.mb_per_second(),
            r.cpu_seconds_per_gb(),
            r.cost.peak_rss_mib,
            r.ratio()
        )
    };
    let _ = writeln!(
        s,
        "1. bundling {} files ({} MB)",
        THROUGHPUT.files,
        report.throughput[0].bytes_in / 1_000_000
    );
    let _ = writeln!(s, "{header}");
    for r in &report.throughput {
        let _ = writeln!(s, "{}", row(r));
    }
    let _ = writeln!(s, "\n2. gzip level (xtask bundle, same files)\n{header}");
    for r in &report.levels {
        let _ = writeln!(s, "{}", row(r));
    }
    let _ = writeln!(
        s,
        "\n3. memory: {} files ({} MB)\n{header}\n{}",
        MEMORY.files,
        report.memory.bytes_in / 1_000_000,
        row(&report.memory)
    );
    let _ = writeln!(
        s,
        "\n4. handler (release aggregator, moto + receiver)\n{}",
        report.handler.render()
    );
    let _ = writeln!(s, "\n5. cost model\n{}", report.cost.render());
    let _ = writeln!(s, "\ntargets");
    for t in &report.targets {
        let _ = writeln!(
            s,
            "  {} {:<58} {}",
            if t.met { "✓" } else { "✗" },
            t.what,
            t.measured
        );
    }
    s
}
