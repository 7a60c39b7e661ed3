//! Garbage collection: archiving objects that no live project references,
//! bringing them back when a sync needs them, and removing them for good.
//!
//! An object is a candidate once no live project references it and it has
//! been that way for longer than the grace period. A project whose manifest
//! is gone is *stale*: its references keep protecting objects until the
//! grace period has passed since its last sync. Archiving moves the object
//! to cold storage and keeps its record (`status: archived`); `crp sync`
//! restores it, verified, before it would download it again. Removal from
//! cold storage is a separate, explicit decision.
//!
//! Planning reads; acting takes the store's exclusive lock, which every
//! sync holds shared for its whole run, so no sync ever loses an object it
//! planned with.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::inspect::verify::{Check, check};
use crate::progress::Reporter;
use crate::provenance::{Event, EventLog, State};
use crate::remote::{BucketUrl, Origin, Remote, RemoteConfig};
use crate::s3::Client;
use crate::store::record::{Archived, Asked, NewObject, ObjectKind, ObjectRecord, Removed};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// The remote of an archive at `url`: the store's `[[remote]]` with that
/// bucket and prefix (its endpoint, region, profile), else one with the
/// AWS defaults.
fn remote_of(config: &Config, url: &BucketUrl) -> Result<Remote, String> {
    let configured = config
        .remotes
        .iter()
        .find(|r| r.url == *url)
        .cloned()
        .unwrap_or_else(|| RemoteConfig {
            name: "cold".parse().expect("a valid name"),
            url: url.clone(),
            endpoint: None,
            region: None,
            path_style: None,
            profile: None,
        });
    Remote::new(&configured, Origin::Store)
}

/// The remote archives one run restores from, each checked once: one that
/// cannot be used fails the first restore that needs it, saying why, and
/// passes over the others (their objects are fetched from elsewhere), so a
/// remote that does not answer costs one check, not one per object.
#[derive(Debug, Default)]
pub struct ArchiveRemotes {
    /// By the remote's URL: what its check gave.
    checked: tokio::sync::Mutex<std::collections::HashMap<String, Checked>>,
}

/// A remote archive's client, or the remote and why it failed its check.
type Checked = Result<Client, (Remote, String)>;

impl ArchiveRemotes {
    /// `remote`'s client, checked; `None` when an earlier restore found it
    /// unusable.
    ///
    /// # Errors
    /// The remote fails its first check (unreachable, credentials
    /// refused, no bucket).
    async fn client(&self, remote: &Remote) -> Result<Option<Client>, GcError> {
        let mut checked = self.checked.lock().await;
        let key = remote.url.to_string();
        if let Some(client) = checked.get(&key) {
            return Ok(client.as_ref().ok().cloned());
        }
        // A remote that does not answer is found out within seconds.
        let client = match Client::new(remote) {
            Ok(client) => client.check().await.map(|()| client),
            Err(err) => Err(err),
        };
        match checked
            .entry(key)
            .or_insert(client.map_err(|err| (remote.clone(), err.to_string())))
        {
            Ok(client) => Ok(Some(client.clone())),
            Err((_, why)) => Err(GcError::Remote(why.clone())),
        }
    }

    /// The remote archives that failed their check this run, and why: a
    /// run need not check them again as remotes (see
    /// [`crate::s3::connect`]).
    pub async fn failed(&self) -> Vec<(Remote, String)> {
        self.checked
            .lock()
            .await
            .values()
            .filter_map(|checked| checked.as_ref().err().cloned())
            .collect()
    }
}

