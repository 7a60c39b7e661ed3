//! How reality differs from the declarations: a read-only report.
//!
//! Nothing here writes: not the store, not the project, not the manifest.
//! Each finding has a typed [`Category`]; a checked-in ignore file can
//! silence known, accepted drift by category and name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::fetch::HttpSettings;
use crate::inspect::verify::{Check, rehash};
use crate::link::{self, LinkState, PreviousLink, Want};
use crate::manifest::{Manifest, ManifestError, Resource};
use crate::policy::approval::Ledger;
use crate::policy::{Policy, Request, Rule, Verdict};
use crate::source::Source;
use crate::store::record::ProjectRecord;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// The kinds of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Declared, not in the store.
    Missing,
    /// In the store, but its bytes no longer match (or, without
    /// `--verify`, its size or modification time suggests so).
    Corrupted,
    /// A link crp made was replaced, points elsewhere, or is gone.
    ModifiedInProject,
    /// An object no project references.
    Orphaned,
    /// A project the store knows whose manifest is gone.
    StaleProject,
    /// A source that changed or went away since the object was fetched.
    Upstream,
    /// A resource the current policy would no longer allow.
    Policy,
    /// A pinned object a remote lacks (`--remote`).
    NotOnRemote,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Corrupted => "corrupted",
            Self::ModifiedInProject => "modified-in-project",
            Self::Orphaned => "orphaned",
            Self::StaleProject => "stale-project",
            Self::Upstream => "upstream",
            Self::Policy => "policy",
            Self::NotOnRemote => "not-on-remote",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    pub detail: String,
    /// For `corrupted` without `--verify`: only suspected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspect: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

impl Item {
    pub fn new(category: Category, detail: impl Into<String>) -> Self {
        Self {
            category,
            project: None,
            name: None,
            sha256: None,
            detail: detail.into(),
            suspect: false,
            size: None,
            since: None,
        }
    }
}

/// What to look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Re-hash objects.
    pub verify: bool,
    /// Ask the sources.
    pub upstream: bool,
}

/// A drift finding a team accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    pub category: Category,
    /// A resource name, a project name, a sha256 (or its first digits), or
    /// `*` for every finding of the category.
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreFile {
    #[serde(default)]
    ignore: Vec<Ignore>,
}

/// The ignore file's name beside the manifest.
pub const IGNORE_FILE: &str = "drift-ignore.toml";

/// Reads an ignore file; a missing one is empty when `required` is false.
pub fn read_ignores(path: &Path, required: bool) -> Result<Vec<Ignore>, ManifestError> {
    let Some(text) = crate::config::read_toml_text(path)? else {
        return if required {
            Err(ManifestError::NotFound {
                path: path.to_owned(),
            })
        } else {
            Ok(Vec::new())
        };
    };
    let file: IgnoreFile = crate::config::parse_toml(
        path,
        &text,
        "invalid drift ignore file",
        Some("each `[[ignore]]` has `category`, `name` and `reason`"),
    )?;
    Ok(file.ignore)
}

impl Ignore {
    fn matches(&self, item: &Item) -> bool {
        if self.category != item.category {
            return false;
        }
        let name = self.name.as_str();
        name == "*"
            || item.name.as_deref() == Some(name)
            || item.project.as_deref() == Some(name)
            || (name.len() >= 8 && item.sha256.is_some_and(|d| d.hex().starts_with(name)))
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub store: PathBuf,
    /// The projects looked at.
    pub projects: Vec<String>,
    pub verified: bool,
    pub upstream_checked: bool,
    /// The remote `--remote` asked, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_checked: Option<RemoteChecked>,
    pub items: Vec<Item>,
    /// Findings an ignore file silenced, with its reason.
    pub ignored: Vec<Ignored>,
}

/// A remote asked which pinned objects it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteChecked {
    /// Its name.
    pub remote: String,
    /// Its `s3://bucket/prefix`.
    pub url: String,
    /// The pinned objects asked about.
    pub objects: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    #[serde(flatten)]
    pub item: Item,
    pub reason: String,
}

impl DriftReport {
    pub fn counts(&self) -> BTreeMap<Category, usize> {
        let mut counts = BTreeMap::new();
        for item in &self.items {
            *counts.entry(item.category).or_default() += 1;
        }
        counts
    }

    /// Moves the findings an ignore rule matches into `ignored`.
    pub fn apply_ignores(&mut self, ignores: &[Ignore]) {
        let items = std::mem::take(&mut self.items);
        for item in items {
            match ignores.iter().find(|i| i.matches(&item)) {
                Some(rule) => self.ignored.push(Ignored {
                    item,
                    reason: rule.reason.clone(),
                }),
                None => self.items.push(item),
            }
        }
    }
}

