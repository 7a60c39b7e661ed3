//! `crp sync`: make the project's resources real — plan under the project's
//! lock, judge, fetch what is missing, link, record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::execute::{self, Oversight, SyncReport};
use crate::manifest::Manifest;
use crate::notify::Notifier;
use crate::plan::{Plan, Planner};
use crate::progress::{Messages, Reporter};
use crate::provenance::EventLog;
use crate::store::Store;
use crate::torrent::fetch::WaitMode;
use crate::torrent::{Daemon, TorrentSettings, enforce_seed_time};

use super::{FetchOptions, Session};

/// What a sync is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse to change the manifest: every resource must be pinned.
    pub locked: bool,
    /// Never touch the network.
    pub offline: bool,
    /// Fetch only from remotes and hashed mirrors, never a declared source.
    pub remotes_only: bool,
    /// Fetch what is pinned into the store, and change nothing else
    /// (`crp pull`).
    pub fetch_only: bool,
    /// Download unpinned resources afresh.
    pub refresh: bool,
    /// Plan only, changing nothing.
    pub dry_run: bool,
    /// Whether and how long to wait for torrents.
    pub wait: WaitMode,
    /// Downloads at once; `None` for `CRP_JOBS` or its default.
    pub jobs: Option<u16>,
    /// Approvals files to honour too.
    pub approvals: Vec<PathBuf>,
}

impl Options {
    /// Bringing a project in line without the network, after an edit of
    /// its manifest (`crp remove`, `crp update`).
    pub(super) fn offline() -> Self {
        Self {
            locked: false,
            offline: true,
            remotes_only: false,
            fetch_only: false,
            refresh: false,
            dry_run: false,
            wait: WaitMode {
                wait: false,
                timeout: None,
            },
            jobs: None,
            approvals: Vec::new(),
        }
    }
}

/// What a sync did.
#[derive(Debug)]
pub enum Outcome {
    /// `--dry-run`: the plan, judged.
    Planned(Plan),
    Synced(SyncReport),
}

