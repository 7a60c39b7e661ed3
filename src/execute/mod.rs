//! Carrying out a [`Plan`]: fetch, link, unlink, pin, record.
//!
//! The caller holds the project's lock, so nothing else changes this
//! project's links, record or manifest meanwhile; objects are shared with
//! other projects and guarded by their own locks inside the fetcher.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::digest::Sha256Digest;
use crate::fetch::{FetchError, FetchRequest, Fetched, Fetcher, SourceError};
use crate::fsutil;
use crate::link;
use crate::manifest::{Manifest, SourceEntry, edit};
use crate::name::Name;
use crate::notify::{Notice, Notifier};
use crate::plan::{Action, LinkStep, Plan, ProjectInfo, ResourcePlan};
use crate::policy::approval::{self, Decision};
use crate::policy::{Policy, Verdict};
use crate::progress::{NoteKind, Reporter};
use crate::provenance::EventLog;
use crate::store::record::{
    Asked, LinkRecord, NewObject, ObjectKind, ObjectRecord, ObjectUse, ProjectRecord,
    ProjectResource, RECORD_VERSION, Verification,
};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::torrent::TorrentState;
pub(crate) use oversight::Subject;
use oversight::{account, hold_back, incidents, is_mismatch, restore_archived};

mod oversight;

/// How to carry out a plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Never touch the network: link what the store has, report the rest.
    pub offline: bool,
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
                    })
                    .collect(),
                hint: None,
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

/// Where a sync accounts for what it does: the policy that judged the plan,
/// the event log, and the notifications.
#[derive(Debug, Clone, Copy)]
pub struct Oversight<'a> {
    pub policy: &'a Policy,
    pub events: &'a EventLog,
    pub notifier: &'a Notifier,
}

/// Carries out `plan` for `manifest`. `fetcher` is `None` when nothing may
/// be downloaded (`--offline`, or nothing to download). The plan's verdicts
/// (see [`crate::plan::review`]) decide what may be fetched and linked.
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
    fetcher: Option<&Fetcher>,
    reporter: &Arc<dyn Reporter>,
    options: SyncOptions,
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
    restore_archived(store, &plan, &mut outcomes, oversight, &**reporter).await;
    fetch_missing(
        manifest,
        store,
        &plan,
        &mut outcomes,
        fetcher.filter(|_| !options.offline),
        oversight,
        &mut notices,
    )
    .await;
    let manifest_updated = pin_fetched(manifest, &outcomes, &**reporter)?;
    carry_approvals(store, manifest, &plan, &outcomes, &**reporter);
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
            torrent: o.torrent,
            verdict: r.verdict.clone(),
            pinned: o.pin,
            link_path: r.link_path.clone(),
            link: o.link,
            error: o.error,
        })
        .collect();
    Ok(SyncReport {
        project: plan.project,
        store: plan.store,
        resources,
        unlinked,
        manifest_updated,
        record_updated,
    })
}

