//! Fetching resources into the store, verified on the way in.
//!
//! [`Fetcher::fetch`] makes sure one object is in the store. It takes the
//! object's lock (so each object is downloaded once however many processes
//! want it), tries the sources in order, streams the bytes into
//! `.incomplete/` while hashing them, checks size and sha256, and only then
//! publishes the object and its record. The transports live in `http` and
//! `file`; `part` is the hashing writer they share.

mod file;
mod http;
mod part;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::digest::Sha256Digest;
use crate::manifest::SourceEntry;
use crate::name::Name;
use crate::progress::{Download, NoteKind, Reporter};
use crate::source::Source;
use crate::store::lock::LockError;
use crate::store::quota::Quota;
use crate::store::record::{
    Asked, FileStamp, HttpValidators, NewObject, ObjectKind, ObjectRecord, ObjectUse, SourceRecord,
    Verification,
};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::torrent::fetch::{
    Outcome as TorrentOutcome, TorrentInput, WaitMode, Want as TorrentWant,
};
use crate::torrent::ingest::{By, Ingest};
use crate::torrent::metainfo::Metainfo;
use crate::torrent::{self, Daemon, TorrentError, TorrentSettings, TorrentState};
use part::{Finished, Part};

pub use http::{HttpSettings, Probe, probe};

/// The largest `.torrent` file crp downloads.
const METAINFO_LIMIT: u64 = crate::torrent::metainfo::MAX_FILE;

/// An error and its causes, on one line.
pub(crate) fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The outcome of two ways to the same object, both failed or pending:
/// pending wins (the object may yet arrive), else every failure is listed.
fn merge(
    a: Result<Fetched, FetchError>,
    b: Result<Fetched, FetchError>,
) -> Result<Fetched, FetchError> {
    match (a, b) {
        (Ok(fetched), _) | (_, Ok(fetched)) => Ok(fetched),
        (Err(pending @ FetchError::Pending { .. }), _)
        | (_, Err(pending @ FetchError::Pending { .. })) => Err(pending),
        (
            Err(FetchError::Failed {
                resource,
                mut failures,
            }),
            Err(FetchError::Failed { failures: more, .. }),
        ) => {
            failures.extend(more);
            Err(FetchError::Failed { resource, failures })
        }
        (Err(err), _) => Err(err),
    }
}

/// What to fetch, and for whom.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub name: Name,
    pub sources: Vec<SourceEntry>,
    /// `None` to trust the first bytes that arrive (and pin them).
    pub sha256: Option<Sha256Digest>,
    pub size: Option<u64>,
    pub purpose: String,
    pub requested_by: Option<String>,
    /// Keep seeding a torrent from the store once it is in.
    pub seed: bool,
    /// The project reference recorded with a newly fetched object.
    pub user: Option<ObjectUse>,
    /// Declared executable: executable content is published, not
    /// quarantined.
    pub executable: bool,
    /// The most bytes to accept when `size` is not declared (the policy's).
    pub cap: Option<u64>,
}

/// An object that is now in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub sha256: Sha256Digest,
    pub size: u64,
    /// The source that delivered it; `None` when the store had it already
    /// (perhaps because another process fetched it while this one waited).
    pub source: Option<String>,
    /// Set when a torrent delivered it: seeding or merely available.
    pub torrent: Option<TorrentState>,
}

