//! One module per subcommand: parse nothing, decide little. Each resolves
//! its inputs, calls the planner, executor or fetcher, and hands the result
//! to the [`Printer`].

mod add;
mod approval;
mod diff;
mod drift;
mod gc;
mod hash;
mod hook;
mod init;
mod metrics;
mod plan;
mod policy;
mod provenance;
mod request;
mod schema;
mod sync;
mod torrent;
mod verify;

use std::sync::Arc;

use clap::ValueEnum;

use crate::cli::{Cli, Command, Format, GlobalArgs, HookCommand, PolicyCommand, TorrentCommand};
use crate::error::ExitStatus;
use crate::manifest::Manifest;
use crate::progress::Reporter;
use crate::report::Printer;
use crate::store::Store;
use crate::store::lock::Lock;

/// The command's name, for JSON error documents.
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Init(_) => "init",
        Command::Add(_) => "add",
        Command::Plan => "plan",
        Command::Sync(_) => "sync",
        Command::Status => "status",
        Command::Hash(_) => "hash",
        Command::Schema => "schema",
        Command::Torrent(_) => "torrent",
        Command::Hook(_) => "hook",
        Command::Policy(_) => "policy",
        Command::Pending => "pending",
        Command::Approve(_) => "approve",
        Command::Deny(_) => "deny",
        Command::Show(_) => "show",
        Command::Dag => "dag",
        Command::Request(_) => "request",
        Command::Metrics => "metrics",
        Command::Verify(_) => "verify",
        Command::Gc(_) => "gc",
        Command::Drift(_) => "drift",
        Command::Diff(_) => "diff",
    }
}

/// The formats a command can write.
fn formats(command: &Command) -> &'static [Format] {
    match command {
        Command::Dag => &[Format::Dot, Format::Text, Format::Json],
        Command::Metrics => &[Format::Text, Format::Json, Format::Prometheus],
        Command::Drift(_) | Command::Diff(_) => &[Format::Text, Format::Json, Format::Markdown],
        _ => &[Format::Text, Format::Json],
    }
}

/// Runs the command.
pub async fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let global = &cli.global;
    crate::settings::check()?;
    if !formats(&cli.command).contains(&global.format) {
        let allowed: Vec<String> = formats(&cli.command)
            .iter()
            .map(|f| {
                format!(
                    "`{}`",
                    f.to_possible_value().expect("no skipped values").get_name()
                )
            })
            .collect();
        return Err(crate::error::UsageError::new(format!(
            "`crp {}` cannot write `--format {}`",
            name(&cli.command),
            global
                .format
                .to_possible_value()
                .expect("no skipped values")
                .get_name()
        ))
        .hint(format!("it writes {}", allowed.join(", ")))
        .into());
    }
    match cli.command {
        Command::Init(args) => init::run(global, &args, printer),
        Command::Add(args) => add::run(global, &args, printer).await,
        Command::Plan => plan::run(global, printer, plan::View::Plan).await,
        Command::Status => plan::run(global, printer, plan::View::Status).await,
        Command::Sync(args) => sync::run(global, &args, printer).await,
        Command::Hash(args) => hash::run(&args, printer),
        Command::Schema => Ok(schema::run()),
        Command::Torrent(TorrentCommand::Daemon(command)) => {
            torrent::daemon(global, &command, printer).await
        }
        Command::Hook(HookCommand::TorrentDone(args)) => {
            hook::torrent_done(global, &args, printer).await
        }
        Command::Policy(PolicyCommand::Show) => policy::show(global, printer),
        Command::Policy(PolicyCommand::Check(args)) => policy::check(global, &args, printer),
        Command::Policy(PolicyCommand::Init(args)) => policy::init(global, &args, printer),
        Command::Pending => approval::pending(global, printer),
        Command::Approve(args) => approval::approve(global, &args, printer),
        Command::Deny(args) => approval::deny(global, &args, printer),
        Command::Show(args) => provenance::show(global, &args, printer),
        Command::Dag => provenance::dag(global, printer),
        Command::Request(args) => request::run(global, &args, printer),
        Command::Metrics => metrics::run(global, printer).await,
        Command::Verify(args) => verify::run(global, &args, printer).await,
        Command::Gc(args) => gc::run(global, &args, printer).await,
        Command::Drift(args) => drift::run(global, &args, printer).await,
        Command::Diff(args) => diff::run(global, &args, printer),
    }
}

/// The decisions people made: the store's ledger, and the approvals files
/// given, when the store's policy trusts them.
fn ledger(
    store: &Store,
    policy: &crate::policy::Policy,
    approvals: &[std::path::PathBuf],
    printer: &Printer,
) -> anyhow::Result<crate::policy::approval::Ledger> {
    let mut ledger = crate::policy::approval::Ledger::load(store)?;
    for path in approvals {
        if policy.approval.approval_files {
            ledger.add_file(path)?;
        } else {
            printer.warn(format!(
                "ignoring `{}`: the store's policy does not trust approvals files (`approval_files = false`)",
                path.display()
            ));
        }
    }
    Ok(ledger)
}

/// Reviews `plan` against the store's policy and `ledger`. `quota` is this
/// process's share of the store's quota, when it has joined it; else the
/// store is measured, if the review needs it.
fn judge(
    store: &Store,
    policy: &crate::policy::Policy,
    ledger: &crate::policy::approval::Ledger,
    manifest: &Manifest,
    plan: &mut crate::plan::Plan,
    previous: Option<&crate::store::record::ProjectRecord>,
    quota: Option<&crate::store::quota::Quota>,
) -> anyhow::Result<()> {
    let used = || match quota {
        Some(quota) => Ok(quota.limit.saturating_sub(quota.left())),
        None => Ok(store.usage()?.bytes),
    };
    crate::plan::review::review(plan, manifest, store, policy, ledger, previous, used)?;
    Ok(())
}

/// The locks a command that changes a project holds: the project's own,
/// and a share of the store's (so garbage collection waits for it).
#[derive(Debug)]
pub(crate) struct ProjectLocks {
    _project: Lock,
    _store: Lock,
}

/// Opens (creating if needed) the store and takes `manifest`'s project lock
/// and a share of the store's lock, for commands that change the project.
/// `doing` tells waiting processes what holds them.
async fn lock_project(
    global: &GlobalArgs,
    manifest: &Manifest,
    printer: &Printer,
    doing: &str,
) -> anyhow::Result<(Store, Arc<dyn Reporter>, ProjectLocks)> {
    let store = Store::open(global.store.as_deref())?;
    store.create()?;
    let reporter = printer.reporter();
    let project = store
        .lock_project(&manifest.project_id(), doing, &*reporter)
        .await?;
    let shared = store.lock_store_shared(doing, &*reporter).await?;
    Ok((
        store,
        reporter,
        ProjectLocks {
            _project: project,
            _store: shared,
        },
    ))
}
