//! What a local run or load test measured: per-file end-to-end latencies against the service level objective,
//! throughput and backlog over time, as a short text report and an SVG picture an operator can glance at.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use latency_model::outcome::nearest_rank;

/// The objective: 95% of files within 2 minutes, 99.9% within 3.
pub const SLO: [(f64, Duration); 2] = [
    (0.95, Duration::from_secs(120)),
    (0.999, Duration::from_secs(180)),
];

/// One sample of the pipeline's state, taken every second or so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub at: f64,
    pub uploaded: usize,
    pub delivered: usize,
    /// Messages in the source queue (visible and in flight).
    pub backlog: usize,
}

/// Where a report and its picture were written.
pub struct Written {
    pub report: PathBuf,
    pub plot: PathBuf,
}

impl Written {
    /// `report <file>, plot <file>[, full log <file>]`: where to look next.
    pub fn locations(&self) -> String {
        let mut text = format!(
            "report {}, plot {}",
            self.report.display(),
            self.plot.display()
        );
        if let Some(log) = crate::ui::log_file() {
            text.push_str(&format!(", full log {}", log.display()));
        }
        text
    }
}

/// Everything a report is made of.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    pub files_uploaded: usize,
    pub files_delivered: usize,
    pub bundles: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dead_letters: usize,
    /// End-to-end latency of each delivered file: upload finished → bundle stored at the receiver.
    pub latencies: Vec<Duration>,
    pub samples: Vec<Sample>,
    /// How long the uploads took, for the achieved rate.
    pub upload_span: Duration,
}

/// The latency within which a share `q` of all `total` files arrived (nearest rank), where the files missing
/// from `sorted` count as never arriving: `None` when the rank falls among them (or there are no files).
pub fn percentile(sorted: &[Duration], total: usize, q: f64) -> Option<Duration> {
    let total = total.max(sorted.len());
    sorted.get(nearest_rank(total, q) - 1).copied()
}

/// Points drawn per distribution: enough for a smooth line, few enough for millions of files.
const CURVE_POINTS: usize = 500;
/// Samples drawn per line over time.
const TIMELINE_POINTS: usize = 2000;

/// One distribution on a latency picture.
pub struct Curve<'a> {
    pub label: String,
    /// Latencies in seconds, sorted.
    pub sorted: &'a [f64],
    /// Files in all, the ones missing from `sorted` never arrived.
    pub total: usize,
    pub color: &'static str,
    pub dashed: bool,
}

impl Curve<'_> {
    /// The cumulative share at evenly spaced ranks.
    fn points(&self) -> Vec<(f64, f64)> {
        let total = self.total.max(self.sorted.len());
        if total == 0 {
            return Vec::new();
        }
        let mut points: Vec<(f64, f64)> = (0..=CURVE_POINTS)
            .map(|i| nearest_rank(total, i as f64 / CURVE_POINTS as f64))
            .filter(|&rank| rank <= self.sorted.len())
            .map(|rank| (self.sorted[rank - 1], rank as f64 / total as f64))
            .collect();
        points.dedup();
        points
    }
}

/// Latency distributions against the objective's lines, one panel (a model against a measurement).
pub fn latency_picture(title: &str, curves: &[Curve]) -> String {
    let (w, h) = (900.0, 340.0);
    let mut svg = header(w, h, title);
    latency_panel(&mut svg, LATENCY_PANEL, curves);
    svg.push_str("</svg>\n");
    svg
}

fn header(w: f64, h: f64, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="20" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    svg
}

/// Cumulative share of files delivered by latency, one line per curve, with the 2- and 3-minute objective lines.
fn latency_panel(svg: &mut String, p: Panel, curves: &[Curve]) {
    let max_s = curves
        .iter()
        .filter_map(|c| c.sorted.last().copied())
        .fold(SLO[1].1.as_secs_f64() * 1.1, f64::max);
    p.frame(
        svg,
        "share of files delivered within a latency (cumulative)",
        "latency (s)",
        max_s,
        1.0,
    );
    for (i, curve) in curves.iter().enumerate() {
        p.polyline(svg, &curve.points(), max_s, 1.0, curve.color, curve.dashed);
        if curves.len() > 1 {
            p.legend(svg, i, &curve.label, curve.color);
        }
    }
    for (q, limit) in SLO {
        let x = p.x + limit.as_secs_f64() / max_s * p.w;
        let y = p.y + p.h - q * p.h;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#d62728" stroke-dasharray="4 3"/>"##,
            p.y,
            p.y + p.h
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#d62728" stroke-dasharray="2 3"/>"##,
            p.x,
            p.x + p.w
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#d62728">SLO {:.1}% ≤ {}s</text>"##,
            x + 4.0,
            y - 4.0,
            q * 100.0,
            limit.as_secs()
        );
    }
}

/// A percentile for the report: one decimal, or "never" for files that did not arrive.
fn shown(latency: Option<Duration>) -> String {
    latency.map_or_else(|| "never".into(), |d| format!("{d:.1?}"))
}

