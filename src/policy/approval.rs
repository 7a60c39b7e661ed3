//! People's decisions about requests, and the requests that wait for one.
//!
//! Decisions go to the store's append-only ledger,
//! `<store>/meta/approvals.jsonl`, one JSON line each. A decision is bound to
//! an exact sha256 and set of sources: change either and the request needs
//! a new one. Stores that come and go (CI runners) cannot keep a ledger, so
//! approvals can also live in a reviewed file beside the manifest (`crp
//! approve --file`, `crp sync --approvals`), honoured only when the policy
//! trusts such files. The latest ledger decision wins over any file.
//!
//! Requests awaiting a decision are kept in `<store>/meta/pending/`, one
//! file per project and resource, for `crp pending` and `crp approve`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::manifest::{ManifestError, SourceEntry};
use crate::name::Name;
use crate::policy::{Reason, Verdict};
use crate::source::IdentityKey;
use crate::store::record::RECORD_VERSION;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

pub use crate::store::record::{Decision, Kind};

/// Sources as people read them in decisions: as the manifest writes them,
/// credentials redacted.
pub fn bound_sources(sources: &[SourceEntry]) -> Vec<String> {
    sources.iter().map(|s| s.spec.to_string()).collect()
}

/// Sources as decisions bind them: each one's identity under `key` (the
/// store's for its ledger and pending requests, [`IdentityKey::PORTABLE`]
/// for approvals files).
pub fn bound_ids(sources: &[SourceEntry], key: &IdentityKey) -> Vec<String> {
    sources.iter().map(|s| s.spec.identity(key)).collect()
}

/// Sources as a decision about `sha256` binds them in the store's ledger
/// and pending requests. A decision about an object not pinned yet binds
/// what the sources will serve, so a relative path binds the file it
/// resolves to: `files/a.bin` of two projects are two files, and an
/// approval of one must not let the other in. (A pinned decision binds the
/// bytes by their sha256; approvals files, which travel with the project,
/// bind the text: [`bound_ids`] with [`IdentityKey::PORTABLE`].)
pub fn bound_ids_for(
    sha256: Option<Sha256Digest>,
    sources: &[SourceEntry],
    key: &IdentityKey,
) -> Vec<String> {
    if sha256.is_some() || *key == IdentityKey::PORTABLE {
        return bound_ids(sources, key);
    }
    sources
        .iter()
        .map(|s| match s.spec.is_relative_path() {
            true => format!("file:{}", s.source.identity(key)),
            false => s.spec.identity(key),
        })
        .collect()
}

/// A ledger line.
#[derive(Debug, Serialize, Deserialize)]
struct LedgerLine {
    schema_version: u32,
    #[serde(flatten)]
    decision: Decision,
}

/// An approvals file: `[[approval]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsFile {
    #[serde(default)]
    approval: Vec<FileApproval>,
}

/// One `[[approval]]` in an approvals file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApproval {
    name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256Digest>,
    sources: Vec<String>,
    /// The sources' portable identities (see [`IdentityKey::PORTABLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    source_ids: Vec<String>,
    by: String,
    at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Every decision crp can see: the store's ledger, and approvals files.
#[derive(Debug, Clone)]
pub struct Ledger {
    decisions: Vec<Decision>,
    files: Vec<(PathBuf, Vec<Decision>)>,
    /// The store's key, for the identities ledger decisions bind.
    key: IdentityKey,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            decisions: Vec::new(),
            files: Vec::new(),
            key: IdentityKey::random(),
        }
    }
}

/// The ledger's path in a store.
pub fn ledger_path(store: &Store) -> PathBuf {
    store.root().join("meta").join("approvals.jsonl")
}

