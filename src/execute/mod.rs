//! Carrying out a [`Plan`]: fetch, link, unlink, pin, record.
//!
//! The caller holds the project's lock, so nothing else changes this
//! project's links, record or manifest meanwhile; objects are shared with
//! other projects and guarded by their own locks inside the fetcher.
//!
//! [`sync`] runs the stages in order: `oversight` holds back what may not
//! go ahead and restores archived objects, `fetch` fetches what is
//! missing, `records` pins first uses into the manifest and carries
//! approvals into records, `links` makes and removes links, and `records`
//! keeps each object's users in step with the project's new record.

mod fetch;
mod links;
mod oversight;
mod records;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::fetch::{FetchError, Fetcher, SourceError};
use crate::manifest::Manifest;
use crate::name::Name;
use crate::notify::Notifier;
use crate::plan::{Action, Plan, ProjectInfo, ResourcePlan};
use crate::policy::{Policy, Verdict};
use crate::progress::{NoteKind, Reporter};
use crate::provenance::EventLog;
use crate::store::record::{ProjectRecord, ProjectResource, RECORD_VERSION};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::torrent::TorrentState;

use fetch::fetch_missing;
use links::{make_links, remove_links};
pub(crate) use oversight::Subject;
use oversight::{hold_back, incidents, restore_archived};
use records::{carry_approvals, pin_fetched, update_object_uses};

/// How to carry out a plan.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Never touch the network: link what the store has, report the rest.
    pub offline: bool,
    /// The store's content-addressed mirrors, tried after the project's.
    pub mirrors: Vec<crate::source::Mirror>,
    /// The remotes that answered, tried first (filled in by
    /// [`sync`]'s `connect`).
    pub remotes: Vec<crate::s3::Client>,
    /// `--remotes-only`: fetch from remotes and mirrors, never a declared
    /// source.
    pub remotes_only: bool,
    /// `crp pull`: fetch what is pinned, and change nothing else (no
    /// links, no pins, no project record).
    pub fetch_only: bool,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    pub project: ProjectInfo,
    pub store: PathBuf,
    pub resources: Vec<ResourceOutcome>,
    pub unlinked: Vec<UnlinkOutcome>,
    /// Whether `resources.toml` was rewritten (to pin new hashes).
    pub manifest_updated: bool,
    /// Whether the project's record in the store changed.
    pub record_updated: bool,
    /// The remotes this sync did not ask, each with why (it did not
    /// answer, or the policy rules it out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes_left_out: Vec<String>,
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceOutcome {
    pub name: Name,
    /// What the plan said.
    pub planned: Action,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The source this sync downloaded it from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_from: Option<String>,
    /// Where this sync brought it back from: the cold storage (a folder,
    /// or an `s3://` URL) `crp gc` archived it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// For resources that came, or are coming, over BitTorrent: where the
    /// torrent is (downloading with percent, stalled, verifying, available,
    /// seeding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torrent: Option<TorrentState>,
    /// What the policy and the people say about it.
    pub verdict: Verdict,
    /// Whether this sync wrote its sha256 and size into the manifest.
    pub pinned: bool,
    pub link_path: PathBuf,
    pub link: LinkOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// Where a resource stands after the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// In the store and linked.
    Ok,
    /// Not in the store (`--offline`).
    Missing,
    /// Fetching or linking failed.
    Failed,
    /// Something crp did not make is at the link's path.
    Conflict,
    /// A torrent is still on its way (`--no-wait`, or `--timeout` passed);
    /// a later sync picks up where the daemon got to.
    Downloading,
    /// Not fetched: it waits for a person's approval (`crp pending`).
    AwaitingApproval,
    /// Refused by a person or by the policy's limits.
    Denied,
    /// Its content was executable without the manifest declaring it: kept
    /// in quarantine, never linked.
    Quarantined,
}

/// What happened at the link's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkOutcome {
    Created,
    Replaced,
    UpToDate,
    NotLinked,
    /// crp removed its own link (the resource was denied).
    Removed,
}

