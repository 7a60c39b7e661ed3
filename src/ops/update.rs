//! `crp update [NAME…]`: accept what the sources serve now.
//!
//! Each pinned resource's direct sources are asked whether their content
//! changed: a conditional request (`If-None-Match`, `If-Modified-Since`,
//! RFC 9110 §13.1) with the validators of the response that served the
//! pinned object, or for a local file its size, inode and modification
//! time. What changed is downloaded and judged by the store's policy as
//! the new version it is, before it becomes an object. The manifest is then
//! re-pinned in place — only the `sha256` and `size` values of those entries
//! change — and the project is brought in line without the network. A
//! torrent's content is fixed by its info-hash: there is nothing to ask.
//!
//! `--dry-run` asks without downloading: an HTTP source for its first byte
//! (its status, length and validators), a local file for its digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::digest::Sha256Digest;
use crate::fetch::{Admit, FetchError, FetchRequest, Fetched, Fetcher, HttpSettings};
use crate::manifest::{Manifest, Resource, SourceEntry};
use crate::name::Name;
use crate::plan::review::{history, judge};
use crate::policy::approval::Ledger;
use crate::policy::{History, Policy, Request, Verdict};
use crate::progress::{Messages, Reporter};
use crate::source::Source;
use crate::store::Store;
use crate::store::record::{ObjectUse, SourceRecord};

use super::remove::LinkChange;
use super::sync::{Options as SyncOptions, sync_locked};
use super::{FetchOptions, Session};

/// What to update.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The resources to update; empty for every one.
    pub names: Vec<String>,
    /// Ask the sources, and change nothing.
    pub dry_run: bool,
    /// Downloads at once; `None` for `CRP_JOBS` or its default.
    pub jobs: Option<u16>,
}

/// What became of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The sources serve what is pinned.
    UpToDate,
    /// Re-pinned to what the sources serve now.
    Updated,
    /// In the store (re-pinned, or up to date), but its link could not be
    /// made: a file crp did not make is in its place (see `crp sync`'s
    /// conflicts).
    NotLinked,
    /// Re-pinned; the new version waits for a person (`crp approve`).
    AwaitingApproval,
    /// The new version is refused; the manifest keeps the old pin.
    Denied,
    /// `--dry-run`: the sources serve other content.
    Changed,
    /// `--dry-run`: the source gives nothing to compare (no validator, the
    /// same length); only a download tells.
    Unknown,
    /// Nothing to ask: only torrent sources, or not pinned yet.
    Skipped,
    /// The sources could not be asked, or what they served was refused on
    /// the way in (quarantined executable content).
    Failed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "up to date",
            Self::Updated => "updated",
            Self::NotLinked => "not linked",
            Self::AwaitingApproval => "awaiting approval",
            Self::Denied => "denied",
            Self::Changed => "changed",
            Self::Unknown => "unknown",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// A digest and a size in bytes, either of which may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub sha256: Option<Sha256Digest>,
    pub size: Option<u64>,
}

