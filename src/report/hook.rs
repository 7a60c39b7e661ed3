//! `crp hook torrent-done`: the JSON document and the line of what was
//! ingested.

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Sha256Digest;
use crate::ops::hook::Ingested;

use super::{Printer, SCHEMA_VERSION};

/// `crp hook torrent-done` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookDocument {
    pub schema_version: u32,
    pub command: String,
    pub info_hash: String,
    pub name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Prints what the hook ingested.
pub fn print(printer: &Printer, ingested: Ingested) {
    let Ingested {
        info_hash,
        name,
        sha256,
        size,
    } = ingested;
    match printer.format() {
        Format::Json => printer.json(&HookDocument {
            schema_version: SCHEMA_VERSION,
            command: "hook torrent-done".into(),
            info_hash,
            name,
            sha256,
            size,
        }),
        _ => printer.out(format!("ingested `{name}` ({info_hash}) as {sha256}")),
    }
}
