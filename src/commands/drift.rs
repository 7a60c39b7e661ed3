//! `crp drift`: how reality differs from the declarations. Read-only.

use crate::cli::{DriftArgs, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::drift::{self, Request};
use crate::report::Printer;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &DriftArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let request = Request {
        verify: args.verify,
        upstream: args.upstream,
        all_projects: args.all_projects,
        manifest_given: global.manifest_given().is_some(),
        ignore: args.ignore.clone(),
        remote: args.remote.clone(),
    };
    let report = drift::drift(global.store.as_deref(), &global.manifest, &request, printer).await?;
    let ok = report.items.is_empty();
    crate::report::drift::print(printer, report);
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
