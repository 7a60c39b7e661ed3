//! `crp hash`: the JSON document, and the digest alone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Sha256Digest;
use crate::store::record::ObjectKind;

use super::{Printer, SCHEMA_VERSION};

/// `crp hash` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashDocument {
    pub schema_version: u32,
    pub command: String,
    pub path: PathBuf,
    pub kind: ObjectKind,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Prints a digest: alone in text, so `sha256 = "$(crp hash FILE)"` works
/// (even with `-q`, since it is the command's whole point).
pub fn print(
    printer: &Printer,
    path: &Path,
    (kind, sha256, size): (ObjectKind, Sha256Digest, u64),
) {
    match printer.format() {
        Format::Json => printer.json(&HashDocument {
            schema_version: SCHEMA_VERSION,
            command: "hash".into(),
            path: path.to_owned(),
            kind,
            sha256,
            size,
        }),
        _ => {
            crate::stdio::outln!("{sha256}");
        }
    }
}
