//! `crp plan` and `crp status [--check]`: the plan, changing nothing.

use crate::cli::{Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::status;
use crate::report::Printer;

/// How to show the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Plan,
    /// `check`: exit 1 unless every resource is ready.
    Status {
        check: bool,
    },
}

pub(super) async fn run(
    global: &GlobalArgs,
    printer: &Printer,
    view: View,
) -> anyhow::Result<ExitStatus> {
    let (store, manifest) = (global.store.as_deref(), &global.manifest);
    match view {
        View::Plan => printer.plan(&status::plan(store, manifest, printer.reporter(), printer)?),
        View::Status { check } => {
            let (plan, torrents) =
                status::status(store, manifest, printer.reporter(), printer).await?;
            // `--check -q` answers with its exit code alone.
            if !(check && global.quiet && printer.format() == Format::Text) {
                printer.status(&plan, &torrents);
            }
            if check && !plan.ready() {
                printer.note(format!(
                    "not ready: {} of {} missing, not linked or not allowed (see the table): `crp sync` fetches and links what it can, `crp pending` lists what waits for a person",
                    plan.unready().count(),
                    crate::units::count(plan.resources.len() as u64, "resource"),
                ));
                return Ok(ExitStatus::Failure);
            }
        }
    }
    Ok(ExitStatus::Success)
}