/// The remote that holds an archived object at `path` (`s3://bucket/key`),
/// if it is on one: the store's `[gc] cold` remote or `[[remote]]` of that
/// bucket, else one with the AWS defaults.
fn archive_remote(store: &Store, path: &Path) -> Result<Option<Remote>, GcError> {
    let Some(rest) = path.to_str().and_then(|p| p.strip_prefix("s3://")) else {
        return Ok(None);
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    let config = Config::load(store.root()).map_err(|err| GcError::Remote(err.to_string()))?;
    let url: BucketUrl = format!("s3://{bucket}").parse().map_err(GcError::Remote)?;
    let settings = GcSettings::resolve(store, &config, None).map_err(GcError::Remote)?;
    let remote = match settings.cold_remote.filter(|r| r.url.bucket == bucket) {
        Some(remote) => remote,
        None => match config.remotes.iter().find(|r| r.url.bucket == bucket) {
            Some(config) => Remote::new(config, Origin::Store).map_err(GcError::Remote)?,
            None => remote_of(&config, &url).map_err(GcError::Remote)?,
        },
    };
    allowed_by_policy(store, &remote).map_err(GcError::Remote)?;
    Ok(Some(remote))
}

/// A remote archive the policy's `schemes` rule out is never contacted: not
/// to archive, restore or remove.
///
/// # Errors
/// The policy cannot be read, or rules the remote's endpoint out.
pub fn allowed_by_policy(store: &Store, remote: &Remote) -> Result<(), String> {
    let policy = crate::policy::Policy::load(store.root()).map_err(|err| err.to_string())?;
    match policy.refuses_remote(remote) {
        None => Ok(()),
        Some(reason) => Err(format!(
            "remote `{}` ({}): {reason}",
            remote.name, remote.url
        )),
    }
}

/// `path` with links and `..` resolved as far as it exists, the rest (a
/// folder not made yet) appended as written.
fn resolve_existing(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = fs_err::canonicalize(existing) {
            return rest.iter().rev().fold(resolved, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

/// How long an unreferenced object stays unless the store says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where and when garbage collection acts.
#[derive(Debug, Clone)]
pub struct GcSettings {
    pub grace: Duration,
    /// A folder, or `s3://bucket/prefix` for a remote.
    pub cold: PathBuf,
    /// `[gc] cold = "s3://…"`: the remote archived objects go to.
    pub cold_remote: Option<Remote>,
    /// Whether a `[[remote]]` of the store describes that remote (else
    /// the AWS defaults reach it, which a failure should say).
    pub cold_described: bool,
}

impl GcSettings {
    /// `[gc]` from the store's configuration; `grace` overrides it. A
    /// `cold` of `s3://bucket/prefix` is a remote: the store's `[[remote]]`
    /// of that URL gives its endpoint and region, else the AWS defaults do.
    ///
    /// # Errors
    /// An `s3://` URL that is not valid.
    pub fn resolve(
        store: &Store,
        config: &Config,
        grace: Option<Duration>,
    ) -> Result<Self, String> {
        let settings = Self::resolve_unchecked(store, config, grace)?;
        // The folder itself, links and `..` followed: never the store or
        // what it keeps, where archiving would move nothing and removing
        // from the archive would remove what projects use.
        if settings.cold_remote.is_none() {
            let resolved = resolve_existing(&settings.cold);
            let root = resolve_existing(store.root());
            if let Ok(inside) = resolved.strip_prefix(&root)
                && let Some(why) = crate::config::store_own_folder(inside)
            {
                return Err(format!(
                    "`[gc] cold` (`{}`) {why}: give cold storage a folder of its own",
                    settings.cold.display()
                ));
            }
            // What of it exists must be a folder (it is made on first use).
            if let Some(existing) = settings.cold.ancestors().find(|p| p.exists())
                && !existing.is_dir()
            {
                return Err(format!(
                    "`[gc] cold` (`{}`): `{}` is not a folder; give cold storage a folder, or a path where one can be made",
                    settings.cold.display(),
                    existing.display()
                ));
            }
        }
        Ok(settings)
    }

    fn resolve_unchecked(
        store: &Store,
        config: &Config,
        grace: Option<Duration>,
    ) -> Result<Self, String> {
        let (cold, cold_remote) = match config.gc.cold.as_ref().and_then(|c| c.to_str()) {
            Some(text) if text.starts_with("s3://") => {
                let url: BucketUrl = text.parse().map_err(|err| format!("`[gc] cold`: {err}"))?;
                (
                    PathBuf::from(url.to_string()),
                    Some((remote_of(config, &url)?, url)),
                )
            }
            _ => (
                config
                    .gc
                    .cold
                    .clone()
                    .map_or_else(|| store.root().join("cold"), |c| store.root().join(c)),
                None,
            ),
        };
        let cold_described = cold_remote
            .as_ref()
            .is_some_and(|(_, url)| config.remotes.iter().any(|r| r.url == *url));
        Ok(Self {
            grace: grace.or(config.gc.grace).unwrap_or(DEFAULT_GRACE),
            cold,
            cold_remote: cold_remote.map(|(remote, _)| remote),
            cold_described,
        })
    }

    /// Where an object goes in cold storage (on a remote, its `s3://` URL).
    pub fn cold_path(&self, digest: &Sha256Digest) -> PathBuf {
        if let Some(remote) = &self.cold_remote {
            return PathBuf::from(remote.show_key(&remote.key_of(digest)));
        }
        let hex = digest.hex();
        self.cold.join("sha256").join(&hex[..2]).join(hex)
    }
}

/// Why an object is to be archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Unreferenced for longer than the grace period.
    Grace,
    /// Within the grace period, but the store is over its quota: least
    /// recently used first.
    Quota,
}

/// An unreferenced object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub sha256: Sha256Digest,
    pub size: u64,
    /// The names projects gave it.
    pub names: Vec<String>,
    /// Since when nothing protects it.
    pub unreferenced_since: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
}

/// A project whose manifest is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleProject {
    pub id: String,
    pub name: String,
    pub manifest: PathBuf,
    pub synced_at: Timestamp,
    /// Its references protect objects until then.
    pub protects_until: Timestamp,
    pub objects: usize,
}

/// An object in cold storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdObject {
    pub sha256: Sha256Digest,
    pub size: u64,
    pub path: PathBuf,
    pub archived_at: Timestamp,
}

