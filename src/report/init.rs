//! `crp init`: the JSON document and the line of what was created.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::fsutil::display_path;
use crate::name::Name;
use crate::ops::init::Initialized;

use super::{Printer, SCHEMA_VERSION};

/// `crp init` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    pub project: Name,
    /// The copy of the schema beside the manifest, which it names.
    pub schema: PathBuf,
    /// Whether `crp init` wrote it (else a file had its name already).
    pub schema_written: bool,
}

/// Prints what `crp init` created.
pub fn print(printer: &Printer, manifest: &Path, initialized: Initialized) {
    match printer.format() {
        Format::Json => printer.json(&InitDocument {
            schema_version: SCHEMA_VERSION,
            command: "init".into(),
            manifest: manifest.to_owned(),
            project: initialized.name,
            schema: initialized.schema,
            schema_written: initialized.schema_written,
        }),
        _ => printer.out(format!(
            "created `{}` for project `{}`{}; add resources with `crp add SOURCE --purpose TEXT`",
            display_path(manifest),
            initialized.name,
            if initialized.schema_written {
                format!(
                    ", and `{}` beside it for editors (commit both)",
                    display_path(&initialized.schema)
                )
            } else {
                String::new()
            }
        )),
    }
}
