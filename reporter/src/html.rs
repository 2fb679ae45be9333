//! The report as a page a person reads: `templates/report.html.hbs` rendered with handlebars in strict mode (a
//! missing value is an error, not an empty cell) and with HTML escaping on, since object keys and reasons come
//! from outside. The two charts are inline SVG drawn here from numbers only, and inserted unescaped.

use std::fmt::Write as _;

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::error::ReportError;
use crate::report::{Histogram, Report};
use crate::tally::Counts;

const TEMPLATE: &str = include_str!("../../templates/report.html.hbs");

/// The page of `report`.
pub fn render(report: &Report) -> Result<String, ReportError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("report", TEMPLATE)
        .map_err(|e| ReportError::Template(format!("does not compile: {e}")))?;
    hb.render("report", &view(report))
        .map_err(|e| ReportError::Template(format!("does not render: {e}")))
}

/// The report with what the page shows ready-made: numbers with separators, durations, shares, the charts.
fn view(report: &Report) -> Value {
    let c = &report.counts;
    let latency = &report.latency;
    let ms = |v: Option<u64>| v.map_or_else(|| "not reached".to_string(), duration);
    let targets: Vec<Value> = latency
        .objective
        .iter()
        .map(|t| {
            json!({
                "share": percent(t.share),
                "within": duration(t.within_ms),
                "achieved": t.achieved_share.map_or_else(|| "—".to_string(), percent),
                "met": t.met,
            })
        })
        .collect();
    let verdict = if c.unexplained > 0 {
        format!(
            "{} file(s) are unexplained: nothing in the pipeline accounts for them. Re-send them with \
             `cargo xtask report {} --date {} --requeue-unexplained` (RUNBOOK.md says when).",
            number(c.unexplained),
            report.environment,
            report.date
        )
    } else if c.pending > 0 {
        format!(
            "Nothing is lost, but {} file(s) are still on their way: they are waiting in the queue.",
            number(c.pending)
        )
    } else {
        "Every file that landed was delivered, or is in the dead-letter queue with its reason."
            .to_string()
    };
    json!({
        "report": report,
        "cards": [
            card("Landed", c.landed, "neutral"),
            card("Delivered", c.delivered, "good"),
            card("Dead-lettered", c.dead_lettered, if c.dead_lettered > 0 { "warn" } else { "neutral" }),
            card("Pending", c.pending, if c.pending > 0 { "warn" } else { "neutral" }),
            card("Unexplained", c.unexplained, if c.unexplained > 0 { "bad" } else { "good" }),
        ],
        "verdict": verdict,
        "alarm": c.unexplained > 0,
        "percentiles": [
            {"name": "p50", "value": ms(latency.p50_ms)},
            {"name": "p95", "value": ms(latency.p95_ms)},
            {"name": "p99", "value": ms(latency.p99_ms)},
            {"name": "p99.9", "value": ms(latency.p999_ms)},
            {"name": "max", "value": ms(latency.max_ms)},
        ],
        "targets": targets,
        "judged": number(latency.judged),
        "histogram_svg": histogram_svg(&latency.histogram, &latency.objective.iter().map(|t| (t.share, t.within_ms)).collect::<Vec<_>>()),
        "hours_svg": hours_svg(&report.hours.iter().map(|h| h.counts).collect::<Vec<_>>()),
        "generated_at": report.generated_at.split('.').next().unwrap_or_default().trim_end_matches('Z').to_string() + "Z",
        "bundles_all_archived": report.bundles.missing.is_empty(),
        "bytes_landed": bytes(report.bytes.landed),
        "bytes_delivered": bytes(report.bytes.delivered),
        "lists": [
            list("Unexplained", "Nothing in the pipeline accounts for these files.", &report.oldest.unexplained, c.unexplained),
            list("Pending", "Waiting in the queue, or being delivered now.", &report.oldest.pending, c.pending),
            list("Dead-lettered", "In the dead-letter queue, with the reason.", &report.oldest.dead_lettered, c.dead_lettered),
        ],
    })
}

fn card(label: &str, value: u64, tone: &str) -> Value {
    json!({"label": label, "value": number(value), "tone": tone})
}

fn list(title: &str, meaning: &str, files: &[crate::tally::Listed], total: u64) -> Value {
    let rows: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "key": f.key,
                "version": f.version_id.clone().unwrap_or_else(|| "—".into()),
                "size": bytes(f.size),
                "landed_at": f.landed_at,
                "state": f.state,
                "reason": f.reason,
            })
        })
        .collect();
    json!({
        "title": title,
        "meaning": meaning,
        "total": number(total),
        "shown": rows.len(),
        "more": total > rows.len() as u64,
        "rows": rows,
    })
}