/// A download left in `.incomplete/` that no live manifest needs any more
/// (with the record of where its bytes came from, if it has one), or a
/// record a killed sync staged and never renamed into place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StalePart {
    pub path: PathBuf,
    pub size: u64,
    /// When it was last written to.
    pub modified: Timestamp,
}

/// What garbage collection would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcPlan {
    pub grace_secs: u64,
    pub cold: PathBuf,
    /// Objects in the store and their bytes (hard links counted once).
    pub store_objects: u64,
    pub store_bytes: u64,
    pub cold_objects: u64,
    pub cold_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    /// Objects some live project references: never touched.
    pub referenced: u64,
    pub stale_projects: Vec<StaleProject>,
    /// To move to cold storage.
    pub archive: Vec<Candidate>,
    /// Unreferenced, but within the grace period.
    pub keep: Vec<Candidate>,
    /// Unreferenced, but the torrent daemon seeds from them: moving one
    /// would leave the daemon a dangling link. Archived once seeding ends
    /// (`seed_time`, `seed_ratio`, or the torrent removed).
    #[serde(default)]
    pub seeding: Vec<Candidate>,
    /// To remove from cold storage (`--remove --older-than`).
    pub remove: Vec<ColdObject>,
    /// Downloads left unfinished that no live manifest needs, untouched
    /// for longer than the grace period: removed with `--apply`.
    #[serde(default)]
    pub parts: Vec<StalePart>,
}

impl GcPlan {
    pub fn archive_bytes(&self) -> u64 {
        self.archive.iter().map(|c| c.size).sum()
    }
}

fn later(a: Timestamp, b: Timestamp) -> Timestamp {
    if a.0 > b.0 { a } else { b }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0 + d)
}

