//! What a change to a manifest brings: per resource, what changes, what the
//! policy would say, and what it costs the store.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::manifest::{Manifest, Resource};
use crate::policy::approval::{Ledger, bound_ids};
use crate::policy::{Policy, Request, Verdict};
use crate::source::IdentityKey;
use crate::store::{Store, StoreError};

/// How a resource changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One resource's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDiff {
    pub name: String,
    pub change: Change,
    /// For `changed`: which of `sha256` (a new version), `size`, `sources`,
    /// `purpose`, `other` changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_sha256: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_sha256: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size: Option<u64>,
    /// For added and changed resources: what the store's policy would say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Bytes the store would gain (new content it does not hold).
    pub bytes_added: u64,
    /// Bytes that would no longer be referenced by any project.
    pub bytes_freed: u64,
    /// The entry's text, as a unified diff.
    pub text_diff: String,
}

/// The whole change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDiff {
    pub base: String,
    pub head: String,
    pub project: String,
    pub resources: Vec<ResourceDiff>,
    pub bytes_added: u64,
    pub bytes_freed: u64,
    /// Added sizes not declared: the true cost may be higher.
    pub unknown_sizes: usize,
    /// How many added or changed resources would need a person.
    pub need_approval: usize,
    pub denied: usize,
}

/// The text of each `[resources.NAME]` entry, as written (with its
/// comments), by name.
fn entry_text(manifest: &Manifest, resource: &Resource) -> String {
    let text = &manifest.text;
    let line_start = |offset: usize| text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let start = line_start(resource.span.start);
    let end = manifest
        .resources
        .iter()
        .map(|r| line_start(r.span.start))
        .filter(|s| *s > start)
        .min()
        .unwrap_or(text.len());
    let mut entry = text[start..end].trim_end().to_owned();
    entry.push('\n');
    entry
}

