//! Judging a plan: each resource's verdict, from the policy's rules, its
//! hard limits and the decisions people recorded.
//!
//! Resources the store already holds were judged when they arrived; what
//! is checked again for them is whether their content is executable without
//! the manifest saying so (then they are not linked), and what people have
//! decided since. Only resources to be fetched go through every rule, so a
//! plan with nothing to fetch stays as cheap as before. `crp add` judges its
//! one request with [`judge`]; a torrent nobody asked for is judged by the
//! completion hook (`ops::hook`, `admission`).

use std::collections::BTreeMap;

use crate::digest::Sha256Digest;
use crate::manifest::Manifest;
use crate::name::Name;
use crate::plan::{Action, Plan};
use crate::policy::approval::Ledger;
use crate::policy::{History, Policy, Request, Rule, Verdict};
use crate::store::record::ProjectRecord;
use crate::store::{Store, StoreError};

/// Fills in every resource's verdict, and turns the actions of those that
/// may not go ahead into [`Action::AwaitingApproval`] or [`Action::Denied`]:
/// the last step of [`Planner::plan`](super::Planner::plan).
/// `used` is how much of the store's quota is spoken for (what it holds,
/// and what other processes have reserved), when the policy has a quota;
/// it is asked for only when something is to be fetched.
pub(super) fn review(
    plan: &mut Plan,
    manifest: &Manifest,
    store: &Store,
    policy: &Policy,
    ledger: &Ledger,
    previous: Option<&ProjectRecord>,
    used: impl FnOnce() -> Result<u64, StoreError>,
) -> Result<(), StoreError> {
    let to_fetch = plan.resources.iter().any(|r| r.fetch.is_some());
    // What the rules need, read once and only when something is to be fetched.
    let history = if to_fetch {
        history(store, policy, previous)?
    } else {
        History::default()
    };
    // What the store holds plus what this run has let in so far.
    let mut used = if to_fetch && policy.limits.quota.is_some() {
        Some(used()?)
    } else {
        None
    };
    // What waits for a person in this project: an object the store holds
    // (another project's) that a request of this one waits on is not let
    // in by being there (`crp update` records such a request).
    let waiting = crate::policy::approval::pending_of(store, &plan.project.id)?;
    for (r, resource) in plan.resources.iter_mut().zip(&manifest.resources) {
        // An object `crp gc` archived was judged when it arrived: it comes
        // back from cold storage like one that is present.
        let restore = r.fetch.is_some_and(|step| step.restore);
        let verdict = if r.fetch.is_none() || restore {
            let executable = match r.sha256 {
                _ if restore => r.stored_executable.unwrap_or(false),
                Some(digest) => store.object_executable(&digest, r.stored_executable),
                None => false,
            };
            if executable && !resource.executable {
                Verdict::refused(
                    Rule::UndeclaredExecutable,
                    crate::policy::UNDECLARED_EXECUTABLE,
                )
            } else {
                ledger
                    .verdict_for(r.sha256, &resource.sources)
                    .or_else(|| {
                        waiting
                            .get(&resource.name)
                            .filter(|p| p.sha256.is_some() && p.sha256 == r.sha256)
                            .map(|p| Verdict::AwaitingApproval {
                                reasons: p.reasons.clone(),
                            })
                    })
                    .unwrap_or(Verdict::AutoApproved)
            }
        } else {
            let request = Request {
                name: &resource.name,
                sha256: r.sha256,
                size: r.size,
                sources: &resource.sources,
                executable: resource.executable,
                replaces: None,
            };
            // Content quarantined before as undeclared executable is not
            // downloaded again until the manifest declares it.
            let quarantined = match r.sha256.filter(|_| !resource.executable) {
                Some(digest) => store.read_quarantined(&digest)?,
                None => None,
            };
            let verdict = match quarantined {
                Some(note) => Verdict::refused(
                    Rule::UndeclaredExecutable,
                    format!(
                        "its content is executable ({}) and was quarantined at {}; declare `executable = true` to have it judged",
                        note.finding, note.at
                    ),
                ),
                None => judge(policy, ledger, &history, &plan.project.name, &request, used),
            };
            if verdict.allows()
                && let (Some(total), Some(size)) = (used.as_mut(), r.size)
            {
                *total += size;
            }
            verdict
        };
        match &verdict {
            Verdict::AwaitingApproval { .. } => r.action = Action::AwaitingApproval,
            Verdict::Denied { .. } => r.action = Action::Denied,
            _ => {}
        }
        r.verdict = verdict;
    }
    Ok(())
}

