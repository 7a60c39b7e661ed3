//! The accounting side of a sync: what the verdicts hold back, what comes
//! back from cold storage, and for every fetch its events, its incidents
//! and the notices people get.

use crate::digest::Sha256Digest;
use crate::fetch::{FetchError, Fetched, SourceError};
use crate::manifest::{Manifest, Resource};
use crate::name::Name;
use crate::notify::{Notice, NoticeKind};
use crate::plan::Plan;
use crate::policy::Verdict;
use crate::policy::approval::{self, PendingRequest};
use crate::progress::{NoteKind, Reporter};
use crate::provenance::{Event, EventLog, State};
use crate::store::Store;
use crate::time::Timestamp;

use super::{ErrorReport, Outcome, Oversight, Status, SyncError};

/// Objects `crp gc` archived come back from cold storage, verified, before
/// anything would download them again — with or without the network.
pub(super) async fn restore_archived(
    store: &Store,
    plan: &Plan,
    outcomes: &mut [Outcome],
    oversight: Oversight<'_>,
    reporter: &dyn Reporter,
    offline: bool,
    archives: &crate::inspect::gc::ArchiveRemotes,
) {
    for i in 0..plan.resources.len() {
        let r = &plan.resources[i];
        // The review read the records: only what it found archived is asked for.
        let archived = r.fetch.is_some_and(|f| f.restore);
        if !archived || outcomes[i].status.is_some() || outcomes[i].present {
            continue;
        }
        let Some(digest) = r.sha256 else { continue };
        match crate::inspect::gc::restore(
            store,
            &digest,
            oversight.events,
            reporter,
            offline,
            archives,
        )
        .await
        {
            Ok(Some(from)) => {
                reporter.note(
                    NoteKind::Info,
                    &format!("restored `{}` from cold storage", r.name),
                );
                let from = from.display().to_string();
                for (other, outcome) in plan.resources.iter().zip(outcomes.iter_mut()) {
                    if other.sha256 == Some(digest) {
                        outcome.present = true;
                        outcome.restored_from = Some(from.clone());
                    }
                }
            }
            Ok(None) => {}
            Err(err) => reporter.note(
                NoteKind::Warning,
                &format!(
                    "could not restore `{}` from cold storage ({}); fetching it instead",
                    r.name,
                    crate::fetch::error_text(&err)
                ),
            ),
        }
    }
}

/// Resources whose verdict stops them go no further. Requests that wait for
/// a person are recorded for `crp pending`; the new ones are announced.
pub(super) fn hold_back(
    manifest: &Manifest,
    store: &Store,
    plan: &Plan,
    outcomes: &mut [Outcome],
    oversight: Oversight<'_>,
    notices: &mut Vec<Notice>,
) -> Result<(), SyncError> {
    let mut waiting = Vec::new();
    for (i, (r, resource)) in plan.resources.iter().zip(&manifest.resources).enumerate() {
        let status = match &r.verdict {
            Verdict::AwaitingApproval { .. } => Status::AwaitingApproval,
            Verdict::Denied { .. } => Status::Denied,
            _ => continue,
        };
        outcomes[i].fail(status, ErrorReport::text(&r.verdict.to_string()));
        match &r.verdict {
            Verdict::AwaitingApproval { reasons } => waiting.push(PendingRequest {
                name: r.name.clone(),
                project: plan.project.name.clone(),
                project_id: plan.project.id.clone(),
                manifest: plan.project.manifest.clone(),
                sha256: r.sha256,
                size: r.size,
                sources: approval::bound_sources(&resource.sources),
                source_ids: approval::bound_ids_for(
                    r.sha256,
                    &resource.sources,
                    &store.identity_key(),
                ),
                purpose: resource.purpose.clone(),
                requested_by: resource.requested_by.clone(),
                reasons: reasons.clone(),
                requested_at: Timestamp::now(),
            }),
            verdict if r.fetch.is_some() => Subject::of(manifest, resource).record_judged(
                oversight.events,
                State::Denied,
                (
                    "verdict",
                    serde_json::to_value(verdict).expect("verdicts serialize"),
                ),
            ),
            _ => {}
        }
    }
    for request in approval::set_pending(store, &plan.project.id, waiting)? {
        let resource = manifest
            .resource(request.name.as_str())
            .expect("from this manifest");
        let reasons: Vec<String> = request.reasons.iter().map(|r| r.message.clone()).collect();
        Subject::of(manifest, resource).record_judged(
            oversight.events,
            State::AwaitingApproval,
            ("reasons", reasons.clone().into()),
        );
        notices.push(Notice {
            kind: NoticeKind::AwaitingApproval,
            name: request.name.clone(),
            project: request.project.clone(),
            sha256: request.sha256,
            size: request.size,
            path: None,
            state: State::AwaitingApproval,
            source: resource.primary_source().spec.to_string(),
            purpose: request.purpose.clone(),
            requested_by: request.requested_by.clone(),
            reasons,
        });
    }
    Ok(())
}

/// What a request's events are about: a resource of a project, and the
/// digest it declares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub name: &'a Name,
    pub project: &'a Name,
    pub sha256: Option<Sha256Digest>,
    /// The command, when not a sync records them (`add`).
    pub by: Option<&'static str>,
}

impl<'a> Subject<'a> {
    /// A resource of `manifest`.
    pub(crate) fn of(manifest: &'a Manifest, resource: &'a Resource) -> Self {
        Self {
            name: &resource.name,
            project: &manifest.project.name,
            sha256: resource.sha256,
            by: None,
        }
    }

    fn event(&self, from: Option<State>, to: State) -> Event {
        let event = Event::new(from, to)
            .object(self.sha256)
            .resource(self.name)
            .project(self.project);
        match self.by {
            Some(by) => event.detail("by", by),
            None => event,
        }
    }

