//! BitTorrent sources, through a transmission-daemon.
//!
//! crp drives the daemon over RPC ([`client`]) and owns everything around
//! the transfer: reading and checking metainfo before a byte is fetched
//! ([`metainfo`]), adding each torrent once however many processes want it,
//! waiting with progress ([`fetch`]), verifying and moving the data into the
//! store and seeding it from there ([`ingest`]), and starting a private
//! daemon wired to the store ([`daemon`]). The daemon's own completion hook
//! runs `crp hook torrent-done`, which ingests through the same code.
//!
//! Per torrent the store keeps `meta/torrents/<infohash>.json`: who asked
//! for it and what it must hash to, and once ingested, the object it became.

pub mod client;
pub mod daemon;
pub mod fetch;
pub mod ingest;
pub mod metainfo;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{Config, DEFAULT_RPC_URL};
use crate::digest::Sha256Digest;
use crate::store::record::{ObjectKind, ObjectUse};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::units::ByteCount;

pub use client::{Daemon, TorrentView};

/// Environment variables that configure the daemon connection.
pub const URL_ENV: &str = crate::settings::TRANSMISSION_URL;
pub const USER_ENV: &str = crate::settings::TRANSMISSION_USER;
pub const PASSWORD_ENV: &str = crate::settings::TRANSMISSION_PASSWORD;
pub const TIMEOUT_ENV: &str = crate::settings::TRANSMISSION_TIMEOUT;

/// Where the RPC URL came from, so errors can say what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlOrigin {
    Environment,
    Config,
    PrivateDaemon,
    Default,
}

impl fmt::Display for UrlOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Environment => URL_ENV,
            Self::Config => "the store's config.toml",
            Self::PrivateDaemon => "the store's private daemon",
            Self::Default => "the default",
        })
    }
}

/// How to reach the daemon and what to do after a download.
#[derive(Clone)]
pub struct TorrentSettings {
    pub rpc_url: Url,
    /// User and password; never printed or logged.
    pub auth: Option<(String, String)>,
    pub timeout: Duration,
    pub origin: UrlOrigin,
    pub seed: bool,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
}

impl fmt::Debug for TorrentSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorrentSettings")
            .field("rpc_url", &crate::source::redact_url(&self.rpc_url))
            .field("auth", &self.auth.as_ref().map(|(user, _)| (user, "****")))
            .field("timeout", &self.timeout)
            .field("origin", &self.origin)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl TorrentSettings {
    /// The settings for `store`: environment variables, then the store's
    /// `config.toml`, then the store's private daemon if one runs, then the
    /// default URL.
    pub fn resolve(store: &Store, config: &Config) -> Result<Self, TorrentError> {
        let env = crate::settings::var;
        let torrent = &config.torrent;
        let (rpc_url, origin) = if let Some(text) = env(URL_ENV) {
            let url = Url::parse(&text).map_err(|err| TorrentError::BadUrl {
                url: text.clone(),
                reason: err.to_string(),
            })?;
            (url, UrlOrigin::Environment)
        } else if let Some(url) = &torrent.rpc_url {
            (url.clone(), UrlOrigin::Config)
        } else if let Some(url) = daemon::running_url(store) {
            (url, UrlOrigin::PrivateDaemon)
        } else {
            (
                Url::parse(DEFAULT_RPC_URL).expect("a valid URL"),
                UrlOrigin::Default,
            )
        };
        let user = env(USER_ENV).or_else(|| torrent.user.clone());
        let password = env(PASSWORD_ENV).or_else(|| torrent.password.clone());
        let timeout = crate::settings::transmission_timeout()
            .or(torrent.timeout)
            .unwrap_or(Duration::from_secs(30));
        Ok(Self {
            rpc_url,
            auth: user.map(|u| (u, password.unwrap_or_default())),
            timeout,
            origin,
            seed: torrent.seed.unwrap_or(true),
            seed_ratio: torrent.seed_ratio,
            seed_time: torrent.seed_time,
        })
    }
}

/// What a torrent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TorrentPhase {
    /// Data is arriving.
    Downloading,
    /// No peer or web seed is sending anything (not an error: one may come).
    Stalled,
    /// The daemon is checking pieces.
    Verifying,
    /// Complete, in the store, not seeding.
    Available,
    /// Complete, in the store, and uploading to others.
    Seeding,
    /// Paused in the daemon.
    Stopped,
}

