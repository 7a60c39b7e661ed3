//! `crp init`: the JSON document and the line of what was created.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::fsutil::display_path;
use crate::name::Name;

use super::{Printer, SCHEMA_VERSION};

/// `crp init` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    pub project: Name,
}

/// Prints the manifest `crp init` created for `project`.
pub fn print(printer: &Printer, manifest: &Path, project: Name) {
    match printer.format() {
        Format::Json => printer.json(&InitDocument {
            schema_version: SCHEMA_VERSION,
            command: "init".into(),
            manifest: manifest.to_owned(),
            project,
        }),
        _ => printer.out(format!(
            "created `{}` for project `{project}`; add resources with `crp add SOURCE --purpose TEXT`",
            display_path(manifest)
        )),
    }
}