/// An error as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub message: String,
    /// Per source, for fetch failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureReport>,
    /// What to do about it, when crp knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// One source's failure, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    pub source: String,
    pub error: String,
    /// A content-addressed mirror, not a declared source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror: bool,
}

/// What happened to a link of a resource that left the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlinkOutcome {
    pub name: Name,
    pub path: PathBuf,
    pub status: UnlinkStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnlinkStatus {
    Removed,
    Conflict,
    Failed,
}

impl SyncReport {
    /// Whether everything the manifest asks for is in place.
    pub fn is_complete(&self) -> bool {
        self.resources.iter().all(|r| r.status == Status::Ok)
            && self
                .unlinked
                .iter()
                .all(|u| u.status == UnlinkStatus::Removed)
    }
}

/// Why a sync stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("failed to update the store's records")]
    Store(#[from] StoreError),
    #[error("failed to pin new hashes into `{}`", path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<&FetchError> for ErrorReport {
    fn from(err: &FetchError) -> Self {
        match err {
            FetchError::Failed { resource, failures } => Self {
                message: format!("failed to fetch `{resource}`"),
                failures: failures
                    .iter()
                    .map(|f| FailureReport {
                        source: f.source.clone(),
                        error: f.error.to_string(),
                        mirror: f.mirror,
                    })
                    .collect(),
                // Every source served other bytes than the pinned ones:
                // perhaps a new version, on purpose. Only remotes and
                // mirrors did: their copy is wrong.
                hint: if !failures.is_empty() && failures.iter().all(|f| f.mirror) {
                    failures
                        .iter()
                        .any(|f| f.error.is_other_bytes())
                        .then(|| {
                            "a remote or mirror holds other bytes under this sha256: `crp push` from a store that has the object replaces a remote's copy; a mirror's must be fixed where it is kept".to_owned()
                        })
                        .or_else(|| {
                            failures
                                .iter()
                                .any(|f| matches!(&f.error, SourceError::Status { status, .. } if status.as_u16() == 404))
                                .then(|| {
                                    "no remote or mirror holds it: `crp push` from a machine that has the object uploads it".to_owned()
                                })
                        })
                } else {
                    (!failures.is_empty()
                    && failures.iter().all(|f| {
                        matches!(
                            f.error,
                            SourceError::HashMismatch { .. }
                                | SourceError::QuarantinedMismatch { .. }
                                | SourceError::AnnouncedSize { .. }
                                | SourceError::SizeMismatch { .. }
                                | SourceError::TooLarge { .. }
                        )
                    }))
                .then(|| {
                        format!(
                            "if the source changed its content on purpose, `crp update {resource}` fetches it and re-pins it (after checking it is what you expect)"
                        )
                    })
                },
            },
            FetchError::Lock(lock) => Self {
                hint: lock.hint(),
                ..Self::message(err)
            },
            other => Self::message(other),
        }
    }
}

impl ErrorReport {
    /// The report for `to`, a resource sharing its object with `from`,
    /// whose name the fetch's error carries: each resource's error names
    /// it, and says whose fetch it was.
    fn renamed(&self, from: &Name, to: &Name) -> Self {
        let (from, to_quoted) = (format!("`{from}`"), format!("`{to}`"));
        let rename = |text: &str| text.replace(&from, &to_quoted);
        Self {
            message: format!(
                "{} (it shares its object with {from})",
                rename(&self.message)
            ),
            failures: self.failures.clone(),
            hint: self.hint.as_deref().map(rename),
        }
    }

    fn text(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            failures: Vec::new(),
            hint: None,
        }
    }

    /// An error and its causes, on one line.
    fn message(err: &dyn std::error::Error) -> Self {
        Self::text(&crate::fetch::error_text(err))
    }
}

/// Where a sync accounts for what it does: the policy and the decisions
/// that judged the plan, the event log, and the notifications.
#[derive(Debug, Clone, Copy)]
pub struct Oversight<'a> {
    pub policy: &'a Policy,
    /// The decisions people recorded, as the plan was judged by them.
    pub ledger: &'a crate::policy::approval::Ledger,
    pub events: &'a EventLog,
    pub notifier: &'a Notifier,
}

