//! `crp policy show|check|init`: the store's policy.

use crate::cli::{GlobalArgs, PolicyCheckArgs, PolicyInitArgs};
use crate::error::ExitStatus;
use crate::ops::policy;
use crate::report::Printer;

pub(super) fn show(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (root, policy) = policy::show(global.store.as_deref())?;
    crate::report::policy::show(printer, &root, policy);
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
    crate::report::policy::init(printer, &path, args.collective);
    Ok(ExitStatus::Success)
}