impl Measurements {
    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
    }

    /// Fails, saying how many, unless every uploaded file was delivered.
    pub fn require_all_delivered(&self) -> Result<()> {
        if self.files_delivered != self.files_uploaded {
            bail!(
                "{} of {} files did not arrive",
                self.files_uploaded.saturating_sub(self.files_delivered),
                self.files_uploaded
            );
        }
        Ok(())
    }

    /// Writes the text report and the picture (titled `title`) as `<dir>/<stem>.txt` and `<dir>/<stem>.svg`.
    pub fn write(&self, dir: &Path, stem: &str, title: &str) -> Result<Written> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let written = Written {
            report: dir.join(format!("{stem}.txt")),
            plot: dir.join(format!("{stem}.svg")),
        };
        std::fs::write(&written.report, self.text())
            .with_context(|| format!("writing {}", written.report.display()))?;
        std::fs::write(&written.plot, self.svg(title))
            .with_context(|| format!("writing {}", written.plot.display()))?;
        Ok(written)
    }

    /// Whether every objective holds (and every file arrived).
    pub fn meets_slo(&self) -> bool {
        let sorted = self.sorted();
        self.files_delivered == self.files_uploaded
            && SLO.iter().all(|(q, limit)| {
                percentile(&sorted, self.files_uploaded, *q).is_some_and(|got| got <= *limit)
            })
    }

    /// The text report.
    pub fn text(&self) -> String {
        let sorted = self.sorted();
        let mut out = String::new();
        let ratio = if self.bytes_out > 0 {
            self.bytes_in as f64 / self.bytes_out as f64
        } else {
            0.0
        };
        let rate = if self.upload_span.as_secs_f64() > 0.0 {
            self.files_uploaded as f64 / self.upload_span.as_secs_f64()
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "files      {} uploaded, {} delivered ({} missing)",
            self.files_uploaded,
            self.files_delivered,
            self.files_uploaded.saturating_sub(self.files_delivered)
        );
        let _ = writeln!(
            out,
            "rate       {rate:.1} files/s uploaded over {:.0?}",
            self.upload_span
        );
        let _ = writeln!(
            out,
            "bundles    {} ({:.1} files per bundle)",
            self.bundles,
            self.files_delivered as f64 / self.bundles.max(1) as f64
        );
        let _ = writeln!(
            out,
            "bytes      {} in, {} out, compression ratio {ratio:.2}",
            self.bytes_in, self.bytes_out
        );
        let _ = writeln!(
            out,
            "latency    p50 {}  p95 {}  p99 {}  p99.9 {}  max {}",
            shown(percentile(&sorted, self.files_uploaded, 0.50)),
            shown(percentile(&sorted, self.files_uploaded, 0.95)),
            shown(percentile(&sorted, self.files_uploaded, 0.99)),
            shown(percentile(&sorted, self.files_uploaded, 0.999)),
            shown(percentile(&sorted, self.files_uploaded, 1.0))
        );
        for (q, limit) in SLO {
            let got = percentile(&sorted, self.files_uploaded, q);
            let verdict = if got.is_some_and(|got| got <= limit) {
                "met"
            } else {
                "MISSED"
            };
            let _ = writeln!(
                out,
                "objective  {:.1}% within {:?}: {verdict} ({})",
                q * 100.0,
                limit,
                shown(got)
            );
        }
        let peak = self.samples.iter().map(|s| s.backlog).max().unwrap_or(0);
        let _ = writeln!(out, "backlog    peak {peak} messages");
        let _ = writeln!(out, "dlq        {} messages", self.dead_letters);
        out
    }

    /// The picture: the latency distribution with the objective's lines, and throughput and backlog over time.
    pub fn svg(&self, title: &str) -> String {
        let (w, h) = (900.0, 620.0);
        let mut svg = header(w, h, title);
        let sorted: Vec<f64> = self.sorted().iter().map(Duration::as_secs_f64).collect();
        latency_panel(
            &mut svg,
            LATENCY_PANEL,
            &[Curve {
                label: "delivered".into(),
                sorted: &sorted,
                total: self.files_uploaded,
                color: "#1f77b4",
                dashed: false,
            }],
        );
        self.timeline_panel(
            &mut svg,
            Panel {
                x: 60.0,
                y: 340.0,
                w: 800.0,
                h: 220.0,
            },
        );
        svg.push_str("</svg>\n");
        svg
    }

    /// Files per second uploaded and delivered, and the queue's backlog, over the run.
    fn timeline_panel(&self, svg: &mut String, p: Panel) {
        let end = self.samples.last().map_or(1.0, |s| s.at.max(1.0));
        let stride = self.samples.len().div_ceil(TIMELINE_POINTS).max(1);
        let samples: Vec<Sample> = self.samples.iter().step_by(stride).copied().collect();
        let rates = |pick: fn(&Sample) -> usize| -> Vec<(f64, f64)> {
            samples
                .windows(2)
                .map(|w| {
                    let dt = (w[1].at - w[0].at).max(1e-3);
                    (
                        w[1].at,
                        (pick(&w[1]).saturating_sub(pick(&w[0]))) as f64 / dt,
                    )
                })
                .collect()
        };
        let uploaded = rates(|s| s.uploaded);
        let delivered = rates(|s| s.delivered);
        let backlog: Vec<(f64, f64)> = samples.iter().map(|s| (s.at, s.backlog as f64)).collect();
        let top = uploaded
            .iter()
            .chain(&delivered)
            .chain(&backlog)
            .map(|(_, v)| *v)
            .fold(1.0, f64::max)
            * 1.1;
        p.frame(
            svg,
            "throughput (files/s) and backlog (messages) over time",
            "time (s)",
            end,
            top,
        );
        for (i, (name, points, color)) in [
            ("uploaded/s", &uploaded, "#2ca02c"),
            ("delivered/s", &delivered, "#1f77b4"),
            ("backlog", &backlog, "#ff7f0e"),
        ]
        .into_iter()
        .enumerate()
        {
            p.polyline(svg, points, end, top, color, false);
            p.legend(svg, i, name, color);
        }
    }
}

