//! `crp sync`: make the project's resources real.

use crate::cli::{GlobalArgs, SyncArgs};
use crate::diagnostic::Diagnostic;
use crate::error::ExitStatus;
use crate::execute::{self, Oversight, SyncOptions};
use crate::notify::Notifier;
use crate::provenance::EventLog;
use std::io::IsTerminal;

use crate::config::Config;
use crate::fetch::{Fetcher, HttpSettings, RetryPolicy, Torrents};
use crate::manifest::Manifest;
use crate::plan::plan;
use crate::report::Printer;
use crate::store::Store;
use crate::torrent::fetch::WaitMode;
use crate::torrent::{Daemon, TorrentSettings, enforce_seed_time};

pub(super) async fn run(
    global: &GlobalArgs,
    args: &SyncArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    if args.locked {
        check_locked(&manifest)?;
    }
    if args.dry_run {
        let mut plan = super::plan::read_only_plan(global, &manifest, &args.approvals, printer)?;
        // What the store remembers is not offered to the sources then.
        if args.refresh {
            for step in plan.resources.iter_mut().filter_map(|r| r.fetch.as_mut()) {
                step.remembered = None;
            }
        }
        printer.plan(&plan);
        return Ok(ExitStatus::Success);
    }
    let (store, reporter, _lock) = super::lock_project(
        global,
        &manifest,
        printer,
        &format!("syncing project `{}`", manifest.project.name),
    )
    .await?;
    // Planned under the lock, so what another sync of this project did is
    // seen: its links, its record, and the hashes it pinned.
    let manifest = manifest.reload()?;
    if args.locked {
        check_locked(&manifest)?;
    }
    let previous = crate::plan::previous_record(&store, &manifest)?;
    let mut plan = plan(&manifest, &store, previous.as_ref());
    let policy = crate::policy::Policy::load(store.root())?;
    // The HTTP client is built only when something is to be fetched, so a
    // sync with nothing to do stays cheap; so is the store's quota joined.
    let downloads = plan.resources.iter().any(|r| r.fetch.is_some()) && !args.offline;
    let quota = match policy.limits.quota {
        Some(limit) if downloads => Some(store.join_quota(limit)?),
        _ => None,
    };
    let ledger = super::ledger(&store, &policy, &args.approvals, printer)?;
    super::judge(
        &store,
        &policy,
        &ledger,
        &manifest,
        &mut plan,
        previous.as_ref(),
        quota.as_ref(),
    )?;
    let config = Config::load(store.root())?;
    let events = EventLog::open(&store);
    let notifier = Notifier::new(&store, &config);
    let torrent_settings = TorrentSettings::resolve(&store, &config)?;
    let fetcher = if downloads {
        Some(
            Fetcher::new(
                store.clone(),
                &HttpSettings::from_env(),
                RetryPolicy::default(),
                usize::from(args.jobs.unwrap_or(crate::settings::jobs()?)),
                reporter.clone(),
                Torrents::new(Some(torrent_settings.clone()), wait_mode(args)),
            )?
            .with_refresh(args.refresh)
            .with_quota(quota),
        )
    } else {
        None
    };
    let report = execute::sync(
        &manifest,
        &store,
        plan,
        previous,
        fetcher.as_ref(),
        &reporter,
        SyncOptions {
            offline: args.offline,
        },
        Oversight {
            policy: &policy,
            events: &events,
            notifier: &notifier,
        },
    )
    .await?;
    if let Some(limit) = torrent_settings.seed_time
        && !args.offline
        && manifest.resources.iter().any(|r| r.needs_torrent())
    {
        stop_seeding_after(&store, &torrent_settings, limit, printer).await;
    }
    Ok(printer.sync(&report))
}

/// Applies the configured `seed_time`: transmission cannot, so each sync of a
/// project with torrents does. A daemon that cannot be asked is a warning.
async fn stop_seeding_after(
    store: &Store,
    settings: &TorrentSettings,
    limit: std::time::Duration,
    printer: &Printer,
) {
    let result = match Daemon::connect(settings).await {
        Ok(daemon) => enforce_seed_time(&daemon, store, limit).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(stopped) => {
            for name in stopped {
                printer.note(format!(
                    "stopped seeding `{name}`: it has seeded for the configured {}",
                    humantime::format_duration(limit)
                ));
            }
        }
        Err(err) => printer.warn(format!("could not apply `seed_time`: {err}")),
    }
}

/// `--wait` by default in a terminal, `--no-wait` elsewhere (CI).
fn wait_mode(args: &SyncArgs) -> WaitMode {
    let wait = if args.wait {
        true
    } else if args.no_wait {
        false
    } else {
        std::io::stderr().is_terminal()
    };
    WaitMode {
        wait,
        timeout: args.timeout,
    }
}

/// `--locked`: every resource must be pinned, so the manifest needs no edit.
fn check_locked(manifest: &Manifest) -> anyhow::Result<()> {
    let diagnostics: Vec<Diagnostic> = manifest
        .resources
        .iter()
        .filter(|r| r.sha256.is_none())
        .map(|r| {
            Diagnostic::new(format!("resource `{}` has no `sha256`", r.name), Some(r.span.clone()))
                .label("not pinned")
                .hint("`--locked` forbids pinning; run `crp sync` without it and commit the updated manifest")
        })
        .collect();
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(manifest.error(diagnostics).into())
    }
}
