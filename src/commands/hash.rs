//! `crp hash PATH`: the sha256 of a file, or the tree digest of a folder
//! (see [`crate::tree`]), as the manifest expects it.

use std::io;

use anyhow::Context as _;

use crate::cli::{Format, HashArgs};
use crate::digest::hash_file;
use crate::error::{ExitStatus, UsageError};
use crate::report::{HashDocument, Printer, SCHEMA_VERSION};
use crate::store::record::ObjectKind;
use crate::tree::hash_tree;

pub(super) fn run(args: &HashArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = &args.path;
    let (kind, sha256, size) = if path.is_dir() {
        let tree =
            hash_tree(path).with_context(|| format!("failed to hash `{}`", path.display()))?;
        (ObjectKind::Directory, tree.digest, tree.size())
    } else {
        let (sha256, size) = match hash_file(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(UsageError::new(format!("no file at `{}`", path.display())).into());
            }
            other => other.with_context(|| format!("failed to hash `{}`", path.display()))?,
        };
        (ObjectKind::File, sha256, size)
    };
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
