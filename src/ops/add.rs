//! `crp add SOURCE --purpose TEXT`: fetch into the store, judged like a
//! declared resource, then declare it in the manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::error::UsageError;
use crate::execute::Subject;
use crate::fetch::FetchRequest;
use crate::fsutil;
use crate::manifest::edit::{self, NewResource};
use crate::manifest::{Manifest, SourceEntry};
use crate::name::{NAME_RULES, Name};
use crate::plan::review;
use crate::policy::approval::Ledger;
use crate::policy::{Policy, Request as PolicyRequest};
use crate::progress::{Messages, Reporter};
use crate::provenance::EventLog;
use crate::source::{Source, SourceSpec};
use crate::store::record::ObjectUse;
use crate::torrent::TorrentSettings;
use crate::torrent::fetch::WaitMode;

use super::{FetchOptions, Session};

/// What to add, as the command line gave it.
#[derive(Debug, Clone)]
pub struct Request {
    /// A URL, a magnet link or a path (relative to the current folder).
    pub source: String,
    pub purpose: String,
    /// The resource's name; derived from the source when absent.
    pub name: Option<String>,
    /// The expected sha256, in hex.
    pub sha256: Option<String>,
    pub requested_by: Option<String>,
    /// Download afresh, whatever the store remembers of the source.
    pub refresh: bool,
}

/// What was added to the manifest.
#[derive(Debug, Clone)]
pub struct Added {
    pub manifest: PathBuf,
    pub name: Name,
    /// The source as the manifest now says it.
    pub source: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// The source that delivered it; `None` when the store had it.
    pub fetched_from: Option<String>,
    /// The entry written to the manifest, as TOML.
    pub entry: String,
}