impl Ledger {
    /// Reads the store's ledger; none yet is an empty one.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let path = ledger_path(store);
        let text = match crate::fsutil::read_bounded(&path, crate::store::MAX_LOG) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    key: store.identity_key(),
                    ..Self::default()
                });
            }
            Err(err) => return Err(err.into()),
        };
        let mut decisions = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line: LedgerLine =
                serde_json::from_str(line).map_err(|source| StoreError::BadRecord {
                    path: path.clone(),
                    source,
                })?;
            decisions.push(line.decision);
        }
        Ok(Self {
            decisions,
            files: Vec::new(),
            key: store.identity_key(),
        })
    }

    /// Adds the approvals in a reviewed file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), ManifestError> {
        let file = read_approvals_file(path)?;
        let decisions = file
            .approval
            .into_iter()
            .map(|a| Decision {
                decision: Kind::Approve,
                name: a.name,
                sha256: a.sha256,
                sources: a.sources,
                source_ids: a.source_ids,
                by: a.by,
                at: a.at,
                note: a.note,
                reason: None,
            })
            .collect();
        self.files.push((path.to_owned(), decisions));
        Ok(())
    }

    /// Whether there is no decision at all.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty() && self.files.iter().all(|(_, d)| d.is_empty())
    }

    /// Every decision in the ledger, oldest first.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// What people decided about `sha256` from these source entries: the
    /// latest ledger decision, else an approval in a file. With no decisions
    /// at all, the sources are not even identified.
    pub fn verdict_for(
        &self,
        sha256: Option<Sha256Digest>,
        sources: &[SourceEntry],
    ) -> Option<Verdict> {
        if self.is_empty() {
            return None;
        }
        self.decided(sha256, &self.ids(sha256, sources))
            .or_else(|| self.denial_of(sha256))
            .or_else(|| {
                let portable = bound_ids(sources, &IdentityKey::PORTABLE);
                self.files.iter().find_map(|(path, decisions)| {
                    decisions
                        .iter()
                        .rev()
                        .find(|d| d.binds(sha256, &portable))
                        .map(|d| Verdict::Approved {
                            by: d.by.clone(),
                            at: d.at,
                            note: d.note.clone(),
                            file: Some(path.clone()),
                        })
                })
            })
    }

    /// The identities of `sources` that this store's ledger binds in a
    /// decision about `sha256` (see [`bound_ids_for`]).
    pub fn ids(&self, sha256: Option<Sha256Digest>, sources: &[SourceEntry]) -> Vec<String> {
        bound_ids_for(sha256, sources, &self.key)
    }

    /// A denial of the bytes `sha256` whatever their sources: the latest
    /// ledger decision about them, when it is a denial, holds for every
    /// source and spelling that serves them, until a person approves them
    /// again.
    pub fn denial_of(&self, sha256: Option<Sha256Digest>) -> Option<Verdict> {
        let sha256 = sha256?;
        let latest = self
            .decisions
            .iter()
            .rev()
            .find(|d| d.sha256 == Some(sha256))?;
        (latest.decision == Kind::Deny).then(|| Verdict::Denied {
            by: Some(latest.by.clone()),
            at: Some(latest.at),
            rule: None,
            reason: latest.reason.clone().unwrap_or_default(),
        })
    }

    /// What the store's ledger says about `sha256` from the sources with
    /// these identities (as [`Ledger::ids`] gives them): its latest decision.
    pub fn decided(&self, sha256: Option<Sha256Digest>, ids: &[String]) -> Option<Verdict> {
        if let Some(d) = self.decisions.iter().rev().find(|d| d.binds(sha256, ids)) {
            return Some(match d.decision {
                Kind::Approve => Verdict::Approved {
                    by: d.by.clone(),
                    at: d.at,
                    note: d.note.clone(),
                    file: None,
                },
                Kind::Deny => Verdict::Denied {
                    by: Some(d.by.clone()),
                    at: Some(d.at),
                    rule: None,
                    reason: d.reason.clone().unwrap_or_default(),
                },
            });
        }
        None
    }

    /// Appends a decision to the store's ledger: one whole line, flushed.
    pub fn append(store: &Store, decision: &Decision) -> Result<(), StoreError> {
        let line = LedgerLine {
            schema_version: RECORD_VERSION,
            decision: decision.clone(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("records serialize");
        bytes.push(b'\n');
        Ok(crate::fsutil::append(&ledger_path(store), &bytes)?)
    }
}

/// Checks that the approvals file at `path` is there and reads, before a
/// command that takes it changes anything.
///
/// # Errors
/// As reading it would: no file there, or one that is not valid.
pub fn check_approvals_file(path: &Path) -> Result<(), ManifestError> {
    read_approvals_file(path).map(drop)
}

fn read_approvals_file(path: &Path) -> Result<ApprovalsFile, ManifestError> {
    // Not the manifest's "no manifest": the file named is an approvals file.
    let text = crate::config::read_toml_text(path)?.ok_or_else(|| ManifestError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "there is no approvals file there; `crp approve … --file PATH` writes one",
        ),
    })?;
    crate::config::parse_toml(
        path,
        &text,
        "invalid approvals file",
        Some("approvals files are written by `crp approve … --file PATH`"),
    )
}

