//! Torrent sources, through transmission-daemon: the adapter between a
//! fetch and the daemon, and the race with direct sources.

use std::sync::Arc;

use crate::manifest::SourceEntry;
use crate::progress::{Download, NoteKind};
use crate::source::Source;
use crate::store::quota::Quota;
use crate::torrent::fetch::{
    Outcome as TorrentOutcome, TorrentInput, WaitMode, Want as TorrentWant,
};
use crate::torrent::ingest::{By, Ingest};
use crate::torrent::metainfo::Metainfo;
use crate::torrent::{self, Daemon, TorrentError, TorrentSettings, TorrentState};

use super::{
    FetchError, FetchRequest, Fetched, Fetcher, METAINFO_LIMIT, SourceError, SourceFailure,
    error_text,
};

impl Fetcher {
    /// Fetches from torrent sources, in order, through the daemon. The
    /// info-hashes it hands to the daemon are noted in `added`.
    pub(super) async fn fetch_torrents(
        &self,
        request: &FetchRequest,
        sources: &[&SourceEntry],
        added: &std::sync::Mutex<Vec<String>>,
    ) -> Result<Fetched, FetchError> {
        let mut failures = Vec::new();
        for entry in sources {
            let shown = entry.source.to_string();
            let progress = self
                .reporter
                .download(request.name.as_str(), &shown, request.size);
            let result = self
                .fetch_torrent(request, &entry.source, &shown, &*progress, added)
                .await;
            progress.finish(matches!(result, Ok(TorrentOutcome::Done(_))));
            match result {
                Ok(TorrentOutcome::Done(done)) => {
                    let mut state = TorrentState::available();
                    if request.seed && self.torrents.settings.as_ref().is_some_and(|s| s.seed) {
                        state.phase = torrent::TorrentPhase::Seeding;
                    }
                    return Ok(Fetched {
                        sha256: done.sha256,
                        size: done.size,
                        // Made an object by the hook (or another sync) while
                        // this one waited: not this one's to announce.
                        source: done.fresh.then_some(shown),
                        torrent: Some(state),
                    });
                }
                Ok(TorrentOutcome::Pending(state)) => {
                    return Err(FetchError::Pending {
                        resource: request.name.clone(),
                        state,
                    });
                }
                Err(error) => failures.push(SourceFailure {
                    source: shown,
                    error,
                    mirror: false,
                }),
            }
        }
        Err(FetchError::Failed {
            resource: request.name.clone(),
            failures,
        })
    }

