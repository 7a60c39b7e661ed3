//! What a sync writes besides links: the pins of first use into the
//! manifest, approvals carried into object records, and each object's
//! users kept in step with the project's record.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::digest::Sha256Digest;
use crate::manifest::{Manifest, edit};
use crate::name::Name;
use crate::plan::Plan;
use crate::policy::Verdict;
use crate::policy::approval::{self, Decision};
use crate::progress::{NoteKind, Reporter};
use crate::store::record::{
    Asked, NewObject, ObjectKind, ObjectRecord, ObjectUse, ProjectRecord, Verification,
};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

use super::{Outcome, SyncError};

/// Writes the digests of resources fetched on trust into the manifest.
/// Returns whether it did.
pub(super) fn pin_fetched(
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
pub(super) fn carry_approvals(
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
pub(super) fn approval_of(
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

/// Writes pinned digests into the manifest: re-read under the project's lock,
/// edited in place, written atomically.
pub(super) fn pin(
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
    crate::manifest::write_text(&manifest.path, &text).map_err(|e| pin_err(e.into()))
}

/// Keeps the `projects` lists of object records in step with the project's
/// new record.
pub(super) async fn update_object_uses(
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
