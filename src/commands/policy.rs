//! `crp policy show|check|init`: the store's policy.

use crate::cli::{GlobalArgs, PolicyCheckArgs, PolicyInitArgs};
use crate::error::ExitStatus;
use crate::ops::policy;
use crate::policy::Policy;
use crate::report::Printer;
use crate::store::Store;

pub(super) fn show(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let policy = Policy::load(store.root())?;
    crate::report::policy::show(printer, store.root(), policy);
    Ok(ExitStatus::Success)
}

pub(super) fn check(
    global: &GlobalArgs,
    args: &PolicyCheckArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (project, resources) = policy::check(
        global.store.as_deref(),
        &global.manifest,
        &args.approvals,
        printer.reporter(),
        printer,
    )?;
    Ok(
        if crate::report::policy::check(printer, &project, resources) {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        },
    )
}

pub(super) fn init(
    global: &GlobalArgs,
    args: &PolicyInitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = policy::init(global.store.as_deref(), args.collective, args.force)?;
    printer.note(format!(
        "wrote {} policy to `{}`",
        if args.collective {
            "the collective's"
        } else {
            "the default"
        },
        path.display()
    ));
    Ok(ExitStatus::Success)
}