/// Why one source did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (`Retry-After`: {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: reqwest::StatusCode,
        /// How long the server asks to wait before trying again.
        retry_after: Option<std::time::Duration>,
    },
    #[error("HTTP {status}: the server asks to retry after {}s, longer than crp waits ({}s); try again later or use another source", wait.as_secs(), http::RETRY_AFTER_MAX.as_secs())]
    RetryTooLate {
        status: reqwest::StatusCode,
        wait: std::time::Duration,
    },
    #[error("slower than the floor of {}/s: {} in the last {}s; set `CRP_HTTP_MIN_RATE` to wait for slower sources", crate::units::ByteCount(*rate), crate::units::ByteCount(*got), window.as_secs())]
    TooSlow {
        got: u64,
        window: std::time::Duration,
        rate: u64,
    },
    #[error("{0}")]
    Redirect(String),
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Tls(String),
    #[error("sha256 mismatch:\n    expected {expected}\n    actual   {actual}")]
    HashMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error(
        "sha256 mismatch:\n    expected {expected}\n    actual   {actual}\n  the data was quarantined in `{}` and never became an object",
        quarantined.display()
    )]
    QuarantinedMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error("its content is executable ({finding}) and was quarantined in `{}`", quarantined.display())]
    Executable {
        finding: String,
        sha256: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error(
        "its content ({sha256}, in the store already) is executable, and the manifest does not declare `executable = true`"
    )]
    UndeclaredExecutable { sha256: Sha256Digest },
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("the server announced {announced} bytes, but the manifest declares {expected}")]
    AnnouncedSize { expected: u64, announced: u64 },
    #[error("the body passed the declared size of {limit} bytes; stopped reading")]
    TooLarge { limit: u64 },
    #[error("the download passed {}, the most crp fetches without a declared size under the store's policy; declare its `size` so the policy can judge it", crate::units::Size(*limit))]
    OverCap { limit: u64 },
    #[error("it would take the store over its quota of {}; refused before writing it", crate::units::Size(*quota))]
    Quota { quota: u64 },
    #[error("cannot read it: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write to the store: {0}")]
    Write(#[source] std::io::Error),
    #[error("{0}")]
    Torrent(String),
}

impl SourceError {
    /// Worth trying the same source again after a pause.
    fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => {
                status.is_server_error()
                    || *status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// How long the server asked to wait before the next attempt.
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            Self::Status { status, .. } | Self::RetryTooLate { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failure of this machine rather than of the source: no other source
    /// would do better.
    fn is_local(&self) -> bool {
        matches!(
            self,
            Self::Write(_) | Self::Quota { .. } | Self::OverCap { .. }
        )
    }
}

/// One source's failure.
#[derive(Debug)]
pub struct SourceFailure {
    pub source: String,
    pub error: SourceError,
}

/// Why an object could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}", Failures(resource, failures))]
    Failed {
        resource: Name,
        failures: Vec<SourceFailure>,
    },
    #[error("`{resource}` is not complete yet: {state}")]
    Pending { resource: Name, state: TorrentState },
    #[error("`{resource}` holds executable content ({finding}), and the manifest does not declare `executable = true`; quarantined at `{}`", quarantined.display())]
    Executable {
        resource: Name,
        finding: String,
        sha256: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error("failed to store `{resource}`")]
    Store {
        resource: Name,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
}

struct Failures<'a>(&'a Name, &'a [SourceFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to fetch `{}`", self.0)?;
        for failure in self.1 {
            write!(f, "\n  from {}: {}", failure.source, failure.error)?;
        }
        Ok(())
    }
}

/// How a fetch retries transient failures.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Further attempts after the first.
    pub retries: u32,
    /// The pause before the first retry; doubled for each one after.
    pub base_delay: Duration,
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        (self.base_delay * 2u32.saturating_pow(retry)).min(Duration::from_secs(10))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            base_delay: Duration::from_millis(250),
        }
    }
}

/// Fetches objects into one store with bounded parallelism.
#[derive(Clone)]
pub struct Fetcher {
    store: Store,
    http: http::Http,
    retry: RetryPolicy,
    jobs: Arc<Semaphore>,
    /// `--jobs`: how many direct downloads run at once.
    job_count: usize,
    reporter: Arc<dyn Reporter>,
    torrents: Arc<Torrents>,
    quota: Option<Arc<Quota>>,
    /// Download unpinned sources afresh, even where the store remembers
    /// what they served and they say nothing changed.
    refresh: bool,
}

