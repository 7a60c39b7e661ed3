//! `crp diff BASE [HEAD]`: a manifest change, for the people reviewing it.

use crate::cli::{DiffArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::diff;
use crate::report::Printer;

pub(super) fn run(
    global: &GlobalArgs,
    args: &DiffArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let diff = diff::diff(
        global.store.as_deref(),
        &global.manifest,
        &args.base,
        args.head.as_deref(),
    )?;
    crate::report::diff::print(printer, diff);
    Ok(ExitStatus::Success)
}
