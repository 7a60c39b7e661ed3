//! `crp metrics`: what the event log, the ledger and the store say about
//! how the store is used.

use crate::cli::GlobalArgs;
use crate::error::ExitStatus;
use crate::ops::metrics;
use crate::report::Printer;

pub(super) async fn run(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let m = metrics::metrics(global.store.as_deref()).await?;
    crate::report::metrics::print(printer, m);
    Ok(ExitStatus::Success)
}
