//! `crp sync`: make the project's resources real.

use std::io::IsTerminal;

use crate::cli::{GlobalArgs, SyncArgs};
use crate::error::ExitStatus;
use crate::ops::sync::{self, Options, Outcome};
use crate::report::Printer;
use crate::torrent::fetch::WaitMode;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &SyncArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = Options {
        locked: args.locked,
        offline: args.offline,
        remotes_only: args.remotes_only,
        fetch_only: false,
        refresh: args.refresh,
        dry_run: args.dry_run,
        wait: wait_mode(args),
        jobs: args.jobs,
        approvals: args.approvals.clone(),
    };
    let outcome = sync::sync(
        global.store.as_deref(),
        &global.manifest,
        &options,
        printer.reporter(),
        printer,
    )
    .await?;
    Ok(match outcome {
        Outcome::Planned(plan) => {
            printer.plan(&plan);
            ExitStatus::Success
        }
        Outcome::Synced(report) => printer.sync(&report),
    })
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
