//! `crp hash PATH`: the sha256 of a file, or the tree digest of a folder
//! (see [`crate::tree`]), as the manifest expects it.

use crate::cli::HashArgs;
use crate::error::ExitStatus;
use crate::report::Printer;

pub(super) fn run(args: &HashArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = &args.path;
    let hashed = crate::ops::hash::hash(path)?;
    crate::report::hash::print(printer, path, hashed);
    Ok(ExitStatus::Success)
}
