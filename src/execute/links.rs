//! Making the project's links, and removing the ones nothing wants any
//! more (never a file crp did not make).

use std::collections::{BTreeMap, HashMap};

use crate::fsutil;
use crate::link;
use crate::name::Name;
use crate::plan::{LinkStep, Plan};
use crate::progress::{NoteKind, Reporter};
use crate::store::Store;
use crate::store::record::{LinkRecord, ProjectRecord, ProjectResource};

use super::{ErrorReport, LinkOutcome, Outcome, Status, UnlinkOutcome, UnlinkStatus};

/// Makes the links of every resource whose object is present, and returns
/// them by resource index (for the project's record).
pub(super) fn make_links(
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
pub(super) fn remove_links(
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