/// How torrent sources are fetched: the daemon is connected to on first
/// need, once for the whole run.
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

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What a transport delivered into a part.
struct Delivered {
    validators: Option<HttpValidators>,
    /// Bytes of more than one response are in the part.
    combined: bool,
    /// For a local file: how it looked when it was read.
    stamp: Option<FileStamp>,
}

/// What one source brought.
enum Transferred {
    /// New bytes, verified, in the part.
    Bytes(Finished, Delivered),
    /// The source still serves what the store remembers it served.
    Unchanged(SourceRecord),
}

/// What the bytes must be.
#[derive(Debug, Clone, Copy)]
struct Expect<'a> {
    sha256: Option<Sha256Digest>,
    size: Option<u64>,
    /// The most bytes to accept when the size is not declared.
    cap: Option<u64>,
    /// The store's quota, taken chunk by chunk when the size is not
    /// declared (a declared size is taken whole before the first byte).
    quota: Option<&'a Quota>,
}

impl Expect<'_> {
    /// Takes `n` more bytes from the quota, if it applies.
    fn take(&self, n: u64) -> Result<(), SourceError> {
        match self.quota {
            Some(quota) if !quota.take_streaming(n) => {
                Err(SourceError::Quota { quota: quota.limit })
            }
            _ => Ok(()),
        }
    }

    /// Reserves `n` more bytes ahead, before any is written: the length a
    /// server announced, taken chunk by chunk as they arrive.
    fn reserve(&self, n: u64) -> Result<(), SourceError> {
        match self.quota {
            Some(quota) if !quota.reserve(n) => Err(SourceError::Quota { quota: quota.limit }),
            _ => Ok(()),
        }
    }
}

impl Fetcher {
    pub fn new(
        store: Store,
        settings: &HttpSettings,
        retry: RetryPolicy,
        jobs: usize,
        reporter: Arc<dyn Reporter>,
        torrents: Torrents,
    ) -> Result<Self, reqwest::Error> {
        let jobs = within_open_file_limit(jobs.max(1), &*reporter);
        Ok(Self {
            store,
            http: http::Http::new(settings)?,
            retry,
            jobs: Arc::new(Semaphore::new(jobs)),
            job_count: jobs,
            reporter,
            torrents: Arc::new(torrents),
            quota: None,
            refresh: false,
        })
    }

    /// How many direct downloads run at once (`--jobs`).
    pub fn jobs(&self) -> usize {
        self.job_count
    }

