//! `cargo xtask model <env>`: the latency model (`latency-model`) of an environment as deployed in AWS — its
//! mapping, function, queue and link (`infra_gen::latency::pipeline`, the same inputs validation uses) with the
//! handler's CPU from `cargo xtask bench` — played with its declared traffic or the traffic the flags give, at
//! one or more scales. For each: latency percentiles of the steady and the burst's files against the
//! objective, the backlog, the invocations, Lambda's GB-seconds and requests, the highest constant rate that
//! meets the objective, and when it misses, the settings that would meet it. A table on the terminal, JSON and
//! one SVG per scale under `target/model/`.
//!
//! `--cost` adds the bill at each scale (`bench/cost.rs`), `--calibrate` compares the model with load runs of
//! the local stack (`calibrate.rs`).

mod calibrate;
mod inputs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use latency_model::outcome::{Percentiles, Verdict};
use latency_model::search::{advise, highest_sustained_rate};
use latency_model::service::{Objective, Outage, Pipeline};
use latency_model::traffic::{Burst, Lengths, Sizes, Traffic, parse_duration};
use latency_model::{Outcome, Scenario, simulate};
use serde::Serialize;

use crate::bench::cost::{self, Bill, Usage};
use crate::report::{Measurements, Sample};
use inputs::HandlerFigures;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment whose mapping, function, queue and declared traffic are modelled (local, dev, prod).
    pub env: String,
    /// Average rate, files/s, instead of the environment's declared traffic.
    #[arg(long, value_name = "FILES_PER_S")]
    pub rate: Option<f64>,
    /// A burst: RATE:DURATION, e.g. 100:5m; `none` for none.
    #[arg(long, value_name = "RATE:DURATION")]
    pub burst: Option<String>,
    /// File sizes: 100KB, or a range such as 50KB..150KB.
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// The link to the endpoint, Mbit/s, instead of the environment's declared one.
    #[arg(long, value_name = "MBIT_PER_S")]
    pub link: Option<f64>,
    /// Multiply every rate, e.g. 1,10,100 for the seeds' volume, ten and a hundred times it.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub scale: Vec<f64>,
    /// The endpoint is down for LENGTH from START (after the warm-up of 5 minutes), e.g. 10m:1h.
    #[arg(long, value_name = "START:LENGTH")]
    pub outage: Option<String>,
    /// The seed: the same seed gives the same figures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long the steady traffic is judged, and how long after a burst.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub steady: String,
    /// Skip the search for the highest sustained rate (it plays the model a dozen times more).
    #[arg(long)]
    pub no_search: bool,
    /// Also print the monthly bill per resource at each scale, in the environment's region and in us-east-1.
    #[arg(long)]
    pub cost: bool,
    /// Measure the local stack's service times, predict load runs with them, run the loads, compare.
    #[arg(long, conflicts_with_all = ["rate", "burst", "size", "link", "outage", "cost"])]
    pub calibrate: bool,
    /// With --calibrate: how long each load run uploads, in seconds.
    #[arg(long, default_value_t = 300, requires = "calibrate")]
    pub duration: u64,
    /// With --calibrate: the load runs' rates, files/s.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5,10,15",
        requires = "calibrate"
    )]
    pub rates: Vec<f64>,
}

/// The warm-up before the judged traffic: the mapping grows from five concurrent batches by 300 a minute.
const WARM_UP: Duration = Duration::from_secs(300);