/// The drift of one project: its manifest against the store, its links,
/// its sources and the policy.
pub async fn project_drift(
    store: &Store,
    manifest: &Manifest,
    record: Option<&ProjectRecord>,
    policy: &Policy,
    ledger: &Ledger,
    options: Options,
) -> Result<Vec<Item>, StoreError> {
    let project = manifest.project.name.to_string();
    let mut items = Vec::new();
    let at = |mut item: Item, resource: &Resource| {
        item.project = Some(project.clone());
        item.name = Some(resource.name.to_string());
        item.sha256 = resource.sha256;
        item
    };
    // What an unpinned resource's findings name is the object its last
    // sync took.
    let at_object = |item: Item, resource: &Resource, digest: Sha256Digest| {
        let mut item = at(item, resource);
        item.sha256 = Some(digest);
        item
    };
    // Missing, and what to check for corruption.
    let mut present = Vec::new();
    for resource in &manifest.resources {
        // An unpinned resource is the object its last sync took.
        let digest = match resource.sha256 {
            Some(digest) => digest,
            None => match record.and_then(|r| r.resources.get(&resource.name)) {
                Some(synced) => synced.sha256,
                None => {
                    let detail =
                        "not pinned, and never synced here: the next `crp sync` fetches it";
                    items.push(at(Item::new(Category::Missing, detail), resource));
                    continue;
                }
            },
        };
        if store.has_object(&digest) {
            present.push((resource, digest));
            continue;
        }
        let archived = store
            .read_object_record(&digest)?
            .is_some_and(|r| r.restorable_copy().is_some());
        let detail = if archived {
            format!(
                "{} is in cold storage; the next `crp sync` restores it",
                digest.short()
            )
        } else {
            format!("{} is not in the store", digest.short())
        };
        items.push(at_object(
            Item::new(Category::Missing, detail),
            resource,
            digest,
        ));
    }
    // Corrupted: re-hashed with `--verify`, else suspected from metadata.
    if options.verify {
        let digests: Vec<Sha256Digest> = present.iter().map(|(_, d)| *d).collect();
        let checks = tokio::task::block_in_place(|| rehash(store, &digests));
        for ((resource, digest), check) in present.iter().zip(checks) {
            let detail = match check {
                Check::Corrupted { actual, .. } => format!("expected {digest}, actual {actual}"),
                Check::Unreadable { error } => format!("cannot be read: {error}"),
                Check::Intact { .. } | Check::Gone => continue,
            };
            items.push(at_object(
                Item::new(Category::Corrupted, detail),
                resource,
                *digest,
            ));
        }
    } else {
        for (resource, digest) in &present {
            if let Some(why) = suspect(store, digest)? {
                let mut item = at_object(
                    Item::new(
                        Category::Corrupted,
                        format!("{why}; `--verify` re-hashes it"),
                    ),
                    resource,
                    *digest,
                );
                item.suspect = true;
                items.push(item);
            }
        }
    }
    // Links crp made.
    if let Some(record) = record {
        let objects_dir = store.objects_dir();
        for (name, resource) in &record.resources {
            let Some(link) = &resource.link else { continue };
            // Another user's project this one may not look into is not
            // drift: its owner's report covers it.
            if fs_err::symlink_metadata(&link.path)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
            {
                tracing::debug!("not checking `{}`: permission denied", link.path.display());
                continue;
            }
            let object = store.object_path(&resource.sha256);
            let previous = PreviousLink {
                record: link,
                object: &object,
            };
            let state = link::inspect(
                &link.path,
                Want {
                    object: Some(&object),
                    mode: link.mode,
                },
                &objects_dir,
                Some(&previous),
            );
            let shown = crate::fsutil::display_path(&link.path);
            let detail = match state {
                LinkState::Correct => continue,
                LinkState::Missing => format!("`{shown}` is gone"),
                LinkState::Stale { reason } => format!("`{shown}`: {reason}"),
                LinkState::Foreign { what } => format!("`{shown}` is {what}"),
            };
            let mut item = Item::new(Category::ModifiedInProject, detail);
            item.project = Some(project.clone());
            item.name = Some(name.to_string());
            item.sha256 = Some(resource.sha256);
            items.push(item);
        }
    }
    // The policy as it stands now.
    let history = crate::plan::review::history(store, policy, record)?;
    for resource in &manifest.resources {
        if let Some(digest) = resource.sha256
            && !resource.executable
            && store.has_object(&digest)
            && store.object_executable(&digest, None)
        {
            items.push(at(
                Item::new(Category::Policy, crate::policy::UNDECLARED_EXECUTABLE),
                resource,
            ));
            continue;
        }
        let request = Request {
            name: &resource.name,
            sha256: resource.sha256,
            size: resource.size,
            sources: &resource.sources,
            executable: resource.executable,
            replaces: None,
        };
        let verdict = crate::plan::review::judge(
            policy,
            ledger,
            &history,
            &manifest.project.name,
            &request,
            None,
        );
        if !verdict.allows() {
            let detail = match &verdict {
                Verdict::Denied {
                    rule: Some(Rule::Scheme | Rule::MaxSize),
                    ..
                } => format!("no longer allowed: {verdict}"),
                _ => format!("would need a person now: {verdict}"),
            };
            items.push(at(Item::new(Category::Policy, detail), resource));
        }
    }
    if options.upstream {
        items.extend(upstream(store, manifest).await?);
    }
    Ok(items)
}

