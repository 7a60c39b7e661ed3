//! One torrent source of a resource: add it once, wait for it (or not), and
//! ingest it when it completes.

use std::path::Path;
use std::time::{Duration, Instant};

use super::ingest::{Ingest, IngestError};
use super::metainfo::{Metainfo, check_names};
use super::{Ingested, TorrentError, TorrentRecord, TorrentState};
use crate::digest::Sha256Digest;
use crate::progress::Download;
use crate::store::record::{ObjectUse, RECORD_VERSION};
use crate::time::Timestamp;

/// How long to wait for torrents.
#[derive(Debug, Clone, Copy)]
pub struct WaitMode {
    /// Wait for completion; otherwise return once the torrent is added.
    pub wait: bool,
    /// Give up waiting after this long.
    pub timeout: Option<Duration>,
}

/// A torrent, ready to hand to the daemon.
#[derive(Debug, Clone)]
pub enum TorrentInput {
    /// From a `.torrent` file: its files are known before anything is added.
    Metainfo(Metainfo),
    /// A magnet link: files are known once the daemon has the metadata.
    Magnet { link: String, info_hash: String },
}

impl TorrentInput {
    pub fn info_hash(&self) -> &str {
        match self {
            Self::Metainfo(meta) => &meta.info_hash,
            Self::Magnet { info_hash, .. } => info_hash,
        }
    }
}

/// What the resource asks of the torrent.
#[derive(Debug, Clone)]
pub struct Want<'a> {
    pub sha256: Option<Sha256Digest>,
    pub size: Option<u64>,
    pub seed: bool,
    pub executable: bool,
    /// When the size is not declared: the most bytes the store's policy
    /// leaves room for (its size limit, and what is left of its quota).
    pub room: Option<u64>,
    pub user: Option<&'a ObjectUse>,
    /// The source as it may be shown and recorded.
    pub shown: &'a str,
}

/// Where a torrent got to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It is an object now.
    Done(Ingested),
    /// Not complete yet (`--no-wait`, or the timeout passed).
    Pending(TorrentState),
}

/// How often the daemon is asked how a torrent is doing.
const POLL: Duration = Duration::from_millis(300);

