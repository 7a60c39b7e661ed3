//! `crp metrics`: the JSON document, the text and the Prometheus
//! exposition of the store's metrics.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::ops::metrics::Metrics;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION};

/// `crp metrics --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsDocument {
    pub schema_version: u32,
    pub command: String,
    pub metrics: Metrics,
}

pub fn text(m: &Metrics) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "requests        {} requested, {} fulfilled, {} failed",
        m.requested, m.fulfilled, m.failed
    );
    for (class, s) in &m.download_seconds {
        let _ = writeln!(
            out,
            "download time   {class:<10} {:.2} s mean over {}",
            s.mean_seconds, s.count
        );
    }
    let _ = write!(out, "storage         {}", ByteCount(m.storage_total_bytes));
    if let Some(quota) = m.quota_bytes {
        let _ = write!(
            out,
            " of a {} quota ({:.1} %)",
            ByteCount(quota),
            m.storage_total_bytes as f64 * 100.0 / quota.max(1) as f64
        );
    }
    out.push('\n');
    for (state, bytes) in &m.storage_bytes {
        let _ = writeln!(out, "                {state:<10} {}", ByteCount(*bytes));
    }
    if let Some(ratio) = m.seeding_ratio {
        let _ = writeln!(out, "seeding ratio   {ratio:.2}");
    }
    match m.auto_approval_rate {
        Some(rate) => {
            let _ = writeln!(
                out,
                "auto-approval   {:.0} % ({} of {} requests; {} waited for a person)",
                rate * 100.0,
                m.auto_approved,
                m.requested,
                m.awaiting_approval
            );
        }
        None => {
            let _ = writeln!(out, "auto-approval   no requests yet");
        }
    }
    let _ = writeln!(
        out,
        "people          {} approvals, {} denials",
        m.approvals, m.denials
    );
    for (day, d) in &m.decisions_by_day {
        let _ = writeln!(
            out,
            "                {day} {} approved, {} denied",
            d.approvals, d.denials
        );
    }
    out
}

pub fn prometheus(m: &Metrics) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "crp_requests_total",
        "counter",
        "Requests judged by the policy.",
        vec![(String::new(), m.requested.to_string())],
    );
    metric(
        "crp_fulfilled_total",
        "counter",
        "Requests that ended available.",
        vec![(String::new(), m.fulfilled.to_string())],
    );
    metric(
        "crp_failed_total",
        "counter",
        "Fetches that failed.",
        vec![(String::new(), m.failed.to_string())],
    );
    metric(
        "crp_download_seconds_mean",
        "gauge",
        "Mean download time by size class.",
        m.download_seconds
            .iter()
            .map(|(c, s)| {
                (
                    format!("{{size_class=\"{c}\"}}"),
                    s.mean_seconds.to_string(),
                )
            })
            .collect(),
    );
    metric(
        "crp_store_bytes",
        "gauge",
        "Bytes in the store by object state.",
        m.storage_bytes
            .iter()
            .map(|(s, b)| (format!("{{state=\"{s}\"}}"), b.to_string()))
            .collect(),
    );
    metric(
        "crp_store_total_bytes",
        "gauge",
        "Bytes the store's objects take.",
        vec![(String::new(), m.storage_total_bytes.to_string())],
    );
    if let Some(quota) = m.quota_bytes {
        metric(
            "crp_store_quota_bytes",
            "gauge",
            "The store's quota.",
            vec![(String::new(), quota.to_string())],
        );
    }
    if let Some(ratio) = m.seeding_ratio {
        metric(
            "crp_seeding_ratio",
            "gauge",
            "Mean upload ratio of the store's torrents.",
            vec![(String::new(), ratio.to_string())],
        );
    }
    if let Some(rate) = m.auto_approval_rate {
        metric(
            "crp_auto_approval_ratio",
            "gauge",
            "Share of requests approved by the policy alone.",
            vec![(String::new(), rate.to_string())],
        );
    }
    metric(
        "crp_human_decisions_total",
        "counter",
        "Approvals and denials made by people.",
        vec![
            ("{decision=\"approve\"}".into(), m.approvals.to_string()),
            ("{decision=\"deny\"}".into(), m.denials.to_string()),
        ],
    );
    out
}

/// Prints the metrics in the chosen format.
pub fn print(printer: &Printer, m: Metrics) {
    match printer.format() {
        Format::Json => printer.json(&MetricsDocument {
            schema_version: SCHEMA_VERSION,
            command: "metrics".into(),
            metrics: m,
        }),
        Format::Prometheus => printer.data_out(&prometheus(&m)),
        _ => printer.out(text(&m).trim_end()),
    }
}