/// Fetches `request`'s source into the store, judged by the store's policy
/// like a declared resource, and appends its entry to the manifest at
/// `manifest` (formatting and comments kept).
///
/// # Errors
/// Usage errors (an invalid source, name or sha256, a name the manifest
/// has, an empty purpose), a request the policy does not allow, a failed
/// fetch, or a manifest that cannot be written; nothing is written then.
pub async fn add(
    store: Option<&Path>,
    manifest: &Path,
    request: &Request,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Added> {
    let manifest = Manifest::load(manifest)?;
    let (written, source) = source_for(&request.source, &manifest)?;
    let name = match &request.name {
        Some(text) => text.parse::<Name>().map_err(|err| {
            UsageError::new(format!("invalid resource name `{text}`: {err}")).hint(NAME_RULES)
        })?,
        None => source
            .file_name()
            .as_deref()
            .and_then(Name::sanitize)
            .ok_or_else(|| {
                UsageError::new(format!(
                    "cannot derive a resource name from `{}`",
                    request.source
                ))
                .hint("give one with `--name NAME`")
            })?,
    };
    if manifest.resource(name.as_str()).is_some() {
        return Err(UsageError::new(format!(
            "`{}` already has a resource `{name}`",
            manifest.path.display()
        ))
        .hint(format!(
            "choose another `--name`; to take what its sources serve now, `crp update {name}`"
        ))
        .into());
    }
    let sha256 = request
        .sha256
        .as_deref()
        .map(|hex| {
            hex.parse::<Sha256Digest>()
                .map_err(|err| UsageError::new(format!("invalid `--sha256 {hex}`: {err}")))
        })
        .transpose()?;
    if request.purpose.trim().is_empty() {
        return Err(UsageError::new("`--purpose` cannot be empty")
            .hint("say why the project needs it; reviewers and the store's records show it")
            .into());
    }

    let session = Session::for_project(
        store,
        &manifest,
        &format!("adding `{name}` to project `{}`", manifest.project.name),
        reporter,
        messages,
    )
    .await?;
    let store = &session.store;
    // What an agent adds is judged like what a manifest declares.
    let spec: SourceSpec = written.parse().expect("a source crp wrote parses");
    let entry = SourceEntry {
        spec: spec.clone(),
        source: source.clone(),
    };
    let policy = Policy::load(store.root())?;
    let previous = crate::plan::previous_record(store, &manifest)?;
    let history = review::history(store, &policy, previous.as_ref())?;
    // One budget with every other process adding to the store.
    let quota = policy
        .limits
        .quota
        .map(|limit| store.join_quota(limit))
        .transpose()?;
    let used = quota.as_ref().map(|q| q.limit.saturating_sub(q.left()));
    let verdict = review::judge(
        &policy,
        &Ledger::load(store)?,
        &history,
        &manifest.project.name,
        &PolicyRequest {
            name: &name,
            sha256,
            size: None,
            sources: std::slice::from_ref(&entry),
            executable: false,
            replaces: None,
        },
        used,
    );
    if !verdict.allows() {
        return Err(review::NotAllowed { name, verdict }.into());
    }
    let fetcher = session.fetcher(FetchOptions {
        jobs: 1,
        refresh: request.refresh,
        quota,
        torrents: TorrentSettings::resolve(store, &Config::load(store.root())?)?,
        // The entry needs the digest: a torrent is waited for.
        wait: WaitMode {
            wait: true,
            timeout: None,
        },
        https_only: crate::fetch::HttpSettings::https_only_under(&policy),
    })?;
    // The request's lifecycle, as a sync would log it.
    let events = EventLog::open(store);
    let subject = Subject {
        name: &name,
        project: &manifest.project.name,
        sha256,
        by: Some("add"),
    };
    subject.record_started(&events, &verdict, 1);
    let started = std::time::Instant::now();
    let fetched = fetcher
        .fetch(&FetchRequest {
            name: name.clone(),
            sources: vec![entry],
            sha256,
            size: None,
            purpose: request.purpose.clone(),
            requested_by: request.requested_by.clone(),
            seed: true,
            // `crp add` declares what it finds: the entry it writes says
            // `executable = true` when the content is. Unless the policy
            // wants a person for executable content: then it is quarantined.
            executable: !policy.approval.executable,
            cap: policy.cap(&verdict),
            known: None,
            admit: None,
            mirrors: Vec::new(),
            remotes: Vec::new(),
            may_be_directory: false,
            remotes_only: false,
            user: Some(ObjectUse::new(
                &manifest,
                &name,
                &request.purpose,
                request.requested_by.as_deref(),
            )),
        })
        .await;
    subject.record_ended(&events, &fetched, started.elapsed());
    events.flush();
    let fetched = fetched?;

    store.sync_dirs()?;

    // Re-read under the lock: the edit applies to the file as it is now.
    let text = crate::manifest::read_text(&manifest.path)?;
    let new = edit::append_resource(
        &text,
        &NewResource {
            name: &name,
            source: &written,
            sha256: fetched.sha256,
            size: fetched.size,
            purpose: &request.purpose,
            requested_by: request.requested_by.as_deref(),
            // Said openly, so the store's policy can judge it at every sync.
            executable: store
                .read_object_record(&fetched.sha256)?
                .is_some_and(|r| r.executable),
        },
    )
    .map_err(|err| match err {
        edit::EditError::Exists(_) => anyhow::Error::new(UsageError::new(err.to_string())),
        other => anyhow::Error::new(other),
    })?;
    Manifest::from_text(&manifest.path, new.clone())
        .context("the edited manifest does not validate")?;
    crate::manifest::write_text(&manifest.path, &new)
        .with_context(|| format!("failed to write `{}`", manifest.path.display()))?;

    Ok(Added {
        manifest: manifest.path.clone(),
        name,
        source: written,
        sha256: fetched.sha256,
        size: fetched.size,
        fetched_from: fetched.source,
        // Appended: the new text begins with the old; else (an inline
        // `resources` table) the lines that are new.
        entry: match new.strip_prefix(text.as_str()) {
            Some(appended) => appended.trim().replace("\r\n", "\n"),
            None => {
                let old: std::collections::BTreeSet<&str> = text.lines().collect();
                new.lines()
                    .filter(|line| !old.contains(line))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        },
    })
}

/// The source as the manifest should say it, and resolved. A relative path
/// on the command line is relative to the current folder; in the manifest it
/// must be relative to the manifest's folder.
fn source_for(text: &str, manifest: &Manifest) -> anyhow::Result<(String, Source)> {
    let spec: SourceSpec = text.parse().map_err(|err: crate::source::InvalidSource| {
        let mut usage = UsageError::new(format!("invalid source `{text}`: {err}"));
        if let Some(hint) = err.hint() {
            usage = usage.hint(hint);
        }
        usage
    })?;
    let source = spec.resolve(&std::env::current_dir()?);
    if let Source::File(path) = &source
        && !path.is_file()
    {
        return Err(if path.is_dir() {
            UsageError::new(format!(
                "`{}` is a folder; a source is one file",
                path.display()
            ))
            .hint("pack it (`tar czf data.tar.gz DIR`) and add the archive")
        } else {
            UsageError::new(format!("no file at `{}`", path.display()))
        }
        .into());
    }
    let written = match &source {
        Source::File(path) if spec.is_relative_path() => {
            let path = path.canonicalize()?;
            fsutil::relative_to(&path, &manifest.dir).map_or_else(
                || path.display().to_string(),
                |rel| rel.display().to_string(),
            )
        }
        _ => text.to_owned(),
    };
    Ok((written, source))
}