/// Plans garbage collection. `remove_older_than` lists archived objects
/// that long in cold storage for removal.
pub fn plan(
    store: &Store,
    settings: &GcSettings,
    quota: Option<u64>,
    remove_older_than: Option<Duration>,
) -> Result<GcPlan, StoreError> {
    let now = Timestamp::now();
    let mut live: BTreeSet<Sha256Digest> = BTreeSet::new();
    // Per object: the latest time a stale project's reference protects it to.
    let mut stale_refs: BTreeMap<Sha256Digest, Timestamp> = BTreeMap::new();
    let mut stale_projects = Vec::new();
    for project in store.projects()? {
        let digests = project.resources.values().map(|r| r.sha256);
        if project.manifest.exists() {
            live.extend(digests);
        } else {
            let until = plus(project.synced_at, settings.grace);
            stale_projects.push(StaleProject {
                id: project.id.clone(),
                name: project.name.to_string(),
                manifest: project.manifest.clone(),
                synced_at: project.synced_at,
                protects_until: until,
                objects: project.resources.len(),
            });
            for digest in digests {
                let entry = stale_refs.entry(digest).or_insert(project.synced_at);
                *entry = later(*entry, project.synced_at);
            }
        }
    }
    let usage = store.usage()?;
    // Every record, read once: for the objects in the store and for those
    // in cold storage alike.
    let records: BTreeMap<Sha256Digest, ObjectRecord> = store
        .object_records()?
        .into_iter()
        .map(|r| (r.sha256, r))
        .collect();
    let mut archive = Vec::new();
    let mut keep = Vec::new();
    let mut seeding = Vec::new();
    let mut referenced = 0;
    for digest in store.object_digests()? {
        if live.contains(&digest) {
            referenced += 1;
            continue;
        }
        let record = records.get(&digest);
        let path = store.object_path(&digest);
        let size = match &record {
            Some(r) => r.size,
            None => fs_err::metadata(&path).map(|m| m.len()).unwrap_or(0),
        };
        // Nothing protects it since the latest of: its last use ended, a
        // stale project's last sync, its arrival.
        let arrived = record.as_ref().map_or_else(
            || {
                Timestamp(
                    fs_err::metadata(&path)
                        .and_then(|m| m.modified())
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                )
            },
            |r| r.fetched_at,
        );
        let mut since = arrived;
        if let Some(t) = record.as_ref().and_then(|r| r.unreferenced_since) {
            since = later(since, t);
        }
        if let Some(t) = stale_refs.get(&digest) {
            since = later(since, *t);
        }
        let mut names: Vec<String> = record
            .as_ref()
            .map(|r| r.projects.iter().map(|u| u.resource.to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names.dedup();
        let candidate = Candidate {
            sha256: digest,
            size,
            names,
            unreferenced_since: since,
            why: None,
        };
        if record.is_some_and(|r| r.status == State::Seeding) {
            seeding.push(candidate);
        } else if now.0.duration_since(since.0).unwrap_or_default() >= settings.grace {
            archive.push(Candidate {
                why: Some(Why::Grace),
                ..candidate
            });
        } else {
            keep.push(candidate);
        }
    }
    // Over the quota: the least recently used of the rest go too.
    if let Some(quota) = quota {
        let mut left = usage
            .bytes
            .saturating_sub(archive.iter().map(|c| c.size).sum());
        keep.sort_by_key(|c| c.unreferenced_since);
        while left > quota && !keep.is_empty() {
            let mut c = keep.remove(0);
            left = left.saturating_sub(c.size);
            c.why = Some(Why::Quota);
            archive.push(c);
        }
    }
    let (cold_objects, cold_bytes, remove) = cold(records.values(), remove_older_than, now);
    let parts = stale_parts(store, settings.grace, now)?;
    Ok(GcPlan {
        grace_secs: settings.grace.as_secs(),
        cold: settings.cold.clone(),
        store_objects: usage.objects,
        store_bytes: usage.bytes,
        cold_objects,
        cold_bytes,
        quota,
        referenced,
        stale_projects,
        archive,
        keep,
        seeding,
        remove,
        parts,
    })
}

/// Parts in `.incomplete/` that no live project's manifest needs: neither
/// an object it declares (`<sha256>.part`) nor the sources of an entry it
/// leaves unpinned (`src-<key>.part`), and untouched for `grace`. A
/// manifest that cannot be read is taken to need everything.
fn stale_parts(
    store: &Store,
    grace: Duration,
    now: Timestamp,
) -> Result<Vec<StalePart>, StoreError> {
    let entries = match fs_err::read_dir(store.incomplete_dir()) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for project in store.projects()? {
        if !project.manifest.exists() {
            continue;
        }
        let manifest = crate::manifest::read_text(&project.manifest)
            .and_then(|text| crate::manifest::Manifest::from_text(&project.manifest, text));
        let Ok(manifest) = manifest else {
            return Ok(Vec::new());
        };
        for resource in &manifest.resources {
            needed.insert(match resource.sha256 {
                // Once the object is in, its part is of no use.
                Some(digest) if store.has_object(&digest) => continue,
                Some(digest) => Store::object_part_name(&digest),
                None => Store::sources_part_name(&store.source_key(&resource.direct_sources())),
            });
        }
    }
    let mut parts = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A part's origin goes with its part; one whose part is gone, alone.
        let part = name.strip_suffix(".json").unwrap_or(&name);
        if !part.ends_with(".part") || needed.contains(part) {
            continue;
        }
        parts.extend(stale(&entry, grace, now)?);
    }
    parts.extend(stale_temporaries(store, grace, now)?);
    parts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(parts)
}

/// The file `entry`, if it is one and untouched for `grace`.
fn stale(
    entry: &fs_err::DirEntry,
    grace: Duration,
    now: Timestamp,
) -> io::Result<Option<StalePart>> {
    let meta = entry.metadata()?;
    let modified = Timestamp(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
    let old = now.0.duration_since(modified.0).unwrap_or_default() >= grace;
    Ok((meta.is_file() && old).then(|| StalePart {
        path: entry.path(),
        size: meta.len(),
        modified,
    }))
}

/// Files written under a temporary name (`.crp-tmp-*`) by a process killed
/// before it renamed them into place — records staged beside theirs, a
/// source's record, a part's origin — untouched for `grace`: no writer is
/// left to finish them.
fn stale_temporaries(
    store: &Store,
    grace: Duration,
    now: Timestamp,
) -> Result<Vec<StalePart>, StoreError> {
    let meta = store.root().join("meta");
    let mut dirs = vec![meta.join("sources"), store.incomplete_dir()];
    match fs_err::read_dir(meta.join("objects").join("sha256")) {
        Ok(fanout) => {
            for dir in fanout {
                let dir = dir?;
                if dir.file_type()?.is_dir() {
                    dirs.push(dir.path());
                }
            }
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    let mut found = Vec::new();
    for dir in dirs {
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_name().to_string_lossy().starts_with(".crp-tmp-") {
                continue;
            }
            found.extend(stale(&entry, grace, now)?);
        }
    }
    Ok(found)
}

/// Removes the plan's stale parts. The caller holds the store's exclusive
/// lock, so no download is writing to one. Returns how many went.
pub fn collect_parts(plan: &GcPlan) -> Result<usize, GcError> {
    let mut removed = 0;
    for part in &plan.parts {
        match fs_err::remove_file(&part.path) {
            Ok(()) => removed += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(removed)
}

/// Where the record says its object's cold copy is, if it has one: an
/// archived object's, and that of one downloaded back into the store since
/// it was archived to a folder (the copy stays until `--remove` takes it
/// or the object is archived again). A copy removed is none; and once the
/// object is back, a copy on a remote is that remote's, a cache other
/// machines may use, not cold storage to account.
fn cold_copy(record: &ObjectRecord) -> Option<&Archived> {
    let archived = record.archived.as_ref()?;
    // Removed since (archiving again clears `removed`).
    if record.removed.is_some() {
        return None;
    }
    match record.status {
        State::Archived => Some(archived),
        State::Removed => None,
        _ if archived.is_remote() => None,
        _ => Some(archived),
    }
}

/// What cold storage holds, by the records, and what is old enough to remove.
fn cold<'a>(
    records: impl Iterator<Item = &'a ObjectRecord>,
    older_than: Option<Duration>,
    now: Timestamp,
) -> (u64, u64, Vec<ColdObject>) {
    let (mut objects, mut bytes, mut remove) = (0, 0, Vec::new());
    for record in records {
        let Some(archived) = cold_copy(record) else {
            continue;
        };
        // A copy in a folder that is not there (deleted by hand, a disk not
        // mounted) holds nothing to count or remove.
        if !archived.is_there() {
            continue;
        }
        objects += 1;
        bytes += record.size;
        if let Some(age) = older_than
            && now.0.duration_since(archived.at.0).unwrap_or_default() >= age
        {
            remove.push(ColdObject {
                sha256: record.sha256,
                size: record.size,
                path: archived.path.clone(),
                archived_at: archived.at,
            });
        }
    }
    (objects, bytes, remove)
}

/// What `gc --apply` archived, and what it left in the store because its
/// copy did not verify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archiving {
    pub archived: Vec<Sha256Digest>,
    pub failed: Vec<NotArchived>,
}

impl Archiving {
    /// Leaves `digest` in the store, for `error`.
    fn leave(&mut self, digest: Sha256Digest, error: impl std::fmt::Display) {
        self.failed.push(NotArchived {
            sha256: digest,
            error: error.to_string(),
        });
    }
}

/// An object left in the store, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotArchived {
    pub sha256: Sha256Digest,
    pub error: String,
}

/// Why garbage collection stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to move `{}` to `{}`", from.display(), to.display())]
    Move {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the copy of {digest} at `{}` does not verify; the original was kept", path.display())]
    BadCopy { digest: Sha256Digest, path: PathBuf },
    #[error(
        "the store's copy of {digest} at `{}` does not verify, so it was not archived; `crp verify` quarantines it, and a sync fetches it again",
        path.display()
    )]
    RottenOriginal { digest: Sha256Digest, path: PathBuf },
    #[error(
        "the cold copy of {digest} at `{}` does not verify; it was moved to `{}`",
        path.display(),
        quarantined.display()
    )]
    RottenCold {
        digest: Sha256Digest,
        path: PathBuf,
        quarantined: PathBuf,
    },
    #[error("{0}")]
    Remote(String),
}

