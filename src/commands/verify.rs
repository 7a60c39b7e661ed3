//! `crp verify`: re-hash objects, quarantine the corrupted ones.

use crate::cli::{GlobalArgs, VerifyArgs};
use crate::error::ExitStatus;
use crate::ops::verify::{self, Scope};
use crate::report::Printer;

pub(super) async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let scope = if args.all {
        // Every object is checked, whatever the manifest says; one named
        // on the command line must still be there and read.
        if let Some(path) = global.manifest_given() {
            crate::manifest::Manifest::load(path)?;
        }
        Scope::All
    } else {
        Scope::Manifest(&global.manifest)
    };
    let verified = verify::verify(global.store.as_deref(), scope, printer.reporter()).await?;
    let status = if verified.corrupted.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    crate::report::verify::print(printer, verified);
    Ok(status)
}
