//! `crp request`: the JSON document of a request written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Format;

use super::{Printer, SCHEMA_VERSION};

/// `crp request` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDocument {
    pub schema_version: u32,
    pub command: String,
    /// The message written into the bridge folder.
    pub message: PathBuf,
}

/// Prints where the request was written.
pub fn print(printer: &Printer, message: &Path) {
    printer.note(format!(
        "wrote a resource request to `{}`",
        message.display()
    ));
    if printer.format() == Format::Json {
        printer.json(&RequestDocument {
            schema_version: SCHEMA_VERSION,
            command: "request".into(),
            message: message.to_owned(),
        });
    }
}
