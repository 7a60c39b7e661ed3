//! `crp drift`: how reality differs from the declarations. Read-only.

use crate::cli::{DriftArgs, Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::drift::{self, Request};
use crate::report::drift::{DriftDocument, markdown, text};
use crate::report::{Printer, SCHEMA_VERSION};

pub(super) async fn run(
    global: &GlobalArgs,
    args: &DriftArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let request = Request {
        verify: args.verify,
        upstream: args.upstream,
        all_projects: args.all_projects,
        ignore: args.ignore.clone(),
    };
    let report = drift::drift(global.store.as_deref(), &global.manifest, &request, printer).await?;
    let ok = report.items.is_empty();
    match printer.format() {
        Format::Json => printer.json(&DriftDocument {
            schema_version: SCHEMA_VERSION,
            command: "drift".into(),
            ok,
            report,
        }),
        Format::Markdown => printer.data_out(&markdown(&report)),
        _ => printer.out(text(&report).trim_end()),
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