/// A plotting area.
#[derive(Clone, Copy)]
struct Panel {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Where the latency distribution goes, at the top of a picture.
const LATENCY_PANEL: Panel = Panel {
    x: 60.0,
    y: 50.0,
    w: 800.0,
    h: 220.0,
};

impl Panel {
    fn frame(&self, svg: &mut String, title: &str, x_label: &str, x_max: f64, y_max: f64) {
        let Panel { x, y, w, h } = *self;
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" font-weight="bold">{}</text>"#,
            y - 8.0,
            escape(title)
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#999"/>"##
        );
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{:.0}</text>"##,
                x + f * w,
                y + h + 14.0,
                f * x_max
            );
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                x - 4.0,
                y + h - f * h + 4.0,
                tick(f * y_max)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x + w / 2.0,
            y + h + 30.0,
            escape(x_label)
        );
    }

    /// The `index`th entry of a legend along the panel's top.
    fn legend(&self, svg: &mut String, index: usize, name: &str, color: &str) {
        let x = self.x + 10.0 + index as f64 * 140.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            self.y + 12.0,
            x + 16.0,
            self.y + 16.0,
            escape(name)
        );
    }

    fn polyline(
        &self,
        svg: &mut String,
        points: &[(f64, f64)],
        x_max: f64,
        y_max: f64,
        color: &str,
        dashed: bool,
    ) {
        if points.is_empty() {
            return;
        }
        let coords: Vec<String> = points
            .iter()
            .map(|(px, py)| {
                format!(
                    "{:.1},{:.1}",
                    self.x + (px / x_max).clamp(0.0, 1.0) * self.w,
                    self.y + self.h - (py / y_max).clamp(0.0, 1.0) * self.h
                )
            })
            .collect();
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{}"/>"#,
            coords.join(" ")
        );
    }
}

fn tick(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted = secs(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(percentile(&sorted, 10, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(percentile(&sorted, 10, 0.95), Some(Duration::from_secs(10)));
        assert_eq!(percentile(&sorted, 10, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(percentile(&[], 0, 0.5), None);
    }

    #[test]
    fn files_that_never_arrived_count_as_slower_than_any_limit() {
        let sorted = secs(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        // Ten of twenty arrived: the median is the last of them, above it nothing arrived.
        assert_eq!(percentile(&sorted, 20, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(percentile(&sorted, 20, 0.51), None);
        let m = Measurements {
            files_uploaded: 20,
            files_delivered: 0,
            ..Measurements::default()
        };
        let text = m.text();
        assert!(
            text.contains("p50 never") && text.contains("95.0% within 120s: MISSED (never)"),
            "{text}"
        );
    }

    #[test]
    fn the_objective_needs_every_file_and_both_percentiles() {
        let mut m = Measurements {
            files_uploaded: 1000,
            files_delivered: 1000,
            latencies: secs(&[30; 1000]),
            ..Measurements::default()
        };
        assert!(m.meets_slo());
        // 6% slower than two minutes breaks the 95% objective.
        for l in m.latencies.iter_mut().take(60) {
            *l = Duration::from_secs(121);
        }
        assert!(!m.meets_slo());
        assert!(
            m.text().contains("95.0% within 120s: MISSED"),
            "{}",
            m.text()
        );
        m.latencies = secs(&[30; 1000]);
        m.files_delivered = 999;
        assert!(!m.meets_slo(), "a missing file fails the run");
    }

    #[test]
    fn the_picture_is_svg_with_both_panels() {
        let m = Measurements {
            files_uploaded: 3,
            files_delivered: 3,
            latencies: secs(&[10, 20, 30]),
            samples: vec![
                Sample {
                    at: 0.0,
                    uploaded: 0,
                    delivered: 0,
                    backlog: 0,
                },
                Sample {
                    at: 1.0,
                    uploaded: 3,
                    delivered: 0,
                    backlog: 3,
                },
                Sample {
                    at: 2.0,
                    uploaded: 3,
                    delivered: 3,
                    backlog: 0,
                },
            ],
            ..Measurements::default()
        };
        let svg = m.svg("load <test>");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("SLO 95.0% ≤ 120s") && svg.contains("load &lt;test&gt;"));
    }
}
