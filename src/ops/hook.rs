//! `crp hook torrent-done`: transmission-daemon's completion script.
//!
//! The daemon runs it with no arguments and the finished torrent in
//! `TR_TORRENT_HASH` and `TR_TORRENT_NAME`; a person runs
//! it with `--info-hash` to bring in a torrent the policy held once it is
//! approved. A torrent a manifest asked for is verified and ingested exactly
//! as `crp sync` would. One nobody asked for (from the watch folder, or
//! added by hand) is judged by the store's policy like any request once its
//! data is hashed — refused, held for a person, or quarantined as the policy
//! says — and otherwise becomes an unreferenced object recording its
//! info-hash. Either way people are told as a sync tells them (hooks, bridge
//! messages, the completion log), and a line goes to the torrent log.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::error::UsageError;
use crate::manifest::SourceEntry;
use crate::name::Name;
use crate::notify::{Notice, NoticeKind, Notifier};
use crate::policy::approval::{self, Ledger, PendingRequest};
use crate::policy::{Policy, Request, Verdict};
use crate::progress::{Messages, Reporter};
use crate::provenance::State;
use crate::source::SourceSpec;
use crate::store::Store;
use crate::time::Timestamp;
use crate::torrent::ingest::{Admission, By, Ingest, IngestError, Unrequested};
use crate::torrent::{
    CompletionLine, Daemon, TorrentSettings, enforce_seed_time, info_hash_of_file, log_completion,
};

/// The pseudo-project unrequested torrents are judged and held under.
const WATCH_FOLDER: &str = "watch-folder";