/// Adds an approval to the approvals file at `path` (created if missing),
/// keeping what is there: the new `[[approval]]` goes at the end, and the
/// file is replaced atomically.
pub fn write_file_approval(path: &Path, decision: &Decision) -> Result<(), ManifestError> {
    let existing = match crate::manifest::read_text_capped(path, crate::config::MAX_SIZE) {
        Ok(text) => {
            read_approvals_file(path)?;
            text
        }
        Err(ManifestError::NotFound { .. }) => String::from(
            "# Approvals of resources in this project's resources.toml, each bound to\n\
             # an exact sha256 and set of sources. Written by `crp approve --file`;\n\
             # read by `crp sync --approvals`. Review changes to it like code.\n",
        ),
        Err(err) => {
            return Err(err);
        }
    };
    let entry = ApprovalsFile {
        approval: vec![FileApproval {
            name: decision.name.clone(),
            sha256: decision.sha256,
            sources: decision.sources.clone(),
            source_ids: decision.source_ids.clone(),
            by: decision.by.clone(),
            at: decision.at,
            note: decision.note.clone(),
        }],
    };
    let mut text = existing;
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&toml::to_string(&entry).expect("approvals serialize"));
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A request that waits for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub name: Name,
    pub project: Name,
    pub project_id: String,
    pub manifest: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// For people: credentials redacted.
    pub sources: Vec<String>,
    /// What a decision about it binds (see [`Ledger::ids`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ids: Vec<String>,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub reasons: Vec<Reason>,
    /// When it first started waiting.
    pub requested_at: Timestamp,
}

impl PendingRequest {
    /// What a decision about it binds: its sources' identities (their
    /// redacted text, for requests recorded before sources had identities).
    pub fn ids(&self) -> &[String] {
        if self.source_ids.is_empty() {
            &self.sources
        } else {
            &self.source_ids
        }
    }
}

fn pending_dir(store: &Store) -> PathBuf {
    store.root().join("meta").join("pending")
}

fn pending_path(store: &Store, project_id: &str, name: &Name) -> PathBuf {
    pending_dir(store)
        .join(project_id)
        .join(format!("{name}.json"))
}

/// Every request awaiting a decision, across the store's projects.
pub fn pending(store: &Store) -> Result<Vec<PendingRequest>, StoreError> {
    let mut all = Vec::new();
    let projects = match fs_err::read_dir(pending_dir(store)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(all),
        Err(err) => return Err(err.into()),
    };
    for project in projects {
        let project = project?;
        for entry in fs_err::read_dir(project.path())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(request) = crate::store::read_json::<PendingRequest>(&path)?
            {
                all.push(request);
            }
        }
    }
    all.sort_by(|a, b| {
        (a.requested_at, &a.project, &a.name).cmp(&(b.requested_at, &b.project, &b.name))
    });
    Ok(all)
}

/// One project's requests awaiting a decision, by resource name.
pub fn pending_of(
    store: &Store,
    project_id: &str,
) -> Result<std::collections::BTreeMap<Name, PendingRequest>, StoreError> {
    let mut found = std::collections::BTreeMap::new();
    let entries = match fs_err::read_dir(pending_dir(store).join(project_id)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(err.into()),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(request) = crate::store::read_json::<PendingRequest>(&path)?
        {
            found.insert(request.name.clone(), request);
        }
    }
    Ok(found)
}

/// Records one request as waiting, keeping when it first started to; the
/// project's other requests stay as they are.
pub fn add_pending(store: &Store, mut request: PendingRequest) -> Result<(), StoreError> {
    let path = pending_path(store, &request.project_id, &request.name);
    if let Some(old) = crate::store::read_json::<PendingRequest>(&path)? {
        request.requested_at = old.requested_at;
        if old == request {
            return Ok(());
        }
    }
    crate::store::write_json(&path, &request)
}

/// Takes a request off the waiting list, once decided.
pub fn withdraw_pending(store: &Store, project_id: &str, name: &Name) -> Result<(), StoreError> {
    match fs_err::remove_file(pending_path(store, project_id, name)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
        _ => Ok(()),
    }
}

/// Makes the store's pending requests of one project exactly `current`,
/// keeping when each started waiting. Returns the requests that are new.
pub fn set_pending(
    store: &Store,
    project_id: &str,
    current: Vec<PendingRequest>,
) -> Result<Vec<PendingRequest>, StoreError> {
    let dir = pending_dir(store).join(project_id);
    let mut stale: BTreeSet<PathBuf> = match fs_err::read_dir(&dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(err) => return Err(err.into()),
    };
    let mut new = Vec::new();
    for mut request in current {
        let path = pending_path(store, project_id, &request.name);
        stale.remove(&path);
        match crate::store::read_json::<PendingRequest>(&path)? {
            Some(old) => {
                request.requested_at = old.requested_at;
                if old != request {
                    crate::store::write_json(&path, &request)?;
                }
            }
            None => {
                crate::store::write_json(&path, &request)?;
                new.push(request);
            }
        }
    }
    for path in stale {
        let _ = fs_err::remove_file(&path);
    }
    Ok(new)
}
