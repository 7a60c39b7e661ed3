//! `crp metrics`: what the event log, the ledger and the store say about
//! how the store is used.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::policy::Policy;
use crate::policy::approval::{Kind, Ledger};
use crate::provenance::{State, read_events};
use crate::store::Store;
use crate::torrent::{Daemon, TorrentSettings};

/// The store's metrics, the daemon's seeding ratio included when it can be
/// asked.
///
/// # Errors
/// A store path that cannot be resolved, or records, events or a ledger
/// that cannot be read.
pub async fn metrics(store: Option<&Path>) -> anyhow::Result<Metrics> {
    let store = Store::open(store)?;
    store.check()?;
    let mut m = compute(&store)?;
    m.seeding_ratio = seeding_ratio(&store).await;
    Ok(m)
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
