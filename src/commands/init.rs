//! `crp init`: a commented `resources.toml` to start from.

use crate::cli::{GlobalArgs, InitArgs};
use crate::error::ExitStatus;
use crate::ops::init;
use crate::report::Printer;

pub(super) fn run(
    global: &GlobalArgs,
    args: &InitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = &global.manifest;
    let initialized = init::init(path, args.name.as_deref())?;
    crate::report::init::print(printer, path, initialized);
    Ok(ExitStatus::Success)
}
