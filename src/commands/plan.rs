//! `crp plan`, `crp status` and `crp sync --dry-run`: the plan, changing nothing.

use crate::cli::GlobalArgs;
use crate::error::ExitStatus;
use crate::manifest::Manifest;
use crate::plan::{Plan, plan};
use crate::report::Printer;
use crate::store::Store;

/// How to show the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Plan,
    Status,
}

pub(super) fn run(
    global: &GlobalArgs,
    printer: &Printer,
    view: View,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    let plan = read_only_plan(global, &manifest)?;
    match view {
        View::Plan => printer.plan(&plan),
        View::Status => printer.status(&plan),
    }
    Ok(ExitStatus::Success)
}

/// Plans without writing anything, not even a new store.
pub(super) fn read_only_plan(global: &GlobalArgs, manifest: &Manifest) -> anyhow::Result<Plan> {
    let store = Store::at(Store::locate(global.store.as_deref())?);
    let previous = if store.check()? {
        store.read_project(&manifest.project_id())?
    } else {
        None
    };
    Ok(plan(manifest, &store, previous.as_ref()))
}
