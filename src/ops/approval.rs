//! `crp pending`, `crp approve`, `crp deny`: people's decisions, to the
//! store's ledger or to an approvals file, with their events.

use std::path::Path;

use crate::digest::Sha256Digest;
use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::name::Name;
use crate::policy::approval::{self, Decision, Kind, Ledger, PendingRequest};
use crate::provenance::{Event, EventLog, State};
use crate::source::IdentityKey;
use crate::store::Store;
use crate::time::Timestamp;

/// The requests awaiting a decision: not decided since, and of projects
/// whose manifest still exists.
///
/// # Errors
/// A store, ledger or pending request that cannot be read.
pub fn pending(store: Option<&Path>) -> anyhow::Result<Vec<PendingRequest>> {
    let store = Store::open(store)?;
    let ledger = Ledger::load(&store)?;
    // A decision made since the last sync settles a request already, and a
    // project whose manifest is gone asks for nothing any more.
    Ok(approval::pending(&store)?
        .into_iter()
        .filter(|p| ledger.decided(p.sha256, p.ids()).is_none() && p.manifest.exists())
        .collect())
}

/// A decision, as the command line gave it.
#[derive(Debug, Clone)]
pub struct Deciding<'a> {
    /// A resource name or a sha256.
    pub target: &'a str,
    /// Who decides.
    pub by: &'a str,
    pub note: Option<String>,
    /// Why it is denied.
    pub reason: Option<String>,
    /// The approvals file to write to, instead of the store's ledger.
    pub file: Option<&'a Path>,
}

/// Approves what `deciding.target` names, in the store's ledger (created
/// if needed) or in an approvals file, and records the event.
///
/// # Errors
/// An empty `by`, a target that names nothing or several requests, a
/// source with a secret bound into a file, or a ledger or file that cannot
/// be written.
pub fn approve(
    store: Option<&Path>,
    manifest: Option<&Path>,
    deciding: &Deciding<'_>,
) -> anyhow::Result<Decision> {
    check_person(deciding.by)?;
    let (store, target) = prepare(store, manifest, deciding.target)?;
    let mut decision = target.decision(Kind::Approve, deciding.by, deciding.note.clone(), None);
    match deciding.file {
        Some(path) => {
            decision.source_ids = target.portable_ids.clone().ok_or_else(|| {
                UsageError::new(format!(
                    "`{}` has a source with a secret, which an approvals file can only bind from its manifest",
                    target.name
                ))
                .hint("run `crp approve … --file` in the project, beside its `resources.toml`")
            })?;
            approval::write_file_approval(path, &decision)?;
        }
        None => {
            existing(&store)?;
            Ledger::append(&store, &decision)?;
        }
    }
    record_event(&store, &target, &decision, State::Approved);
    Ok(decision)
}

/// Denies what `deciding.target` names, in the store's ledger, and records
/// the event.
///
/// # Errors
/// An empty `by` or reason, a target that names nothing or several
/// requests, or a ledger that cannot be written.
pub fn deny(
    store: Option<&Path>,
    manifest: Option<&Path>,
    deciding: &Deciding<'_>,
) -> anyhow::Result<Decision> {
    check_person(deciding.by)?;
    let reason = deciding.reason.clone().unwrap_or_default();
    if reason.trim().is_empty() {
        return Err(UsageError::new("`--reason` cannot be empty").into());
    }
    let (store, target) = prepare(store, manifest, deciding.target)?;
    let decision = target.decision(Kind::Deny, deciding.by, None, Some(reason));
    existing(&store)?;
    Ledger::append(&store, &decision)?;
    record_event(&store, &target, &decision, State::Denied);
    Ok(decision)
}

/// What a decision is about.
#[derive(Debug, Clone)]
struct Target {
    name: Name,
    sha256: Option<Sha256Digest>,
    /// For people.
    sources: Vec<String>,
    /// What a decision in the store's ledger binds.
    ids: Vec<String>,
    /// What a decision in an approvals file binds; `None` when only the
    /// manifest could say (the request names a source with a secret).
    portable_ids: Option<Vec<String>>,
    project: Option<Name>,
}

/// The store a decision goes into, which must be one already: a decision
/// kept in a store made by a mistyped `--store` would bind nothing.
fn existing(store: &Store) -> anyhow::Result<()> {
    if store.check()? {
        return Ok(());
    }
    Err(UsageError::new(format!(
        "there is no store at `{}` to keep the decision in",
        store.root().display()
    ))
    .hint("check `--store` or `CRP_STORE`; a first `crp sync` makes the store, and `--file` keeps an approval in a file instead")
    .into())
}

