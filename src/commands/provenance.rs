//! `crp show` and `crp dag`: where objects came from and what uses them.

use crate::cli::{GlobalArgs, ShowArgs};
use crate::error::ExitStatus;
use crate::ops::provenance;
use crate::report::Printer;

pub(super) fn show(
    global: &GlobalArgs,
    args: &ShowArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (record, history) = provenance::show(
        global.store.as_deref(),
        &global.manifest,
        global.manifest_given().is_some(),
        &args.target,
    )?;
    crate::report::provenance::show(printer, record, history);
    Ok(ExitStatus::Success)
}

pub(super) fn dag(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let dag = provenance::dag(global.store.as_deref())?;
    crate::report::provenance::dag(printer, dag);
    Ok(ExitStatus::Success)
}