impl From<io::Error> for GcError {
    fn from(err: io::Error) -> Self {
        Self::Store(err.into())
    }
}

/// Archives the plan's candidates: under the store's exclusive lock, each is
/// checked once more against the live projects, moved to cold storage
/// (copied and verified when that is another disk) and its record kept.
/// An object whose copy does not verify stays in the store, and the others
/// are archived still.
///
/// # Errors
/// A store or cold storage that cannot be read or written.
pub fn archive(
    store: &Store,
    settings: &GcSettings,
    plan: &GcPlan,
    events: &EventLog,
) -> Result<Archiving, GcError> {
    let live = live_objects(store)?;
    let mut done = Archiving::default();
    for candidate in &plan.archive {
        let digest = candidate.sha256;
        if live.contains(&digest) || !store.has_object(&digest) {
            continue;
        }
        let record = store.read_object_record(&digest)?.unwrap_or_else(|| {
            ObjectRecord::new(
                NewObject {
                    sha256: digest,
                    kind: ObjectKind::File,
                    size: candidate.size,
                    path: store.object_path(&digest),
                },
                Asked::default(),
            )
        });
        // Seeding began since the plan: it stays.
        if record.status == State::Seeding {
            continue;
        }
        let from = store.object_path(&digest);
        let to = settings.cold_path(&digest);
        // A cold copy left from an earlier archiving of the same bytes
        // that still verifies is kept, wherever it is, and the store's
        // copy goes; one that does not is moved out of the way (to
        // quarantine) before the store's copy takes its place.
        // Bytes already at the object's name in cold storage, which no
        // record may account for, are treated the same.
        let earlier = cold_copy(&record)
            .filter(|a| !a.is_remote())
            .map(|a| a.path.clone());
        let mut kept = None;
        for path in earlier.into_iter().chain([to.clone()]) {
            if kept.is_some() || fs_err::symlink_metadata(&path).is_err() {
                continue;
            }
            match check(&path, &digest) {
                Check::Intact { .. } => kept = Some(path),
                _ => set_aside(store, &path, &digest)?,
            }
        }
        let at = match kept {
            Some(path) => {
                crate::fsutil::remove_all(&from)?;
                path
            }
            None => match move_object(&from, &to, &digest) {
                Ok(()) => to,
                Err(err @ (GcError::BadCopy { .. } | GcError::RottenOriginal { .. })) => {
                    done.leave(digest, err);
                    continue;
                }
                Err(err) => return Err(err),
            },
        };
        record_archived(store, events, record, at, candidate)?;
        done.archived.push(digest);
    }
    store.sync_dirs()?;
    events.flush();
    Ok(done)
}

