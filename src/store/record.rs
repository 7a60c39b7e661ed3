//! The store's metadata records: one JSON file per object and one per project.
//!
//! Object records say what an object is and where it came from; project
//! records say which objects a project references and how they are linked.
//! The project records are authoritative for "who uses what"; the `projects`
//! list in an object record is kept in step with them for people reading one
//! object's record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::lifecycle::State;
use crate::manifest::LinkMode;
use crate::name::Name;
use crate::time::Timestamp;

/// The version of the record formats written by this crp.
pub const RECORD_VERSION: u32 = 1;

/// A person's decision about a request: approve or deny (see
/// [`crate::policy::approval`], which keeps the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Approve,
    Deny,
}

/// One person's decision about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Kind,
    /// The resource's name when it was decided (for people; the binding is
    /// `sha256` and `sources`).
    pub name: Name,
    /// `None` for a request that is not pinned yet: then the decision binds
    /// the sources alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// The sources as the manifest writes them (credentials redacted), for
    /// people.
    pub sources: Vec<String>,
    /// What identifies each source (see
    /// [`SourceSpec::identity`](crate::source::SourceSpec::identity)): the
    /// binding. Absent in decisions written before sources had identities,
    /// which bind `sources` instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ids: Vec<String>,
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why it was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Decision {
    /// Whether this decision is about exactly `sha256` from exactly the
    /// sources identified by `ids`.
    pub fn binds(&self, sha256: Option<Sha256Digest>, ids: &[String]) -> bool {
        let own = if self.source_ids.is_empty() {
            &self.sources
        } else {
            &self.source_ids
        };
        self.sha256 == sha256 && same_sources(own, ids)
    }
}

fn same_sources(a: &[String], b: &[String]) -> bool {
    let a: BTreeSet<&String> = a.iter().collect();
    let b: BTreeSet<&String> = b.iter().collect();
    a == b
}

/// What an object is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// One file; its sha256 is the file's.
    #[default]
    File,
    /// A folder of files (a multi-file torrent); its sha256 is the tree
    /// digest (see [`crate::tree`]).
    Directory,
}

/// What an object's bytes were checked against when they arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// The sha256 a manifest declared.
    #[default]
    Manifest,
    /// Nothing yet: trusted on first use, and pinned into the manifest.
    FirstUse,
    /// Nothing: no manifest asked for it (a torrent from the watch folder).
    Unverified,
}

/// What the store knows about one object: a node of the content DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub schema_version: u32,
    pub sha256: Sha256Digest,
    /// `file` or `directory`.
    #[serde(rename = "type", alias = "kind", default)]
    pub kind: ObjectKind,
    /// Bytes (for a directory, in all its files).
    #[serde(rename = "size_bytes", alias = "size")]
    pub size: u64,
    /// The first source the requesting manifest listed (credentials redacted).
    pub source: String,
    /// Every source the requesting manifest listed, in order.
    #[serde(default)]
    pub sources: Vec<String>,
    /// The source that actually served the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// Why it was first requested.
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When a project first asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    /// Where the object lives in the store.
    #[serde(default)]
    pub file_path: PathBuf,
    pub fetched_at: Timestamp,
    pub verified_at: Timestamp,
    /// What the bytes were checked against.
    #[serde(default)]
    pub verification: Verification,
    /// The object's lifecycle state.
    #[serde(default)]
    pub status: State,
    /// Whether crp found executable content in it.
    #[serde(default)]
    pub executable: bool,
    /// For objects that came over BitTorrent: the v1 info-hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_hash: Option<String>,
    /// How an object nobody asked for through a manifest arrived:
    /// `watch-folder` (a `.torrent` dropped into the store's watch folder) or
    /// `daemon` (added to the daemon some other way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// HTTP validators of the response that delivered the bytes, so a later
    /// check can tell whether the upstream file changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpValidators>,
    /// The projects that reference this object.
    #[serde(rename = "related_projects", alias = "projects", default)]
    pub projects: Vec<ObjectUse>,
    /// The people's approvals of this hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Decision>,
    /// Earlier hashes of the same resource name: the versions this one
    /// replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<Sha256Digest>,
    /// Objects this one was made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Sha256Digest>,
    /// For a file object: its size, inode and modification time when it was
    /// published, so a cheap check can tell it was touched since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
    /// Since when no project references it (set when the last one lets go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreferenced_since: Option<Timestamp>,
    /// Where `crp gc` archived it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<Archived>,
    /// Who removed it from cold storage, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
}

/// Content quarantined for being executable without a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineNote {
    pub sha256: Sha256Digest,
    /// What was found: "a `#!` script at `run.sh`".
    pub finding: String,
    pub quarantined: PathBuf,
    pub at: Timestamp,
}

/// An object moved to cold storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archived {
    pub path: PathBuf,
    pub at: Timestamp,
}

impl Archived {
    /// Whether the copy is an object on a remote (`path` is `s3://…`).
    pub fn is_remote(&self) -> bool {
        self.path.to_str().is_some_and(|p| p.starts_with("s3://"))
    }

    /// Whether the copy can be reached: one on a remote is asked when
    /// needed; a cold folder's is there, unless it was deleted by hand or
    /// its disk is not mounted.
    pub fn is_there(&self) -> bool {
        self.is_remote() || fs_err::symlink_metadata(&self.path).is_ok()
    }
}

/// An object removed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub by: String,
    pub at: Timestamp,
}

/// What a new object is: the first half of [`ObjectRecord::new`].
#[derive(Debug, Clone)]
pub struct NewObject {
    pub sha256: Sha256Digest,
    pub kind: ObjectKind,
    /// Bytes (a folder's: the sum of its files').
    pub size: u64,
    /// Where it is in the store.
    pub path: PathBuf,
}