    pub(super) async fn fetch_torrent(
        &self,
        request: &FetchRequest,
        source: &Source,
        shown: &str,
        progress: &dyn Download,
        added: &std::sync::Mutex<Vec<String>>,
    ) -> Result<TorrentOutcome, SourceError> {
        // The metainfo is read and checked before the daemon is asked
        // anything: a bad `.torrent` never reaches it.
        let bad = |reason: String| {
            SourceError::Torrent(
                TorrentError::BadMetainfo {
                    source_text: shown.to_owned(),
                    reason,
                }
                .to_string(),
            )
        };
        let input = match source {
            Source::Magnet(magnet) => TorrentInput::Magnet {
                link: magnet.link.clone(),
                info_hash: magnet.info_hash.clone(),
            },
            Source::Torrent(file) => {
                let meta = match &**file {
                    Source::File(path) => Metainfo::read_file(path).map_err(bad)?,
                    Source::Http(url) => {
                        let bytes = self.http.get_small(url, METAINFO_LIMIT).await?;
                        Metainfo::parse(bytes).map_err(bad)?
                    }
                    _ => unreachable!("a .torrent is a file or a URL"),
                };
                TorrentInput::Metainfo(meta)
            }
            _ => unreachable!("only torrent sources come here"),
        };
        let (daemon, settings) = self.torrents.daemon().await.map_err(SourceError::Torrent)?;
        added
            .lock()
            .expect("not poisoned")
            .push(input.info_hash().to_owned());
        let ingest = Ingest {
            store: &self.store,
            daemon: &daemon,
            settings,
            reporter: &*self.reporter,
            by: By::Sync,
            // A sync's torrents were asked for, and judged, by a manifest.
            admit: None,
        };
        let want = TorrentWant {
            sha256: request.sha256,
            size: request.size,
            seed: request.seed,
            executable: request.executable,
            room: match (request.size, request.cap, self.quota.as_deref()) {
                (Some(_), ..) => None,
                (None, cap, quota) => match (cap, quota.map(Quota::left)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            },
            user: request.user.as_ref(),
            shown,
        };
        let outcome = torrent::fetch::fetch(&ingest, &input, &want, self.torrents.wait, progress)
            .await
            .map_err(|err| match err {
                // Typed, so the sync can count it as an incident.
                torrent::ingest::IngestError::Mismatch {
                    expected,
                    actual,
                    quarantined,
                } => SourceError::QuarantinedMismatch {
                    expected,
                    actual,
                    quarantined,
                },
                torrent::ingest::IngestError::Executable {
                    finding,
                    actual,
                    quarantined,
                } => SourceError::Executable {
                    finding,
                    sha256: actual,
                    quarantined,
                },
                err => SourceError::Torrent(error_text(&err)),
            })?;
        // A torrent made an object before (for a project that declared it
        // executable) is not handed to one that does not.
        if let TorrentOutcome::Done(done) = &outcome
            && !request.executable
            && self.store.object_executable(&done.sha256, None)
        {
            return Err(SourceError::UndeclaredExecutable {
                sha256: done.sha256,
            });
        }
        Ok(outcome)
    }

    /// A direct source won the race: the torrents added for the same object
    /// are cancelled, removed from the daemon with whatever they got, so the
    /// outcome does not depend on how far they had come.
    pub(super) async fn cancel_torrents(&self, info_hashes: &[String]) {
        let Ok((daemon, _)) = self.torrents.daemon().await else {
            return;
        };
        for info_hash in info_hashes {
            let cancelled = async {
                let _lock = self
                    .store
                    .lock_torrent(
                        info_hash,
                        &format!("cancelling torrent {info_hash}"),
                        &*self.reporter,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let record = self
                    .store
                    .read_torrent(info_hash)
                    .map_err(|e| e.to_string())?;
                // The hook may have finished it meanwhile: then it stays.
                if record.is_some_and(|r| r.ingested.is_some()) {
                    return Ok(());
                }
                daemon
                    .remove(info_hash, true)
                    .await
                    .map_err(|e| e.to_string())?;
                self.store
                    .remove_torrent(info_hash)
                    .map_err(|e| e.to_string())
            };
            if let Err(err) = cancelled.await {
                self.reporter.note(
                    NoteKind::Warning,
                    &format!(
                        "torrent {info_hash} was not needed, and could not be cancelled: {err}"
                    ),
                );
            }
        }
    }
}

#[derive(Debug)]
pub struct Torrents {
    settings: Option<TorrentSettings>,
    wait: WaitMode,
    daemon: tokio::sync::OnceCell<Result<Arc<Daemon>, String>>,
}

impl Torrents {
    /// `settings` is `None` when torrents cannot be used (no store config
    /// could be read); `wait` says whether to wait for them.
    pub fn new(settings: Option<TorrentSettings>, wait: WaitMode) -> Self {
        Self {
            settings,
            wait,
            daemon: tokio::sync::OnceCell::new(),
        }
    }

    /// The daemon, connected on first call. An unreachable daemon is an
    /// error message (with what to do), the same for every torrent.
    async fn daemon(&self) -> Result<(Arc<Daemon>, &TorrentSettings), String> {
        let settings = self
            .settings
            .as_ref()
            .ok_or_else(|| "torrent sources are not configured".to_owned())?;
        let daemon = self
            .daemon
            .get_or_init(|| async {
                Daemon::connect(settings)
                    .await
                    .map(Arc::new)
                    .map_err(|err| match err.hint() {
                        Some(hint) => format!("{err}; {hint}"),
                        None => err.to_string(),
                    })
            })
            .await
            .clone()?;
        Ok((daemon, settings))
    }
}