/// Moves a cold copy that does not verify to quarantine; one on another
/// disk than the store is removed instead (the store's good copy takes its
/// place).
fn set_aside(store: &Store, path: &Path, digest: &Sha256Digest) -> Result<(), GcError> {
    match store.quarantine(path, &format!("cold-{}", digest.hex())) {
        Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {
            crate::fsutil::remove_all(path)?;
            Ok(())
        }
        other => other.map(drop).map_err(Into::into),
    }
}

/// The objects some project whose manifest still exists references.
fn live_objects(store: &Store) -> Result<BTreeSet<Sha256Digest>, GcError> {
    Ok(store
        .projects()?
        .into_iter()
        .filter(|p| p.manifest.exists())
        .flat_map(|p| p.resources.into_values().map(|r| r.sha256))
        .collect())
}

/// Records that `candidate`'s object now lives at `to` in cold storage
/// (its record and an event), and removes a stopped torrent's seeding
/// link to it, which would lead nowhere.
fn record_archived(
    store: &Store,
    events: &EventLog,
    mut record: ObjectRecord,
    to: PathBuf,
    candidate: &Candidate,
) -> Result<(), GcError> {
    if let Some(info_hash) = &record.info_hash {
        let link = store.root().join("seeding").join(info_hash);
        if link.exists() {
            crate::fsutil::remove_all(&link)?;
        }
    }
    let previous = record.status;
    record.status = State::Archived;
    // A removal from cold storage before is history: this copy is new.
    record.removed = None;
    record.archived = Some(Archived {
        path: to.clone(),
        at: Timestamp::now(),
    });
    store.write_object_record(&record)?;
    events.record(
        &Event::new(Some(previous), State::Archived)
            .object(Some(record.sha256))
            .detail("cold", to.display().to_string())
            .detail(
                "why",
                serde_json::to_value(candidate.why).expect("serializes"),
            ),
    );
    Ok(())
}

/// Archives the plan's candidates to the `[gc] cold` remote: under the
/// store's exclusive lock, each is checked once more against the live
/// projects, pushed, read back and verified on the remote, and only then
/// removed from the store; its record stays (`status: archived`, with the
/// object's `s3://` URL). Returns the objects archived.
///
/// An object whose copy on the remote does not verify stays in the store,
/// and the others are archived still.
///
/// # Errors
/// A remote that cannot be used, and a store that cannot be written.
pub async fn archive_to_remote(
    store: &Store,
    settings: &GcSettings,
    plan: &GcPlan,
    events: &EventLog,
    reporter: std::sync::Arc<dyn Reporter>,
) -> Result<Archiving, GcError> {
    let remote = settings.cold_remote.as_ref().expect("a remote archive");
    let remote_err = |err: &dyn std::error::Error| {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        // An archive no `[[remote]]` describes is reached with the AWS
        // defaults, which a failure should say.
        if !settings.cold_described {
            text.push_str(&format!(
                " (no `[[remote]]` of the store's `meta/config.toml` has `url = \"{}\"`, so the AWS defaults were used: add one with its `endpoint`, or set `AWS_ENDPOINT_URL_S3`)",
                remote.url
            ));
        }
        GcError::Remote(text)
    };
    let client = Client::new(remote).map_err(|e| remote_err(&e))?;
    client.check().await.map_err(|e| remote_err(&e))?;
    let pusher = crate::s3::push::Pusher {
        client: client.clone(),
        store: store.clone(),
        slots: std::sync::Arc::new(tokio::sync::Semaphore::new(
            crate::settings::DEFAULT_JOBS.into(),
        )),
        reporter,
        listed: None,
    };
    let live = live_objects(store)?;
    let mut done = Archiving::default();
    for candidate in &plan.archive {
        let digest = candidate.sha256;
        if live.contains(&digest) || !store.has_object(&digest) {
            continue;
        }
        let Some(record) = store.read_object_record(&digest)? else {
            continue;
        };
        if record.status == State::Seeding {
            continue;
        }
        match pusher.push(&record, &digest.short()).await {
            Ok(_) => {}
            // The store's bytes rotted: this one stays, the others go.
            Err(err @ crate::s3::push::PushError::Rotten(_)) => {
                done.leave(digest, err);
                continue;
            }
            Err(err) => return Err(remote_err(&err)),
        }
        match crate::s3::pull::verify(&client, &digest, record.kind, record.size).await {
            Ok(()) => {}
            // The bytes read back are not the object's: this one stays.
            Err(err @ crate::s3::pull::PullError::Mismatch { .. }) => {
                done.leave(digest, format!("{err}; the original was kept"));
                continue;
            }
            Err(err) => return Err(remote_err(&err)),
        }
        crate::fsutil::remove_all(&store.object_path(&digest))?;
        record_archived(
            store,
            events,
            record,
            settings.cold_path(&digest),
            candidate,
        )?;
        done.archived.push(digest);
    }
    store.sync_dirs()?;
    events.flush();
    Ok(done)
}