/// Why an object looks changed, from its metadata alone.
fn suspect(store: &Store, digest: &Sha256Digest) -> Result<Option<String>, StoreError> {
    let Some(record) = store.read_object_record(digest)? else {
        return Ok(None);
    };
    let Ok(meta) = fs_err::symlink_metadata(store.object_path(digest)) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() != record.size {
        return Ok(Some(format!(
            "its size is {} bytes; its record says {}",
            meta.len(),
            record.size
        )));
    }
    if let Some(stamp) = record.stamp {
        let now = crate::store::record::FileStamp::of(&meta);
        return Ok((now != stamp).then(|| {
            if now.ino == stamp.ino {
                "it was written to after it was published".to_owned()
            } else {
                "it was replaced after it was published".to_owned()
            }
        }));
    }
    // Objects are written once, then read-only: a later change shows in mtime.
    let slack = std::time::Duration::from_secs(2);
    if let Ok(modified) = meta.modified()
        && modified > record.verified_at.0 + slack
    {
        return Ok(Some(format!(
            "it was modified at {} after being verified at {}",
            Timestamp(modified),
            record.verified_at
        )));
    }
    Ok(None)
}

/// Asks each HTTP source for its first byte: gone, resized, or changed;
/// and the daemon about each torrent source it has: no peers.
async fn upstream(store: &Store, manifest: &Manifest) -> Result<Vec<Item>, StoreError> {
    let settings = HttpSettings::from_env();
    let mut items = Vec::new();
    let daemon = if manifest.resources.iter().any(Resource::needs_torrent) {
        let config = crate::config::Config::load(store.root()).ok();
        match config.and_then(|c| crate::torrent::TorrentSettings::resolve(store, &c).ok()) {
            Some(settings) => crate::torrent::Daemon::connect(&settings).await.ok(),
            None => None,
        }
    } else {
        None
    };
    let records = if daemon.is_some() {
        store.torrent_records()
    } else {
        Vec::new()
    };
    for resource in &manifest.resources {
        let record = match resource.sha256 {
            Some(d) => store.read_object_record(&d)?,
            None => None,
        };
        for entry in &resource.sources {
            let shown = entry.source.to_string();
            if entry.source.is_torrent() {
                let Some(daemon) = &daemon else { continue };
                let info_hash = match &entry.source {
                    Source::Magnet(magnet) => Some(magnet.info_hash.clone()),
                    _ => records
                        .iter()
                        .find(|r| r.source == shown)
                        .map(|r| r.info_hash.clone()),
                };
                if let Some(info_hash) = info_hash
                    // Web seeds are not counted: whether the daemon happens to
                    // be pulling from one says nothing of who else holds it.
                    && let Ok(Some(view)) = daemon.get(&info_hash).await
                    && view.connected == 0
                {
                    let mut item = Item::new(
                        Category::Upstream,
                        format!(
                            "torrent {info_hash} (`{shown}`) has no peers: nobody else holds it (web seeds aside)"
                        ),
                    );
                    item.project = Some(manifest.project.name.to_string());
                    item.name = Some(resource.name.to_string());
                    item.sha256 = resource.sha256;
                    items.push(item);
                }
                continue;
            }
            let url = match &entry.source {
                Source::Http(url) => url,
                Source::File(path) => {
                    if let Some(detail) = changed_file(
                        path,
                        resource,
                        record.as_ref(),
                        &crate::fsutil::display_source(&shown),
                    ) {
                        let mut item = Item::new(Category::Upstream, detail);
                        item.project = Some(manifest.project.name.to_string());
                        item.name = Some(resource.name.to_string());
                        item.sha256 = resource.sha256;
                        items.push(item);
                    }
                    continue;
                }
                _ => continue,
            };
            let detail = match crate::fetch::probe(&settings, url).await {
                Err(err) => Some(format!("`{shown}` cannot be reached: {err}")),
                Ok(probe) if probe.status == 404 || probe.status == 410 => Some(format!(
                    "`{shown}` answers HTTP {}: it is gone",
                    probe.status
                )),
                Ok(probe) if probe.status >= 400 => {
                    Some(format!("`{shown}` answers HTTP {}", probe.status))
                }
                Ok(probe) => {
                    changed_upstream(&probe, resource, record.as_ref(), &shown).map(|detail| {
                        format!(
                            "{detail}; `crp update {}` fetches it and re-pins it",
                            resource.name
                        )
                    })
                }
            };
            if let Some(detail) = detail {
                let mut item = Item::new(Category::Upstream, detail);
                item.project = Some(manifest.project.name.to_string());
                item.name = Some(resource.name.to_string());
                item.sha256 = resource.sha256;
                items.push(item);
            }
        }
    }
    Ok(items)
}