/// A torrent's state, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentState {
    pub phase: TorrentPhase,
    /// 0 to 100.
    pub percent: f64,
    /// Bytes per second arriving.
    pub rate: u64,
    /// Peers and web seeds sending data.
    pub peers: u64,
    /// Upload ratio, while seeding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// What the daemon says went wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TorrentState {
    /// A torrent that is done and in the store.
    pub fn available() -> Self {
        Self {
            phase: TorrentPhase::Available,
            percent: 100.0,
            rate: 0,
            peers: 0,
            ratio: None,
            error: None,
        }
    }
}

impl fmt::Display for TorrentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            TorrentPhase::Downloading => write!(
                f,
                "downloading {:.1}% ({} peer{}, {}/s)",
                self.percent,
                self.peers,
                if self.peers == 1 { "" } else { "s" },
                ByteCount(self.rate)
            ),
            TorrentPhase::Stalled => write!(f, "stalled at {:.1}% (no peers)", self.percent),
            TorrentPhase::Verifying => write!(f, "verifying ({:.1}%)", self.percent),
            TorrentPhase::Available => f.write_str("available"),
            TorrentPhase::Seeding => match self.ratio {
                Some(ratio) => write!(f, "seeding (ratio {ratio:.2})"),
                None => f.write_str("seeding"),
            },
            TorrentPhase::Stopped => write!(f, "stopped at {:.1}%", self.percent),
        }?;
        if let Some(error) = &self.error {
            write!(f, "; the daemon reports: {error}")?;
        }
        Ok(())
    }
}

/// Why a torrent could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    #[error("cannot reach transmission-daemon at {url} ({reason})")]
    Unreachable {
        url: String,
        reason: String,
        origin: UrlOrigin,
    },
    #[error("transmission-daemon at {url} refused the user and password")]
    Auth { url: String },
    #[error("{url} answered HTTP {status}; it is not a transmission RPC endpoint")]
    NotTransmission { url: String, status: u16 },
    #[error("invalid transmission RPC URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("transmission-daemon `{method}` failed: {message}")]
    Rpc { method: String, message: String },
    #[error("{0}")]
    Transport(String),
    #[error("cannot read the torrent {source_text}: {reason}")]
    BadMetainfo { source_text: String, reason: String },
    #[error("the torrent was refused before downloading: {reason}")]
    Rejected { reason: String },
    #[error("the daemon reports an error for the torrent: {0}")]
    Failed(String),
    #[error("the torrent left the daemon before it completed")]
    Vanished,
}

impl TorrentError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Unreachable { origin, .. } => Some(match origin {
                UrlOrigin::Default | UrlOrigin::PrivateDaemon => format!(
                    "start the store's own daemon with `crp torrent daemon start`, or point crp at one with `{URL_ENV}` or `[torrent] rpc_url` in the store's config.toml"
                ),
                origin => format!("check the daemon, and the URL in {origin}"),
            }),
            Self::Auth { .. } => Some(format!(
                "set `{USER_ENV}` and `{PASSWORD_ENV}`, or `user` and `password` under `[torrent]` in the store's config.toml"
            )),
            _ => None,
        }
    }
}

/// What the store knows about one torrent: why it was added and, once
/// ingested, what it became. `meta/torrents/<infohash>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentRecord {
    pub schema_version: u32,
    pub info_hash: String,
    /// The magnet link or `.torrent` it came from (credentials redacted).
    pub source: String,
    /// What a manifest says it must hash to; `None` to pin on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The resource that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_for: Option<ObjectUse>,
    #[serde(default = "yes")]
    pub seed: bool,
    /// The manifest declares it executable.
    #[serde(default)]
    pub executable: bool,
    pub added_at: Timestamp,
    /// Set once its data is an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested: Option<Ingested>,
    /// Set when its data did not match and was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
}

/// Data that did not match what the manifest declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub actual: Sha256Digest,
    pub quarantined: PathBuf,
    pub at: Timestamp,
    /// Set when the data matched but was executable without being declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
}

fn yes() -> bool {
    true
}

/// The object a torrent became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingested {
    pub sha256: Sha256Digest,
    pub kind: ObjectKind,
    pub size: u64,
    pub at: Timestamp,
    /// This process made it an object (rather than finding it done by the
    /// hook or another sync): whoever does tells people, once.
    #[serde(skip)]
    pub fresh: bool,
}

impl Store {
    fn torrent_record_path(&self, info_hash: &str) -> PathBuf {
        self.root()
            .join("meta")
            .join("torrents")
            .join(format!("{info_hash}.json"))
    }

    pub fn read_torrent(&self, info_hash: &str) -> Result<Option<TorrentRecord>, StoreError> {
        crate::store::read_json(&self.torrent_record_path(info_hash))
    }