/// Syncs the project whose manifest is at `manifest`, in the store at
/// `store` (or the default one).
///
/// # Errors
/// An invalid manifest, an unpinned resource under `--locked`, a store that
/// cannot be opened or locked, and failures of the sync as a whole (each
/// resource's failure is in the report instead).
pub async fn sync(
    store: Option<&Path>,
    manifest: &Path,
    options: &Options,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Outcome> {
    let manifest = Manifest::load(manifest)?;
    if options.locked {
        check_locked(&manifest)?;
    }
    // Approvals files given must read before anything is written.
    for path in &options.approvals {
        crate::policy::approval::check_approvals_file(path)?;
    }
    // The project's remotes, with what the environment adds (an endpoint,
    // a region), are checked before anything is written, even the store.
    if !options.offline {
        crate::remote::configured(&manifest.project.remotes, &[])
            .map_err(crate::error::UsageError::new)?;
    }
    if options.dry_run {
        let session = Session::read_only(store, reporter, messages)?;
        let mut plan = session.read_only_plan(&manifest, &options.approvals)?;
        if !options.offline {
            session.check_remotes(&manifest, &plan)?;
        }
        // What the store remembers is not offered to the sources then.
        if options.refresh {
            for step in plan.resources.iter_mut().filter_map(|r| r.fetch.as_mut()) {
                step.remembered = None;
            }
        }
        return Ok(Outcome::Planned(plan));
    }
    let session = Session::for_project(
        store,
        &manifest,
        &format!("syncing project `{}`", manifest.project.name),
        reporter,
        messages,
    )
    .await?;
    sync_locked(&session, manifest, options)
        .await
        .map(Outcome::Synced)
}

/// The sync itself, for a caller that holds the project's lock (`session`
/// was opened [`for_project`](Session::for_project)): re-reads `manifest`
/// under the lock, plans, judges and carries the plan out.
///
/// # Errors
/// As [`sync`].
pub(super) async fn sync_locked(
    session: &Session<'_>,
    manifest: Manifest,
    options: &Options,
) -> anyhow::Result<SyncReport> {
    let messages = session.messages;
    let store = &session.store;
    // Planned under the lock, so what another sync of this project did is
    // seen: its links, its record, and the hashes it pinned.
    let mut manifest = manifest.reload()?;
    if options.locked {
        check_locked(&manifest)?;
    }
    let previous = crate::plan::previous_record(store, &manifest)?;
    let policy = crate::policy::Policy::load(store.root())?;
    let ledger = session.ledger(&policy, &options.approvals)?;
    // The store's quota is joined only when something is to be downloaded
    // under one: a sync with nothing to do stays cheap.
    let mut quota = None;
    let plan = Planner {
        manifest: &manifest,
        store,
        previous: previous.as_ref(),
        policy: &policy,
        ledger: &ledger,
    }
    .plan(|| match policy.limits.quota {
        Some(limit) if !options.offline => {
            let joined = quota.insert(store.join_quota(limit)?);
            Ok(joined.limit.saturating_sub(joined.left()))
        }
        _ => Ok(store.usage()?.bytes),
    })?;
    // The HTTP client is built only when something is to be fetched.
    let downloads = plan.resources.iter().any(|r| r.fetch.is_some()) && !options.offline;
    let mut config = Config::load(store.root())?;
    // A folder mirror that is not there (a disk not mounted) is said once,
    // not once per object.
    let mut mirrors_left_out = Vec::new();
    if downloads {
        let mut usable = |mirror: &crate::source::Mirror| match folder_mirror_unusable(mirror) {
            None => true,
            Some(why) => {
                messages.warn(&format!("{why}; going on without it"));
                mirrors_left_out.push(why);
                false
            }
        };
        manifest.project.mirrors.retain(&mut usable);
        config.mirrors.retain(&mut usable);
    }
    let events = EventLog::open(store);
    let notifier = Notifier::new(store, &config);
    let torrent_settings = TorrentSettings::resolve(store, &config)?;
    // Each remote is asked once whether it answers, and only when
    // something is left to fetch once cold storage has restored what it
    // holds. A remote that cannot be configured is bad input, said before
    // anything is done.
    let remotes = match downloads {
        true => crate::remote::configured(&manifest.project.remotes, &config.remotes)
            .map_err(crate::error::UsageError::new)?,
        false => Vec::new(),
    };
    // The policy's `schemes` bind remotes like any source: one it rules
    // out is never contacted.
    let connect = async |failed: Vec<(crate::remote::Remote, String)>| {
        crate::s3::connect(
            remotes,
            messages,
            |remote| policy.refuses_remote(remote).map_or(Ok(()), Err),
            &failed,
        )
        .await
    };
    let fetcher = if downloads {
        Some(
            session
                .fetcher(FetchOptions {
                    jobs: usize::from(options.jobs.unwrap_or(crate::settings::jobs()?)),
                    refresh: options.refresh,
                    quota,
                    torrents: torrent_settings.clone(),
                    wait: options.wait,
                    https_only: crate::fetch::HttpSettings::https_only_under(&policy),
                })?
                .with_mirrors_left_out(mirrors_left_out),
        )
    } else {
        None
    };
    let report = execute::sync(
        &manifest,
        store,
        plan,
        previous,
        fetcher,
        connect,
        &session.reporter,
        execute::SyncOptions {
            offline: options.offline,
            mirrors: config.mirrors.clone(),
            remotes: Vec::new(),
            remotes_only: options.remotes_only,
            fetch_only: options.fetch_only,
        },
        Oversight {
            policy: &policy,
            ledger: &ledger,
            events: &events,
            notifier: &notifier,
        },
    )
    .await?;
    if let Some(limit) = torrent_settings.seed_time
        && !options.offline
        && manifest.resources.iter().any(|r| r.needs_torrent())
    {
        stop_seeding_after(store, &torrent_settings, limit, messages).await;
    }
    Ok(report)
}

/// Why a folder mirror cannot serve anything, if it cannot: its folder is
/// not there, or does not hold the `sha256/` layout (the folder meant is
/// named when it is a store's).
fn folder_mirror_unusable(mirror: &crate::source::Mirror) -> Option<String> {
    let crate::source::Mirror::Folder(dir) = mirror else {
        return None;
    };
    let shown = crate::fsutil::display_path(dir);
    if dir.is_file() {
        Some(format!("hashed mirror `{shown}` is a file, not a folder"))
    } else if !dir.is_dir() {
        Some(format!(
            "hashed mirror `{shown}` is not a folder that is there (a disk not mounted?)"
        ))
    } else if dir.join("sha256").is_dir() {
        None
    } else if dir.join("objects").join("sha256").is_dir() {
        Some(format!(
            "hashed mirror `{shown}` holds no `sha256/` folder; it looks like a crp store, whose mirror is its `objects` folder (`{}`)",
            crate::fsutil::display_path(&dir.join("objects"))
        ))
    } else {
        Some(format!(
            "hashed mirror `{shown}` holds no `sha256/` folder, so none of its objects can be found"
        ))
    }
}

/// Applies the configured `seed_time`: transmission cannot, so each sync of a
/// project with torrents does. A daemon that cannot be asked is a warning.
async fn stop_seeding_after(
    store: &Store,
    settings: &TorrentSettings,
    limit: std::time::Duration,
    messages: &dyn Messages,
) {
    let result = match Daemon::connect(settings).await {
        Ok(daemon) => enforce_seed_time(&daemon, store, limit).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(stopped) => {
            for name in stopped {
                messages.note(&format!(
                    "stopped seeding `{name}`: it has seeded for the configured {}",
                    humantime::format_duration(limit)
                ));
            }
        }
        Err(err) => messages.warn(&format!("could not apply `seed_time`: {err}")),
    }
}

/// `--locked`: every resource must be pinned, so the manifest needs no edit.
fn check_locked(manifest: &Manifest) -> anyhow::Result<()> {
    let diagnostics: Vec<Diagnostic> = manifest
        .resources
        .iter()
        .filter(|r| r.sha256.is_none())
        .map(|r| {
            Diagnostic::new(format!("resource `{}` has no `sha256`", r.name), Some(r.span.clone()))
                .label("not pinned")
                .hint("`--locked` forbids pinning; run `crp sync` without it and commit the updated manifest")
        })
        .collect();
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(manifest.error(diagnostics).into())
    }
}
