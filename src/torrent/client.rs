//! Talking to transmission-daemon over its RPC, through `transmission-rpc`.
//!
//! Against daemon 3.00 the crate needs care (measured, see the README):
//! every `torrent-get` names its fields explicitly (fields the daemon does
//! not know come back as `0` and break decoding), and RPC failures arrive as
//! `Ok` responses whose `result` is not `"success"`, so each call checks it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::Mutex;
use transmission_rpc::TransClient;
use transmission_rpc::types::{
    BasicAuth, Id, RatioMode, Torrent, TorrentAction, TorrentAddArgs, TorrentAddedOrDuplicate,
    TorrentGetField, TorrentSetArgs, TorrentStatus,
};
use url::Url;

use super::{TorrentError, TorrentSettings, TorrentState};
use crate::source::redact_url;

/// The fields crp reads, all of them known to daemon 3.00.
const FIELDS: [TorrentGetField; 18] = [
    TorrentGetField::Id,
    TorrentGetField::HashString,
    TorrentGetField::Name,
    TorrentGetField::Status,
    TorrentGetField::PercentDone,
    TorrentGetField::LeftUntilDone,
    TorrentGetField::MetadataPercentComplete,
    TorrentGetField::TotalSize,
    TorrentGetField::RateDownload,
    TorrentGetField::PeersConnected,
    TorrentGetField::WebseedsSendingToUs,
    TorrentGetField::DownloadDir,
    TorrentGetField::Error,
    TorrentGetField::ErrorString,
    TorrentGetField::UploadRatio,
    TorrentGetField::SecondsSeeding,
    TorrentGetField::SeedRatioLimit,
    TorrentGetField::SeedRatioMode,
];

/// One torrent as the daemon reports it.
#[derive(Debug, Clone)]
pub struct TorrentView {
    pub info_hash: String,
    pub name: String,
    pub status: TorrentStatus,
    pub percent_done: f64,
    pub left_until_done: u64,
    pub metadata_done: bool,
    pub total_size: u64,
    pub rate_download: u64,
    /// Peers and web seeds sending data.
    pub peers: u64,
    /// Peers connected, web seeds not counted: other BitTorrent clients
    /// that hold (some of) it.
    pub connected: u64,
    pub download_dir: PathBuf,
    pub error: Option<String>,
    pub upload_ratio: f64,
    pub seconds_seeding: u64,
    /// The ratio at which this torrent stops seeding, if it has its own.
    pub seed_ratio_limit: Option<f64>,
}

impl TorrentView {
    fn from(t: Torrent) -> Self {
        // Tracker warnings and errors pass (another tracker, a web seed or
        // a peer may do); a local error (disk full, data gone) does not.
        let error = match (t.error, t.error_string) {
            (Some(transmission_rpc::types::ErrorType::LocalError), Some(text))
                if !text.is_empty() =>
            {
                Some(text)
            }
            (Some(transmission_rpc::types::ErrorType::LocalError), _) => {
                Some("a local error".into())
            }
            _ => None,
        };
        Self {
            info_hash: t.hash_string.unwrap_or_default(),
            name: t.name.unwrap_or_default(),
            status: t.status.unwrap_or(TorrentStatus::Stopped),
            percent_done: f64::from(t.percent_done.unwrap_or(0.0)),
            left_until_done: t.left_until_done.unwrap_or(0).max(0) as u64,
            metadata_done: t.metadata_percent_complete.unwrap_or(0.0) >= 1.0,
            total_size: t.total_size.unwrap_or(0).max(0) as u64,
            rate_download: t.rate_download.unwrap_or(0).max(0) as u64,
            peers: t.peers_connected.unwrap_or(0).max(0) as u64
                + u64::from(t.webseeds_sending_to_us.unwrap_or(0)),
            connected: t.peers_connected.unwrap_or(0).max(0) as u64,
            download_dir: PathBuf::from(t.download_dir.unwrap_or_default()),
            error,
            upload_ratio: f64::from(t.upload_ratio.unwrap_or(0.0)).max(0.0),
            seconds_seeding: t.seconds_seeding.unwrap_or(0).max(0) as u64,
            seed_ratio_limit: (t.seed_ratio_mode == Some(RatioMode::Single))
                .then(|| t.seed_ratio_limit.map(f64::from))
                .flatten(),
        }
    }

    /// All of it is there. A magnet still fetching its metadata reports
    /// nothing left to do, so the metadata must be complete too.
    pub fn is_complete(&self) -> bool {
        self.metadata_done && self.left_until_done == 0 && self.percent_done >= 1.0
    }

    /// Where its data is: `<download dir>/<name>`.
    pub fn data_path(&self) -> PathBuf {
        self.download_dir.join(&self.name)
    }

