//! `crp hash PATH`: a file's sha256, as the manifest expects it.

use std::io;

use anyhow::Context as _;

use crate::cli::{Format, HashArgs};
use crate::digest::hash_file;
use crate::error::{ExitStatus, UsageError};
use crate::report::{HashDocument, Printer, SCHEMA_VERSION};

pub(super) fn run(args: &HashArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = &args.path;
    if path.is_dir() {
        return Err(UsageError::new(format!("`{}` is a folder", path.display()))
            .hint("give the path of a file")
            .into());
    }
    let (sha256, size) = match hash_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(UsageError::new(format!("no file at `{}`", path.display())).into());
        }
        other => other.with_context(|| format!("failed to hash `{}`", path.display()))?,
    };
    match printer.format {
        Format::Json => printer.json(&HashDocument {
            schema_version: SCHEMA_VERSION,
            command: "hash".into(),
            path: path.clone(),
            sha256,
            size,
        }),
        // The digest alone, so `sha256 = "$(crp hash FILE)"` works; even
        // with `-q`, since it is the command's whole point.
        Format::Text => {
            #[allow(clippy::print_stdout)]
            {
                println!("{sha256}");
            }
        }
    }
    Ok(ExitStatus::Success)
}
