//! `crp metrics`: what the event log, the ledger and the store say about
//! how the store is used.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{Format, GlobalArgs};
use crate::config::Config;
use crate::error::ExitStatus;
use crate::policy::Policy;
use crate::policy::approval::{Kind, Ledger};
use crate::provenance::{State, read_events};
use crate::report::{Printer, SCHEMA_VERSION};
use crate::store::Store;
use crate::torrent::{Daemon, TorrentSettings};
use crate::units::ByteCount;

/// `crp metrics --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsDocument {
    pub schema_version: u32,
    pub command: String,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Requests judged (each time a sync asked for something it lacked).
    pub requested: u64,
    /// Requests that ended with the object available.
    pub fulfilled: u64,
    pub failed: u64,
    /// Mean download time by size class, over downloads that moved bytes.
    pub download_seconds: BTreeMap<String, DownloadStats>,
    /// Bytes in the store by object state.
    pub storage_bytes: BTreeMap<String, u64>,
    pub storage_total_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Mean upload ratio of the torrents the daemon seeds, when it can be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeding_ratio: Option<f64>,
    /// Of judged requests: the share no person had to look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approval_rate: Option<f64>,
    pub auto_approved: u64,
    pub awaiting_approval: u64,
    /// People's decisions, in total and by day.
    pub approvals: u64,
    pub denials: u64,
    pub decisions_by_day: BTreeMap<String, DayDecisions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadStats {
    pub count: u64,
    pub mean_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDecisions {
    pub approvals: u64,
    pub denials: u64,
}

/// The size classes downloads are grouped by.
fn size_class(bytes: u64) -> &'static str {
    match bytes {
        0..1_000_000 => "under-1MB",
        1_000_000..100_000_000 => "1MB-100MB",
        100_000_000..1_000_000_000 => "100MB-1GB",
        _ => "over-1GB",
    }
}

pub(super) async fn run(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let mut m = compute(&store)?;
    m.seeding_ratio = seeding_ratio(&store).await;
    match printer.format() {
        Format::Json => printer.json(&MetricsDocument {
            schema_version: SCHEMA_VERSION,
            command: "metrics".into(),
            metrics: m,
        }),
        Format::Prometheus => printer.data_out(&prometheus(&m)),
        _ => printer.out(text(&m).trim_end()),
    }
    Ok(ExitStatus::Success)
}

/// Everything but the seeding ratio, which needs the daemon.
pub fn compute(store: &Store) -> anyhow::Result<Metrics> {
    let mut m = Metrics::default();
    let mut durations: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for e in read_events(store)? {
        match (e.from_state, e.to_state) {
            (None, State::Requested) if e.details.get("message").is_none() => m.requested += 1,
            (_, State::Available) => {
                m.fulfilled += 1;
                let moved = e.details.get("served_by").is_some();
                if let (true, Some(size), Some(ms)) = (
                    moved,
                    e.details.get("size_bytes").and_then(|v| v.as_u64()),
                    e.details.get("duration_ms").and_then(|v| v.as_u64()),
                ) {
                    let entry = durations.entry(size_class(size)).or_default();
                    entry.0 += 1;
                    entry.1 += ms as f64 / 1000.0;
                }
            }
            (Some(State::Evaluating), State::Approved) => {
                let auto = e
                    .details
                    .get("verdict")
                    .and_then(|v| v.get("verdict"))
                    .and_then(|v| v.as_str())
                    == Some("auto-approved");
                if auto {
                    m.auto_approved += 1;
                }
            }
            (Some(State::Evaluating), State::AwaitingApproval) => m.awaiting_approval += 1,
            (_, State::Failed) => m.failed += 1,
            _ => {}
        }
    }
    m.download_seconds = durations
        .into_iter()
        .map(|(class, (count, total))| {
            (
                class.to_owned(),
                DownloadStats {
                    count,
                    mean_seconds: total / count as f64,
                },
            )
        })
        .collect();
    let judged = m.requested;
    if judged > 0 {
        m.auto_approval_rate = Some(m.auto_approved as f64 / judged as f64);
    }
    for record in store.object_records()? {
        if store.has_object(&record.sha256) {
            *m.storage_bytes
                .entry(record.status.to_string())
                .or_default() += record.size;
        }
    }
    m.storage_total_bytes = store.usage()?.bytes;
    m.quota_bytes = Policy::load(store.root())?.limits.quota;
    for d in Ledger::load(store)?.decisions() {
        let day = d.at.to_string()[..10].to_owned();
        let entry = m.decisions_by_day.entry(day).or_default();
        match d.decision {
            Kind::Approve => {
                m.approvals += 1;
                entry.approvals += 1;
            }
            Kind::Deny => {
                m.denials += 1;
                entry.denials += 1;
            }
        }
    }
    Ok(m)
}

/// The daemon's mean upload ratio over the torrents the store knows, when
/// there are any and the daemon answers.
async fn seeding_ratio(store: &Store) -> Option<f64> {
    let records = store.torrent_records();
    if records.is_empty() {
        return None;
    }
    let config = Config::load(store.root()).ok()?;
    let settings = TorrentSettings::resolve(store, &config).ok()?;
    let daemon = Daemon::connect(&settings).await.ok()?;
    let mut ratios = Vec::new();
    for record in records {
        if let Ok(Some(view)) = daemon.get(&record.info_hash).await {
            ratios.push(view.upload_ratio);
        }
    }
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

fn text(m: &Metrics) -> String {
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

fn prometheus(m: &Metrics) -> String {
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
