//! One module per subcommand: parse nothing, decide little. Each resolves
//! its inputs, calls the planner, executor or fetcher, and hands the result
//! to the [`Printer`].

mod add;
mod hash;
mod init;
mod plan;
mod schema;
mod sync;

use crate::cli::{Cli, Command};
use crate::error::ExitStatus;
use crate::report::Printer;

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
    }
}

/// Runs the command.
pub async fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let global = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(global, &args, printer),
        Command::Add(args) => add::run(global, &args, printer).await,
        Command::Plan => plan::run(global, printer, plan::View::Plan),
        Command::Status => plan::run(global, printer, plan::View::Status),
        Command::Sync(args) => sync::run(global, &args, printer).await,
        Command::Hash(args) => hash::run(&args, printer),
        Command::Schema => Ok(schema::run()),
    }
}