pub async fn run(root: &Path, args: Args) -> Result<()> {
    // Not `target::resolve`: the model must also run for an environment that validation refuses.
    let env = crate::target::environment(&args.env)?;
    if args.calibrate {
        return calibrate::run(root, &env, &args).await;
    }
    let figures = inputs::handler_figures(root)?;
    let mut pipeline = pipeline(&env, &figures)?;
    if let Some(link) = args.link {
        if !(link.is_finite() && link > 0.0) {
            bail!("--link must be a positive number of Mbit/s");
        }
        pipeline.endpoint.bytes_per_second = Some(link * 1e6 / 8.0);
    }
    if let Some(outage) = &args.outage {
        pipeline.endpoint.outage = Some(parse_outage(outage)?);
    }
    let traffic = traffic(&env, &args)?;
    if args.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("--scale takes positive factors, e.g. 1,10,100");
    }
    let steady = parse_duration(&args.steady)?;
    let lengths = Lengths {
        warm_up: WARM_UP,
        steady,
        after: steady,
    };
    let objective = infra_gen::latency::objective(&env);
    let out_dir = output_dir(root);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    println!("{}", describe(&env.name, &pipeline, &figures, &objective));
    let mut reports = Vec::new();
    for &scale in &args.scale {
        let report = model_at(&pipeline, &traffic, scale, lengths, &objective, &args)?;
        print!("{}", report.render(&env.name, &objective));
        let svg = out_dir.join(format!("{}-{}x.svg", env.name, scale));
        std::fs::write(&svg, report.picture(&env.name))
            .with_context(|| format!("writing {}", svg.display()))?;
        reports.push(ScaleReport {
            svg: svg.display().to_string(),
            ..report
        });
    }
    if reports.len() > 1 {
        print!("{}", summary(&reports));
    }
    let bills = if args.cost {
        let bills = bills(&env, &pipeline, &traffic, &args.scale, args.seed)?;
        for bill in &bills {
            println!("\n{}", bill.render());
        }
        bills
    } else {
        Vec::new()
    };
    let json = out_dir.join(format!("{}.json", env.name));
    let document = Document {
        environment: &env.name,
        handler: &figures,
        pipeline: &pipeline,
        objective: &objective,
        scales: &reports,
        bills: &bills,
    };
    std::fs::write(&json, serde_json::to_vec_pretty(&document)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!(
        "\nmodel: {} and {}",
        json.display(),
        reports
            .iter()
            .map(|r| r.svg.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The environment as the model sees it, with this machine's (or the recorded) handler figures.
fn pipeline(env: &infra_gen::Environment, figures: &HandlerFigures) -> Result<Pipeline> {
    let mut pipeline = infra_gen::latency::pipeline(env).with_context(|| {
        format!(
            "the redelivery schedule of {} is not valid: `cargo xtask generate` says why",
            env.name
        )
    })?;
    figures.apply(&mut pipeline.service);
    Ok(pipeline)
}

/// The environment's declared traffic, with what the flags change.
fn traffic(env: &infra_gen::Environment, args: &Args) -> Result<Traffic> {
    let mut traffic = infra_gen::latency::traffic(env);
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of files per second");
        }
        traffic.average = rate;
    }
    match args.burst.as_deref() {
        Some("none") => traffic.burst = None,
        Some(burst) => traffic.burst = Some(burst.parse::<Burst>()?),
        None => {}
    }
    if let Some(size) = &args.size {
        traffic.sizes = size.parse::<Sizes>()?;
    }
    Ok(traffic)
}

/// `START:LENGTH`, e.g. `10m:1h`: counted from the end of the warm-up.
fn parse_outage(text: &str) -> Result<Outage> {
    let (start, length) = text.split_once(':').with_context(|| {
        format!("--outage {text:?} is not START:LENGTH: write e.g. 10m:1h (down for an hour from 10 minutes in)")
    })?;
    Ok(Outage {
        start: WARM_UP + parse_duration(start)?,
        duration: parse_duration(length)?,
    })
}

fn describe(env: &str, p: &Pipeline, figures: &HandlerFigures, objective: &Objective) -> String {
    let targets: Vec<String> = objective
        .targets
        .iter()
        .map(|(share, limit)| format!("{}% within {limit:.0} s", share * 100.0))
        .collect();
    format!(
        "model of {env} (as deployed in AWS): batch size {}, window {} s, maximum concurrency {}, {} MB ({:.2} vCPU), timeout {} s, {} downloads at once, bundles of at most {} MB in, link {}\n  handler figures: {:.2} ms CPU per file + {:.2} s per GB, compression {:.2} — {}\n  objective: {}",
        p.mapping.batch_size,
        p.mapping.window.as_secs(),
        p.mapping.maximum_concurrency,
        p.function.memory_mb,
        p.service.cpus(p.function.memory_mb),
        p.function.timeout.as_secs(),
        p.function.download_concurrency,
        p.function.bundle_max_bytes / 1_000_000,
        p.endpoint.bytes_per_second.map_or_else(
            || "unlimited".into(),
            |b| format!("{:.0} Mbit/s", b * 8.0 / 1e6)
        ),
        p.service.cpu_seconds_per_file * 1e3,
        p.service.cpu_seconds_per_byte * 1e9,
        p.service.compression_ratio,
        figures.source,
        targets.join(", ")
    )
}

/// What the model says at one scale.
#[derive(Debug, Clone, Serialize)]
struct ScaleReport {
    scale: f64,
    traffic: Traffic,
    outcome: Outcome,
    verdicts: Vec<Verdict>,
    meets: bool,
    highest_sustained_rate: Option<f64>,
    advice: Option<AdviceReport>,
    gb_seconds_per_million_files: f64,
    requests_per_million_files: f64,
    svg: String,
}

/// The settings that would meet the objective.
#[derive(Debug, Clone, Serialize)]
struct AdviceReport {
    changes: Vec<Change>,
    met: bool,
    latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
struct Change {
    field: &'static str,
    from: f64,
    to: f64,
}

fn model_at(
    pipeline: &Pipeline,
    traffic: &Traffic,
    scale: f64,
    lengths: Lengths,
    objective: &Objective,
    args: &Args,
) -> Result<ScaleReport> {
    let traffic = traffic.scaled(scale);
    let scenario = Scenario::of(&traffic, lengths);
    eprintln!("model: {scale}× — {:.0} files", scenario.expected_files());
    let outcome = simulate(pipeline, &scenario, args.seed)?;
    let meets = outcome.meets(objective);
    let highest_sustained_rate = if args.no_search {
        None
    } else {
        eprintln!("model: {scale}× — the highest sustained rate");
        Some(highest_sustained_rate(
            pipeline,
            traffic.sizes,
            objective,
            args.seed,
        )?)
    };
    // No setting makes files that land while the endpoint is down arrive in time: advice is for capacity.
    let advice = if meets || pipeline.endpoint.outage.is_some() {
        None
    } else {
        eprintln!("model: {scale}× — the settings that would meet the objective");
        let advice = advise(pipeline, &scenario, objective, args.seed)?;
        Some(AdviceReport {
            changes: advice
                .changes
                .iter()
                .map(|c| Change {
                    field: infra_gen::latency::field(c.setting),
                    from: c.from,
                    to: c.to,
                })
                .collect(),
            met: advice.met,
            latency: advice.outcome.latency,
        })
    };
    let files = outcome.files.max(1) as f64;
    Ok(ScaleReport {
        scale,
        traffic,
        verdicts: outcome.verdicts(objective),
        meets,
        highest_sustained_rate,
        advice,
        gb_seconds_per_million_files: outcome.gb_seconds / files * 1e6,
        requests_per_million_files: outcome.requests as f64 / files * 1e6,
        outcome,
        svg: String::new(),
    })
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "never".into(), |s| format!("{s:.1} s"))
}

fn traffic_words(t: &Traffic) -> String {
    let burst = t.burst.map_or_else(String::new, |b| {
        format!(
            ", bursts of {} files/s for {} s",
            b.rate,
            b.duration.as_secs()
        )
    });
    format!("{} files/s{burst}, {}", t.average, t.sizes)
}

impl ScaleReport {
    fn render(&self, env: &str, objective: &Objective) -> String {
        use std::fmt::Write;
        let o = &self.outcome;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n{env} at {}×: {}; seed {}",
            self.scale,
            traffic_words(&self.traffic),
            o.seed
        );
        let _ = writeln!(
            s,
            "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  objective",
            "files", "landed", "p50", "p95", "p99", "p99.9", "max"
        );
        let mut rows = vec![("steady", Some(o.steady))];
        if o.burst.is_some() {
            rows.push(("burst + after", o.burst));
        }
        rows.push(("all", Some(o.latency)));
        for (name, p) in rows {
            let Some(p) = p else { continue };
            let verdict = match name {
                "all" => String::new(),
                set => {
                    let set = if set == "steady" { "steady" } else { "burst" };
                    let missed = self
                        .verdicts
                        .iter()
                        .filter(|v| v.set == set && !v.met)
                        .count();
                    if missed == 0 {
                        "met".into()
                    } else {
                        "MISSED".into()
                    }
                }
            };
            let _ = writeln!(
                s,
                "  {name:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  {verdict}",
                p.count,
                seconds(p.p50),
                seconds(p.p95),
                seconds(p.p99),
                seconds(p.p999),
                seconds(p.max)
            );
        }
        let _ = writeln!(
            s,
            "  backlog        peak {} messages at {:.0} s; the oldest message {:.0} s old at worst; {} delivered, {} dead-lettered of {}",
            o.peak_backlog,
            o.peak_backlog_at,
            o.peak_oldest_age,
            o.delivered,
            o.dead_lettered,
            o.files
        );
        let i = &o.invocations;
        let _ = writeln!(
            s,
            "  invocations    {} ({} at most at once), {:.0} files each, {} bundles, payload ≤ {:.2} MB, batch ≤ {:.0} MB in; duration p50 {} p95 {} max {}; {} timed out, {} failed on the endpoint",
            i.count,
            i.peak_concurrency,
            i.files_per_invocation,
            i.bundles,
            i.largest_payload_bytes as f64 / 1e6,
            i.largest_batch_bytes as f64 / 1e6,
            seconds(i.duration.p50),
            seconds(i.duration.p95),
            seconds(i.duration.max),
            i.timed_out,
            i.endpoint_failures
        );
        let _ = writeln!(
            s,
            "  Lambda         {:.0} GB-s and {} requests ({:.0} GB-s and {:.0} requests per million files); {} SQS requests",
            o.gb_seconds,
            o.requests,
            self.gb_seconds_per_million_files,
            self.requests_per_million_files,
            o.sqs_requests
        );
        if let Some(rate) = self.highest_sustained_rate {
            let _ = writeln!(
                s,
                "  sustained      the highest constant rate within the objective: {}",
                if rate >= latency_model::search::SEARCH_CEILING {
                    format!("above {rate:.0} files/s")
                } else {
                    format!("{rate:.0} files/s")
                }
            );
        }
        let targets: Vec<String> = objective
            .targets
            .iter()
            .map(|(q, l)| format!("{}% ≤ {l:.0} s", q * 100.0))
            .collect();
        match &self.advice {
            None if self.meets => {
                let _ = writeln!(
                    s,
                    "  verdict        meets the objective ({})",
                    targets.join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  verdict        MISSES the objective ({}) during the endpoint's outage; nothing was lost: {} of {} delivered, {} dead-lettered",
                    targets.join(", "),
                    o.delivered,
                    o.files,
                    o.dead_lettered
                );
            }
            Some(a) => {
                let changes: Vec<String> = a
                    .changes
                    .iter()
                    .map(|c| format!("{} {} → {}", c.field, c.from, c.to))
                    .collect();
                let _ = writeln!(
                    s,
                    "  verdict        MISSES the objective ({}); {}{}",
                    targets.join(", "),
                    if a.met {
                        "it is met with "
                    } else {
                        "not met even with "
                    },
                    if changes.is_empty() {
                        "no change of the mapping, function or link".to_string()
                    } else {
                        format!(
                            "{} (then p95 {}, p99.9 {})",
                            changes.join(", "),
                            seconds(a.latency.p95),
                            seconds(a.latency.p999)
                        )
                    }
                );
            }
        }
        s
    }

    /// The latency distribution with the objective's lines, and landings, deliveries and backlog over time.
    fn picture(&self, env: &str) -> String {
        let o = &self.outcome;
        let measurements = Measurements {
            files_uploaded: o.files,
            files_delivered: o.delivered,
            dead_letters: o.dead_lettered,
            latencies: o
                .all_files
                .sorted
                .iter()
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .collect(),
            samples: o
                .samples
                .iter()
                .map(|s| Sample {
                    at: s.at,
                    uploaded: s.landed,
                    delivered: s.delivered,
                    backlog: s.backlog,
                })
                .collect(),
            ..Measurements::default()
        };
        measurements.svg(&format!(
            "model of {env} at {}×: {} (seed {})",
            self.scale,
            traffic_words(&self.traffic),
            o.seed
        ))
    }
}

