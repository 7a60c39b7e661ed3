//! One module per subcommand, or per family of them (`plan.rs`: plan and
//! status; `approval.rs`: pending, approve, deny; `provenance.rs`: show and
//! dag; `policy.rs`: policy show, check, init): parse nothing, decide
//! little. Each turns its arguments into the inputs of one operation in
//! [`crate::ops`] and hands what it returns to [`crate::report`] through
//! the [`Printer`].

mod add;
mod approval;
mod diff;
mod drift;
mod gc;
mod hash;
mod help;
mod hook;
mod init;
mod metrics;
mod plan;
mod policy;
mod provenance;
mod remote;
mod remove;
mod request;
mod schema;
mod sync;
mod torrent;
mod update;
mod verify;

use crate::cli::{
    Cli, Command, DaemonCommand, HookCommand, PolicyCommand, RemoteCommand, TorrentCommand,
};
use crate::error::ExitStatus;
use crate::report::Printer;

/// The command as its JSON documents name it, subcommand and all
/// (`remote add`): for error documents and messages about the command.
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Init(_) => "init",
        Command::Add(_) => "add",
        Command::Remove(_) => "remove",
        Command::Update(_) => "update",
        Command::Plan => "plan",
        Command::Sync(_) => "sync",
        Command::Status(_) => "status",
        Command::Hash(_) => "hash",
        Command::Schema => "schema",
        Command::Torrent(TorrentCommand::Daemon(DaemonCommand::Start(_))) => "torrent daemon start",
        Command::Torrent(TorrentCommand::Daemon(DaemonCommand::Stop)) => "torrent daemon stop",
        Command::Hook(HookCommand::TorrentDone(_)) => "hook torrent-done",
        Command::Policy(PolicyCommand::Show) => "policy show",
        Command::Policy(PolicyCommand::Check(_)) => "policy check",
        Command::Policy(PolicyCommand::Init(_)) => "policy init",
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
        Command::Remote(RemoteCommand::Add(_)) => "remote add",
        Command::Remote(RemoteCommand::List) => "remote list",
        Command::Remote(RemoteCommand::Remove(_)) => "remote remove",
        Command::Push(_) => "push",
        Command::Pull(_) => "pull",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}

/// Runs the command.
pub async fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let global = &cli.global;
    crate::settings::check()?;
    // `--format` before the subcommand escapes clap's narrowing.
    let formats = crate::cli::formats(name(&cli.command));
    if !formats.contains(&global.format) {
        let allowed: Vec<String> = formats
            .iter()
            .map(|f| format!("`{}`", crate::cli::format_name(*f)))
            .collect();
        return Err(crate::error::UsageError::new(format!(
            "`crp {}` cannot write `--format {}`",
            name(&cli.command),
            crate::cli::format_name(global.format)
        ))
        .hint(format!("it writes {}", allowed.join(", ")))
        .into());
    }
    match cli.command {
        Command::Init(args) => init::run(global, &args, printer),
        Command::Add(args) => add::run(global, &args, printer).await,
        Command::Remove(args) => remove::run(global, &args, printer).await,
        Command::Update(args) => update::run(global, &args, printer).await,
        Command::Plan => plan::run(global, printer, plan::View::Plan).await,
        Command::Status(args) => {
            plan::run(
                global,
                printer,
                plan::View::Status {
                    check: args.check,
                    remote: args.remote.as_deref(),
                },
            )
            .await
        }
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
        Command::Remote(command) => remote::run(global, &command, printer).await,
        Command::Push(args) => remote::push(global, &args, printer).await,
        Command::Pull(args) => remote::pull(global, &args, printer).await,
        Command::Completions(args) => Ok(help::completions(&args, printer)),
        Command::Man(args) => help::man(&args, printer),
    }
}