/// Compares `base` with `head` (both of one project) and judges what is new
/// against `store`, its policy and its ledger.
pub fn diff(
    base: &Manifest,
    head: &Manifest,
    (base_label, head_label): (&str, &str),
    store: &Store,
    policy: &Policy,
    ledger: &Ledger,
) -> Result<ManifestDiff, StoreError> {
    let exists = store.check().unwrap_or(false);
    let previous = if exists {
        crate::plan::previous_record(store, head)?
    } else {
        None
    };
    let history = crate::plan::review::history(store, policy, previous.as_ref())?;
    // What other projects keep alive, whatever this change does.
    let kept_elsewhere: BTreeSet<Sha256Digest> = if exists {
        store
            .projects()?
            .into_iter()
            .filter(|p| p.id != head.project_id() && p.id != base.project_id())
            .flat_map(|p| p.resources.into_values().map(|r| r.sha256))
            .collect()
    } else {
        BTreeSet::new()
    };
    let head_digests: BTreeSet<Sha256Digest> =
        head.resources.iter().filter_map(|r| r.sha256).collect();
    let base_digests: BTreeSet<Sha256Digest> =
        base.resources.iter().filter_map(|r| r.sha256).collect();
    let size_of = |r: &Resource| {
        crate::plan::expected_size(r).or_else(|| {
            r.sha256
                .and_then(|d| store.read_object_record(&d).ok().flatten())
                .map(|rec| rec.size)
        })
    };
    let mut out = Vec::new();
    let mut unknown_sizes = 0;
    let mut counted_added: BTreeSet<Sha256Digest> = BTreeSet::new();
    let mut counted_freed: BTreeSet<Sha256Digest> = BTreeSet::new();
    let mut cost = |r: &Resource, unknown: &mut usize| -> u64 {
        match r.sha256 {
            Some(d) if store.has_object(&d) || base_digests.contains(&d) => 0,
            Some(d) if !counted_added.insert(d) => 0,
            _ => match size_of(r) {
                Some(size) => size,
                None => {
                    *unknown += 1;
                    0
                }
            },
        }
    };
    let mut freed = |r: &Resource| -> u64 {
        match r.sha256 {
            Some(d)
                if !head_digests.contains(&d)
                    && !kept_elsewhere.contains(&d)
                    && store.has_object(&d)
                    && counted_freed.insert(d) =>
            {
                size_of(r).unwrap_or(0)
            }
            _ => 0,
        }
    };
    let judge = |r: &Resource| {
        let request = Request {
            name: &r.name,
            sha256: r.sha256,
            size: crate::plan::expected_size(r),
            sources: &r.sources,
            executable: r.executable,
            replaces: None,
        };
        crate::plan::review::judge(policy, ledger, &history, &head.project.name, &request, None)
    };
    let text_diff = |old: &str, new: &str| {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(base_label, head_label)
            .to_string()
    };
    for new in &head.resources {
        match base.resource(new.name.as_str()) {
            None => out.push(ResourceDiff {
                name: new.name.to_string(),
                change: Change::Added,
                fields: Vec::new(),
                old_sha256: None,
                new_sha256: new.sha256,
                old_size: None,
                new_size: size_of(new),
                verdict: Some(judge(new)),
                bytes_added: cost(new, &mut unknown_sizes),
                bytes_freed: 0,
                text_diff: text_diff("", &entry_text(head, new)),
            }),
            Some(old) => {
                let (old_text, new_text) = (entry_text(base, old), entry_text(head, new));
                let mut fields = Vec::new();
                if old.sha256 != new.sha256 {
                    fields.push("sha256".to_owned());
                }
                if old.size != new.size {
                    fields.push("size".to_owned());
                }
                // Sources differ when their whole text does, a secret included.
                let sources_changed = bound_ids(&old.sources, &IdentityKey::PORTABLE)
                    != bound_ids(&new.sources, &IdentityKey::PORTABLE);
                if sources_changed {
                    fields.push("sources".to_owned());
                }
                if old.purpose != new.purpose {
                    fields.push("purpose".to_owned());
                }
                if fields.is_empty() && old_text != new_text {
                    fields.push("other".to_owned());
                }
                if fields.is_empty() {
                    continue;
                }
                let content = old.sha256 != new.sha256 || sources_changed;
                out.push(ResourceDiff {
                    name: new.name.to_string(),
                    change: Change::Changed,
                    fields,
                    old_sha256: old.sha256,
                    new_sha256: new.sha256,
                    old_size: size_of(old),
                    new_size: size_of(new),
                    verdict: content.then(|| judge(new)),
                    bytes_added: if old.sha256 != new.sha256 {
                        cost(new, &mut unknown_sizes)
                    } else {
                        0
                    },
                    bytes_freed: if old.sha256 != new.sha256 {
                        freed(old)
                    } else {
                        0
                    },
                    text_diff: text_diff(&old_text, &new_text),
                });
            }
        }
    }
    for old in &base.resources {
        if head.resource(old.name.as_str()).is_none() {
            out.push(ResourceDiff {
                name: old.name.to_string(),
                change: Change::Removed,
                fields: Vec::new(),
                old_sha256: old.sha256,
                new_sha256: None,
                old_size: size_of(old),
                new_size: None,
                verdict: None,
                bytes_added: 0,
                bytes_freed: freed(old),
                text_diff: text_diff(&entry_text(base, old), ""),
            });
        }
    }
    let count = |f: fn(&Verdict) -> bool| {
        out.iter()
            .filter(|r| r.verdict.as_ref().is_some_and(f))
            .count()
    };
    let need_approval = count(|v| matches!(v, Verdict::AwaitingApproval { .. }));
    let denied = count(|v| matches!(v, Verdict::Denied { .. }));
    Ok(ManifestDiff {
        base: base_label.to_owned(),
        head: head_label.to_owned(),
        project: head.project.name.to_string(),
        bytes_added: out.iter().map(|r| r.bytes_added).sum(),
        bytes_freed: out.iter().map(|r| r.bytes_freed).sum(),
        resources: out,
        unknown_sizes,
        need_approval,
        denied,
    })
}