fn summary(reports: &[ScaleReport]) -> String {
    use std::fmt::Write;
    let mut s = String::from(
        "\nscale  avg/burst files/s        p50       p95       p99     p99.9  peak backlog  GB-s/M files  sustained  verdict\n",
    );
    for r in reports {
        let o = &r.outcome;
        let worst = |pick: fn(&Percentiles) -> Option<f64>| {
            let mut sets = vec![pick(&o.steady)];
            if let Some(b) = &o.burst {
                sets.push(pick(b));
            }
            sets.into_iter()
                .map(|v| v.unwrap_or(f64::INFINITY))
                .fold(0.0, f64::max)
        };
        let verdict = match &r.advice {
            None if r.meets => "meets".to_string(),
            None => "misses (outage)".to_string(),
            Some(a) => format!(
                "misses{}: {}",
                if a.met { "" } else { " (not met with)" },
                a.changes
                    .iter()
                    .map(|c| format!("{} → {}", c.field, c.to))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(
            s,
            "{:<6} {:<20} {:>9} {:>9} {:>9} {:>9} {:>13} {:>13.0} {:>10} {verdict}",
            format!("{}×", r.scale),
            format!(
                "{} / {}",
                r.traffic.average,
                r.traffic.burst.map_or(0.0, |b| b.rate)
            ),
            seconds(Some(worst(|p| p.p50))),
            seconds(Some(worst(|p| p.p95))),
            seconds(Some(worst(|p| p.p99))),
            seconds(Some(worst(|p| p.p999))),
            o.peak_backlog,
            r.gb_seconds_per_million_files,
            r.highest_sustained_rate
                .map_or_else(|| "—".into(), |x| format!("{x:.0}/s")),
        );
    }
    s.push_str("(p50…p99.9: the worse of the steady and the burst's files)\n");
    s
}

/// The bill at each scale, in the environment's region and in us-east-1, with Lambda's and SQS's usage from
/// the model at the average rate.
fn bills(
    env: &infra_gen::Environment,
    pipeline: &Pipeline,
    traffic: &Traffic,
    scales: &[f64],
    seed: u64,
) -> Result<Vec<Bill>> {
    let mut usage = Vec::new();
    for &scale in scales {
        let rate = traffic.average * scale;
        eprintln!("model: {scale}× — a month's usage at {rate} files/s");
        let scenario = Scenario {
            phases: vec![
                latency_model::traffic::Phase {
                    rate,
                    duration: Duration::from_secs(120),
                    judged: latency_model::traffic::Judged::WarmUp,
                },
                latency_model::traffic::Phase {
                    rate,
                    duration: Duration::from_secs(600),
                    judged: latency_model::traffic::Judged::Steady,
                },
            ],
            sizes: traffic.sizes,
            spacing: traffic.spacing,
        };
        let outcome = simulate(pipeline, &scenario, seed)?;
        usage.push(Usage::from_model(
            &outcome,
            rate * 86_400.0 * 30.0,
            traffic.sizes.mean(),
            pipeline.service.compression_ratio,
        ));
    }
    let mut regions = vec![cost::prices(&env.region)?];
    if env.region != cost::US_EAST_1.region {
        regions.push(&cost::US_EAST_1);
    }
    Ok(regions
        .into_iter()
        .map(|prices| cost::bill(env, scales, &usage, prices))
        .collect())
}

#[derive(Serialize)]
struct Document<'a> {
    environment: &'a str,
    handler: &'a HandlerFigures,
    pipeline: &'a Pipeline,
    objective: &'a Objective,
    scales: &'a [ScaleReport],
    bills: &'a [Bill],
}

/// Where the model's files go.
pub fn output_dir(root: &Path) -> PathBuf {
    root.join("target/model")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_counted_from_the_end_of_the_warm_up() {
        let o = parse_outage("10m:1h").expect("valid");
        assert_eq!(o.start, WARM_UP + Duration::from_secs(600));
        assert_eq!(o.duration, Duration::from_secs(3600));
        assert!(parse_outage("1h").is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let env = environments::by_name("prod").expect("prod");
        let figures = inputs::handler_figures(Path::new("/nonexistent")).expect("defaults");
        let pipeline = pipeline(&env, &figures).expect("pipeline");
        let args = Args {
            env: "prod".into(),
            rate: None,
            burst: None,
            size: None,
            link: None,
            scale: vec![1.0],
            outage: None,
            seed: 3,
            steady: "2m".into(),
            no_search: true,
            cost: false,
            calibrate: false,
            duration: 0,
            rates: Vec::new(),
        };
        let traffic = traffic(&env, &args).expect("traffic");
        let lengths = Lengths {
            warm_up: Duration::from_secs(60),
            steady: Duration::from_secs(120),
            after: Duration::from_secs(120),
        };
        let objective = infra_gen::latency::objective(&env);
        let a = model_at(&pipeline, &traffic, 1.0, lengths, &objective, &args).expect("model");
        let b = model_at(&pipeline, &traffic, 1.0, lengths, &objective, &args).expect("model");
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            serde_json::to_string(&b).expect("json")
        );
        assert!(a.meets, "{}", a.render("prod", &objective));
        assert!(a.picture("prod").contains("<polyline"));
    }
}