/// Carries out `plan` for `manifest`. `fetcher` is `None` when nothing may
/// be downloaded (`--offline`, or nothing to download). The plan's verdicts
/// (see [`crate::plan::review`]) decide what may be fetched and linked.
///
/// `connect` checks the remotes (see [`crate::s3::connect`]), passed the
/// remote archives the restores found unusable. It is called
/// only when a pinned object is left to fetch once archived objects are
/// restored: a sync that cold storage serves, or that fetches only
/// unpinned resources (which no remote can serve), asks no remote and
/// waits for none that does not answer.
///
/// The stages below work on one row per resource held in three columns:
/// `manifest.resources[i]` is what was declared, `plan.resources[i]` what
/// was planned for it (the [`Planner`](crate::plan::Planner) keeps the
/// manifest's order), and `outcomes[i]` what happened. That order is
/// checked here, once.
///
/// # Panics
/// When `plan` was not made from `manifest`.
#[allow(clippy::too_many_arguments)] // each is a separate input of the sync
pub async fn sync(
    manifest: &Manifest,
    store: &Store,
    plan: Plan,
    previous: Option<ProjectRecord>,
    fetcher: Option<Fetcher>,
    connect: impl AsyncFnOnce(Vec<(crate::remote::Remote, String)>) -> crate::s3::Connected,
    reporter: &Arc<dyn Reporter>,
    mut options: SyncOptions,
    oversight: Oversight<'_>,
) -> Result<SyncReport, SyncError> {
    assert!(
        plan.resources.len() == manifest.resources.len()
            && plan
                .resources
                .iter()
                .zip(&manifest.resources)
                .all(|(planned, declared)| planned.name == declared.name),
        "the plan was made from another manifest"
    );
    let previous = previous.as_ref();
    let mut outcomes: Vec<Outcome> = plan.resources.iter().map(Outcome::planned).collect();
    let mut notices = Vec::new();
    hold_back(
        manifest,
        store,
        &plan,
        &mut outcomes,
        oversight,
        &mut notices,
    )?;
    let archives = crate::inspect::gc::ArchiveRemotes::default();
    restore_archived(
        store,
        &plan,
        &mut outcomes,
        oversight,
        &**reporter,
        options.offline,
        &archives,
    )
    .await;
    let mut remotes_left_out = Vec::new();
    let fetcher = match fetcher.filter(|_| !options.offline) {
        Some(fetcher) if left_to_fetch(&plan, &outcomes) => {
            let connected = connect(archives.failed().await).await;
            options.remotes = connected.clients;
            remotes_left_out.clone_from(&connected.left_out);
            Some(fetcher.with_remotes_left_out(connected.left_out))
        }
        fetcher => fetcher,
    };
    fetch_missing(
        manifest,
        store,
        &plan,
        &mut outcomes,
        fetcher.as_ref(),
        &options,
        oversight,
        &mut notices,
    )
    .await;
    let manifest_updated = pin_fetched(manifest, &outcomes, &**reporter)?;
    carry_approvals(store, manifest, &plan, &outcomes, &**reporter);
    if options.fetch_only {
        store.sync_dirs().map_err(StoreError::from)?;
        oversight.events.flush();
        for warning in oversight.notifier.send(&notices).await {
            reporter.note(NoteKind::Warning, &warning);
        }
        return Ok(SyncReport {
            remotes_left_out,
            ..report(plan, outcomes, Vec::new(), false, false)
        });
    }
    let mut links = make_links(store, &plan, previous, &mut outcomes, &**reporter);
    let (unlinked, kept) = remove_links(&plan, previous);

    // Record what the project references and how it is linked. A resource
    // that did not get its object this time (held for a person, failed,
    // offline) still references what the last sync left linked, and keeps
    // it from garbage collection; a denied one's link is gone with it.
    let mut resources = kept;
    for (i, (r, outcome)) in plan.resources.iter().zip(&outcomes).enumerate() {
        let entry = match outcome.digest.filter(|_| outcome.present) {
            Some(digest) => Some(ProjectResource {
                sha256: digest,
                link: links.remove(&i),
            }),
            None if outcome.link != LinkOutcome::Removed => {
                previous.and_then(|p| p.resources.get(&r.name)).cloned()
            }
            None => None,
        };
        if let Some(entry) = entry {
            resources.insert(r.name.clone(), entry);
        }
    }
    let project = &plan.project;
    let record = ProjectRecord {
        schema_version: RECORD_VERSION,
        id: project.id.clone(),
        name: project.name.clone(),
        manifest: project.manifest.clone(),
        link_dir: project.link_dir.clone(),
        synced_at: Timestamp::now(),
        resources,
        incidents: previous.map_or(0, |p| p.incidents) + incidents(&outcomes),
    };
    let record_updated = previous.is_none_or(|p| !p.same_state(&record));
    if record_updated {
        update_object_uses(
            store, manifest, &plan, previous, &record, &outcomes, reporter,
        )
        .await?;
        store.write_project(&record)?;
    }
    // New objects and records become durable before the sync reports them.
    store.sync_dirs().map_err(StoreError::from)?;
    oversight.events.flush();
    for warning in oversight.notifier.send(&notices).await {
        reporter.note(NoteKind::Warning, &warning);
    }

    Ok(SyncReport {
        remotes_left_out,
        ..report(plan, outcomes, unlinked, manifest_updated, record_updated)
    })
}