/// Fetches every object the plan lacks: one task per object (resources that
/// share a digest share a task and pool their sources), one per unpinned
/// resource. Without a fetcher, they are reported missing.
async fn fetch_missing(
    manifest: &Manifest,
    store: &Store,
    plan: &Plan,
    outcomes: &mut [Outcome],
    fetcher: Option<&Fetcher>,
    oversight: Oversight<'_>,
    notices: &mut Vec<Notice>,
) {
    let mut by_digest: BTreeMap<Sha256Digest, Vec<usize>> = BTreeMap::new();
    let mut unpinned = Vec::new();
    for (i, r) in plan.resources.iter().enumerate() {
        if outcomes[i].status.is_some() || outcomes[i].present {
            continue;
        }
        match (&r.fetch, r.sha256) {
            (Some(_), Some(digest)) => by_digest.entry(digest).or_default().push(i),
            (Some(_), None) => unpinned.push(vec![i]),
            (None, _) => {}
        }
    }
    let tasks: Vec<Vec<usize>> = by_digest.into_values().chain(unpinned).collect();
    let Some(fetcher) = fetcher else {
        for i in tasks.into_iter().flatten() {
            outcomes[i].fail(
                Status::Missing,
                ErrorReport::text("not in the store, and `--offline` forbids downloading it"),
            );
        }
        return;
    };
    // Tasks with a torrent start at once: the daemon downloads them side by
    // side, and they hold no job slot while it does. The others start a few
    // more than `--jobs` at a time, so that what waits its turn is an index
    // into the plan, not a task with its buffers.
    let (torrents, direct): (Vec<_>, Vec<_>) = tasks
        .into_iter()
        .partition(|indices| manifest.resources[indices[0]].needs_torrent());
    let window = fetcher.jobs() * 2 + 2;
    let mut direct = direct.into_iter();
    let mut set = JoinSet::new();
    let spawn = |set: &mut JoinSet<_>, indices: Vec<usize>, windowed: bool| {
        let first = &manifest.resources[indices[0]];
        let mut sources: Vec<SourceEntry> = Vec::new();
        for entry in indices.iter().flat_map(|&i| &manifest.resources[i].sources) {
            if !sources.iter().any(|s| s.source == entry.source) {
                sources.push(entry.clone());
            }
        }
        let verdict = &plan.resources[indices[0]].verdict;
        let request = FetchRequest {
            name: first.name.clone(),
            sources,
            sha256: first.sha256,
            size: first.size,
            purpose: first.purpose.clone(),
            requested_by: first.requested_by.clone(),
            seed: first.seed,
            user: Some(ObjectUse::of(manifest, first)),
            executable: indices.iter().any(|&i| manifest.resources[i].executable),
            cap: oversight.policy.cap(verdict),
        };
        Subject::of(manifest, first).record_started(
            oversight.events,
            verdict,
            request.sources.len(),
        );
        let fetcher = fetcher.clone();
        set.spawn(async move {
            let started = std::time::Instant::now();
            let result = fetcher.fetch(&request).await;
            (indices, result, started.elapsed(), windowed)
        });
    };
    for indices in torrents {
        spawn(&mut set, indices, false);
    }
    for indices in direct.by_ref().take(window) {
        spawn(&mut set, indices, true);
    }
    while let Some(joined) = set.join_next().await {
        let (indices, result, took, windowed) = joined.expect("fetch tasks do not panic");
        if windowed && let Some(next) = direct.next() {
            spawn(&mut set, next, true);
        }
        account(manifest, store, &indices, &result, took, oversight, notices);
        // The fetcher records the first resource's use with a new object.
        let first = indices[0];
        for i in indices {
            let outcome = &mut outcomes[i];
            match &result {
                Ok(Fetched {
                    sha256,
                    size,
                    source,
                    torrent,
                }) => {
                    outcome.torrent = torrent.clone();
                    outcome.digest = Some(*sha256);
                    outcome.size = Some(*size);
                    outcome.present = true;
                    outcome.fetched_from = source.clone();
                    outcome.use_recorded = i == first && source.is_some();
                    outcome.pin = manifest.resources[i].sha256.is_none();
                }
                Err(FetchError::Pending { state, .. }) => {
                    outcome.torrent = Some(state.clone());
                    outcome.fail(Status::Downloading, ErrorReport::text(&state.to_string()));
                }
                Err(err @ FetchError::Executable { .. }) => {
                    outcome.incident = true;
                    outcome.fail(Status::Quarantined, ErrorReport::from(err));
                }
                // What the store holds already, executable and undeclared:
                // refused, as the plan refuses a pinned one.
                Err(err @ FetchError::Failed { failures, .. })
                    if failures
                        .iter()
                        .any(|f| matches!(f.error, SourceError::UndeclaredExecutable { .. })) =>
                {
                    outcome.fail(Status::Denied, ErrorReport::from(err));
                }
                Err(err) => {
                    outcome.incident = is_mismatch(err);
                    outcome.fail(Status::Failed, ErrorReport::from(err));
                }
            }
        }
    }
}

/// Writes the digests of resources fetched on trust into the manifest.
/// Returns whether it did.
fn pin_fetched(
    manifest: &Manifest,
    outcomes: &[Outcome],
    reporter: &dyn Reporter,
) -> Result<bool, SyncError> {
    let pins: Vec<(&Name, Sha256Digest, u64)> = outcomes
        .iter()
        .zip(&manifest.resources)
        .filter(|(o, _)| o.pin)
        .filter_map(|(o, r)| Some((&r.name, o.digest?, o.size?)))
        .collect();
    if pins.is_empty() {
        return Ok(false);
    }
    pin(manifest, &pins, reporter)?;
    Ok(true)
}

