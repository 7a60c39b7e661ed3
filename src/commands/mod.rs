//! One module per subcommand: parse nothing, decide little. Each resolves
//! its inputs, calls the planner, executor or fetcher, and hands the result
//! to the [`Printer`].

mod add;
mod hash;
mod hook;
mod init;
mod plan;
mod schema;
mod sync;
mod torrent;

use std::sync::Arc;

use crate::cli::{Cli, Command, GlobalArgs, HookCommand, TorrentCommand};
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
    }
}

/// Runs the command.
pub async fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let global = &cli.global;
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
        Command::Hook(HookCommand::TorrentDone) => hook::torrent_done(global, printer).await,
    }
}

/// Opens (creating if needed) the store and takes `manifest`'s project lock,
/// for commands that change the project. `doing` tells waiting processes
/// what holds the lock.
async fn lock_project(
    global: &GlobalArgs,
    manifest: &Manifest,
    printer: &Printer,
    doing: &str,
) -> anyhow::Result<(Store, Arc<dyn Reporter>, Lock)> {
    let store = Store::at(Store::locate(global.store.as_deref())?);
    store.create()?;
    let reporter = printer.reporter();
    let lock = store
        .lock_project(&manifest.project_id(), doing, &*reporter)
        .await?;
    Ok((store, reporter, lock))
}
