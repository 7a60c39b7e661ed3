//! `crp update [NAME…]`: accept what the sources serve now.

use crate::cli::{GlobalArgs, UpdateArgs};
use crate::error::ExitStatus;
use crate::ops::update::{self, Options};
use crate::report::Printer;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &UpdateArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = Options {
        names: args.names.clone(),
        dry_run: args.dry_run,
        jobs: args.jobs,
    };
    let updated = update::update(
        global.store.as_deref(),
        &global.manifest,
        &options,
        printer.reporter(),
        printer,
    )
    .await?;
    let failed = !updated.ok();
    crate::report::update::print(printer, updated);
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