/// A person's approval of a request not pinned yet binds its sources alone;
/// once the first use pins it, the same approval is recorded for the pinned
/// sha256 in the store's ledger, so `status`, `policy check` and `drift`
/// keep saying who approved it rather than asking again. (An approval from
/// an approvals file stays in that file: crp does not edit reviewed files.)
fn carry_approvals(
    store: &Store,
    manifest: &Manifest,
    plan: &Plan,
    outcomes: &[Outcome],
    reporter: &dyn Reporter,
) {
    for ((r, outcome), resource) in plan.resources.iter().zip(outcomes).zip(&manifest.resources) {
        let (
            Verdict::Approved {
                by,
                at,
                note,
                file: None,
            },
            Some(digest),
            true,
        ) = (&r.verdict, outcome.digest, outcome.pin)
        else {
            continue;
        };
        let note = match note {
            Some(note) => format!("{note} (pinned on first use)"),
            None => "approved before it was pinned on first use".to_owned(),
        };
        let decision = approval_of(store, resource, digest, by, *at, Some(note));
        if let Err(err) = approval::Ledger::append(store, &decision) {
            reporter.note(
                NoteKind::Warning,
                &format!(
                    "could not record the approval of `{}` for its pin: {err}",
                    r.name
                ),
            );
        }
    }
}

/// The approval by `by` at `at` of `resource` as the object `digest`,
/// bound to its sources as the ledger binds decisions.
fn approval_of(
    store: &Store,
    resource: &crate::manifest::Resource,
    digest: Sha256Digest,
    by: &str,
    at: Timestamp,
    note: Option<String>,
) -> Decision {
    Decision {
        decision: approval::Kind::Approve,
        name: resource.name.clone(),
        sha256: Some(digest),
        sources: approval::bound_sources(&resource.sources),
        source_ids: approval::bound_ids(&resource.sources, &store.identity_key()),
        by: by.to_owned(),
        at,
        note,
        reason: None,
    }
}

/// Makes the links of every resource whose object is present, and returns
/// them by resource index (for the project's record).
fn make_links(
    store: &Store,
    plan: &Plan,
    previous: Option<&ProjectRecord>,
    outcomes: &mut [Outcome],
    reporter: &dyn Reporter,
) -> HashMap<usize, LinkRecord> {
    let mode = plan.project.link_mode;
    let root = fsutil::parent_of(&plan.project.manifest);
    let mut links = HashMap::new();
    for (i, (r, outcome)) in plan.resources.iter().zip(outcomes).enumerate() {
        // A denied resource loses the link crp made for it before.
        if outcome.status == Some(Status::Denied)
            && matches!(r.link, LinkStep::UpToDate | LinkStep::Replace { .. })
        {
            match tokio::task::block_in_place(|| link::remove(root, &r.link_path)) {
                Ok(()) => {
                    outcome.link = LinkOutcome::Removed;
                    if let Some(error) = &mut outcome.error {
                        error.message.push_str("; its link was removed");
                    }
                }
                Err(err) => reporter.note(
                    NoteKind::Warning,
                    &format!("could not remove the link of denied `{}`: {err}", r.name),
                ),
            }
            continue;
        }
        let Some(digest) = outcome
            .digest
            .filter(|_| outcome.present && outcome.status.is_none())
        else {
            continue;
        };
        match &r.link {
            LinkStep::Conflict { reason } => outcome.fail(
                Status::Conflict,
                ErrorReport::text(&format!(
                    "`{}` is {reason}; move it away to let crp link `{}`",
                    r.link_path.display(),
                    r.name
                )),
            ),
            LinkStep::UpToDate => {
                outcome.link = LinkOutcome::UpToDate;
                let kept = previous
                    .and_then(|p| p.resources.get(&r.name))
                    .and_then(|p| p.link.clone())
                    .filter(|l| l.path == r.link_path);
                let link = kept.unwrap_or_else(|| LinkRecord {
                    path: r.link_path.clone(),
                    mode,
                    stamp: None,
                    target: (mode == crate::manifest::LinkMode::Symlink)
                        .then(|| store.object_path(&digest)),
                });
                links.insert(i, link);
            }
            LinkStep::Create | LinkStep::Replace { .. } => {
                let object = store.object_path(&digest);
                match tokio::task::block_in_place(|| {
                    link::create(root, &r.link_path, &object, mode)
                }) {
                    Ok(made) => {
                        if made.mode != mode {
                            reporter.note(
                                NoteKind::Warning,
                                &format!("copied `{}`: the store is on another file system, so it cannot be hard-linked", r.name),
                            );
                        }
                        outcome.link = match r.link {
                            LinkStep::Create => LinkOutcome::Created,
                            _ => LinkOutcome::Replaced,
                        };
                        links.insert(i, made);
                    }
                    Err(err) => outcome.fail(Status::Failed, ErrorReport::message(&err)),
                }
            }
        }
    }
    links
}

