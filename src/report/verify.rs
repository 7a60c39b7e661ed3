//! `crp verify`: the JSON document and the text of a verification.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Abbrev;
use crate::inspect::verify::Corrupted;
use crate::ops::verify::Verified;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION};

/// `crp verify` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDocument {
    pub schema_version: u32,
    pub command: String,
    /// Objects re-hashed, and their bytes.
    pub checked: usize,
    pub bytes: u64,
    pub corrupted: Vec<Corrupted>,
}

/// Prints what re-hashing found.
pub fn print(printer: &Printer, verified: Verified) {
    let Verified {
        checked,
        bytes,
        corrupted,
    } = verified;
    if printer.format() == Format::Json {
        printer.json(&VerifyDocument {
            schema_version: SCHEMA_VERSION,
            command: "verify".into(),
            checked,
            bytes,
            corrupted,
        });
        return;
    }
    let mut out = String::new();
    let abbrev = Abbrev::among(corrupted.iter().map(|c| &c.sha256));
    for c in &corrupted {
        let names = if c.resources.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.resources.join(", "))
        };
        let _ = writeln!(out, "corrupted {}{names}", abbrev.of(&c.sha256));
        let _ = writeln!(out, "    expected {}", c.sha256);
        match (&c.actual, &c.error) {
            (Some(actual), _) => {
                let _ = writeln!(out, "    actual   {actual}");
            }
            (None, Some(error)) => {
                let _ = writeln!(out, "    unreadable: {error}");
            }
            _ => {}
        }
        let _ = writeln!(
            out,
            "    moved to `{}`; the next `crp sync` that needs it fetches it again",
            c.quarantined.display()
        );
    }
    let _ = write!(
        out,
        "verified {checked} object{} ({}): {}",
        if checked == 1 { "" } else { "s" },
        ByteCount(bytes),
        if corrupted.is_empty() {
            "all intact".to_owned()
        } else {
            format!("{} corrupted", corrupted.len())
        }
    );
    printer.out(&out);
}
