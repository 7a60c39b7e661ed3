//! `crp plan`, `crp status` and `crp sync --dry-run`: the plan, changing nothing.

use crate::cli::GlobalArgs;
use crate::error::ExitStatus;
use crate::manifest::Manifest;
use crate::ops::Session;
use crate::ops::status::{read_only_plan, torrent_states};
use crate::report::Printer;

/// How to show the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Plan,
    Status,
}

pub(super) async fn run(
    global: &GlobalArgs,
    printer: &Printer,
    view: View,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    let session = Session::read_only(global.store.as_deref(), printer.reporter(), printer)?;
    let plan = read_only_plan(&session, &manifest, &[])?;
    match view {
        View::Plan => printer.plan(&plan),
        View::Status => {
            let torrents = torrent_states(global.store.as_deref(), &manifest, &plan).await;
            printer.status(&plan, &torrents);
        }
    }
    Ok(ExitStatus::Success)
}