/// Removes the links of resources that left the manifest. Returns what
/// happened to each, and the record entries to keep because their removal
/// failed (so the next sync tries again).
fn remove_links(
    plan: &Plan,
    previous: Option<&ProjectRecord>,
) -> (Vec<UnlinkOutcome>, BTreeMap<Name, ProjectResource>) {
    let mut kept = BTreeMap::new();
    let root = fsutil::parent_of(&plan.project.manifest);
    let outcomes = plan
        .unlinks
        .iter()
        .map(|u| {
            let (status, reason) = match &u.conflict {
                Some(what) => (
                    UnlinkStatus::Conflict,
                    Some(format!(
                        "`{}` is {what}; crp leaves it alone",
                        u.path.display()
                    )),
                ),
                None => match link::remove(root, &u.path) {
                    Ok(()) => (UnlinkStatus::Removed, None),
                    Err(err) => {
                        if let Some(old) = previous.and_then(|p| p.resources.get(&u.name)) {
                            kept.insert(u.name.clone(), old.clone());
                        }
                        (
                            UnlinkStatus::Failed,
                            Some(ErrorReport::message(&err).message),
                        )
                    }
                },
            };
            UnlinkOutcome {
                name: u.name.clone(),
                path: u.path.clone(),
                status,
                reason,
            }
        })
        .collect();
    (outcomes, kept)
}

