//! `crp add SOURCE --purpose TEXT`: fetch into the store, then declare it.

use crate::cli::{AddArgs, Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::fsutil::display_path;
use crate::ops::add::{self, Request};
use crate::report::{AddDocument, Printer, SCHEMA_VERSION};
use crate::units::ByteCount;

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
    match printer.format {
        Format::Json => printer.json(&AddDocument {
            schema_version: SCHEMA_VERSION,
            command: "add".into(),
            manifest: added.manifest,
            name: added.name,
            source: added.source,
            sha256: added.sha256,
            size: added.size,
            fetched_from: added.fetched_from,
        }),
        _ => printer.out(format!(
            "added `{}` ({}, sha256 {}) to `{}`; `crp sync` links it",
            added.name,
            ByteCount(added.size),
            added.sha256.short(),
            display_path(&added.manifest)
        )),
    }
    Ok(ExitStatus::Success)
}