/// One resource's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub name: Name,
    pub change: Change,
    /// What the manifest pinned.
    pub old: Version,
    /// What the sources serve now, as far as it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Version>,
    /// The source that was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The policy's verdict on the new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why, in words: what changed, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Item {
    fn new(resource: &Resource, change: Change) -> Self {
        Self {
            name: resource.name.clone(),
            change,
            old: Version {
                sha256: resource.sha256,
                size: resource.size,
            },
            new: None,
            source: None,
            verdict: None,
            detail: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What `crp update` did, or with `--dry-run` would do.
#[derive(Debug, Clone)]
pub struct Updated {
    pub manifest: PathBuf,
    pub dry_run: bool,
    pub items: Vec<Item>,
    /// Whether `resources.toml` was re-pinned.
    pub manifest_updated: bool,
    /// Links that bringing the project in line made, replaced or removed.
    pub links: Vec<LinkChange>,
}

impl Updated {
    /// Whether every resource asked about is up to date or updated: none
    /// failed, waits for a person, or was refused.
    /// With `--dry-run`, which changes nothing, like `crp plan`: whether
    /// every source could be asked.
    pub fn ok(&self) -> bool {
        !self.items.iter().any(|i| match i.change {
            Change::Failed => true,
            Change::AwaitingApproval | Change::Denied | Change::NotLinked => !self.dry_run,
            _ => false,
        })
    }
}

/// Updates the resources `options.names` (or every one) of the project
/// whose manifest is at `manifest`.
///
/// # Errors
/// An invalid manifest, or a name it does not have (a usage error, nothing
/// written); a store that cannot be opened or locked; a manifest that
/// cannot be written. A source that cannot be asked is an [`Item`] with
/// [`Change::Failed`] instead.
pub async fn update(
    store: Option<&Path>,
    manifest: &Path,
    options: &Options,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Updated> {
    let manifest = Manifest::load(manifest)?;
    check_names(&manifest, &options.names)?;
    if options.dry_run {
        let session = Session::read_only(store, reporter, messages)?;
        return dry_run(&session, &manifest, &options.names).await;
    }
    let session = Session::for_project(
        store,
        &manifest,
        &format!("updating project `{}`", manifest.project.name),
        reporter,
        messages,
    )
    .await?;
    // Re-read under the lock: the edit applies to the file as it is now.
    let manifest = manifest.reload()?;
    check_names(&manifest, &options.names)?;
    let store = &session.store;
    let judged = Judge::load(&session, &manifest)?;
    let (mut items, asked) = select(&manifest, &options.names);
    let (refused, asked) = refuse(&judged, asked);
    items.extend(refused);
    if !asked.is_empty() {
        restore_archived(&session, &asked).await;
        let config = crate::config::Config::load(store.root())?;
        let quota = match judged.policy.limits.quota {
            Some(limit) => Some(store.join_quota(limit)?),
            None => None,
        };
        let fetcher = session.fetcher(FetchOptions {
            jobs: usize::from(options.jobs.unwrap_or(crate::settings::jobs()?)),
            refresh: false,
            quota,
            torrents: crate::torrent::TorrentSettings::resolve(store, &config)?,
            wait: crate::torrent::fetch::WaitMode {
                wait: false,
                timeout: None,
            },
            https_only: HttpSettings::https_only_under(&judged.policy),
        })?;
        items.extend(fetch_all(&fetcher, store, &manifest, &judged, asked).await);
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    settle(&mut items);
    let pins: Vec<(&str, Sha256Digest, u64)> = items
        .iter()
        .filter(|i| matches!(i.change, Change::Updated | Change::AwaitingApproval))
        .filter_map(|i| {
            let new = i.new?;
            Some((i.name.as_str(), new.sha256?, new.size?))
        })
        .collect();
    // A new version that waits for a person while the store holds it
    // already (another project's): recorded as waiting, so that the sync
    // below does not link it until someone decides.
    for item in &items {
        if item.change == Change::AwaitingApproval
            && let Some(Verdict::AwaitingApproval { reasons }) = &item.verdict
            && let Some(Version {
                sha256: Some(digest),
                size,
            }) = item.new
            && store.has_object(&digest)
            && let Some(resource) = manifest.resource(item.name.as_str())
        {
            crate::policy::approval::add_pending(
                store,
                crate::policy::approval::PendingRequest {
                    name: resource.name.clone(),
                    project: manifest.project.name.clone(),
                    project_id: manifest.project_id(),
                    manifest: manifest.path.clone(),
                    sha256: Some(digest),
                    size,
                    sources: crate::policy::approval::bound_sources(&resource.sources),
                    source_ids: crate::policy::approval::bound_ids(
                        &resource.sources,
                        &store.identity_key(),
                    ),
                    purpose: resource.purpose.clone(),
                    requested_by: resource.requested_by.clone(),
                    reasons: reasons.clone(),
                    requested_at: crate::time::Timestamp::now(),
                },
            )?;
        }
    }
    let mut current = manifest;
    let mut manifest_updated = false;
    if !pins.is_empty() {
        let text = crate::manifest::read_text(&current.path)?;
        let (edited, _) = crate::manifest::edit::pin_all(&text, &pins)?;
        // Pins it has already (a version still waiting) change nothing.
        if edited != text {
            let edited_manifest = Manifest::from_text(&current.path, edited.clone())?;
            crate::manifest::write_text(&current.path, &edited)
                .with_context(|| format!("failed to write `{}`", current.path.display()))?;
            current = edited_manifest;
            manifest_updated = true;
        }
    }
    let manifest_path = current.path.clone();
    let report = sync_locked(&session, current, &SyncOptions::offline()).await?;
    // An updated resource whose new version could not be linked (a file
    // crp did not make is where its link goes) is not done.
    for item in items.iter_mut().filter(|i| {
        matches!(
            i.change,
            Change::Updated | Change::UpToDate | Change::Skipped
        )
    }) {
        if let Some(r) = report.resources.iter().find(|r| r.name == item.name)
            && r.status == crate::execute::Status::Conflict
        {
            item.change = Change::NotLinked;
            item.detail = r.error.as_ref().map(|e| e.message.clone());
        }
    }
    Ok(Updated {
        manifest: manifest_path,
        dry_run: false,
        manifest_updated,
        links: LinkChange::made(report.resources),
        items,
    })
}

/// Brings back from cold storage the pinned objects of `asked` that `crp
/// gc` archived, so that their sources are asked whether they changed
/// instead of sending them whole again. One that cannot be restored is
/// said, and its sources send it.
async fn restore_archived(session: &Session<'_>, asked: &[&Resource]) {
    let store = &session.store;
    let events = crate::provenance::EventLog::open(store);
    let archives = crate::inspect::gc::ArchiveRemotes::default();
    for resource in asked {
        let Some(digest) = resource.sha256.filter(|d| !store.has_object(d)) else {
            continue;
        };
        match crate::inspect::gc::restore(
            store,
            &digest,
            &events,
            &*session.reporter,
            false,
            &archives,
        )
        .await
        {
            Ok(Some(from)) => session.messages.note(&format!(
                "restored `{}` from cold storage ({})",
                resource.name,
                crate::fsutil::display_source(&from.display().to_string())
            )),
            Ok(None) => {}
            Err(err) => session.messages.warn(&format!(
                "could not restore `{}` from cold storage: {err}; its sources are asked for it whole",
                resource.name
            )),
        }
    }
    events.flush();
}

/// Every name must be an entry of the manifest.
fn check_names(manifest: &Manifest, names: &[String]) -> anyhow::Result<()> {
    super::remove::known_names(
        manifest,
        names,
        "`crp status` lists the project's resources; `crp add` declares a new one",
    )
}

/// The resources to ask, and items for those there is nothing to ask
/// about.
fn select<'m>(manifest: &'m Manifest, names: &[String]) -> (Vec<Item>, Vec<&'m Resource>) {
    let mut skipped = Vec::new();
    let mut asked = Vec::new();
    for resource in &manifest.resources {
        if !names.is_empty() && !names.iter().any(|n| n == resource.name.as_str()) {
            continue;
        }
        if resource.sha256.is_none() {
            skipped.push(
                Item::new(resource, Change::Skipped)
                    .detail("not pinned yet: `crp sync` pins what its source serves"),
            );
        } else if direct(resource).next().is_none() {
            skipped.push(
                Item::new(resource, Change::Skipped)
                    .detail("its torrent's info-hash fixes its content: there is nothing to ask"),
            );
        } else {
            asked.push(resource);
        }
    }
    (skipped, asked)
}

/// Sets apart the resources whose sources the policy's hard limits refuse,
/// as denied items: their sources are not even asked.
fn refuse<'m>(judged: &Judge, asked: Vec<&'m Resource>) -> (Vec<Item>, Vec<&'m Resource>) {
    let mut refused = Vec::new();
    let mut rest = Vec::new();
    for resource in asked {
        match judged.refused(resource) {
            Some(verdict) => {
                let mut item = Item::new(resource, Change::Denied);
                item.verdict = Some(verdict);
                refused.push(item);
            }
            None => rest.push(resource),
        }
    }
    (refused, rest)
}

fn direct(resource: &Resource) -> impl Iterator<Item = &SourceEntry> {
    resource.sources.iter().filter(|s| !s.source.is_torrent())
}

/// The policy, the decisions and what the store knows, to judge new
/// versions with.
#[derive(Clone)]
struct Judge {
    policy: Policy,
    ledger: Ledger,
    history: History,
    project: Name,
    /// What the store holds plus what this run let in, when the policy has
    /// a quota: each new version is judged against what came before it.
    used: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Judge {
    fn load(session: &Session<'_>, manifest: &Manifest) -> anyhow::Result<Self> {
        let store = &session.store;
        let exists = store.check()?;
        let policy = Policy::load(store.root())?;
        let previous = if exists {
            crate::plan::previous_record(store, manifest)?
        } else {
            None
        };
        let ledger = if exists {
            session.ledger(&policy, &[])?
        } else {
            Ledger::default()
        };
        let history = history(store, &policy, previous.as_ref())?;
        let used = match policy.limits.quota {
            Some(_) => Some(Arc::new(std::sync::atomic::AtomicU64::new(
                store.usage()?.bytes,
            ))),
            None => None,
        };
        Ok(Self {
            policy,
            ledger,
            history,
            project: manifest.project.name.clone(),
            used,
        })
    }

    /// The verdict on `resource`'s new version: `sha256` when known, else
    /// unknown content that replaces the pinned one.
    fn verdict(
        &self,
        resource: &Resource,
        sha256: Option<Sha256Digest>,
        size: Option<u64>,
    ) -> Verdict {
        judge(
            &self.policy,
            &self.ledger,
            &self.history,
            &self.project,
            &Request {
                name: &resource.name,
                sha256,
                size,
                // Decisions bind every source, torrents included.
                sources: &resource.sources,
                executable: resource.executable,
                replaces: resource.sha256,
            },
            self.used
                .as_ref()
                .map(|u| u.load(std::sync::atomic::Ordering::SeqCst)),
        )
    }

    /// The most bytes a new version of `resource` may bring before its
    /// size is known: what crp fetches without a person's approval, as for
    /// a resource on first use, unless a person let in a larger version
    /// before (then the hard `max_size` alone).
    fn cap(&self, resource: &Resource) -> Option<u64> {
        let unapproved = self.policy.cap(&Verdict::AutoApproved);
        match (unapproved, resource.size) {
            (Some(cap), Some(size)) if size > cap => self.policy.limits.max_size,
            _ => unapproved,
        }
    }

    /// Counts `size` more bytes let into the store.
    fn let_in(&self, size: u64) {
        if let Some(used) = &self.used {
            used.fetch_add(size, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The policy's hard limits that hold whatever the new content is (a
    /// scheme it refuses): checked before any source is asked.
    fn refused(&self, resource: &Resource) -> Option<Verdict> {
        self.policy.limit(
            &Request {
                name: &resource.name,
                sha256: None,
                size: None,
                // Decisions bind every source, torrents included.
                sources: &resource.sources,
                executable: resource.executable,
                replaces: resource.sha256,
            },
            None,
        )
    }
}

/// What the store holds from `resource`'s direct sources, to offer them:
/// what they served when unpinned, if that is the pinned object, else the
/// pinned object's record (the validators of the response that served it).
fn known(store: &Store, resource: &Resource) -> Option<SourceRecord> {
    let pinned = resource.sha256?;
    let sources: Vec<&Source> = direct(resource).map(|s| &s.source).collect();
    if let Ok(Some(remembered)) = store.read_source(&store.source_key(&sources))
        && (remembered.sha256 == pinned
            // What the sources last served was quarantined: asked about
            // again, it is refused without a download if it is the same.
            || (!resource.executable
                && !store.has_object(&remembered.sha256)
                && store.read_quarantined(&remembered.sha256).ok().flatten().is_some()))
    {
        return Some(remembered);
    }
    let record = store.read_object_record(&pinned).ok().flatten()?;
    // The record names its source redacted: a source with a secret in it
    // cannot be told from another with another secret, so what the record
    // says is offered only to a source without one.
    let served_by = record.served_by.as_deref().unwrap_or(&record.source);
    let secret = |source: &Source| match source {
        Source::Http(url) => crate::redact::url(url) != url.as_str(),
        _ => false,
    };
    let key = store.identity_key();
    let id = direct(resource)
        .find(|s| s.source.to_string() == served_by && !secret(&s.source))
        .map(|s| s.source.identity(&key))?;
    Some(SourceRecord {
        schema_version: crate::store::record::RECORD_VERSION,
        sha256: pinned,
        size: record.size,
        fetched_at: record.fetched_at,
        served_by: Some(id),
        http: record.http,
        stamp: None,
    })
}

/// Asks every resource's sources at once (as many downloads as `--jobs`),
/// judging what is new before it becomes an object.
async fn fetch_all(
    fetcher: &Fetcher,
    store: &Store,
    manifest: &Manifest,
    judged: &Judge,
    asked: Vec<&Resource>,
) -> Vec<Item> {
    let verdicts: Arc<Mutex<BTreeMap<Name, Verdict>>> = Arc::default();
    let mut set = JoinSet::new();
    for resource in &asked {
        let admit = {
            let judged = judged.clone();
            let resource = (*resource).clone();
            let verdicts = verdicts.clone();
            Admit(Arc::new(move |sha256, size| {
                let verdict = judged.verdict(&resource, Some(sha256), Some(size));
                if verdict.allows() {
                    judged.let_in(size);
                    verdicts
                        .lock()
                        .expect("not poisoned")
                        .insert(resource.name.clone(), verdict);
                    None
                } else {
                    Some(verdict)
                }
            }))
        };
        let request = FetchRequest {
            name: resource.name.clone(),
            sources: direct(resource).cloned().collect(),
            sha256: None,
            size: None,
            purpose: resource.purpose.clone(),
            requested_by: resource.requested_by.clone(),
            seed: resource.seed,
            user: Some(ObjectUse::of(manifest, resource)),
            executable: resource.executable,
            cap: judged.cap(resource),
            known: known(store, resource),
            admit: Some(admit),
            mirrors: Vec::new(),
            remotes: Vec::new(),
            may_be_directory: false,
            remotes_only: false,
        };
        let fetcher = fetcher.clone();
        let index = asked.iter().position(|r| r.name == resource.name);
        set.spawn(async move { (index, fetcher.fetch(&request).await) });
    }
    let mut items = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (index, result) = joined.expect("fetch tasks do not panic");
        let resource = asked[index.expect("asked above")];
        let verdict = verdicts
            .lock()
            .expect("not poisoned")
            .remove(&resource.name);
        items.push(outcome(judged, resource, result, verdict));
    }
    items
}

/// One resource's item, from what its fetch brought.
fn outcome(
    judged: &Judge,
    resource: &Resource,
    result: Result<Fetched, FetchError>,
    verdict: Option<Verdict>,
) -> Item {
    let mut item = Item::new(resource, Change::UpToDate);
    match result {
        Ok(fetched) => {
            item.source = fetched.source.clone();
            item.new = Some(Version {
                sha256: Some(fetched.sha256),
                size: Some(fetched.size),
            });
            if Some(fetched.sha256) != resource.sha256 {
                // Content the store holds already (another project's) is a
                // new version of this resource all the same: judged by
                // every rule.
                let verdict = verdict.unwrap_or_else(|| {
                    judged.verdict(resource, Some(fetched.sha256), Some(fetched.size))
                });
                item.change = match verdict {
                    ref v if v.allows() => Change::Updated,
                    Verdict::AwaitingApproval { .. } => Change::AwaitingApproval,
                    _ => Change::Denied,
                };
                item.verdict = Some(verdict);
            }
        }
        Err(FetchError::Held {
            sha256,
            size,
            verdict,
            ..
        }) => {
            item.change = match *verdict {
                Verdict::AwaitingApproval { .. } => Change::AwaitingApproval,
                _ => Change::Denied,
            };
            item.new = Some(Version {
                sha256: Some(sha256),
                size: Some(size),
            });
            item.verdict = Some(*verdict);
        }
        // Past the policy's hard size limit or the store's quota while it
        // streamed: refused, as a sync would.
        Err(FetchError::Failed { failures, .. })
            if let Some(verdict) = failures.iter().find_map(|f| match f.error {
                crate::fetch::SourceError::OverCap { limit }
                    if Some(limit) == judged.policy.limits.max_size =>
                {
                    Some(Verdict::refused(
                        crate::policy::Rule::MaxSize,
                        format!(
                            "the new version passed {}, the store's `max_size`",
                            crate::units::Size(limit)
                        ),
                    ))
                }
                crate::fetch::SourceError::Quota { quota } => Some(Verdict::refused(
                    crate::policy::Rule::Quota,
                    format!(
                        "the new version would take the store over its quota of {}",
                        crate::units::Size(quota)
                    ),
                )),
                _ => None,
            }) =>
        {
            item.change = Change::Denied;
            item.verdict = Some(verdict);
        }
        Err(FetchError::Failed { failures, .. })
            if let Some(limit) = failures.iter().find_map(|f| match f.error {
                crate::fetch::SourceError::OverCap { limit } => Some(limit),
                _ => None,
            }) =>
        {
            item.change = Change::Failed;
            item.detail = Some(format!(
                "the new version is larger than {}, the most crp fetches before a person approves it; write its `size` into the entry by hand, and `crp sync` asks for that approval",
                crate::units::Size(limit)
            ));
        }
        Err(err) => {
            item.change = Change::Failed;
            item.detail = Some(crate::fetch::error_text(&err).replace("\n  ", "; "));
        }
    }
    item
}

/// `--dry-run`: asks each source without downloading, and writes nothing.
async fn dry_run(
    session: &Session<'_>,
    manifest: &Manifest,
    names: &[String],
) -> anyhow::Result<Updated> {
    let store = &session.store;
    let judged = Judge::load(session, manifest)?;
    let (mut items, asked) = select(manifest, names);
    let (refused, asked) = refuse(&judged, asked);
    items.extend(refused);
    let settings = HttpSettings::from_env().within(&judged.policy);
    for resource in asked {
        items.push(ask(store, &settings, &judged, resource).await);
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    settle(&mut items);
    Ok(Updated {
        manifest: manifest.path.clone(),
        dry_run: true,
        items,
        manifest_updated: false,
        links: Vec::new(),
    })
}

/// Asks the source that served the pinned object (else the first direct
/// one) whether it serves something else now.
async fn ask(store: &Store, settings: &HttpSettings, judged: &Judge, resource: &Resource) -> Item {
    let mut item = Item::new(resource, Change::UpToDate);
    let known = known(store, resource);
    let key = store.identity_key();
    let entry = direct(resource)
        .find(|s| {
            known
                .as_ref()
                .and_then(|k| k.served_by.as_deref())
                .is_some_and(|id| s.source.identity(&key) == id)
        })
        .or_else(|| direct(resource).next())
        .expect("selected for a direct source");
    item.source = Some(entry.source.to_string());
    let old_size = resource.size.or(known.as_ref().map(|k| k.size));
    let (sha256, size) = match &entry.source {
        Source::File(path) => {
            match crate::fsutil::open_regular(path).and_then(crate::digest::hash_reader) {
                Ok((sha256, _)) if Some(sha256) == resource.sha256 => return item,
                Ok((sha256, size)) => (Some(sha256), Some(size)),
                Err(err) => {
                    return item
                        .detail(format!(
                            "cannot read `{}`: {}",
                            path.display(),
                            crate::fsutil::without_path(&err)
                        ))
                        .failed();
                }
            }
        }
        Source::Http(url) => match crate::fetch::probe(settings, url).await {
            Err(err) => return item.detail(format!("cannot be reached: {err}")).failed(),
            Ok(probe) if probe.status >= 400 => {
                return item
                    .detail(format!("answers HTTP {}", probe.status))
                    .failed();
            }
            Ok(probe) => {
                let before = known.as_ref().and_then(|k| k.http.clone());
                let now = &probe.validators;
                let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
                let differ =
                    |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some() && a != b;
                let resized = matches!((probe.size, old_size), (Some(n), Some(o)) if n != o);
                let detail = match &before {
                    _ if resized => Some(format!(
                        "length {} → {}",
                        old_size.unwrap_or_default(),
                        probe.size.unwrap_or_default()
                    )),
                    Some(b) if differ(&b.etag, &now.etag) => Some(format!(
                        "ETag {} → {}",
                        b.etag.as_deref().unwrap_or_default(),
                        now.etag.as_deref().unwrap_or_default()
                    )),
                    Some(b) if same(&b.etag, &now.etag) => return item,
                    Some(b) if differ(&b.last_modified, &now.last_modified) => Some(format!(
                        "Last-Modified {} → {}",
                        b.last_modified.as_deref().unwrap_or_default(),
                        now.last_modified.as_deref().unwrap_or_default()
                    )),
                    Some(b) if same(&b.last_modified, &now.last_modified) => return item,
                    _ => {
                        item.change = Change::Unknown;
                        item.new = Some(Version {
                            sha256: None,
                            size: probe.size,
                        });
                        return item.detail(
                            "nothing to compare: the store kept no validator from when it was fetched, and the length is the same; only `crp update` (downloading it) can tell",
                        );
                    }
                };
                item.detail = detail;
                (None, probe.size)
            }
        },
        _ => unreachable!("direct sources are http and files"),
    };
    item.change = Change::Changed;
    item.new = Some(Version { sha256, size });
    item.verdict = Some(judged.verdict(resource, sha256, size));
    item
}

/// One shape for every run: an up-to-date resource's new version is its
/// old one, and `source` names only a source that serves something new.
fn settle(items: &mut [Item]) {
    for item in items {
        if item.change == Change::UpToDate {
            item.new = Some(item.old);
            item.source = None;
        }
    }
}

impl Item {
    fn failed(mut self) -> Self {
        self.change = Change::Failed;
        self
    }
}