/// Per-resource progress while a plan is carried out.
#[derive(Debug)]
struct Outcome {
    digest: Option<Sha256Digest>,
    size: Option<u64>,
    present: bool,
    fetched_from: Option<String>,
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

/// Writes pinned digests into the manifest: re-read under the project's lock,
/// edited in place, written atomically.
fn pin(
    manifest: &Manifest,
    pins: &[(&Name, Sha256Digest, u64)],
    reporter: &dyn Reporter,
) -> Result<(), SyncError> {
    let pin_err = |source: Box<dyn std::error::Error + Send + Sync>| SyncError::Pin {
        path: manifest.path.clone(),
        source,
    };
    let text = crate::manifest::read_text(&manifest.path).map_err(|e| pin_err(e.into()))?;
    let pins: Vec<(&str, Sha256Digest, u64)> = pins
        .iter()
        .map(|(name, digest, size)| (name.as_str(), *digest, *size))
        .collect();
    let (text, missing) = edit::pin_all(&text, &pins).map_err(|e| pin_err(e.into()))?;
    for name in missing {
        reporter.note(
            NoteKind::Warning,
            &format!("`{name}` left the manifest during the sync; not pinned"),
        );
    }
    fsutil::write_atomic(&manifest.path, text.as_bytes()).map_err(|e| pin_err(e.into()))
}

/// Keeps the `projects` lists of object records in step with the project's
/// new record.
async fn update_object_uses(
    store: &Store,
    manifest: &Manifest,
    plan: &Plan,
    previous: Option<&ProjectRecord>,
    record: &ProjectRecord,
    outcomes: &[Outcome],
    reporter: &Arc<dyn Reporter>,
) -> Result<(), StoreError> {
    let before: BTreeMap<&Name, Sha256Digest> = previous
        .into_iter()
        .flat_map(|p| &p.resources)
        .map(|(name, r)| (name, r.sha256))
        .collect();
    let digests: BTreeMap<&Name, Sha256Digest> = manifest
        .resources
        .iter()
        .zip(outcomes)
        .filter_map(|(r, o)| Some((&r.name, o.digest.filter(|_| o.present)?)))
        .collect();
    // New uses: resources whose digest is new to this project, or that were
    // fetched just now. Their records get the DAG's edges and approvals.
    for ((resource, outcome), planned) in
        manifest.resources.iter().zip(outcomes).zip(&plan.resources)
    {
        let Some(digest) = outcome.digest.filter(|_| outcome.present) else {
            continue;
        };
        let old = before.get(&resource.name).copied();
        // Unchanged, and linked by the last sync: its use is recorded.
        let linked_before = previous
            .and_then(|p| p.resources.get(&resource.name))
            .is_some_and(|r| r.link.is_some());
        if old == Some(digest) && outcome.fetched_from.is_none() && linked_before {
            continue;
        }
        // Just fetched: the fetch wrote the record with this use, so it is
        // read again only for edges or an approval to add.
        let annotations = old.is_some_and(|o| o != digest)
            || !resource.derived_from.is_empty()
            || matches!(planned.verdict, Verdict::Approved { .. });
        if outcome.use_recorded && !annotations {
            continue;
        }
        let use_ = ObjectUse::of(manifest, resource);
        let _lock = store
            .lock_object(
                &digest,
                &format!(
                    "recording `{}` for project `{}`",
                    resource.name, record.name
                ),
                &**reporter,
            )
            .await
            .map_err(StoreError::Lock)?;
        let mut object = match store.read_object_record(&digest)? {
            Some(object) => object,
            // An object without a record (its writer died in between):
            // describe it from the manifest.
            None => {
                let path = store.object_path(&digest);
                let meta = fs_err::metadata(&path)?;
                let when = Timestamp(meta.modified()?);
                let (kind, size) = if meta.is_dir() {
                    let tree = crate::tree::hash_tree(&path).map_err(std::io::Error::other)?;
                    (ObjectKind::Directory, tree.size())
                } else {
                    (ObjectKind::File, meta.len())
                };
                let mut object = ObjectRecord::new(
                    NewObject {
                        sha256: digest,
                        kind,
                        size,
                        path,
                    },
                    Asked {
                        sources: resource
                            .sources
                            .iter()
                            .map(|s| s.source.to_string())
                            .collect(),
                        purpose: resource.purpose.clone(),
                        requested_by: resource.requested_by.clone(),
                        requested_at: None,
                        verification: Verification::Manifest,
                    },
                );
                object.fetched_at = when;
                object.verified_at = when;
                object
            }
        };
        let mut changed = object.add_use(&use_);
        if object.unreferenced_since.take().is_some() {
            changed = true;
        }
        if let Some(old) = old.filter(|o| *o != digest && !object.supersedes.contains(o)) {
            object.supersedes.push(old);
            changed = true;
        }
        for parent in &resource.derived_from {
            if let Some(parent) = digests.get(parent)
                && !object.derived_from.contains(parent)
            {
                object.derived_from.push(*parent);
                changed = true;
            }
        }
        if let Verdict::Approved { by, at, note, .. } = &planned.verdict
            && !object.approvals.iter().any(|a| &a.by == by && &a.at == at)
        {
            object
                .approvals
                .push(approval_of(store, resource, digest, by, *at, note.clone()));
            changed = true;
        }
        if object.requested_at.is_none() {
            object.requested_at = Some(Timestamp::now());
            changed = true;
        }
        if changed {
            store.write_object_record(&object)?;
        }
    }
    // Ended uses: resources gone from the project or moved to another digest.
    for (name, digest) in before {
        if record.resources.get(name).map(|r| r.sha256) == Some(digest) {
            continue;
        }
        let _lock = store
            .lock_object(
                &digest,
                &format!("releasing `{name}` for project `{}`", record.name),
                &**reporter,
            )
            .await
            .map_err(StoreError::Lock)?;
        if let Some(mut object) = store.read_object_record(&digest)? {
            let len = object.projects.len();
            object
                .projects
                .retain(|u| !(u.project_id == record.id && &u.resource == name));
            if object.projects.len() != len {
                if object.projects.is_empty() {
                    object.unreferenced_since = Some(Timestamp::now());
                }
                store.write_object_record(&object)?;
            }
        }
    }
    Ok(())
}
