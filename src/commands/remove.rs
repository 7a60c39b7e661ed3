//! `crp remove NAME…`: take resources out of the project.

use crate::cli::{GlobalArgs, RemoveArgs};
use crate::error::ExitStatus;
use crate::execute::UnlinkStatus;
use crate::ops::remove;
use crate::report::Printer;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &RemoveArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let removed = remove::remove(
        global.store.as_deref(),
        &global.manifest,
        &args.names,
        printer.reporter(),
        printer,
    )
    .await?;
    let failed = removed
        .unlinked
        .iter()
        .any(|u| u.status == UnlinkStatus::Failed);
    crate::report::remove::print(printer, removed);
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