/// 1234567 → "1,234,567".
pub(crate) fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.2}%")
    }
}

/// 65432 ms → "1 min 5 s", 120000 ms → "2 min".
pub(crate) fn duration(ms: u64) -> String {
    let seconds = ms as f64 / 1000.0;
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        match (ms % 60_000) / 1000 {
            0 => format!("{} min", ms / 60_000),
            s => format!("{} min {s} s", ms / 60_000),
        }
    } else {
        format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 14.0;

/// Delivered files by latency, with the objective's targets (share, time) as dashed lines.
fn histogram_svg(h: &Histogram, objective: &[(f64, u64)]) -> String {
    let bars = h.counts.len() + usize::from(h.over > 0);
    let most = h
        .counts
        .iter()
        .copied()
        .chain([h.over])
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 10.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = plot_w / bars as f64;
    let mut svg = svg_open("Delivered files by latency");
    axes(&mut svg, most, plot_h);
    for (i, count) in h
        .counts
        .iter()
        .chain(std::iter::once(&h.over))
        .take(bars)
        .enumerate()
    {
        let height = plot_h * *count as f64 / most as f64;
        let over = i == h.counts.len();
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"##,
            LEFT + i as f64 * bar_w + 1.0,
            TOP + plot_h - height,
            (bar_w - 2.0).max(1.0),
            height,
            if over { "#a33" } else { "#3b73b9" },
            if over {
                format!(
                    "{count} slower than {}",
                    duration(h.counts.len() as u64 * h.bucket_ms)
                )
            } else {
                format!(
                    "{count} within {} to {}",
                    duration(i as u64 * h.bucket_ms),
                    duration((i as u64 + 1) * h.bucket_ms)
                )
            }
        );
    }
    let label_every = (h.counts.len() / 6).max(1);
    for i in (0..=h.counts.len()).step_by(label_every) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#444">{}</text>"##,
            LEFT + i as f64 * bar_w,
            HEIGHT - 10.0,
            duration(i as u64 * h.bucket_ms)
        );
    }
    let span = h.counts.len() as u64 * h.bucket_ms;
    for (n, &(share, target)) in objective.iter().enumerate() {
        if target > span {
            continue;
        }
        let x = LEFT + target as f64 / h.bucket_ms as f64 * bar_w;
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="5 4"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#c0392b">{} within {}</text>"##,
            TOP + plot_h,
            x + 4.0,
            TOP + 12.0 + 13.0 * n as f64,
            percent(share),
            duration(target)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Files by the hour they landed in, stacked by verdict.
fn hours_svg(hours: &[Counts]) -> String {
    let most = hours.iter().map(|h| h.landed).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - 10.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = plot_w / hours.len().max(1) as f64;
    let mut svg = svg_open("Files by the hour they landed in");
    axes(&mut svg, most, plot_h);
    for (i, h) in hours.iter().enumerate() {
        let mut y = TOP + plot_h;
        for (count, colour, what) in [
            (h.delivered, "#2e8b57", "delivered"),
            (h.dead_lettered, "#e67e22", "dead-lettered"),
            (h.pending, "#f1c40f", "pending"),
            (h.unexplained, "#c0392b", "unexplained"),
        ] {
            if count == 0 {
                continue;
            }
            let height = plot_h * count as f64 / most as f64;
            y -= height;
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{height:.1}" fill="{colour}"><title>{i:02}:00 UTC: {count} {what}</title></rect>"##,
                LEFT + i as f64 * bar_w + 1.0,
                (bar_w - 2.0).max(1.0),
            );
        }
        if i.is_multiple_of(3) {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#444">{i:02}h</text>"##,
                LEFT + (i as f64 + 0.5) * bar_w,
                HEIGHT - 10.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn svg_open(title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"##
    )
}

/// The axes and the largest count, at the top of the y axis.
fn axes(svg: &mut String, most: u64, plot_h: f64) {
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#888"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">{}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">0</text>"##,
        TOP + plot_h,
        TOP + plot_h,
        WIDTH - 10.0,
        TOP + plot_h,
        LEFT - 6.0,
        TOP + 10.0,
        number(most),
        LEFT - 6.0,
        TOP + plot_h
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_durations_and_sizes_read_as_people_write_them() {
        assert_eq!(number(0), "0");
        assert_eq!(number(864_000), "864,000");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(duration(65_432), "1 min 5 s");
        assert_eq!(duration(120_000), "2 min");
        assert_eq!(duration(9_500), "9.5 s");
        assert_eq!(duration(7_260_000), "2 h 1 min");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(100_000), "100.0 KB");
        assert_eq!(percent(0.999), "99.90%");
        assert_eq!(percent(1.0), "100%");
    }
}