/// Whether an object a remote could serve (one pinned by its sha256) is
/// still to be fetched: neither in the store nor stopped.
fn left_to_fetch(plan: &Plan, outcomes: &[Outcome]) -> bool {
    plan.resources
        .iter()
        .zip(outcomes)
        .any(|(r, o)| r.fetch.is_some() && r.sha256.is_some() && o.status.is_none() && !o.present)
}

/// The report of a sync from each resource's outcome.
fn report(
    plan: Plan,
    outcomes: Vec<Outcome>,
    unlinked: Vec<UnlinkOutcome>,
    manifest_updated: bool,
    record_updated: bool,
) -> SyncReport {
    let resources = plan
        .resources
        .iter()
        .zip(outcomes)
        .map(|(r, o)| ResourceOutcome {
            name: r.name.clone(),
            planned: r.action,
            status: o.status.unwrap_or(if o.present {
                Status::Ok
            } else {
                Status::Missing
            }),
            sha256: o.digest,
            size: o.size.or(r.size),
            fetched_from: o.fetched_from,
            restored_from: o.restored_from,
            torrent: o.torrent,
            verdict: r.verdict.clone(),
            pinned: o.pin,
            link_path: r.link_path.clone(),
            link: o.link,
            error: o.error,
        })
        .collect();
    SyncReport {
        project: plan.project,
        store: plan.store,
        resources,
        unlinked,
        manifest_updated,
        record_updated,
        remotes_left_out: Vec::new(),
    }
}

/// Per-resource progress while a plan is carried out.
#[derive(Debug)]
struct Outcome {
    digest: Option<Sha256Digest>,
    size: Option<u64>,
    present: bool,
    fetched_from: Option<String>,
    restored_from: Option<String>,
    torrent: Option<TorrentState>,
    /// The fetch wrote this resource's use into the new object's record.
    use_recorded: bool,
    pin: bool,
    link: LinkOutcome,
    /// Set once the resource has failed, or cannot go further.
    status: Option<Status>,
    error: Option<ErrorReport>,
    /// The fetch went wrong in a way that counts against the project: a
    /// hash mismatch, or undeclared executable content.
    incident: bool,
}

impl Outcome {
    /// Where a resource starts, according to the plan.
    fn planned(plan: &ResourcePlan) -> Self {
        Self {
            digest: plan.sha256,
            size: None,
            present: plan.present,
            fetched_from: None,
            restored_from: None,
            torrent: None,
            use_recorded: false,
            pin: false,
            link: LinkOutcome::NotLinked,
            status: None,
            error: None,
            incident: false,
        }
    }

    /// The resource can go no further.
    fn fail(&mut self, status: Status, error: ErrorReport) {
        self.status = Some(status);
        self.error = Some(error);
    }
}
