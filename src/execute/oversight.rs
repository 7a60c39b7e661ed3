//! The accounting side of a sync: what the verdicts hold back, what comes
//! back from cold storage, and for every fetch its events, its incidents
//! and the notices people get.

use crate::approval::{self, PendingRequest};
use crate::digest::Sha256Digest;
use crate::fetch::{FetchError, Fetched, SourceError};
use crate::manifest::{Manifest, Resource};
use crate::notify::{Notice, NoticeKind};
use crate::plan::Plan;
use crate::policy::Verdict;
use crate::progress::{NoteKind, Reporter};
use crate::provenance::{Event, State};
use crate::store::Store;
use crate::store::record::Timestamp;

use super::{ErrorReport, Outcome, Oversight, Status, SyncError};

/// Objects `crp gc` archived come back from cold storage, verified, before
/// anything would download them again — with or without the network.
pub(super) async fn restore_archived(
    store: &Store,
    plan: &Plan,
    outcomes: &mut [Outcome],
    oversight: Oversight<'_>,
    reporter: &dyn Reporter,
) {
    for i in 0..plan.resources.len() {
        let r = &plan.resources[i];
        // The review read the records: only what it found archived is asked for.
        let archived = r.fetch.is_some_and(|f| f.restore);
        if !archived || outcomes[i].status.is_some() || outcomes[i].present {
            continue;
        }
        let Some(digest) = r.sha256 else { continue };
        match crate::gc::restore(store, &digest, oversight.events, reporter).await {
            Ok(true) => {
                reporter.note(
                    NoteKind::Info,
                    &format!("restored `{}` from cold storage", r.name),
                );
                for (other, outcome) in plan.resources.iter().zip(outcomes.iter_mut()) {
                    if other.sha256 == Some(digest) {
                        outcome.present = true;
                    }
                }
            }
            Ok(false) => {}
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
                sources: approval::bound_sources(resource),
                purpose: resource.purpose.clone(),
                requested_by: resource.requested_by.clone(),
                reasons: reasons.clone(),
                requested_at: Timestamp::now(),
            }),
            verdict if r.fetch.is_some() => {
                let mut events = request_events(manifest, resource, State::Denied);
                let verdict = serde_json::to_value(verdict).expect("verdicts serialize");
                events[2] = events[2].clone().detail("verdict", verdict);
                for event in &events {
                    oversight.events.record(event);
                }
            }
            _ => {}
        }
    }
    for request in approval::set_pending(store, &plan.project.id, waiting)? {
        let resource = manifest
            .resource(request.name.as_str())
            .expect("from this manifest");
        let reasons: Vec<String> = request.reasons.iter().map(|r| r.message.clone()).collect();
        let mut events = request_events(manifest, resource, State::AwaitingApproval);
        events[2] = events[2].clone().detail("reasons", reasons.clone());
        for event in &events {
            oversight.events.record(event);
        }
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

/// The events of a request being judged: requested, evaluating, then `to`.
fn request_events(manifest: &Manifest, resource: &Resource, to: State) -> Vec<Event> {
    let event = |from, to| {
        Event::new(from, to)
            .object(resource.sha256)
            .resource(&resource.name)
            .project(&manifest.project.name)
    };
    vec![
        event(None, State::Requested),
        event(Some(State::Requested), State::Evaluating),
        event(Some(State::Evaluating), to),
    ]
}

/// Records how a fetch ended: its events, and what to tell people.
#[allow(clippy::too_many_arguments)]
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
    let event = |from, to, object| {
        Event::new(Some(from), to)
            .object(object)
            .resource(&first.name)
            .project(&manifest.project.name)
    };
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
    let events = oversight.events;
    match result {
        Ok(fetched) => {
            let object = Some(fetched.sha256);
            events.record(&event(State::Downloading, State::Verifying, object));
            let mut available = event(State::Verifying, State::Available, object)
                .detail("size_bytes", fetched.size)
                .detail(
                    "duration_ms",
                    u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                );
            available = match &fetched.source {
                Some(source) => available.detail("served_by", source.clone()),
                None => available.detail("already_in_store", true),
            };
            events.record(&available);
            let seeding = fetched
                .torrent
                .as_ref()
                .is_some_and(|t| t.phase == crate::torrent::TorrentPhase::Seeding);
            if seeding {
                events.record(&event(State::Available, State::Seeding, object));
            }
            notices.push(notice(
                NoticeKind::Available,
                if seeding {
                    State::Seeding
                } else {
                    State::Available
                },
                object,
                Some(fetched.size),
                Vec::new(),
            ));
        }
        Err(FetchError::Pending { .. }) => {}
        Err(err) => {
            let text = crate::fetch::error_text(err);
            let failed = match err {
                FetchError::Executable {
                    finding,
                    sha256,
                    quarantined,
                    ..
                } => {
                    let note = crate::store::record::QuarantineNote {
                        sha256: *sha256,
                        finding: finding.clone(),
                        quarantined: quarantined.clone(),
                        at: Timestamp::now(),
                    };
                    if let Err(err) = store.write_quarantined(&note) {
                        tracing::warn!("could not remember quarantined {sha256}: {err}");
                    }
                    events.record(&event(State::Downloading, State::Verifying, Some(*sha256)));
                    event(State::Verifying, State::Failed, Some(*sha256))
                        .detail("reason", "undeclared-executable")
                        .detail("finding", finding.clone())
                        .detail("quarantined", quarantined.display().to_string())
                }
                err => match mismatch_of(err) {
                    Some((expected, actual)) => {
                        events.record(&event(State::Downloading, State::Verifying, Some(expected)));
                        event(State::Verifying, State::Failed, Some(expected))
                            .detail("reason", "mismatch")
                            .detail("expected", expected.to_string())
                            .detail("actual", actual.to_string())
                    }
                    None => event(State::Downloading, State::Failed, first.sha256)
                        .detail("reason", "fetch")
                        .detail("error", text.clone()),
                },
            };
            events.record(&failed);
            notices.push(notice(
                NoticeKind::Failed,
                State::Failed,
                first.sha256,
                first.size,
                vec![text],
            ));
        }
    }
}

/// The digests of a hash mismatch, when that is why a fetch failed.
fn mismatch_of(err: &FetchError) -> Option<(Sha256Digest, Sha256Digest)> {
    match err {
        FetchError::Failed { failures, .. } => failures.iter().find_map(|f| match f.error {
            SourceError::HashMismatch { expected, actual }
            | SourceError::QuarantinedMismatch {
                expected, actual, ..
            } => Some((expected, actual)),
            _ => None,
        }),
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