    /// Never reuses what an unpinned source served before (`--refresh`).
    #[must_use]
    pub fn with_refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }

    /// Keeps every fetch within the store's quota, shared with every other
    /// process adding to the store.
    #[must_use]
    pub fn with_quota(mut self, quota: Option<Quota>) -> Self {
        self.quota = quota.map(Arc::new);
        self
    }

    /// Makes sure the requested object is in the store. Direct sources
    /// (http, files) are tried in order; torrent sources go to the daemon,
    /// in parallel with the direct ones: whichever completes and verifies
    /// first wins.
    pub async fn fetch(&self, request: &FetchRequest) -> Result<Fetched, FetchError> {
        // However it was found (a download, a torrent), undeclared executable
        // content is one outcome.
        let result = self.fetch_any(request).await.map_err(|err| match err {
            FetchError::Failed {
                resource,
                mut failures,
            } => match failures
                .iter()
                .position(|f| matches!(f.error, SourceError::Executable { .. }))
            {
                Some(i) => match failures.swap_remove(i).error {
                    SourceError::Executable {
                        finding,
                        sha256,
                        quarantined,
                    } => FetchError::Executable {
                        resource,
                        finding,
                        sha256,
                        quarantined,
                    },
                    _ => unreachable!("found above"),
                },
                None => FetchError::Failed { resource, failures },
            },
            other => other,
        });
        // Remembered, so that no later sync downloads it again only to
        // quarantine it again.
        if let Err(FetchError::Executable {
            finding,
            sha256,
            quarantined,
            ..
        }) = &result
        {
            let note = crate::store::record::QuarantineNote {
                sha256: *sha256,
                finding: finding.clone(),
                quarantined: quarantined.clone(),
                at: Timestamp::now(),
            };
            if let Err(err) = self.store.write_quarantined(&note) {
                self.reporter.note(
                    NoteKind::Warning,
                    &format!("could not remember that {sha256} was quarantined: {err}"),
                );
            }
        }
        result
    }

    async fn fetch_any(&self, request: &FetchRequest) -> Result<Fetched, FetchError> {
        if let Some(present) = request.sha256.and_then(|d| self.present(&d)) {
            return Ok(present);
        }
        let (torrent, direct): (Vec<&SourceEntry>, Vec<&SourceEntry>) =
            request.sources.iter().partition(|s| s.source.is_torrent());
        if torrent.is_empty() {
            return self.fetch_direct(request, &direct).await;
        }
        let added = std::sync::Mutex::new(Vec::new());
        if direct.is_empty() {
            return self.fetch_torrents(request, &torrent, &added).await;
        }
        let result = {
            let direct_run = self.fetch_direct(request, &direct);
            let torrent_run = self.fetch_torrents(request, &torrent, &added);
            tokio::pin!(direct_run, torrent_run);
            let (first, direct_first) = tokio::select! {
                result = &mut direct_run => (result, true),
                result = &mut torrent_run => (result, false),
            };
            match (first, direct_first) {
                (Ok(fetched), _) => Ok(fetched),
                (Err(first), true) => merge(Err(first), torrent_run.await),
                (Err(first), false) => merge(Err(first), direct_run.await),
            }
            // The loser is dropped here, with any lock it held: settling
            // below takes the torrent's lock again.
        };
        // A direct source delivered (a torrent's delivery carries its state).
        if let Ok(fetched) = &result
            && fetched.source.is_some()
            && fetched.torrent.is_none()
        {
            let added = added.lock().expect("not poisoned").clone();
            self.cancel_torrents(&added).await;
        } else if result.is_ok() {
            self.discard_lost_part(request, &direct);
        }
        result
    }

    /// Fetches from the direct sources (http, files), in order.
    async fn fetch_direct(
        &self,
        request: &FetchRequest,
        sources: &[&SourceEntry],
    ) -> Result<Fetched, FetchError> {
        let what = format!("fetching `{}`", request.name);
        let store_err = |source: StoreError| FetchError::Store {
            resource: request.name.clone(),
            source,
        };
        if let Some(present) = request.sha256.and_then(|d| self.present(&d)) {
            return Ok(present);
        }
        // The job slot comes first and the lock second, so that what a fetch
        // holds open (its lock file, its part, its connection) is bounded by
        // `--jobs`, however many objects wait their turn.
        let _permit = self
            .jobs
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let (part_path, _lock, remembered) = match request.sha256 {
            Some(digest) => {
                let lock = self
                    .store
                    .lock_object(&digest, &what, &*self.reporter)
                    .await?;
                // Another process may have published it while this one waited.
                if let Some(present) = self.present(&digest) {
                    return Ok(present);
                }
                (
                    self.store
                        .incomplete_dir()
                        .join(Store::object_part_name(&digest)),
                    lock,
                    None,
                )
            }
            None => {
                let resolved = resolved(sources);
                let key = self.store.source_key(&resolved);
                let lock = self.store.lock_source(&key, &what, &*self.reporter).await?;
                // What these sources served before (perhaps to another
                // project, perhaps while this one waited) is reused only once
                // the source confirms it still serves it.
                let remembered = match self.store.read_source(&key).map_err(store_err)? {
                    Some(known)
                        if !self.refresh
                            && self.store.remembered_reusable(
                                &known,
                                request.size,
                                request.executable,
                            ) =>
                    {
                        Some(known)
                    }
                    _ => None,
                };
                let part_path = self
                    .store
                    .incomplete_dir()
                    .join(Store::sources_part_name(&key));
                // `--refresh` takes nothing an earlier run left, not even
                // bytes that only wait to be confirmed.
                if self.refresh {
                    part::discard(&part_path);
                }
                (part_path, lock, remembered)
            }
        };
        // A declared size is taken from the quota whole, before the first
        // byte; an undeclared one chunk by chunk.
        let quota = self.quota.as_deref();
        if let (Some(quota), Some(size)) = (quota, request.size)
            && !quota.take(size)
        {
            return Err(FetchError::Failed {
                resource: request.name.clone(),
                failures: vec![SourceFailure {
                    source: sources[0].source.to_string(),
                    error: SourceError::Quota { quota: quota.limit },
                }],
            });
        }
        let expect = Expect {
            sha256: request.sha256,
            size: request.size,
            cap: request.cap,
            quota: quota.filter(|_| request.size.is_none()),
        };
        let result = self
            .fetch_sources(request, sources, &part_path, expect, remembered.as_ref())
            .await;
        // What was taken from the quota is now part of the store, or was
        // not kept: the store had it already, or the fetch failed.
        if let Some(quota) = quota {
            match (&result, request.size) {
                (Ok(fetched), _) if fetched.source.is_some() => quota.commit(fetched.size),
                (Ok(fetched), None) => quota.give_back(fetched.size),
                (_, Some(size)) => quota.give_back(size),
                (Err(_), None) => {}
            }
            quota.release_spare();
        }
        result
    }

    /// Tries each direct source in turn until one delivers the right bytes.
    /// `remembered` is what these sources served before, when the digest is
    /// not pinned: the source that served it is asked whether it changed.
    async fn fetch_sources(
        &self,
        request: &FetchRequest,
        sources: &[&SourceEntry],
        part_path: &std::path::Path,
        expect: Expect<'_>,
        remembered: Option<&SourceRecord>,
    ) -> Result<Fetched, FetchError> {
        let store_err = |source: StoreError| FetchError::Store {
            resource: request.name.clone(),
            source,
        };
        let key = self.store.identity_key();
        let mut failures = Vec::new();
        let count = sources.len();
        for (i, entry) in sources.iter().enumerate() {
            let shown = entry.source.to_string();
            let id = entry.source.identity(&key);
            let unless = remembered.filter(|r| r.served_by.as_deref() == Some(id.as_str()));
            match self
                .try_source(request, &entry.source, &id, part_path, expect, unless)
                .await
            {
                Ok(Transferred::Unchanged(known)) => {
                    tracing::debug!(
                        "`{}`: {shown} still serves what it served at {}",
                        request.name,
                        known.fetched_at
                    );
                    return Ok(Fetched {
                        sha256: known.sha256,
                        size: known.size,
                        source: None,
                        torrent: None,
                    });
                }
                Ok(Transferred::Bytes(finished, delivered)) => {
                    let finding = tokio::task::block_in_place(|| {
                        crate::policy::exec::detect_written(&finished.path, &finished.blocks)
                    })
                    .map_err(|e| store_err(e.into()))?;
                    if let Some(finding) = finding.as_ref().filter(|_| !request.executable) {
                        let sha256 = finished.sha256;
                        drop(finished.file);
                        part::forget_origin(part_path);
                        let quarantined = self
                            .store
                            .quarantine(
                                &finished.path,
                                &format!("{}-{}", request.name, sha256.short()),
                            )
                            .map_err(|e| store_err(e.into()))?;
                        return Err(FetchError::Executable {
                            resource: request.name.clone(),
                            finding: finding.to_string(),
                            sha256,
                            quarantined,
                        });
                    }
                    let validators = delivered.validators.clone();
                    let stamp = delivered.stamp;
                    let fetched = self
                        .publish(request, finished, &shown, delivered, finding.is_some())
                        .await
                        .map_err(store_err)?;
                    part::forget_origin(part_path);
                    if request.sha256.is_none() {
                        let resolved = resolved(sources);
                        let record = SourceRecord {
                            schema_version: crate::store::record::RECORD_VERSION,
                            sha256: fetched.sha256,
                            size: fetched.size,
                            fetched_at: Timestamp::now(),
                            served_by: Some(id),
                            http: validators,
                            stamp,
                        };
                        self.store
                            .write_source(&self.store.source_key(&resolved), &record)
                            .map_err(store_err)?;
                    }
                    return Ok(fetched);
                }
                Err(error) => {
                    let local = error.is_local();
                    if !local && i + 1 < count {
                        self.reporter.note(
                            NoteKind::Warning,
                            &format!(
                                "`{}` from {shown}: {error}; trying the next source",
                                request.name
                            ),
                        );
                    }
                    failures.push(SourceFailure {
                        source: shown,
                        error,
                    });
                    if local {
                        break;
                    }
                }
            }
        }
        Err(FetchError::Failed {
            resource: request.name.clone(),
            failures,
        })
    }

    /// Fetches from torrent sources, in order, through the daemon. The
    /// info-hashes it hands to the daemon are noted in `added`.
    async fn fetch_torrents(
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
                }),
            }
        }
        Err(FetchError::Failed {
            resource: request.name.clone(),
            failures,
        })
    }

    async fn fetch_torrent(
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
    async fn cancel_torrents(&self, info_hashes: &[String]) {
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

    /// A torrent won the race: what the direct sources had downloaded is of
    /// no further use. The part of an unpinned download is shared by name
    /// with other processes fetching the same sources, so it goes only if
    /// none holds their lock.
    fn discard_lost_part(&self, request: &FetchRequest, direct: &[&SourceEntry]) {
        let incomplete = self.store.incomplete_dir();
        match request.sha256 {
            // The object is in: nobody writes its part any more.
            Some(digest) => part::discard(&incomplete.join(Store::object_part_name(&digest))),
            None => {
                let resolved = resolved(direct);
                let key = self.store.source_key(&resolved);
                if let Some(_lock) = self.store.try_lock_source(&key) {
                    part::discard(&incomplete.join(Store::sources_part_name(&key)));
                }
            }
        }
    }

    fn present(&self, digest: &Sha256Digest) -> Option<Fetched> {
        let stat = self.store.object_stat(digest)?;
        // A directory's size is in its record; listing it would read the tree.
        let size = stat.size.or_else(|| {
            let record = self.store.read_object_record(digest).ok().flatten();
            record.map(|r| r.size)
        });
        Some(Fetched {
            sha256: *digest,
            size: size.unwrap_or(0),
            source: None,
            torrent: None,
        })
    }

    /// Downloads from one source into the part and verifies it. On success
    /// the part holds exactly the expected bytes, or the source confirmed
    /// that `unless` (what it served before) is still what it serves.
    async fn try_source(
        &self,
        request: &FetchRequest,
        source: &Source,
        source_id: &str,
        part_path: &std::path::Path,
        expect: Expect<'_>,
        unless: Option<&SourceRecord>,
    ) -> Result<Transferred, SourceError> {
        let shown = source.to_string();
        let progress = self
            .reporter
            .download(request.name.as_str(), &shown, request.size);
        let result = self
            .transfer(
                request, source, source_id, part_path, expect, unless, &*progress,
            )
            .await;
        progress.finish(matches!(result, Ok(Transferred::Bytes(..))));
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn transfer(
        &self,
        request: &FetchRequest,
        source: &Source,
        source_id: &str,
        part_path: &std::path::Path,
        expect: Expect<'_>,
        unless: Option<&SourceRecord>,
        progress: &dyn Download,
    ) -> Result<Transferred, SourceError> {
        // A local file that looks as it did when it was fetched is what it was.
        if let (Source::File(path), Some(known)) = (source, unless)
            && known.stamp.is_some()
            && fs_err::metadata(path).ok().map(|m| FileStamp::of(&m)) == known.stamp
        {
            return Ok(Transferred::Unchanged(known.clone()));
        }
        // Bytes an earlier run left are kept only when they are known to
        // come from this source, with a validator to resume them by.
        let mut origin = match source {
            Source::Http(_) => part::read_origin(part_path).filter(|o| o.source == source_id),
            _ => None,
        };
        // Set once bytes combined from several responses failed to verify:
        // the file is then taken in one response, whose verdict stands.
        let mut whole = false;
        loop {
            let path = part_path.to_owned();
            let resumable = origin.is_some();
            let part = tokio::task::spawn_blocking(move || Part::open(&path, resumable))
                .await
                .expect("opening a part does not panic")
                .map_err(SourceError::Write)?;
            let resumed = part.len() > 0;
            let transferred = match source {
                Source::Http(url) => self
                    .http
                    .download(
                        url,
                        part,
                        origin.take(),
                        whole,
                        source_id,
                        unless.and_then(|k| k.http.as_ref()),
                        expect,
                        progress,
                        &self.retry,
                        &*self.reporter,
                        &request.name,
                    )
                    .await
                    .map(|downloaded| match downloaded {
                        http::Downloaded::Body(body) => Some(*body),
                        http::Downloaded::NotModified => None,
                    }),
                Source::File(path) => file::copy(path, part, expect, progress).await.map(Some),
                Source::Magnet(_) | Source::Torrent(_) => {
                    unreachable!("torrent sources are filtered out")
                }
            };
            let (part, delivered) = match transferred {
                Ok(Some(done)) => done,
                Ok(None) => {
                    let known = unless.expect("only a conditional request is answered 304");
                    return Ok(Transferred::Unchanged(known.clone()));
                }
                Err(err) => {
                    // Bytes cut off by a network failure are kept for the
                    // next attempt to resume from (verification covers
                    // them); anything else is of no further use.
                    if !err.is_transient() {
                        part::discard(part_path);
                    }
                    return Err(err);
                }
            };
            let combined = resumed || delivered.combined;
            let finished = part.finish().map_err(SourceError::Write)?;
            match verify(&finished, expect) {
                Ok(()) => return Ok(Transferred::Bytes(finished, delivered)),
                // Bytes of two responses that do not verify may be two
                // versions of the file spliced by a server that lied about
                // its validators: a transport fault, not the content's.
                // Start over once with one whole response.
                Err(SourceError::HashMismatch { .. } | SourceError::SizeMismatch { .. })
                    if combined && !whole =>
                {
                    tracing::debug!(
                        "`{}` combined from several responses did not verify; starting over",
                        request.name
                    );
                    drop(finished);
                    part::discard(part_path);
                    origin = None;
                    whole = true;
                }
                Err(err) => {
                    drop(finished);
                    part::discard(part_path);
                    return Err(err);
                }
            }
        }
    }

    /// Publishes a verified part as an object and writes its record. The
    /// part and the record are written unflushed, made durable by one
    /// [`Store::flush`] shared with the fetches finishing at the same time,
    /// and only then renamed into place: the object first, then its record.
    async fn publish(
        &self,
        request: &FetchRequest,
        finished: Finished,
        source: &str,
        delivered: Delivered,
        executable: bool,
    ) -> Result<Fetched, StoreError> {
        let Finished {
            file,
            path,
            sha256: digest,
            len: size,
            ..
        } = finished;
        // A pinned fetch holds its object's lock already; one on first use
        // holds its sources' lock, and takes the object's now, so that two
        // projects fetching the same bytes from different sources do not
        // write its record over each other (the order is always sources,
        // then object).
        let _object_lock = match request.sha256 {
            Some(_) => None,
            None => Some(
                self.store
                    .lock_object(
                        &digest,
                        &format!("publishing `{}`", request.name),
                        &*self.reporter,
                    )
                    .await
                    .map_err(StoreError::Lock)?,
            ),
        };
        let already = self.store.has_object(&digest);
        let mut stamp = None;
        if already {
            // Trust on first use found bytes the store already has.
            drop(file);
            fs_err::remove_file(&path)?;
        } else {
            let mode = if executable { 0o555 } else { 0o444 };
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
                .and_then(|()| file.metadata())
                .map(|meta| stamp = Some(crate::store::record::FileStamp::of(&meta)))
                .map_err(|err| crate::fsutil::with_path(err, &path))?;
            drop(file);
        }
        let now = Timestamp::now();
        let mut record = match self.store.read_object_record(&digest)? {
            Some(existing) => existing,
            None => ObjectRecord::new(
                NewObject {
                    sha256: digest,
                    kind: ObjectKind::File,
                    size,
                    path: self.store.object_path(&digest),
                },
                Asked {
                    sources: request
                        .sources
                        .iter()
                        .map(|s| s.source.to_string())
                        .collect(),
                    purpose: request.purpose.clone(),
                    requested_by: request.requested_by.clone(),
                    requested_at: Some(now),
                    verification: if request.sha256.is_some() {
                        Verification::Manifest
                    } else {
                        Verification::FirstUse
                    },
                },
            ),
        };
        if !already {
            record.served_by = Some(source.to_owned());
            record.executable = executable;
            // Back after corruption or archiving: available again.
            record.status = crate::provenance::State::Available;
            record.stamp = stamp;
            record.size = size;
            record.fetched_at = now;
            record.verified_at = now;
            record.http = delivered.validators;
        }
        if let Some(user) = &request.user {
            record.add_use(user);
        }
        if already {
            self.store.write_object_record(&record)?;
        } else {
            let staged = self.store.stage_object_record(&record)?;
            self.store.flush().await?;
            self.store.publish_flushed(&path, &digest)?;
            staged.commit()?;
        }
        Ok(Fetched {
            sha256: digest,
            size,
            source: (!already).then(|| source.to_owned()),
            torrent: None,
        })
    }
}

/// Open files a sync needs besides its downloads (the runtime, the store's
/// and the project's locks, the event log, certificates being read…).
const BASE_OPEN_FILES: u64 = 32;

/// Open files one download may hold at once: its part, its connection, its
/// object's lock, and for a moment a second look at the part, its staged
/// record and the store's folder for the flush.
const OPEN_FILES_PER_JOB: u64 = 8;

/// `jobs`, lowered (with a warning) to what the process's open-file limit
/// allows: a limit too low for `--jobs` would otherwise fail downloads
/// with "Too many open files" half-way.
fn within_open_file_limit(jobs: usize, reporter: &dyn Reporter) -> usize {
    let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current else {
        return jobs;
    };
    let allowed = usize::try_from(limit.saturating_sub(BASE_OPEN_FILES) / OPEN_FILES_PER_JOB)
        .unwrap_or(usize::MAX)
        .max(1);
    if jobs <= allowed {
        return jobs;
    }
    reporter.note(
        NoteKind::Warning,
        &format!(
            "{jobs} downloads at once need more open files than this process may have ({limit}); running {allowed} at once. Raise the limit (`ulimit -n`) to run more"
        ),
    );
    allowed
}

/// The sources of a list of entries, as the store keys what it remembers.
fn resolved<'a>(entries: &[&'a SourceEntry]) -> Vec<&'a Source> {
    entries.iter().map(|s| &s.source).collect()
}

/// Checks size and digest of a finished transfer.
fn verify(finished: &Finished, expect: Expect) -> Result<(), SourceError> {
    if let Some(expected) = expect.size
        && finished.len != expected
    {
        return Err(SourceError::SizeMismatch {
            expected,
            actual: finished.len,
        });
    }
    if let Some(expected) = expect.sha256
        && finished.sha256 != expected
    {
        return Err(SourceError::HashMismatch {
            expected,
            actual: finished.sha256,
        });
    }
    Ok(())
}
