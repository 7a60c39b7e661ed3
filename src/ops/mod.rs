//! The only code that wires the stages together. Each operation takes typed
//! inputs (no command-line arguments), drives manifest → plan → review →
//! execute or an inspection, and returns data for [`crate::report`] to
//! print; what people should know on the way goes to a
//! [`Messages`] sink, progress to a
//! [`Reporter`].
//!
//! [`Session`] holds what every operation on a store needs: the store, the
//! locks a change to a project takes, and the one way a [`Fetcher`] is
//! built.

pub mod add;
pub mod approval;
pub mod diff;
pub mod drift;
pub mod gc;
pub mod hash;
pub mod hook;
pub mod init;
pub mod metrics;
pub mod policy;
pub mod provenance;
pub mod remote;
pub mod remove;
pub mod request;
pub mod status;
pub mod sync;
pub mod torrent;
pub mod update;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fetch::{Fetcher, HttpSettings, RetryPolicy, Torrents};
use crate::manifest::Manifest;
use crate::plan::{Plan, Planner};
use crate::policy::Policy;
use crate::policy::approval::Ledger;
use crate::progress::{Messages, Reporter};
use crate::store::Store;
use crate::store::lock::Lock;
use crate::store::quota::Quota;
use crate::torrent::TorrentSettings;
use crate::torrent::fetch::WaitMode;

/// A store opened for one operation, and the locks it holds.
pub struct Session<'a> {
    pub store: Store,
    pub reporter: Arc<dyn Reporter>,
    pub messages: &'a dyn Messages,
    _locks: Option<ProjectLocks>,
}

/// The locks an operation that changes a project holds: the project's own,
/// and a share of the store's (so garbage collection waits for it).
#[derive(Debug)]
struct ProjectLocks {
    _project: Lock,
    _store: Lock,
}

/// How a fetcher fetches: the session's one builder takes these.
#[derive(Debug)]
pub struct FetchOptions {
    /// Downloads at once.
    pub jobs: usize,
    /// Download unpinned resources afresh, whatever the store remembers.
    pub refresh: bool,
    /// This process's share of the store's quota, when it joined it.
    pub quota: Option<Quota>,
    /// The store's torrent settings (see [`TorrentSettings::resolve`]).
    pub torrents: TorrentSettings,
    /// Whether to wait for torrents to complete.
    pub wait: WaitMode,
    /// Follow no redirect to plain `http:`: the store's policy allows only
    /// `https` (see [`HttpSettings::within`]).
    pub https_only: bool,
}

impl<'a> Session<'a> {
    /// Opens the store for an operation that changes `manifest`'s project:
    /// creates the store if needed, then takes the project's lock and a
    /// share of the store's. `doing` tells waiting processes what holds
    /// them.
    ///
    /// # Errors
    /// A store that cannot be opened or created, or a lock that cannot be
    /// taken.
    pub async fn for_project(
        store: Option<&Path>,
        manifest: &Manifest,
        doing: &str,
        reporter: Arc<dyn Reporter>,
        messages: &'a dyn Messages,
    ) -> anyhow::Result<Self> {
        let store = Store::open(store)?;
        store.create()?;
        let project = store
            .lock_project(&manifest.project_id(), doing, &*reporter)
            .await?;
        let shared = store.lock_store_shared(doing, &*reporter).await?;
        Ok(Self {
            store,
            reporter,
            messages,
            _locks: Some(ProjectLocks {
                _project: project,
                _store: shared,
            }),
        })
    }

    /// Opens the store to read it: nothing is created or locked.
    ///
    /// # Errors
    /// A store path that cannot be resolved.
    pub fn read_only(
        store: Option<&Path>,
        reporter: Arc<dyn Reporter>,
        messages: &'a dyn Messages,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store: Store::open(store)?,
            reporter,
            messages,
            _locks: None,
        })
    }

    /// The decisions people made: the store's ledger, and the approvals
    /// files given, when the store's policy trusts them (else a warning).
    ///
    /// # Errors
    /// A ledger or an approvals file that cannot be read.
    pub fn ledger(&self, policy: &Policy, approvals: &[PathBuf]) -> anyhow::Result<Ledger> {
        let mut ledger = Ledger::load(&self.store)?;
        for path in approvals {
            if policy.approval.approval_files {
                ledger.add_file(path)?;
            } else {
                self.messages.warn(&format!(
                    "ignoring `{}`: the store's policy does not trust approvals files (`approval_files = false`)",
                    path.display()
                ));
            }
        }
        Ok(ledger)
    }

    /// Checks what a sync of `manifest` by `plan` would check of remotes,
    /// so that a plan refuses what the sync would refuse: the store's
    /// configuration (`meta/config.toml`), the project's remotes with what
    /// the environment adds, and, when something is to be fetched, the
    /// store's remotes too.
    ///
    /// # Errors
    /// A store configuration that is not valid, and a remote that cannot be
    /// used as configured.
    pub fn check_remotes(&self, manifest: &Manifest, plan: &Plan) -> anyhow::Result<()> {
        let config = crate::config::Config::load(self.store.root())?;
        let fetching = plan.resources.iter().any(|r| r.fetch.is_some());
        let store_remotes = match fetching {
            true => &config.remotes[..],
            false => &[],
        };
        crate::remote::configured(&manifest.project.remotes, store_remotes)
            .map_err(crate::error::UsageError::new)?;
        Ok(())
    }

    /// Plans, with each resource's verdict, without writing anything, not even
    /// a new store. `approvals` are approvals files to honour too.
    ///
    /// # Errors
    /// A store, policy, ledger or record that cannot be read.
    pub fn read_only_plan(
        &self,
        manifest: &Manifest,
        approvals: &[PathBuf],
    ) -> anyhow::Result<Plan> {
        let store = &self.store;
        let previous = if store.check()? {
            crate::plan::previous_record(store, manifest)?
        } else {
            None
        };
        let policy = crate::policy::Policy::load(store.root())?;
        let ledger = self.ledger(&policy, approvals)?;
        Ok(Planner {
            manifest,
            store,
            previous: previous.as_ref(),
            policy: &policy,
            ledger: &ledger,
        }
        .plan(|| Ok(store.usage()?.bytes))?)
    }

    /// The fetcher: the one place one is built.
    ///
    /// # Errors
    /// An HTTP client that cannot be built (its TLS settings).
    pub fn fetcher(&self, options: FetchOptions) -> anyhow::Result<Fetcher> {
        Ok(Fetcher::new(
            self.store.clone(),
            &HttpSettings {
                https_only: options.https_only,
                ..HttpSettings::from_env()
            },
            RetryPolicy::default(),
            options.jobs,
            self.reporter.clone(),
            Torrents::new(Some(options.torrents), options.wait),
        )?
        .with_refresh(options.refresh)
        .with_quota(options.quota))
    }
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("store", &self.store)
            .field("locked", &self._locks.is_some())
            .finish_non_exhaustive()
    }
}