/// What the store knows that the rules need, for a project whose last
/// sync left `previous`.
pub fn history(
    store: &Store,
    policy: &Policy,
    previous: Option<&ProjectRecord>,
) -> Result<History, StoreError> {
    Ok(History {
        project_trusted: previous.is_some_and(|p| !p.resources.is_empty() && p.incidents == 0),
        known: if policy.approval.version_change {
            known_names(store)?
        } else {
            BTreeMap::new()
        },
    })
}

/// The verdict on one request that is not in the store yet. `used` is what
/// the store holds, when the policy has a quota.
pub fn judge(
    policy: &Policy,
    ledger: &Ledger,
    history: &History,
    project: &Name,
    request: &Request<'_>,
    used: Option<u64>,
) -> Verdict {
    if let Some(refused) = policy.limit(request, used) {
        return refused;
    }
    // A hard limit beats any decision; a decision beats the rules.
    if let Some(decided) = ledger.verdict_for(request.sha256, request.sources) {
        return decided;
    }
    let reasons = policy.reasons(request, history, project);
    if reasons.is_empty() {
        Verdict::AutoApproved
    } else {
        Verdict::AwaitingApproval { reasons }
    }
}

/// A request `crp add` may not fetch.
#[derive(Debug, thiserror::Error)]
#[error("the store's policy does not let `{name}` in without a person: {verdict}")]
pub struct NotAllowed {
    pub name: Name,
    pub verdict: Verdict,
}

impl NotAllowed {
    pub fn hint(&self) -> &'static str {
        match self.verdict {
            Verdict::AwaitingApproval { .. } => {
                "declare it in `resources.toml` and run `crp sync`: the request then waits in `crp pending` for `crp approve`"
            }
            _ => "see `crp policy show` for the store's limits",
        }
    }
}

/// Every resource name the store's projects use (this one's last sync
/// included), with its digests.
fn known_names(store: &Store) -> Result<BTreeMap<Name, Vec<(Sha256Digest, Name)>>, StoreError> {
    let mut known: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for project in store.projects()? {
        for (name, resource) in &project.resources {
            known
                .entry(name.clone())
                .or_default()
                .push((resource.sha256, project.name.clone()));
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::approval::{Decision, Kind};
    use crate::source::SourceSpec;
    use crate::time::Timestamp;

    #[test]
    fn a_hard_limit_beats_a_decision_and_a_decision_beats_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        store.create().unwrap();
        let name: Name = "r".parse().unwrap();
        let spec: SourceSpec = "https://example.org/r".parse().unwrap();
        let sources = [crate::manifest::SourceEntry {
            source: spec.resolve(Path::new("/")),
            spec,
        }];
        let sha256 = Some(Sha256Digest::of_bytes(b"r"));
        let approve = Decision {
            decision: Kind::Approve,
            name: name.clone(),
            sha256,
            sources: crate::policy::approval::bound_sources(&sources),
            source_ids: crate::policy::approval::bound_ids(&sources, &store.identity_key()),
            by: "alice".into(),
            at: Timestamp::now(),
            note: None,
            reason: None,
        };
        Ledger::append(&store, &approve).unwrap();
        let ledger = Ledger::load(&store).unwrap();
        let policy = Policy::parse(
            Path::new("policy.toml"),
            "[limits]\nmax_size = \"1 MB\"\n[approval]\nlarger_than = \"1 KB\"\n",
        )
        .unwrap();
        let request = |size| Request {
            name: &name,
            sha256,
            size: Some(size),
            sources: &sources,
            executable: false,
            replaces: None,
        };
        let history = History::default();
        // Over the rule's 1 KB, but approved: a person's decision wins.
        assert!(matches!(
            judge(&policy, &ledger, &history, &name, &request(10_000), None),
            Verdict::Approved { .. }
        ));
        // Over the hard limit: no decision overrides it.
        assert!(matches!(
            judge(&policy, &ledger, &history, &name, &request(2_000_000), None),
            Verdict::Denied {
                rule: Some(Rule::MaxSize),
                ..
            }
        ));
        // Without a decision, the rule holds it for a person.
        assert!(matches!(
            judge(
                &policy,
                &Ledger::default(),
                &history,
                &name,
                &request(10_000),
                None
            ),
            Verdict::AwaitingApproval { .. }
        ));
    }
}
