//! `crp add`: the JSON document and the line of what was added.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Sha256Digest;
use crate::fsutil::display_path;
use crate::name::Name;
use crate::ops::add::Added;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION};

/// `crp add` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    pub name: Name,
    pub source: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Set when the bytes were downloaded now; absent when the store had them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_from: Option<String>,
    /// The entry written to the manifest, as TOML.
    pub entry: String,
}

/// Prints what `crp add` added.
pub fn print(printer: &Printer, added: Added) {
    match printer.format() {
        Format::Json => printer.json(&AddDocument {
            schema_version: SCHEMA_VERSION,
            command: "add".into(),
            manifest: added.manifest,
            name: added.name,
            source: added.source,
            sha256: added.sha256,
            size: added.size,
            fetched_from: added.fetched_from,
            entry: added.entry,
        }),
        _ => {
            let entry: Vec<String> = added.entry.lines().map(|l| format!("  {l}")).collect();
            printer.out(format!(
                "added `{}` ({}, sha256 {}) to `{}`:\n{}\n`crp sync` links it",
                added.name,
                ByteCount(added.size),
                added.sha256.short(),
                display_path(&added.manifest),
                entry.join("\n")
            ));
        }
    }
}