/// Removes archived objects from cold storage (a folder, or a remote) for
/// good; their records stay, saying who removed them and when.
pub async fn remove(
    store: &Store,
    plan: &GcPlan,
    by: &str,
    events: &EventLog,
) -> Result<Vec<Sha256Digest>, GcError> {
    let mut done = Vec::new();
    for cold in &plan.remove {
        let Some(mut record) = store.read_object_record(&cold.sha256)? else {
            continue;
        };
        if cold_copy(&record).is_none() {
            continue;
        }
        match archive_remote(store, &cold.path)? {
            Some(remote) => {
                let client = Client::new(&remote).map_err(|e| GcError::Remote(e.to_string()))?;
                client
                    .check()
                    .await
                    .map_err(|e| GcError::Remote(e.to_string()))?;
                for key in [
                    remote.key_of(&cold.sha256),
                    remote.record_key_of(&cold.sha256),
                ] {
                    client
                        .delete(&key)
                        .await
                        .map_err(|e| GcError::Remote(e.to_string()))?;
                }
            }
            // Already gone (removed by hand): nothing is left to remove.
            None => match crate::fsutil::remove_all(&cold.path) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            },
        }
        // Fetched back since it was archived: the store keeps its copy, and
        // only the cold one goes.
        if record.status != State::Archived {
            record.archived = None;
            store.write_object_record(&record)?;
            events.record(
                &Event::new(Some(record.status), record.status)
                    .object(Some(cold.sha256))
                    .actor(by)
                    .detail("cold_removed", cold.path.display().to_string()),
            );
            done.push(cold.sha256);
            continue;
        }
        record.status = State::Removed;
        record.removed = Some(Removed {
            by: by.to_owned(),
            at: Timestamp::now(),
        });
        store.write_object_record(&record)?;
        events.record(
            &Event::new(Some(State::Archived), State::Removed)
                .object(Some(cold.sha256))
                .actor(by)
                .detail("cold", cold.path.display().to_string()),
        );
        done.push(cold.sha256);
    }
    events.flush();
    Ok(done)
}

/// Brings an archived object back into the store, verified. Returns where
/// it came from (a folder's path, or an `s3://` URL) when it is back;
/// `None` when the object is not archived, its copy is gone, or it is on a
/// remote and `offline`, or on one that an earlier restore of `archives`
/// found unusable. The caller holds the object's lock.
pub async fn restore(
    store: &Store,
    digest: &Sha256Digest,
    events: &EventLog,
    reporter: &dyn Reporter,
    offline: bool,
    archives: &ArchiveRemotes,
) -> Result<Option<PathBuf>, GcError> {
    let Some(mut record) = store.read_object_record(digest)? else {
        return Ok(None);
    };
    let Some(archived) = record
        .archived
        .clone()
        .filter(|_| record.status == State::Archived)
    else {
        return Ok(None);
    };
    let remote = archive_remote(store, &archived.path)?;
    // `--offline` touches no remote.
    if remote.is_some() && offline || remote.is_none() && !archived.path.exists() {
        return Ok(None);
    }
    let _lock = store
        .lock_object(
            digest,
            &format!("restoring {} from cold storage", digest.short()),
            reporter,
        )
        .await
        .map_err(StoreError::from)?;
    if store.has_object(digest) {
        return Ok(Some(archived.path));
    }
    // Into `.incomplete/` first, then verified, then published like any
    // download.
    let part = store
        .incomplete_dir()
        .join(format!("{}.restore", digest.hex()));
    if fs_err::symlink_metadata(&part).is_ok() {
        crate::fsutil::remove_all(&part)?;
    }
    if let Some(remote) = remote {
        // From a remote: read back verified; the remote keeps its copy.
        let Some(client) = archives.client(&remote).await? else {
            return Ok(None);
        };
        if let Err(err) = crate::s3::pull::download(&client, digest, record.kind, &part).await {
            let _ = crate::fsutil::remove_all(&part);
            let failed = |more: &str| {
                GcError::Remote(format!(
                    "restoring {} from {}: {err}{more}",
                    digest.short(),
                    archived.path.display()
                ))
            };
            return match err {
                // Gone from the remote, like a cold folder's copy deleted
                // by hand: nothing to restore.
                crate::s3::pull::PullError::Missing(_) => Ok(None),
                // Bytes that are not the object's are no copy: the object is
                // fetched like any missing one from now on, and the remote's
                // key is left for a person to look at.
                crate::s3::pull::PullError::Mismatch { .. } => {
                    forget_cold_copy(
                        store,
                        events,
                        &mut record,
                        "the copy on the remote archive does not verify",
                        ("cold", &archived.path),
                    )?;
                    Err(failed("; it is no longer counted as archived"))
                }
                _ => Err(failed("")),
            };
        }
        // The remote keeps its copy: a cache every sync of the store may
        // ask, no longer cold storage.
        publish_restored(store, &part, digest, &mut record, &archived, events)?;
        return Ok(Some(archived.path));
    }
    // Copied back from another disk, the copy is verified before the cold
    // one goes; renamed, it is checked here.
    let intact = match move_object(&archived.path, &part, digest) {
        Ok(()) => matches!(check(&part, digest), Check::Intact { .. }),
        Err(GcError::BadCopy { .. } | GcError::RottenOriginal { .. }) => false,
        Err(err) => return Err(err),
    };
    match intact {
        true => {}
        false => {
            // A cold copy that rotted is no copy: it goes to quarantine, and
            // the object is fetched like any missing one.
            let rotten = if part.exists() { &part } else { &archived.path };
            let label = format!("cold-{}", digest.hex());
            let quarantined = match store.quarantine(rotten, &label) {
                Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {
                    copy_tree(rotten, &part)?;
                    crate::fsutil::remove_all(rotten)?;
                    store.quarantine(&part, &label)?
                }
                other => other?,
            };
            forget_cold_copy(
                store,
                events,
                &mut record,
                "the cold copy does not verify",
                ("quarantined", &quarantined),
            )?;
            return Err(GcError::RottenCold {
                digest: *digest,
                path: archived.path,
                quarantined,
            });
        }
    }
    publish_restored(store, &part, digest, &mut record, &archived, events)?;
    Ok(Some(archived.path))
}

