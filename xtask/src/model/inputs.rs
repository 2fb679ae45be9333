//! Where the model's handler figures come from: `target/bench/bench.json` when `cargo xtask bench` has run on
//! this machine, else the figures the bench measured on 2026-11-22 (`ServiceTimes::aws`).

use std::path::Path;

use anyhow::{Context, Result};
use latency_model::service::ServiceTimes;
use serde_json::Value;

/// The handler's CPU and compression, and where they come from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HandlerFigures {
    pub source: String,
    pub cpu_seconds_per_file: f64,
    pub cpu_seconds_per_byte: f64,
    pub compression_ratio: f64,
}

impl HandlerFigures {
    pub fn apply(&self, service: &mut ServiceTimes) {
        service.cpu_seconds_per_file = self.cpu_seconds_per_file;
        service.cpu_seconds_per_byte = self.cpu_seconds_per_byte;
        service.compression_ratio = self.compression_ratio;
    }
}

/// The figures of `target/bench/bench.json`, or the defaults when there is none.
pub fn handler_figures(root: &Path) -> Result<HandlerFigures> {
    let path = root.join("target/bench/bench.json");
    if !path.exists() {
        let d = ServiceTimes::aws();
        return Ok(HandlerFigures {
            source: "defaults: the bench of 2026-11-22 (no target/bench/bench.json; `cargo xtask bench` measures this machine)".into(),
            cpu_seconds_per_file: d.cpu_seconds_per_file,
            cpu_seconds_per_byte: d.cpu_seconds_per_byte,
            compression_ratio: d.compression_ratio,
        });
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON: run `cargo xtask bench` again",
            path.display()
        )
    })?;
    from_bench(&json)
        .with_context(|| {
            format!(
                "{} lacks the handler's or the bundler's figures: run `cargo xtask bench` again",
                path.display()
            )
        })
        .map(|mut figures| {
            figures.source = format!("{} (written {})", path.display(), modified(&path));
            figures
        })
}

/// The per-file and per-byte CPU: bundling's CPU per byte from the bench's own bundler row, the rest of the
/// handler's CPU per file (measured on files of `handler.file_size`).
fn from_bench(json: &Value) -> Option<HandlerFigures> {
    let ours = json.get("throughput")?.get(0)?;
    let bytes_in = ours.get("bytes_in")?.as_f64()?;
    let bytes_out = ours.get("bytes_out")?.as_f64()?;
    let cpu = ours.get("cost")?.get("cpu_seconds")?.as_f64()?;
    let handler = json.get("handler")?;
    let per_1000 = handler.get("cpu_seconds_per_1000_files")?.as_f64()?;
    let file_size = handler.get("file_size")?.as_f64()?;
    let per_byte = cpu / bytes_in.max(1.0);
    Some(HandlerFigures {
        source: String::new(),
        cpu_seconds_per_file: (per_1000 / 1000.0 - per_byte * file_size).max(0.0),
        cpu_seconds_per_byte: per_byte,
        compression_ratio: bytes_in / bytes_out.max(1.0),
    })
}

fn modified(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| app::rfc3339(time::OffsetDateTime::from(t)))
        .unwrap_or_else(|| "at an unknown time".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_figures_split_the_handler_s_cpu_into_per_file_and_per_byte() {
        let json: Value = serde_json::json!({
            "throughput": [{"bytes_in": 200_000_000.0, "bytes_out": 30_000_000.0,
                            "cost": {"cpu_seconds": 1.7, "wall_seconds": 1.0, "peak_rss_mib": 30.0}}],
            "handler": {"cpu_seconds_per_1000_files": 2.46, "file_size": 100_000}
        });
        let f = from_bench(&json).expect("figures");
        assert!((f.cpu_seconds_per_byte - 8.5e-9).abs() < 1e-12);
        assert!((f.cpu_seconds_per_file - (0.002_46 - 0.000_85)).abs() < 1e-9);
        assert!((f.compression_ratio - 200.0 / 30.0).abs() < 1e-9);
        assert!(from_bench(&serde_json::json!({"handler": {}})).is_none());
    }
}