    /// What the torrent is doing, for reports.
    pub fn state(&self) -> TorrentState {
        use super::TorrentPhase as P;
        let phase = match self.status {
            TorrentStatus::QueuedToVerify | TorrentStatus::Verifying => P::Verifying,
            TorrentStatus::Seeding | TorrentStatus::QueuedToSeed => P::Seeding,
            _ if self.is_complete() => P::Available,
            TorrentStatus::Stopped => P::Stopped,
            _ if self.peers == 0 && self.rate_download == 0 => P::Stalled,
            _ => P::Downloading,
        };
        TorrentState {
            phase,
            percent: (self.percent_done * 100.0 * 10.0).round() / 10.0,
            rate: self.rate_download,
            peers: self.peers,
            ratio: (phase == P::Seeding).then_some((self.upload_ratio * 100.0).round() / 100.0),
            error: self.error.clone(),
        }
    }
}

/// What to add.
#[derive(Debug, Clone)]
pub enum AddWhat<'a> {
    Metainfo(&'a [u8]),
    Magnet(&'a str),
}

/// A connection to the daemon.
pub struct Daemon {
    client: Mutex<TransClient>,
    /// Redacted, for messages.
    url: String,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Connects, checking first that a transmission RPC answers at the URL
    /// (a refused connection or a timeout is an error now, not a hang later).
    pub async fn connect(settings: &TorrentSettings) -> Result<Self, TorrentError> {
        let shown = redact_url(&settings.rpc_url);
        let mut builder = reqwest::Client::builder().timeout(settings.timeout);
        // A proxy must not capture the daemon on this machine.
        if is_loopback(&settings.rpc_url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|err| TorrentError::Transport(err.to_string()))?;
        let mut probe = http.post(settings.rpc_url.clone());
        if let Some((user, password)) = &settings.auth {
            probe = probe.basic_auth(user, Some(password));
        }
        let status = match probe.send().await {
            Ok(response) => response.status(),
            Err(err) => {
                let reason = if err.is_timeout() {
                    format!("no answer within {}s", settings.timeout.as_secs_f64())
                } else {
                    crate::net::describe_reqwest_error(&err)
                };
                return Err(TorrentError::Unreachable {
                    url: shown,
                    reason,
                    origin: settings.origin,
                });
            }
        };
        match status.as_u16() {
            // transmission asks for its session id first.
            409 | 200 => {}
            401 | 403 => return Err(TorrentError::Auth { url: shown }),
            other => {
                return Err(TorrentError::NotTransmission {
                    url: shown,
                    status: other,
                });
            }
        }
        let mut client = TransClient::new_with_client(settings.rpc_url.clone(), http);
        if let Some((user, password)) = &settings.auth {
            client.set_auth(BasicAuth {
                user: user.clone(),
                password: password.clone(),
            });
        }
        Ok(Self {
            client: Mutex::new(client),
            url: shown,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn rpc_err(
        &self,
        method: &str,
    ) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> TorrentError + '_ {
        let method = method.to_owned();
        move |err| TorrentError::Rpc {
            method: method.clone(),
            message: format!("{err} (daemon at {})", self.url),
        }
    }

    /// `torrent-get`, always with an explicit field list (see above).
    async fn torrent_get(
        &self,
        fields: Vec<TorrentGetField>,
        ids: Option<Vec<Id>>,
    ) -> Result<Vec<Torrent>, TorrentError> {
        let response = self
            .client
            .lock()
            .await
            .torrent_get(Some(fields), ids)
            .await
            .map_err(self.rpc_err("torrent-get"))?;
        check(&response.result, "torrent-get")?;
        Ok(response.arguments.torrents)
    }

    /// The torrent with this info-hash, if the daemon has it.
    pub async fn get(&self, info_hash: &str) -> Result<Option<TorrentView>, TorrentError> {
        let torrents = self
            .torrent_get(FIELDS.to_vec(), Some(vec![Id::Hash(info_hash.to_owned())]))
            .await?;
        Ok(torrents.into_iter().next().map(TorrentView::from))
    }

    /// Every torrent the daemon has.
    pub async fn list(&self) -> Result<Vec<TorrentView>, TorrentError> {
        let torrents = self.torrent_get(FIELDS.to_vec(), None).await?;
        Ok(torrents.into_iter().map(TorrentView::from).collect())
    }

    /// The files of a torrent whose metadata is complete: paths below the
    /// download folder (the first component is the torrent's name) and sizes.
    pub async fn files(&self, info_hash: &str) -> Result<Vec<(String, u64)>, TorrentError> {
        let torrents = self
            .torrent_get(
                vec![TorrentGetField::HashString, TorrentGetField::Files],
                Some(vec![Id::Hash(info_hash.to_owned())]),
            )
            .await?;
        Ok(torrents
            .into_iter()
            .next()
            .and_then(|t| t.files)
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.name, f.length.max(0) as u64))
            .collect())
    }

    /// Adds a torrent with its data going to `download_dir`. A torrent the
    /// daemon has already is adopted, not added twice.
    pub async fn add(&self, what: AddWhat<'_>, download_dir: &Path) -> Result<(), TorrentError> {
        let mut args = TorrentAddArgs {
            download_dir: Some(download_dir.to_string_lossy().into_owned()),
            paused: Some(false),
            ..TorrentAddArgs::default()
        };
        match what {
            AddWhat::Metainfo(bytes) => {
                args.metainfo = Some(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            AddWhat::Magnet(link) => args.filename = Some(link.to_owned()),
        }
        let response = self
            .client
            .lock()
            .await
            .torrent_add(args)
            .await
            .map_err(self.rpc_err("torrent-add"))?;
        check(&response.result, "torrent-add")?;
        match response.arguments {
            TorrentAddedOrDuplicate::TorrentAdded(_)
            | TorrentAddedOrDuplicate::TorrentDuplicate(_) => Ok(()),
            TorrentAddedOrDuplicate::Error => Err(TorrentError::Rpc {
                method: "torrent-add".into(),
                message: "the daemon did not accept the torrent".into(),
            }),
        }
    }

    async fn action(&self, action: TorrentAction, info_hash: &str) -> Result<(), TorrentError> {
        let name = action.to_str();
        let response = self
            .client
            .lock()
            .await
            .torrent_action(action, vec![Id::Hash(info_hash.to_owned())])
            .await
            .map_err(self.rpc_err(&name))?;
        check(&response.result, &name)
    }

    pub async fn stop(&self, info_hash: &str) -> Result<(), TorrentError> {
        self.action(TorrentAction::Stop, info_hash).await
    }

    pub async fn start(&self, info_hash: &str) -> Result<(), TorrentError> {
        self.action(TorrentAction::Start, info_hash).await
    }

    pub async fn verify(&self, info_hash: &str) -> Result<(), TorrentError> {
        self.action(TorrentAction::Verify, info_hash).await
    }

    /// Points the daemon at data that is already in `dir` (nothing moves).
    pub async fn set_location(&self, info_hash: &str, dir: &Path) -> Result<(), TorrentError> {
        let response = self
            .client
            .lock()
            .await
            .torrent_set_location(
                vec![Id::Hash(info_hash.to_owned())],
                dir.to_string_lossy().into_owned(),
                Some(false),
            )
            .await
            .map_err(self.rpc_err("torrent-set-location"))?;
        check(&response.result, "torrent-set-location")
    }

    /// Stops seeding at `ratio`.
    pub async fn set_seed_ratio(&self, info_hash: &str, ratio: f64) -> Result<(), TorrentError> {
        let mut args = TorrentSetArgs::default();
        args.seed_ratio_limit = Some(ratio);
        args.seed_ratio_mode = Some(RatioMode::Single);
        let response = self
            .client
            .lock()
            .await
            .torrent_set(args, Some(vec![Id::Hash(info_hash.to_owned())]))
            .await
            .map_err(self.rpc_err("torrent-set"))?;
        check(&response.result, "torrent-set")
    }

    /// Removes the torrent; with `delete_data`, its data too.
    pub async fn remove(&self, info_hash: &str, delete_data: bool) -> Result<(), TorrentError> {
        let response = self
            .client
            .lock()
            .await
            .torrent_remove(vec![Id::Hash(info_hash.to_owned())], delete_data)
            .await
            .map_err(self.rpc_err("torrent-remove"))?;
        check(&response.result, "torrent-remove")
    }

    /// Waits while the daemon verifies the torrent, up to `limit`.
    pub async fn wait_verified(
        &self,
        info_hash: &str,
        limit: Duration,
    ) -> Result<Option<TorrentView>, TorrentError> {
        let started = std::time::Instant::now();
        loop {
            let view = self.get(info_hash).await?;
            let busy = view.as_ref().is_some_and(|v| {
                matches!(
                    v.status,
                    TorrentStatus::QueuedToVerify | TorrentStatus::Verifying
                )
            });
            if !busy || started.elapsed() >= limit {
                return Ok(view);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn check(result: &str, method: &str) -> Result<(), TorrentError> {
    if result == "success" {
        Ok(())
    } else {
        Err(TorrentError::Rpc {
            method: method.to_owned(),
            message: result.to_owned(),
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}
