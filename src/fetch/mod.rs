//! Fetching resources into the store, verified on the way in.
//!
//! [`Fetcher::fetch`] makes sure one object is in the store. It takes the
//! object's lock (so each object is downloaded once however many processes
//! want it), tries the sources in order, streams the bytes into
//! `.incomplete/` while hashing them, checks size and sha256, and only then
//! publishes the object and its record. The transports live in `http` and
//! `file`; `part` is the hashing writer they share; `direct` tries direct
//! sources in order, `torrents` hands torrent sources to the daemon and
//! races them with direct ones, `finish` makes a verified transfer an
//! object, and `error` says why a fetch failed.

mod direct;
mod error;
mod file;
mod finish;
mod http;
mod part;
mod remote;
mod torrents;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::digest::Sha256Digest;
use crate::manifest::SourceEntry;
use crate::name::Name;
use crate::policy::Verdict;
use crate::progress::{NoteKind, Reporter};
use crate::source::Source;
use crate::store::Store;
use crate::store::quota::Quota;
use crate::store::record::{FileStamp, HttpValidators, ObjectUse, SourceRecord};
use crate::time::Timestamp;
use crate::torrent::TorrentState;
use part::Finished;

pub(crate) use error::error_text;
pub use error::{FetchError, SourceError, SourceFailure};
pub use http::{HttpSettings, Probe, probe};
pub use torrents::Torrents;

/// The largest `.torrent` file crp downloads.
const METAINFO_LIMIT: u64 = crate::torrent::metainfo::MAX_FILE;

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
    /// With `sha256: None`: what the store holds from these sources, offered
    /// to them for a conditional request in place of what it remembers of
    /// them (`crp update` offers the pinned object).
    pub known: Option<SourceRecord>,
    /// Judges new bytes from a direct source once their digest is known,
    /// before they become an object (see [`Admit`]).
    pub admit: Option<Admit>,
    /// Where a content-addressed mirror would hold the pinned object: tried
    /// in order before `sources`, verified like them; one that lacks it is
    /// passed over quietly. Not recorded as the object's sources.
    pub mirrors: Vec<SourceEntry>,
    /// Remotes asked for the pinned object by its sha256 before `mirrors`,
    /// verified like them; one that lacks it is passed over quietly.
    pub remotes: Vec<crate::s3::Client>,
    /// The object may be a directory (a torrent's): remotes are asked
    /// which kind they hold before anything else.
    pub may_be_directory: bool,
    /// `--remotes-only`: `sources` are recorded as the object's
    /// provenance, never asked.
    pub remotes_only: bool,
}

/// A judgement of new content by its digest and size in bytes, before it
/// is published: `Some(verdict)` keeps it out of the store, and the fetch
/// ends in [`FetchError::Held`]. Content the store holds already is not
/// judged again.
#[derive(Clone)]
pub struct Admit(pub Arc<dyn Fn(Sha256Digest, u64) -> Option<Verdict> + Send + Sync>);

impl fmt::Debug for Admit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Admit(..)")
    }
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
    /// Why each remote left out of this run was (see
    /// [`crate::s3::Connected`]).
    remotes_left_out: Vec<String>,
    /// Why each folder mirror left out of this run was.
    mirrors_left_out: Vec<String>,
}

/// How torrent sources are fetched: the daemon is connected to on first
/// need, once for the whole run.
impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What a transport delivered into a part.
#[derive(Default)]
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
            remotes_left_out: Vec::new(),
            mirrors_left_out: Vec::new(),
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

    /// Says why each mirror left out of this run was, for the failure of a
    /// fetch that may ask only remotes and mirrors and had none to ask.
    #[must_use]
    pub fn with_mirrors_left_out(mut self, mirrors: Vec<String>) -> Self {
        self.mirrors_left_out = mirrors;
        self
    }

    /// Says why each remote left out of this run was, as
    /// [`with_mirrors_left_out`](Self::with_mirrors_left_out) does for
    /// mirrors.
    #[must_use]
    pub fn with_remotes_left_out(mut self, remotes: Vec<String>) -> Self {
        self.remotes_left_out = remotes;
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
        // A torrent's object may be a directory, which a remote holds as a
        // tree: each remote's record says which it holds. Those holding a
        // file serve it like a mirror, below.
        let narrowed;
        let request = match request.may_be_directory
            && request.sha256.is_some()
            && !request.remotes.is_empty()
        {
            true => {
                let mut failures = Vec::new();
                let mut holding_files = Vec::new();
                for client in &request.remotes {
                    match self
                        .fetch_remote_tree(request, client, &mut failures)
                        .await?
                    {
                        remote::Held::Directory(fetched) => return Ok(fetched),
                        remote::Held::File => holding_files.push(client.clone()),
                        remote::Held::Nothing => {}
                    }
                }
                for failure in failures {
                    self.reporter.note(
                        NoteKind::Warning,
                        &format!(
                            "`{}` from {}: {}; trying the next source{}",
                            request.name,
                            failure.source,
                            failure.error,
                            failure.error.remote_mend()
                        ),
                    );
                }
                narrowed = FetchRequest {
                    remotes: holding_files,
                    ..request.clone()
                };
                &narrowed
            }
            false => request,
        };
        if request.remotes_only {
            return self.fetch_direct(request, &[]).await;
        }
        let (torrent, direct): (Vec<&SourceEntry>, Vec<&SourceEntry>) =
            request.sources.iter().partition(|s| s.source.is_torrent());
        if torrent.is_empty() {
            return self.fetch_direct(request, &direct).await;
        }

        let added = std::sync::Mutex::new(Vec::new());
        // A pinned object's mirrors are direct sources too.
        if direct.is_empty()
            && (request.sha256.is_none()
                || request.mirrors.is_empty() && request.remotes.is_empty())
        {
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
}

/// Open files a sync needs besides its downloads (the runtime, the store's
/// and the project's locks, the event log, certificates being read…).
const BASE_OPEN_FILES: u64 = 32;

/// Open files one download may hold at once: its part, its connection, its
/// object's lock, and for a moment its staged record and the store's folder
/// for the flush (with room to spare).
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