/// What was ingested.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub info_hash: String,
    /// The torrent's name.
    pub name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Ingests the finished torrent `info_hash` names (else
/// `TR_TORRENT_HASH`'s), as described above.
///
/// # Errors
/// No info-hash, a store, policy or daemon that cannot be reached, or an
/// ingestion that failed (people are told first).
pub async fn torrent_done(
    store: Option<&Path>,
    info_hash: Option<String>,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Ingested> {
    let is_info_hash = |h: &String| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit());
    let info_hash = match info_hash {
        // One given on the command line must be one.
        Some(given) if !is_info_hash(&given) => {
            return Err(UsageError::new(format!(
                "`{given}` is not an info-hash: `--info-hash` takes 40 hexadecimal digits (BEP 3's SHA-1 of the info dictionary)"
            ))
            .into());
        }
        Some(given) => Some(given),
        None => crate::settings::var(crate::settings::TR_TORRENT_HASH).filter(is_info_hash),
    }
    .map(|h| h.to_ascii_lowercase())
    .ok_or_else(|| {
        UsageError::new("no info-hash: `TR_TORRENT_HASH` is not set to one, nor `--info-hash`")
            .hint("transmission-daemon runs this as its `script-torrent-done`; `crp torrent daemon start` sets that up")
    })?;
    let store = Store::open(store)?;
    // The daemon that runs this was started for a store: none at the path
    // means a wrong `--store` or `CRP_STORE`, not a store to make.
    if !store.check()? {
        return Err(UsageError::new(format!(
            "there is no store at `{}` for the torrent to go into",
            store.root().display()
        ))
        .hint("check `--store` or `CRP_STORE` in the daemon's `script-torrent-done`; `crp torrent daemon start` sets it")
        .into());
    }
    let config = Config::load(store.root())?;
    let settings = TorrentSettings::resolve(&store, &config)?;
    let policy = Policy::load(store.root())?;
    let ledger = Ledger::load(&store)?;
    let notifier = Notifier::new(&store, &config);
    let daemon = Daemon::connect(&settings).await?;
    // The daemon names it; a person running this by hand need not.
    let name = match crate::settings::var(crate::settings::TR_TORRENT_NAME) {
        Some(name) => name,
        None => daemon
            .get(&info_hash)
            .await?
            .map(|view| view.name)
            .unwrap_or_default(),
    };
    let unrequested = if from_watch_folder(&store, &info_hash) {
        "watch-folder"
    } else {
        "daemon"
    };
    // One budget with every other process adding to the store.
    let quota = policy
        .limits
        .quota
        .map(|limit| store.join_quota(limit))
        .transpose()?;
    let judge =
        |torrent: &Unrequested<'_>| admission(&store, &policy, &ledger, quota.as_ref(), torrent);
    let ingest = Ingest {
        store: &store,
        daemon: &daemon,
        settings: &settings,
        reporter: &*reporter,
        by: By::Hook,
        admit: Some(&judge),
    };
    let _reading = store
        .lock_store_shared(&format!("ingesting torrent {info_hash}"), &*reporter)
        .await?;
    let record = store.read_torrent(&info_hash)?;
    let result = ingest.run(&info_hash, unrequested).await;
    if let Err(err) = &result
        && !matches!(
            err,
            IngestError::Mismatch { .. }
                | IngestError::Executable { .. }
                | IngestError::Held { .. }
                | IngestError::Refused { .. }
        )
    {
        // A refusal is logged where it is decided; anything else here.
        let _ = log_completion(
            &store,
            &CompletionLine {
                time: Timestamp::now(),
                name: name.clone(),
                info_hash: info_hash.clone(),
                size: 0,
                result: "failed".into(),
                sha256: None,
                by: "hook".into(),
                detail: Some(err.to_string()),
            },
        );
    }

    // People hear of it as they would from a sync: once, from whoever made
    // it an object (or found it wanting).
    let requested = record.as_ref().and_then(|r| r.requested_for.as_ref());
    let held_name = Name::sanitize(&name).unwrap_or_else(|| "torrent".parse().expect("a name"));
    let notice = |kind, state, sha256: Option<_>, size, reasons| Notice {
        kind,
        name: requested.map_or_else(|| held_name.clone(), |u| u.resource.clone()),
        project: requested.map_or_else(
            || unrequested.parse().expect("a name"),
            |u| u.project.clone(),
        ),
        sha256,
        size,
        path: sha256.map(|d| store.object_path(&d)),
        state,
        source: record.as_ref().map_or_else(
            || format!("magnet:?xt=urn:btih:{info_hash}"),
            |r| r.source.clone(),
        ),
        purpose: requested.map_or_else(
            || "dropped into the store's watch folder".to_owned(),
            |u| u.purpose.clone(),
        ),
        requested_by: requested.and_then(|u| u.requested_by.clone()),
        reasons,
    };
    if let (Some(quota), Ok(done)) = (&quota, &result)
        && done.fresh
        && record.is_none()
    {
        quota.commit(done.size);
    }
    let notices = match &result {
        Ok(done) if done.fresh => {
            let seeding = store
                .read_object_record(&done.sha256)?
                .is_some_and(|r| r.status == State::Seeding);
            vec![notice(
                NoticeKind::Available,
                if seeding {
                    State::Seeding
                } else {
                    State::Available
                },
                Some(done.sha256),
                Some(done.size),
                Vec::new(),
            )]
        }
        Ok(_) => Vec::new(),
        Err(IngestError::Held { reasons, .. }) => vec![notice(
            NoticeKind::AwaitingApproval,
            State::AwaitingApproval,
            None,
            None,
            reasons.clone(),
        )],
        Err(err) => vec![notice(
            NoticeKind::Failed,
            State::Failed,
            None,
            None,
            vec![crate::fetch::error_text(err)],
        )],
    };
    for warning in notifier.send(&notices).await {
        messages.warn(&warning);
    }

    let ingested =
        result.with_context(|| format!("failed to ingest torrent `{name}` ({info_hash})"))?;
    if let Some(limit) = settings.seed_time
        && let Err(err) = enforce_seed_time(&daemon, &store, limit).await
    {
        messages.warn(&format!("could not apply `seed_time`: {err}"));
    }
    Ok(Ingested {
        info_hash,
        name,
        sha256: ingested.sha256,
        size: ingested.size,
    })
}

/// The store's policy on a torrent nobody asked for, as on any request:
/// hard limits refuse it, a person's denial too, undeclared executable
/// content is quarantined, and what a rule (or no decision yet) holds
/// waits in `crp pending` under the project `watch-folder`.
fn admission(
    store: &Store,
    policy: &Policy,
    ledger: &Ledger,
    quota: Option<&crate::store::quota::Quota>,
    torrent: &Unrequested<'_>,
) -> Admission {
    if let Some(finding) = &torrent.executable {
        return Admission::Quarantine {
            finding: format!("{finding}; nothing declares it executable"),
        };
    }
    let name = Name::sanitize(torrent.name).unwrap_or_else(|| "torrent".parse().expect("a name"));
    let spec: SourceSpec = format!("magnet:?xt=urn:btih:{}", torrent.info_hash)
        .parse()
        .expect("a magnet of an info-hash parses");
    let sources = [SourceEntry {
        source: spec.resolve(store.root()),
        spec,
    }];
    let request = Request {
        name: &name,
        sha256: Some(torrent.sha256),
        size: Some(torrent.size),
        sources: &sources,
        executable: false,
        replaces: None,
    };
    let project: Name = WATCH_FOLDER.parse().expect("a name");
    let used = quota.map(|q| q.limit.saturating_sub(q.left()));
    let history = crate::plan::review::history(store, policy, None).unwrap_or_default();
    let verdict = crate::plan::review::judge(policy, ledger, &history, &project, &request, used);
    match verdict {
        Verdict::AutoApproved | Verdict::Approved { .. } => {
            let _ = approval::withdraw_pending(store, WATCH_FOLDER, &name);
            match quota {
                // Taken from the budget before it becomes an object.
                Some(quota) if !quota.take(torrent.size) => Admission::Refuse {
                    reason: format!(
                        "it would take the store over its quota of {}",
                        crate::units::Size(quota.limit)
                    ),
                },
                _ => Admission::Admit,
            }
        }
        Verdict::Denied { reason, .. } => {
            let _ = approval::withdraw_pending(store, WATCH_FOLDER, &name);
            Admission::Refuse { reason }
        }
        Verdict::AwaitingApproval { reasons } => {
            let waiting = PendingRequest {
                name: name.clone(),
                project,
                project_id: WATCH_FOLDER.into(),
                // What `crp pending` shows as where the request comes from.
                manifest: store.root().to_owned(),
                sha256: Some(torrent.sha256),
                size: Some(torrent.size),
                sources: approval::bound_sources(&sources),
                source_ids: ledger.ids(Some(torrent.sha256), &sources),
                purpose: "dropped into the store's watch folder".into(),
                requested_by: None,
                reasons: reasons.clone(),
                requested_at: Timestamp::now(),
            };
            if let Err(err) = approval::add_pending(store, waiting) {
                tracing::warn!("could not record the request for `{name}`: {err}");
            }
            Admission::Hold {
                reasons: reasons.into_iter().map(|r| r.message).collect(),
            }
        }
    }
}

/// Whether the torrent came from the store's watch folder, where the daemon
/// renames what it picked up to `*.torrent.added`.
fn from_watch_folder(store: &Store, info_hash: &str) -> bool {
    let Ok(entries) = fs_err::read_dir(store.watch_dir()) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        (name.ends_with(".torrent") || name.ends_with(".torrent.added"))
            && info_hash_of_file(&entry.path()).as_deref() == Some(info_hash)
    })
}