    pub fn write_torrent(&self, record: &TorrentRecord) -> Result<(), StoreError> {
        crate::store::write_json(&self.torrent_record_path(&record.info_hash), record)
    }

    /// Forgets a torrent that was cancelled.
    pub fn remove_torrent(&self, info_hash: &str) -> Result<(), StoreError> {
        match fs_err::remove_file(self.torrent_record_path(info_hash)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// Every torrent record, for looking one up by source.
    pub fn torrent_records(&self) -> Vec<TorrentRecord> {
        let dir = self.root().join("meta").join("torrents");
        let Ok(entries) = fs_err::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| crate::fsutil::read_regular(&e.path(), crate::store::MAX_RECORD).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// Where the daemon puts a torrent's data while it downloads.
    pub fn torrent_download_dir(&self, info_hash: &str) -> PathBuf {
        self.incomplete_dir().join("torrents").join(info_hash)
    }

    /// The folder the daemon seeds a torrent from once its data is an
    /// object: it holds `<name>`, a link to the object.
    pub fn seeding_dir(&self, info_hash: &str) -> PathBuf {
        self.root().join("seeding").join(info_hash)
    }

    /// The folder the private daemon watches for `.torrent` files.
    pub fn watch_dir(&self) -> PathBuf {
        self.root().join("watch")
    }

    /// The completion log: one JSON line per torrent ingested or refused.
    pub fn completion_log(&self) -> PathBuf {
        self.root().join("meta").join("completed.jsonl")
    }
}

/// One line of the completion log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionLine {
    pub time: Timestamp,
    pub name: String,
    pub info_hash: String,
    pub size: u64,
    /// `ingested`, `already-in-store`, `mismatch` or `failed`.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// `sync`, `hook`, or `watch-folder`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Appends a line to the store's completion log. Lines are written whole in
/// one `write` on a file opened for appending, so concurrent writers do not
/// interleave.
pub fn log_completion(store: &Store, line: &CompletionLine) -> std::io::Result<()> {
    let mut text = serde_json::to_string(line).expect("a log line serializes");
    text.push('\n');
    crate::fsutil::append(&store.completion_log(), text.as_bytes())
}

/// Stops seeding the torrents this store seeds once they have seeded for
/// `limit` (transmission has no such limit of its own). Returns the names
/// of those stopped.
pub async fn enforce_seed_time(
    daemon: &Daemon,
    store: &Store,
    limit: Duration,
) -> Result<Vec<String>, TorrentError> {
    let seeding_root = store.root().join("seeding");
    let mut stopped = Vec::new();
    for view in daemon.list().await? {
        let seeding = matches!(
            view.status,
            transmission_rpc::types::TorrentStatus::Seeding
                | transmission_rpc::types::TorrentStatus::QueuedToSeed
        );
        if seeding
            && view.download_dir.starts_with(&seeding_root)
            && view.seconds_seeding >= limit.as_secs()
        {
            daemon.stop(&view.info_hash).await?;
            mark_stopped(store, &view.info_hash, limit).await;
            stopped.push(view.name);
        }
    }
    Ok(stopped)
}

/// The object a stopped torrent seeded is merely available now: its record
/// and the event log say so.
async fn mark_stopped(store: &Store, info_hash: &str, limit: Duration) {
    use crate::provenance::{Event, EventLog, State};
    let Some(digest) = store
        .read_torrent(info_hash)
        .ok()
        .flatten()
        .and_then(|r| r.ingested)
        .map(|i| i.sha256)
    else {
        return;
    };
    let what = format!("recording that torrent {info_hash} stopped seeding");
    let Ok(_lock) = store
        .lock_object(&digest, &what, &crate::progress::Silent)
        .await
    else {
        return;
    };
    if let Ok(Some(mut record)) = store.read_object_record(&digest)
        && record.status == State::Seeding
    {
        record.status = State::Available;
        if store.write_object_record(&record).is_ok() {
            let events = EventLog::open(store);
            events.record(
                &Event::new(Some(State::Seeding), State::Available)
                    .object(Some(digest))
                    .detail("reason", "seed_time")
                    .detail("seed_time_secs", limit.as_secs()),
            );
            events.flush();
        }
    }
}

/// The info-hash of a `.torrent` file on disk, without the daemon.
pub fn info_hash_of_file(path: &Path) -> Option<String> {
    metainfo::Metainfo::read_file(path)
        .ok()
        .map(|m| m.info_hash)
}