/// Where a new object came from and who asked for it: the second half of
/// [`ObjectRecord::new`]. `sources` as the manifest lists them (the first
/// is the record's `source`); nothing asked, for an object found without a
/// request.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    pub sources: Vec<String>,
    pub purpose: String,
    pub requested_by: Option<String>,
    pub requested_at: Option<Timestamp>,
    pub verification: Verification,
}

impl ObjectRecord {
    /// Where `crp gc` archived the object, while a restore can bring it
    /// back from there: a copy on a remote (`s3://…`, asked when needed),
    /// or a cold folder's copy that is still there. A cold copy deleted by
    /// hand, or on a disk not mounted, is none.
    pub fn restorable_copy(&self) -> Option<&Archived> {
        let archived = self.archived.as_ref()?;
        (self.status == crate::lifecycle::State::Archived && archived.is_there())
            .then_some(archived)
    }

    /// Adds or refreshes one project's use of this object (a project uses
    /// an object under one resource name at a time). False when the use was
    /// already recorded as it is.
    pub fn add_use(&mut self, user: &ObjectUse) -> bool {
        if self.projects.contains(user) {
            return false;
        }
        self.projects
            .retain(|u| !(u.project_id == user.project_id && u.resource == user.resource));
        self.projects.push(user.clone());
        true
    }

    /// The record of a new object: the one place records are built. What
    /// the object is comes from `object`; where it came from, who asked and
    /// why from `asked` (see [`Asked`]); it is available, fetched and
    /// verified now, until the caller says otherwise.
    pub fn new(object: NewObject, asked: Asked) -> Self {
        let NewObject {
            sha256,
            kind,
            size,
            path,
        } = object;
        let now = Timestamp::now();
        Self {
            schema_version: RECORD_VERSION,
            sha256,
            kind,
            size,
            source: asked.sources.first().cloned().unwrap_or_default(),
            sources: asked.sources,
            served_by: None,
            purpose: asked.purpose,
            requested_by: asked.requested_by,
            requested_at: asked.requested_at,
            file_path: path,
            fetched_at: now,
            verified_at: now,
            verification: asked.verification,
            status: State::Available,
            executable: false,
            info_hash: None,
            origin: None,
            http: None,
            projects: Vec::new(),
            approvals: Vec::new(),
            supersedes: Vec::new(),
            derived_from: Vec::new(),
            stamp: None,
            unreferenced_since: None,
            archived: None,
            removed: None,
        }
    }
}

/// `ETag` and `Last-Modified` of an HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpValidators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// One project's use of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectUse {
    /// The project's record id.
    pub project_id: String,
    pub project: Name,
    pub manifest: PathBuf,
    /// The resource name the project gives it.
    pub resource: Name,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl ObjectUse {
    /// `manifest`'s use of an object as its resource `resource`.
    pub fn new(
        manifest: &crate::manifest::Manifest,
        resource: &Name,
        purpose: &str,
        requested_by: Option<&str>,
    ) -> Self {
        Self {
            project_id: manifest.project_id(),
            project: manifest.project.name.clone(),
            manifest: manifest.abs_path.clone(),
            resource: resource.clone(),
            purpose: purpose.to_owned(),
            requested_by: requested_by.map(str::to_owned),
        }
    }

    /// `manifest`'s use of the object a declared resource names.
    pub fn of(manifest: &crate::manifest::Manifest, resource: &crate::manifest::Resource) -> Self {
        Self::new(
            manifest,
            &resource.name,
            &resource.purpose,
            resource.requested_by.as_deref(),
        )
    }
}

/// What a list of sources delivered when it was fetched without a pinned
/// digest (trust on first use), and how to ask the source whether it still
/// serves that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub schema_version: u32,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub fetched_at: Timestamp,
    /// The identity of the source that served it (see
    /// [`crate::source::Source::identity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// The validators of the response that served it, for a conditional
    /// request (`If-None-Match`, `If-Modified-Since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpValidators>,
    /// For a local file: how it looked when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
}

impl SourceRecord {
    /// Whether the source can be asked if it still serves this: a validator
    /// to send, or a local file's stamp to compare.
    pub fn can_revalidate(&self) -> bool {
        self.stamp.is_some()
            || self
                .http
                .as_ref()
                .is_some_and(|h| h.etag.is_some() || h.last_modified.is_some())
    }
}

/// What the store knows about one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub schema_version: u32,
    pub id: String,
    pub name: Name,
    pub manifest: PathBuf,
    pub link_dir: PathBuf,
    pub synced_at: Timestamp,
    /// Every pinned resource the manifest declares, by name.
    pub resources: BTreeMap<Name, ProjectResource>,
    /// Fetches for this project that went wrong: a hash mismatch, or
    /// executable content it did not declare. A project with none counts as
    /// having fetched without incident (see the policy's `first_request`).
    #[serde(default)]
    pub incidents: u64,
}

/// One resource of a project, and its link if crp made one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectResource {
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRecord>,
}

/// A link crp created in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub path: PathBuf,
    pub mode: LinkMode,
    /// For copies: how the file looked when crp wrote it, so crp only ever
    /// removes or replaces a copy nobody has touched since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
    /// For symbolic links: the target crp wrote, so crp knows its own link
    /// even when the target no longer resolves (the store moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PathBuf>,
}

/// Identity and change markers of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub len: u64,
    pub ino: u64,
    pub mtime_ns: i128,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            len: meta.len(),
            ino: meta.ino(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

impl ProjectRecord {
    /// Whether two records say the same thing, ignoring when they were written.
    pub fn same_state(&self, other: &Self) -> bool {
        self.name == other.name
            && self.manifest == other.manifest
            && self.link_dir == other.link_dir
            && self.resources == other.resources
            && self.incidents == other.incidents
    }
}
