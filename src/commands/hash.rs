//! `crp hash PATH`: the sha256 of a file, or the tree digest of a folder
//! (see [`crate::tree`]), as the manifest expects it.

use crate::cli::{Format, HashArgs};
use crate::error::ExitStatus;
use crate::report::{HashDocument, Printer, SCHEMA_VERSION};

pub(super) fn run(args: &HashArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = &args.path;
    let (kind, sha256, size) = crate::ops::hash::hash(path)?;
    match printer.format {
        Format::Json => printer.json(&HashDocument {
            schema_version: SCHEMA_VERSION,
            command: "hash".into(),
            path: path.clone(),
            kind,
            sha256,
            size,
        }),
        // The digest alone, so `sha256 = "$(crp hash FILE)"` works; even
        // with `-q`, since it is the command's whole point.
        _ => {
            crate::stdio::outln!("{sha256}");
        }
    }
    Ok(ExitStatus::Success)
}