/// Adds the torrent (or adopts it, if the daemon has it already), waits as
/// told, and ingests it once complete.
pub async fn fetch(
    ingest: &Ingest<'_>,
    input: &TorrentInput,
    want: &Want<'_>,
    wait: WaitMode,
    progress: &dyn Download,
) -> Result<Outcome, IngestError> {
    let (store, daemon) = (ingest.store, ingest.daemon);
    let info_hash = input.info_hash().to_owned();
    let done = |mut ingested: Ingested, added_here: bool| {
        // The sync that handed the torrent to the daemon announces it, even
        // when the completion hook made it an object while the sync waited.
        ingested.fresh |= added_here;
        Outcome::Done(ingested)
    };
    if let TorrentInput::Metainfo(meta) = input {
        check_size(meta.total_size, want.size, want.room)?;
    }
    let added_here = {
        // Added once, however many processes want it at the same time.
        let _lock = store
            .lock_torrent(
                &info_hash,
                &format!("adding torrent {info_hash}"),
                ingest.reporter,
            )
            .await?;
        let record = store.read_torrent(&info_hash)?;
        if let Some(done) = record.as_ref().and_then(|r| r.ingested.clone())
            && store.has_object(&done.sha256)
            && want.sha256.is_none_or(|d| d == done.sha256)
        {
            return Ok(Outcome::Done(done));
        }
        let known = daemon.get(&info_hash).await?;
        store.write_torrent(&TorrentRecord {
            schema_version: RECORD_VERSION,
            info_hash: info_hash.clone(),
            source: want.shown.to_owned(),
            sha256: want.sha256,
            size: want.size,
            requested_for: want.user.cloned(),
            seed: want.seed,
            executable: want.executable,
            added_at: record.map_or_else(Timestamp::now, |r| r.added_at),
            ingested: None,
            refused: None,
        })?;
        if known.is_none() {
            let what = match input {
                TorrentInput::Metainfo(meta) => super::client::AddWhat::Metainfo(&meta.bytes),
                TorrentInput::Magnet { link, .. } => super::client::AddWhat::Magnet(link),
            };
            daemon
                .add(what, &store.torrent_download_dir(&info_hash))
                .await?;
        }
        known.is_none()
    };

    let started = Instant::now();
    let mut checked = matches!(input, TorrentInput::Metainfo(_));
    loop {
        let Some(view) = daemon.get(&info_hash).await? else {
            // The hook may have ingested it and, not seeding, removed it, or
            // refused it. It writes the record under the torrent's lock, so
            // the record is read under that lock too.
            let record = {
                let _lock = store
                    .lock_torrent(
                        &info_hash,
                        &format!("reading torrent {info_hash}"),
                        ingest.reporter,
                    )
                    .await?;
                store.read_torrent(&info_hash)?
            };
            if let Some(ingested) = record.as_ref().and_then(|r| r.ingested.clone()) {
                return Ok(done(ingested, added_here));
            }
            if let Some((expected, refused)) = record.and_then(|r| Some((r.sha256?, r.refused?))) {
                if let Some(finding) = refused.executable {
                    return Err(IngestError::Executable {
                        finding,
                        actual: refused.actual,
                        quarantined: refused.quarantined,
                    });
                }
                return Err(IngestError::Mismatch {
                    expected,
                    actual: refused.actual,
                    quarantined: refused.quarantined,
                });
            }
            return Err(TorrentError::Vanished.into());
        };
        if let Some(error) = &view.error {
            return Err(TorrentError::Failed(error.clone()).into());
        }
        if !checked && view.metadata_done {
            // A magnet's files are known now: the same checks as for a
            // `.torrent`, and out it goes if they fail.
            let files = daemon.files(&info_hash).await?;
            if let Err(reason) = check_magnet_files(&view.name, &files, want.size, want.room) {
                daemon.remove(&info_hash, true).await?;
                return Err(TorrentError::Rejected { reason }.into());
            }
            checked = true;
        }
        if view.metadata_done {
            progress.set_length(view.total_size);
            progress.set_position(view.total_size.saturating_sub(view.left_until_done));
        }
        let state = view.state();
        progress.set_detail(&state.to_string());
        if view.is_complete() {
            break;
        }
        let timed_out = wait.timeout.is_some_and(|t| started.elapsed() >= t);
        if !wait.wait || timed_out {
            return Ok(Outcome::Pending(state));
        }
        tokio::time::sleep(POLL).await;
    }
    progress.set_detail("verifying");
    let ingested = ingest.run(&info_hash, "daemon").await?;
    Ok(done(ingested, added_here))
}

fn check_size(total: u64, declared: Option<u64>, room: Option<u64>) -> Result<(), TorrentError> {
    match (declared, room) {
        (Some(declared), _) if declared != total => Err(TorrentError::Rejected {
            reason: format!(
                "the manifest declares {declared} bytes, but the torrent holds {total}"
            ),
        }),
        (None, Some(room)) if total > room => Err(TorrentError::Rejected {
            reason: format!(
                "the torrent holds {total} bytes, more than the {room} the store's policy leaves room for (its size limits and quota); declare its `size` so the policy can judge it"
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks the file list the daemon reports for a magnet: paths start with
/// the torrent's name.
fn check_magnet_files(
    name: &str,
    files: &[(String, u64)],
    declared: Option<u64>,
    room: Option<u64>,
) -> Result<(), String> {
    let relative: Vec<&Path> = files
        .iter()
        .filter(|(path, _)| path != name)
        .map(|(path, _)| {
            Path::new(path)
                .strip_prefix(name)
                .unwrap_or(Path::new(path))
        })
        .collect();
    check_names(name, relative)?;
    let total = files.iter().map(|(_, size)| size).sum();
    check_size(total, declared, room).map_err(|err| match err {
        TorrentError::Rejected { reason } => reason,
        other => other.to_string(),
    })
}
