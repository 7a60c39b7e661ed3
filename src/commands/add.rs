//! `crp add SOURCE --purpose TEXT`: fetch into the store, then declare it.

use crate::cli::{AddArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::add::{self, Request};
use crate::report::Printer;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &AddArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let request = Request {
        source: args.source.clone(),
        purpose: args.purpose.clone(),
        name: args.name.clone(),
        sha256: args.sha256.clone(),
        requested_by: args.requested_by.clone(),
        refresh: args.refresh,
    };
    let added = add::add(
        global.store.as_deref(),
        &global.manifest,
        &request,
        printer.reporter(),
        printer,
    )
    .await?;
    crate::report::add::print(printer, added);
    Ok(ExitStatus::Success)
}