/// Finds what `target` (a name or a sha256) refers to: the resource in the
/// manifest (when there is one: one named by `--manifest` must read), else
/// the store's pending requests.
fn resolve(manifest_path: Option<&Path>, store: &Store, target: &str) -> anyhow::Result<Target> {
    let digest: Option<Sha256Digest> = target.parse().ok();
    if let Some(manifest_path) = manifest_path {
        let manifest = Manifest::load(manifest_path)?;
        let found = manifest
            .resources
            .iter()
            .find(|r| r.name.as_str() == target || (digest.is_some() && r.sha256 == digest));
        if let Some(resource) = found {
            return Ok(Target {
                name: resource.name.clone(),
                sha256: resource.sha256,
                sources: approval::bound_sources(&resource.sources),
                ids: approval::bound_ids_for(
                    resource.sha256,
                    &resource.sources,
                    &store.identity_key(),
                ),
                portable_ids: Some(approval::bound_ids(
                    &resource.sources,
                    &IdentityKey::PORTABLE,
                )),
                project: Some(manifest.project.name.clone()),
            });
        }
    }
    // Requests wait in a store: a mistyped one is said as such.
    existing(store)?;
    let mut matches: Vec<PendingRequest> = approval::pending(store)?
        .into_iter()
        .filter(|p| p.name.as_str() == target || (digest.is_some() && p.sha256 == digest))
        .collect();
    matches.dedup_by(|a, b| a.sha256 == b.sha256 && a.ids() == b.ids());
    match matches.len() {
        0 => Err(UsageError::new(match manifest_path {
            Some(path) => format!(
                "no resource named `{target}` in `{}`, and no pending request for it",
                path.display()
            ),
            None => format!("no manifest here, and no pending request for `{target}`"),
        })
        .hint("`crp pending` lists the requests awaiting approval")
        .into()),
        1 => {
            let p = matches.remove(0);
            // Identities that are the sources' own text travel as they are.
            let portable_ids = (p.ids() == p.sources).then(|| p.sources.clone());
            let ids = p.ids().to_vec();
            Ok(Target {
                name: p.name,
                sha256: p.sha256,
                ids,
                portable_ids,
                sources: p.sources,
                project: Some(p.project),
            })
        }
        _ => {
            let listed: Vec<String> = matches
                .iter()
                .map(|p| {
                    format!(
                        "`{}` in project `{}` ({})",
                        p.name,
                        p.project,
                        p.sha256
                            .map_or_else(|| "not pinned".into(), |d| d.to_string())
                    )
                })
                .collect();
            Err(UsageError::new(format!(
                "`{target}` names {} different requests: {}",
                matches.len(),
                listed.join("; ")
            ))
            .hint(match matches.iter().all(|p| p.sha256.is_none()) {
                // Requests not pinned yet have no sha256 to name them by.
                true => "run this in the project of the one you mean, or give its `--manifest`",
                false => "name the one you mean by its sha256, or run this in its project",
            })
            .into())
        }
    }
}

fn check_person(by: &str) -> anyhow::Result<()> {
    if by.trim().is_empty() {
        return Err(UsageError::new("`--by` cannot be empty")
            .hint("say who decides, e.g. `--by alice`")
            .into());
    }
    Ok(())
}

/// The store, and the request `target` names.
fn prepare(
    store: Option<&Path>,
    manifest: Option<&Path>,
    target: &str,
) -> anyhow::Result<(Store, Target)> {
    let store = Store::open(store)?;
    let target = resolve(manifest, &store, target)?;
    Ok((store, target))
}

impl Target {
    /// A decision about exactly this hash and these sources, made now.
    fn decision(
        &self,
        kind: Kind,
        by: &str,
        note: Option<String>,
        reason: Option<String>,
    ) -> Decision {
        Decision {
            decision: kind,
            name: self.name.clone(),
            sha256: self.sha256,
            sources: self.sources.clone(),
            source_ids: self.ids.clone(),
            by: by.to_owned(),
            at: Timestamp::now(),
            note,
            reason,
        }
    }
}

fn record_event(store: &Store, target: &Target, decision: &Decision, to: State) {
    // An approval written to a file where no store exists yet leaves none behind.
    if !store.check().unwrap_or(false) {
        return;
    }
    let events = EventLog::open(store);
    let mut event = Event::new(Some(State::AwaitingApproval), to)
        .object(target.sha256)
        .resource(&target.name)
        .actor(&decision.by);
    if let Some(project) = &target.project {
        event = event.project(project);
    }
    if let Some(note) = &decision.note {
        event = event.detail("note", note.clone());
    }
    if let Some(reason) = &decision.reason {
        event = event.detail("reason", reason.clone());
    }
    events.record(&event);
    // An object already in the store takes the decision's state, so its
    // record and its last event agree: denied, or (approved) back to where
    // it is, in the store or in cold storage.
    if let Some(digest) = target.sha256
        && let Ok(Some(mut record)) = store.read_object_record(&digest)
    {
        let now = match to {
            State::Denied => Some(State::Denied),
            _ if store.has_object(&digest) && record.status == State::Seeding => {
                Some(State::Seeding)
            }
            _ if store.has_object(&digest) => Some(State::Available),
            _ if record.archived.is_some() && record.removed.is_none() => Some(State::Archived),
            _ => None,
        };
        if let Some(now) = now {
            if now != to {
                events.record(
                    &Event::new(Some(to), now)
                        .object(Some(digest))
                        .resource(&target.name)
                        .actor(&decision.by),
                );
            }
            if record.status != now {
                record.status = now;
                if let Err(err) = store.write_object_record(&record) {
                    tracing::warn!("could not record the decision on {digest}: {err}");
                }
            }
        }
    }
    events.flush();
}