/// How a local file source differs from what it held when it was
/// fetched: gone, another length, or (re-hashed) other bytes.
fn changed_file(
    path: &std::path::Path,
    resource: &Resource,
    record: Option<&crate::store::record::ObjectRecord>,
    shown: &str,
) -> Option<String> {
    let update = |detail: String| {
        format!(
            "{detail}; `crp update {}` fetches it and re-pins it",
            resource.name
        )
    };
    let meta = match std::fs::metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!("`{shown}` is gone"));
        }
        Err(err) => return Some(format!("`{shown}` cannot be read: {err}")),
        Ok(meta) => meta,
    };
    let expected = resource.size.or(record.map(|r| r.size));
    if let Some(then) = expected
        && meta.len() != then
    {
        return Some(update(format!(
            "`{shown}` now has {} bytes, not {then}",
            meta.len()
        )));
    }
    let pinned = resource.sha256?;
    match crate::digest::hash_file(path) {
        Ok((now, _)) if now != pinned => Some(update(format!(
            "`{shown}` changed since it was fetched: sha256 {} → {}",
            pinned.short(),
            now.short()
        ))),
        Ok(_) => None,
        Err(err) => Some(format!("`{shown}` cannot be read: {err}")),
    }
}

/// How what an HTTP source answers (`probe`) differs from what it served
/// before: another length, or other validators.
fn changed_upstream(
    probe: &crate::fetch::Probe,
    resource: &Resource,
    record: Option<&crate::store::record::ObjectRecord>,
    shown: &str,
) -> Option<String> {
    let expected = resource.size.or(record.map(|r| r.size));
    let served_here =
        record.is_some_and(|r| r.served_by.as_deref().unwrap_or(r.source.as_str()) == shown);
    let before = record.and_then(|r| r.http.clone()).filter(|_| served_here);
    if let (Some(now), Some(then)) = (probe.size, expected)
        && now != then
    {
        return Some(format!("`{shown}` now has {now} bytes, not {then}"));
    }
    let before = before?;
    let now = &probe.validators;
    let changed = |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some() && a != b;
    if changed(&before.etag, &now.etag) {
        Some(format!(
            "`{shown}` changed since it was fetched: ETag {} → {}",
            before.etag.unwrap_or_default(),
            now.etag.clone().unwrap_or_default()
        ))
    } else if changed(&before.last_modified, &now.last_modified) {
        Some(format!(
            "`{shown}` changed since it was fetched: Last-Modified {} → {}",
            before.last_modified.unwrap_or_default(),
            now.last_modified.clone().unwrap_or_default()
        ))
    } else {
        None
    }
}

/// Store-wide drift: objects no project references, and projects whose
/// manifest is gone.
pub fn store_drift(store: &Store) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut referenced: BTreeSet<Sha256Digest> = BTreeSet::new();
    for project in store.projects()? {
        referenced.extend(project.resources.values().map(|r| r.sha256));
        if !project.manifest.exists() {
            let mut item = Item::new(
                Category::StaleProject,
                format!(
                    "its manifest `{}` is gone; last synced {}",
                    project.manifest.display(),
                    project.synced_at
                ),
            );
            item.project = Some(project.name.to_string());
            item.since = Some(project.synced_at);
            items.push(item);
        }
    }
    for digest in store.object_digests()? {
        if referenced.contains(&digest) {
            continue;
        }
        let record = store.read_object_record(&digest)?;
        let mut item = Item::new(Category::Orphaned, "no project references it");
        item.sha256 = Some(digest);
        item.size = record.as_ref().map(|r| r.size);
        item.since = record
            .as_ref()
            .map(|r| r.unreferenced_since.unwrap_or(r.fetched_at));
        if let Some(record) = &record {
            let mut names: Vec<String> = record
                .projects
                .iter()
                .map(|u| u.resource.to_string())
                .collect();
            names.dedup();
            if !names.is_empty() {
                item.name = Some(names.join(", "));
            }
            item.detail = format!(
                "no project references it ({}) since {}",
                crate::units::ByteCount(record.size),
                record.unreferenced_since.unwrap_or(record.fetched_at)
            );
        }
        items.push(item);
    }
    Ok(items)
}
