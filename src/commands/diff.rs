//! `crp diff BASE [HEAD]`: a manifest change, for the people reviewing it.

use crate::cli::{DiffArgs, Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::diff;
use crate::report::diff::{DiffDocument, markdown, text};
use crate::report::{Printer, SCHEMA_VERSION};

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
    match printer.format() {
        Format::Json => printer.json(&DiffDocument {
            schema_version: SCHEMA_VERSION,
            command: "diff".into(),
            diff,
        }),
        Format::Markdown => printer.data_out(&markdown(&diff)),
        _ => printer.out(text(&diff).trim_end()),
    }
    Ok(ExitStatus::Success)
}