    /// A request judged: requested, evaluating, then `to` with what decided it.
    pub(crate) fn record_judged(
        &self,
        events: &EventLog,
        to: State,
        (key, value): (&str, serde_json::Value),
    ) {
        events.record(&self.event(None, State::Requested));
        events.record(&self.event(Some(State::Requested), State::Evaluating));
        events.record(&self.event(Some(State::Evaluating), to).detail(key, value));
    }

    /// A fetch starting: judged approved by `verdict`, then downloading.
    pub(crate) fn record_started(&self, events: &EventLog, verdict: &Verdict, sources: usize) {
        let verdict = serde_json::to_value(verdict).expect("verdicts serialize");
        self.record_judged(events, State::Approved, ("verdict", verdict));
        events.record(
            &self
                .event(Some(State::Approved), State::Downloading)
                .detail("sources", sources),
        );
    }

    /// How a fetch ended: verified and available (and seeding), or failed
    /// and why. Nothing while a torrent is still on its way.
    pub(crate) fn record_ended(
        &self,
        events: &EventLog,
        result: &Result<Fetched, FetchError>,
        took: std::time::Duration,
    ) {
        let event = |from, to, object| {
            Self {
                sha256: object,
                ..*self
            }
            .event(Some(from), to)
        };
        match result {
            Ok(fetched) => {
                let object = Some(fetched.sha256);
                events.record(&event(State::Downloading, State::Verifying, object));
                let available = event(State::Verifying, State::Available, object)
                    .detail("size_bytes", fetched.size)
                    .detail(
                        "duration_ms",
                        u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    );
                events.record(&match &fetched.source {
                    Some(source) => available.detail("served_by", source.clone()),
                    None => available.detail("already_in_store", true),
                });
                if is_seeding(fetched) {
                    events.record(&event(State::Available, State::Seeding, object));
                }
            }
            Err(FetchError::Pending { .. }) => {}
            Err(FetchError::Executable {
                finding,
                sha256,
                quarantined,
                ..
            }) => {
                events.record(&event(State::Downloading, State::Verifying, Some(*sha256)));
                events.record(
                    &event(State::Verifying, State::Failed, Some(*sha256))
                        .detail("reason", "undeclared-executable")
                        .detail("finding", finding.clone())
                        .detail("quarantined", quarantined.display().to_string()),
                );
            }
            Err(err) => match mismatch_of(err) {
                Some((expected, actual)) => {
                    events.record(&event(State::Downloading, State::Verifying, Some(expected)));
                    events.record(
                        &event(State::Verifying, State::Failed, Some(expected))
                            .detail("reason", "mismatch")
                            .detail("expected", expected.to_string())
                            .detail("actual", actual.to_string()),
                    );
                }
                None => events.record(
                    &event(State::Downloading, State::Failed, self.sha256)
                        .detail("reason", "fetch")
                        .detail("error", crate::fetch::error_text(err)),
                ),
            },
        }
    }
}

fn is_seeding(fetched: &Fetched) -> bool {
    fetched
        .torrent
        .as_ref()
        .is_some_and(|t| t.phase == crate::torrent::TorrentPhase::Seeding)
}

/// Records how a fetch ended: its events, and what to tell people.
pub(super) fn account(
    manifest: &Manifest,
    store: &Store,
    indices: &[usize],
    result: &Result<Fetched, FetchError>,
    took: std::time::Duration,
    oversight: Oversight<'_>,
    notices: &mut Vec<Notice>,
) {
    let first = &manifest.resources[indices[0]];
    Subject::of(manifest, first).record_ended(oversight.events, result, took);
    let notice = |kind, state, sha256, size, reasons| Notice {
        kind,
        name: first.name.clone(),
        project: manifest.project.name.clone(),
        sha256,
        size,
        path: sha256.map(|d: Sha256Digest| store.object_path(&d)),
        state,
        source: first.primary_source().spec.to_string(),
        purpose: first.purpose.clone(),
        requested_by: first.requested_by.clone(),
        reasons,
    };
    match result {
        // Another process (a sync, the torrent hook) brought it in while
        // this one waited, and told people: once is enough.
        Ok(fetched) if fetched.source.is_none() => {}
        Ok(fetched) => notices.push(notice(
            NoticeKind::Available,
            if is_seeding(fetched) {
                State::Seeding
            } else {
                State::Available
            },
            Some(fetched.sha256),
            Some(fetched.size),
            Vec::new(),
        )),
        Err(FetchError::Pending { .. }) => {}
        Err(err) => notices.push(notice(
            NoticeKind::Failed,
            State::Failed,
            first.sha256,
            first.size,
            vec![crate::fetch::error_text(err)],
        )),
    }
}

/// The digests of a hash mismatch, when that is why a fetch failed.
fn mismatch_of(err: &FetchError) -> Option<(Sha256Digest, Sha256Digest)> {
    match err {
        // A mirror's wrong object is the mirror's fault, not the project's.
        FetchError::Failed { failures, .. } => {
            failures
                .iter()
                .filter(|f| !f.mirror)
                .find_map(|f| match f.error {
                    SourceError::HashMismatch { expected, actual }
                    | SourceError::QuarantinedMismatch {
                        expected, actual, ..
                    } => Some((expected, actual)),
                    _ => None,
                })
        }
        _ => None,
    }
}

pub(super) fn is_mismatch(err: &FetchError) -> bool {
    mismatch_of(err).is_some()
}

/// How many fetches of this sync count against the project.
pub(super) fn incidents(outcomes: &[Outcome]) -> u64 {
    outcomes.iter().filter(|o| o.incident).count() as u64
}
