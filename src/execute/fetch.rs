//! Fetching what a plan lacks: a bounded window of direct downloads and
//! every torrent at once, one request per object however many resources
//! name it, each outcome recorded as it ends.

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use crate::digest::Sha256Digest;
use crate::fetch::{FetchError, FetchRequest, Fetched, Fetcher, SourceError};
use crate::manifest::{Manifest, SourceEntry};
use crate::notify::Notice;
use crate::plan::Plan;
use crate::store::Store;
use crate::store::record::ObjectUse;

use super::oversight::Subject;
use super::oversight::{account, is_mismatch};
use super::{ErrorReport, Outcome, Oversight, Status};

/// Fetches every object the plan lacks: one task per object (resources that
/// share a digest share a task and pool their sources), one per unpinned
/// resource. A pinned object is asked of the project's content-addressed
/// mirrors, then the store's (`mirrors`), before its sources. Without a
/// fetcher, they are reported missing.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_missing(
    manifest: &Manifest,
    store: &Store,
    plan: &Plan,
    outcomes: &mut [Outcome],
    fetcher: Option<&Fetcher>,
    options: &super::SyncOptions,
    oversight: Oversight<'_>,
    notices: &mut Vec<Notice>,
) {
    let mut by_digest: BTreeMap<Sha256Digest, Vec<usize>> = BTreeMap::new();
    let mut unpinned = Vec::new();
    for (i, r) in plan.resources.iter().enumerate() {
        if outcomes[i].status.is_some() || outcomes[i].present {
            continue;
        }
        match (&r.fetch, r.sha256) {
            (Some(_), Some(digest)) => by_digest.entry(digest).or_default().push(i),
            (Some(_), None) if options.fetch_only => outcomes[i].fail(
                Status::Missing,
                ErrorReport {
                    hint: Some("`crp sync` fetches it and pins its sha256".into()),
                    ..ErrorReport::text("it has no `sha256`, and `crp pull` fetches only what is pinned")
                },
            ),
            (Some(_), None) if options.remotes_only => outcomes[i].fail(
                Status::Missing,
                ErrorReport {
                    hint: Some(
                        "pin it with a `crp sync` that may reach its sources, and commit the manifest"
                            .into(),
                    ),
                    ..ErrorReport::text(
                        "it has no `sha256`, so no remote can serve it, and `--remotes-only` forbids its sources",
                    )
                },
            ),
            (Some(_), None) => unpinned.push(vec![i]),
            (None, _) => {}
        }
    }
    let tasks: Vec<Vec<usize>> = by_digest.into_values().chain(unpinned).collect();
    let Some(fetcher) = fetcher else {
        for i in tasks.into_iter().flatten() {
            outcomes[i].fail(
                Status::Missing,
                ErrorReport::text("not in the store, and `--offline` forbids downloading it"),
            );
        }
        return;
    };
    // Tasks with a torrent start at once: the daemon downloads them side by
    // side, and they hold no job slot while it does. The others start a few
    // more than `--jobs` at a time, so that what waits its turn is an index
    // into the plan, not a task with its buffers.
    let (torrents, direct): (Vec<_>, Vec<_>) = tasks
        .into_iter()
        .partition(|indices| manifest.resources[indices[0]].needs_torrent());
    let window = fetcher.jobs() * 2 + 2;
    let mut direct = direct.into_iter();
    let mut set = JoinSet::new();
    let spawn = |set: &mut JoinSet<_>, indices: Vec<usize>, windowed: bool| {
        let first = &manifest.resources[indices[0]];
        let mut sources: Vec<SourceEntry> = Vec::new();
        for entry in indices.iter().flat_map(|&i| &manifest.resources[i].sources) {
            if !sources.iter().any(|s| s.source == entry.source) {
                sources.push(entry.clone());
            }
        }
        let verdict = &plan.resources[indices[0]].verdict;
        let may_be_directory = first.needs_torrent();
        let request = FetchRequest {
            name: first.name.clone(),
            sources,
            sha256: first.sha256,
            size: first.size,
            purpose: first.purpose.clone(),
            requested_by: first.requested_by.clone(),
            seed: first.seed,
            user: Some(ObjectUse::of(manifest, first)),
            executable: indices.iter().any(|&i| manifest.resources[i].executable),
            cap: oversight.policy.cap(verdict),
            known: None,
            admit: None,
            mirrors: match first.sha256 {
                Some(digest) => manifest
                    .project
                    .mirrors
                    .iter()
                    .chain(&options.mirrors)
                    .filter_map(|mirror| mirror.source_of(&digest))
                    // The policy's `schemes` bind mirrors too.
                    .filter(|(_, source)| oversight.policy.allows_scheme_of(source))
                    .map(|(spec, source)| SourceEntry { spec, source })
                    .collect(),
                None => Vec::new(),
            },
            remotes: match first.sha256 {
                Some(_) => options
                    .remotes
                    .iter()
                    .filter(|c| {
                        oversight
                            .policy
                            .allows_scheme_of(&crate::source::Source::Http(
                                c.remote().endpoint.clone(),
                            ))
                    })
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            },
            may_be_directory,
            // `--remotes-only`: content-addressed copies, never a source.
            remotes_only: options.remotes_only,
        };
        Subject::of(manifest, first).record_started(
            oversight.events,
            verdict,
            request.sources.len(),
        );
        let fetcher = fetcher.clone();
        set.spawn(async move {
            let started = std::time::Instant::now();
            let result = fetcher.fetch(&request).await;
            (indices, result, started.elapsed(), windowed)
        });
    };
    for indices in torrents {
        spawn(&mut set, indices, false);
    }
    for indices in direct.by_ref().take(window) {
        spawn(&mut set, indices, true);
    }
    while let Some(joined) = set.join_next().await {
        let (indices, result, took, windowed) = joined.expect("fetch tasks do not panic");
        if windowed && let Some(next) = direct.next() {
            spawn(&mut set, next, true);
        }
        account(manifest, store, &indices, &result, took, oversight, notices);
        // The fetcher records the first resource's use with a new object.
        let first = indices[0];
        for &i in &indices {
            let outcome = &mut outcomes[i];
            match &result {
                // First use brought bytes a person has denied (the
                // decisions the plan was judged by): kept out of the
                // project, as the plan keeps a pinned one.
                Ok(Fetched { sha256, .. })
                    if manifest.resources[i].sha256.is_none()
                        && let Some(denied) = oversight.ledger.denial_of(Some(*sha256)) =>
                {
                    outcome.digest = Some(*sha256);
                    outcome.fail(
                        Status::Denied,
                        ErrorReport::text(&format!("{} is {denied}", sha256.short())),
                    );
                }
                Ok(Fetched {
                    sha256,
                    size,
                    source,
                    torrent,
                }) => {
                    outcome.torrent = torrent.clone();
                    outcome.digest = Some(*sha256);
                    outcome.size = Some(*size);
                    outcome.present = true;
                    outcome.fetched_from = source.clone();
                    outcome.use_recorded = i == first && source.is_some();
                    outcome.pin = manifest.resources[i].sha256.is_none();
                }
                Err(FetchError::Pending { state, .. }) => {
                    outcome.torrent = Some(state.clone());
                    outcome.fail(Status::Downloading, ErrorReport::text(&state.to_string()));
                }
                Err(err @ FetchError::Executable { .. }) => {
                    outcome.incident = true;
                    outcome.fail(Status::Quarantined, ErrorReport::from(err));
                }
                // What the store holds already, or what a source still
                // serves as it was quarantined, executable and undeclared:
                // refused, as the plan refuses a pinned one.
                Err(FetchError::Failed { failures, .. })
                    if let Some(refusal) = failures.iter().find(|f| {
                        matches!(
                            f.error,
                            SourceError::UndeclaredExecutable { .. }
                                | SourceError::StillQuarantined { .. }
                        )
                    }) =>
                {
                    outcome.fail(
                        Status::Denied,
                        ErrorReport::text(&format!("{}: {}", refusal.source, refusal.error)),
                    );
                }
                Err(err) => {
                    outcome.incident = is_mismatch(err);
                    outcome.fail(Status::Failed, ErrorReport::from(err));
                }
            }
        }
        // The error names the first resource; each other one is told in
        // its own name.
        if result.is_err() {
            let named = &manifest.resources[first].name;
            for &i in &indices[1..] {
                if let Some(error) = &outcomes[i].error {
                    outcomes[i].error = Some(error.renamed(named, &manifest.resources[i].name));
                }
            }
        }
    }
}
