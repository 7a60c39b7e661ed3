//! `crp add SOURCE --purpose TEXT`: fetch into the store, then declare it.

use anyhow::Context as _;

use crate::cli::{AddArgs, Format, GlobalArgs};
use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::error::{ExitStatus, UsageError};
use crate::execute::Subject;
use crate::fetch::{FetchRequest, Fetcher, HttpSettings, RetryPolicy, Torrents};
use crate::fsutil::{self, display_path};
use crate::manifest::edit::{self, NewResource};
use crate::manifest::{Manifest, SourceEntry};
use crate::name::{NAME_RULES, Name};
use crate::plan::review;
use crate::policy::approval::Ledger;
use crate::policy::{Policy, Request};
use crate::provenance::EventLog;
use crate::report::{AddDocument, Printer, SCHEMA_VERSION};
use crate::source::{Source, SourceSpec};
use crate::store::record::ObjectUse;
use crate::torrent::TorrentSettings;
use crate::torrent::fetch::WaitMode;
use crate::units::ByteCount;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &AddArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    let (written, source) = source_for(&args.source, &manifest)?;
    let name = match &args.name {
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
                    args.source
                ))
                .hint("give one with `--name NAME`")
            })?,
    };
    if manifest.resource(name.as_str()).is_some() {
        return Err(UsageError::new(format!(
            "`{}` already has a resource `{name}`",
            manifest.path.display()
        ))
        .hint("choose another `--name`, or edit the entry by hand")
        .into());
    }
    let sha256 = args
        .sha256
        .as_deref()
        .map(|hex| {
            hex.parse::<Sha256Digest>()
                .map_err(|err| UsageError::new(format!("invalid `--sha256 {hex}`: {err}")))
        })
        .transpose()?;
    if args.purpose.trim().is_empty() {
        return Err(UsageError::new("`--purpose` cannot be empty")
            .hint("say why the project needs it; reviewers and the store's records show it")
            .into());
    }

    let (store, reporter, _lock) = super::lock_project(
        global,
        &manifest,
        printer,
        &format!("adding `{name}` to project `{}`", manifest.project.name),
    )
    .await?;
    // What an agent adds is judged like what a manifest declares.
    let spec: SourceSpec = written.parse().expect("a source crp wrote parses");
    let entry = SourceEntry {
        spec: spec.clone(),
        source: source.clone(),
    };
    let policy = Policy::load(store.root())?;
    let previous = crate::plan::previous_record(&store, &manifest)?;
    let history = review::history(&store, &policy, previous.as_ref())?;
    // One budget with every other process adding to the store.
    let quota = policy
        .limits
        .quota
        .map(|limit| store.join_quota(limit))
        .transpose()?;
    let used = quota.as_ref().map(|q| q.limit.saturating_sub(q.left()));
    let verdict = review::judge(
        &policy,
        &Ledger::load(&store)?,
        &history,
        &manifest.project.name,
        &Request {
            name: &name,
            sha256,
            size: None,
            sources: std::slice::from_ref(&entry),
            executable: false,
        },
        used,
    );
    if !verdict.allows() {
        return Err(review::NotAllowed { name, verdict }.into());
    }
    let fetcher = Fetcher::new(
        store.clone(),
        &HttpSettings::from_env(),
        RetryPolicy::default(),
        1,
        reporter,
        // The entry needs the digest: a torrent is waited for.
        Torrents::new(
            Some(TorrentSettings::resolve(
                &store,
                &Config::load(store.root())?,
            )?),
            WaitMode {
                wait: true,
                timeout: None,
            },
        ),
    )?
    .with_refresh(args.refresh)
    .with_quota(quota);
    // The request's lifecycle, as a sync would log it.
    let events = EventLog::open(&store);
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
            purpose: args.purpose.clone(),
            requested_by: args.requested_by.clone(),
            seed: true,
            // `crp add` declares what it finds: the entry it writes says
            // `executable = true` when the content is. Unless the policy
            // wants a person for executable content: then it is quarantined.
            executable: !policy.approval.executable,
            cap: policy.cap(&verdict),
            user: Some(ObjectUse::new(
                &manifest,
                &name,
                &args.purpose,
                args.requested_by.as_deref(),
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
            purpose: &args.purpose,
            requested_by: args.requested_by.as_deref(),
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
    fsutil::write_atomic(&manifest.path, new.as_bytes())
        .with_context(|| format!("failed to write `{}`", manifest.path.display()))?;

    match printer.format {
        Format::Json => printer.json(&AddDocument {
            schema_version: SCHEMA_VERSION,
            command: "add".into(),
            manifest: manifest.path.clone(),
            name,
            source: written,
            sha256: fetched.sha256,
            size: fetched.size,
            fetched_from: fetched.source,
        }),
        _ => printer.out(format!(
            "added `{name}` ({}, sha256 {}) to `{}`; `crp sync` links it",
            ByteCount(fetched.size),
            fetched.sha256.short(),
            display_path(&manifest.path)
        )),
    }
    Ok(ExitStatus::Success)
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
        return Err(UsageError::new(format!("no file at `{}`", path.display())).into());
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