/// Publishes a restored, verified copy at `part` and records it.
fn publish_restored(
    store: &Store,
    part: &Path,
    digest: &Sha256Digest,
    record: &mut ObjectRecord,
    archived: &Archived,
    events: &EventLog,
) -> Result<(), GcError> {
    if fs_err::symlink_metadata(part)?.is_dir() {
        store.publish_dir(part, digest)?;
    } else {
        let file = std::fs::File::open(part).map_err(|e| crate::fsutil::with_path(e, part))?;
        let executable = record.executable;
        store.publish(file, part, digest, executable)?;
    }
    record.status = State::Available;
    record.archived = None;
    record.stamp = store.object_file_stamp(digest);
    store.write_object_record(record)?;
    store.sync_dirs()?;
    events.record(
        &Event::new(Some(State::Archived), State::Available)
            .object(Some(*digest))
            .detail("restored_from", archived.path.display().to_string()),
    );
    Ok(())
}

/// Moves an object (a read-only file or folder) to `to`: a rename on the
/// same file system, else a copy that is verified and flushed before the
/// original goes.
fn move_object(from: &Path, to: &Path, digest: &Sha256Digest) -> Result<(), GcError> {
    let err = |source| GcError::Move {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    };
    fs_err::create_dir_all(crate::fsutil::parent_of(to))?;
    let is_dir = fs_err::symlink_metadata(from)?.is_dir();
    // Renaming a folder to another parent rewrites its `..`.
    if is_dir {
        fs_err::set_permissions(from, std::fs::Permissions::from_mode(0o755))?;
    }
    let renamed = std::fs::rename(from, to);
    let result = match renamed {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc_exdev()) => {
            copy_tree(from, to).map_err(err)?;
            if !matches!(check(to, digest), Check::Intact { .. }) {
                let _ = crate::fsutil::remove_all(to);
                // Whose fault: the bytes copied, or the disk copied to.
                if !matches!(check(from, digest), Check::Intact { .. }) {
                    return Err(GcError::RottenOriginal {
                        digest: *digest,
                        path: from.to_owned(),
                    });
                }
                return Err(GcError::BadCopy {
                    digest: *digest,
                    path: to.to_owned(),
                });
            }
            crate::fsutil::remove_all(from).map_err(err)
        }
        Err(e) => Err(err(e)),
    };
    if is_dir {
        let sealed = if to.exists() { to } else { from };
        let _ = fs_err::set_permissions(sealed, std::fs::Permissions::from_mode(0o555));
    }
    crate::fsutil::sync_dir(crate::fsutil::parent_of(to))?;
    result
}

/// Records that an archived object's cold copy is no copy (`reason`): the
/// object is `failed` and no longer archived, and an event says why and
/// where (`detail`: the copy, or where it went).
fn forget_cold_copy(
    store: &Store,
    events: &EventLog,
    record: &mut ObjectRecord,
    reason: &str,
    (key, path): (&str, &Path),
) -> Result<(), GcError> {
    record.status = State::Failed;
    record.archived = None;
    store.write_object_record(record)?;
    events.record(
        &Event::new(Some(State::Archived), State::Failed)
            .object(Some(record.sha256))
            .detail("reason", reason)
            .detail(key, path.display().to_string()),
    );
    Ok(())
}

/// `EXDEV`: a rename across file systems.
fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    if fs_err::symlink_metadata(from)?.is_dir() {
        fs_err::create_dir_all(to)?;
        for entry in fs_err::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        crate::fsutil::sync_dir(to)
    } else {
        fs_err::copy(from, to)?;
        fs_err::File::open(to)?.sync_all()
    }
}
