//! `crp metrics`: what the event log, the ledger and the store say about
//! how the store is used.

use crate::cli::{Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::metrics;
use crate::report::metrics::{MetricsDocument, prometheus, text};
use crate::report::{Printer, SCHEMA_VERSION};

pub(super) async fn run(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let m = metrics::metrics(global.store.as_deref()).await?;
    match printer.format() {
        Format::Json => printer.json(&MetricsDocument {
            schema_version: SCHEMA_VERSION,
            command: "metrics".into(),
            metrics: m,
        }),
        Format::Prometheus => printer.data_out(&prometheus(&m)),
        _ => printer.out(text(&m).trim_end()),
    }
    Ok(ExitStatus::Success)
}
