//! One CloudWatch Embedded Metric Format document per invocation, written to stdout where Lambda's log
//! pipeline turns it into metrics; no file content or credential ever goes into it.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// EMF carries at most 100 values per metric.
const MAX_VALUES: usize = 100;

/// The metrics of one invocation.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    counts: BTreeMap<&'static str, f64>,
    /// Millisecond samples (latencies).
    samples: BTreeMap<&'static str, Vec<f64>>,
}

impl Metrics {
    pub fn add(&mut self, name: &'static str, value: f64) {
        *self.counts.entry(name).or_default() += value;
    }

    pub fn set(&mut self, name: &'static str, value: f64) {
        self.counts.insert(name, value);
    }

    pub fn sample(&mut self, name: &'static str, millis: f64) {
        self.samples.entry(name).or_default().push(millis);
    }

    pub fn count(&self, name: &str) -> f64 {
        self.counts.get(name).copied().unwrap_or(0.0)
    }

    /// The EMF document.
    pub fn to_emf(&self, namespace: &str, function: &str) -> Value {
        let mut definitions = Vec::new();
        let mut root = serde_json::Map::new();
        for (name, value) in &self.counts {
            let unit = if name.starts_with("Bytes") {
                "Bytes"
            } else if *name == "CompressionRatio" || *name == "BreakerOpen" {
                "None"
            } else {
                "Count"
            };
            definitions.push(json!({"Name": name, "Unit": unit}));
            root.insert((*name).to_string(), json!(value));
        }
        for (name, values) in &self.samples {
            if values.is_empty() {
                continue;
            }
            definitions.push(json!({"Name": name, "Unit": "Milliseconds"}));
            root.insert((*name).to_string(), json!(quantiles(values, MAX_VALUES)));
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("Function".into(), json!(function));
        Value::Object(root)
    }

    /// Writes the EMF document as one line.
    pub fn emit(&self, namespace: &str, function: &str, out: &mut dyn Write) {
        let line = self.to_emf(namespace, function).to_string();
        let _ = writeln!(out, "{line}");
    }
}

/// At most `n` values that keep the distribution's shape (evenly spaced order statistics, max included).
fn quantiles(values: &[f64], n: usize) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.len() <= n {
        return sorted;
    }
    (0..n)
        .map(|i| sorted[(i * (sorted.len() - 1)) / (n - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric() {
        let mut m = Metrics::default();
        m.add("FilesDelivered", 3.0);
        m.add("BytesIn", 300.0);
        for i in 0..1000 {
            m.sample("EndToEndLatency", f64::from(i));
        }
        let doc = m.to_emf("FileAggregator", "fn");
        let defs = &doc["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(defs.as_array().map(Vec::len), Some(3));
        assert_eq!(doc["FilesDelivered"], json!(3.0));
        let latencies = doc["EndToEndLatency"].as_array().expect("array");
        assert_eq!(latencies.len(), 100);
        assert_eq!(latencies[99], json!(999.0));
        assert_eq!(doc["Function"], json!("fn"));
    }
}
