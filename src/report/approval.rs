//! `crp pending`, `crp approve`, `crp deny`: the JSON documents and the
//! text of requests and decisions.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::policy::approval::{Decision, PendingRequest};
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION};

/// `crp pending` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDocument {
    pub schema_version: u32,
    pub command: String,
    pub pending: Vec<PendingRequest>,
}

/// `crp approve` and `crp deny` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionDocument {
    pub schema_version: u32,
    pub command: String,
    pub decision: Decision,
    /// The approvals file it went to; absent for the store's ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
}

/// Prints the requests awaiting a decision.
pub fn pending(printer: &Printer, pending: Vec<PendingRequest>) {
    if printer.format() == crate::cli::Format::Json {
        printer.json(&PendingDocument {
            schema_version: SCHEMA_VERSION,
            command: "pending".into(),
            pending,
        });
        return;
    }
    let mut out = String::new();
    for p in &pending {
        let _ = writeln!(
            out,
            "{} (project `{}`) {}",
            p.name,
            p.project,
            p.size
                .map_or_else(|| "size unknown".into(), |s| ByteCount(s).to_string())
        );
        let _ = writeln!(out, "    source:       {}", p.sources.join(", "));
        let _ = writeln!(out, "    purpose:      {}", p.purpose);
        if let Some(who) = &p.requested_by {
            let _ = writeln!(out, "    requested by: {who}");
        }
        if let Some(sha256) = p.sha256 {
            let _ = writeln!(out, "    sha256:       {sha256}");
        }
        let _ = writeln!(out, "    waiting since {}", p.requested_at);
        for reason in &p.reasons {
            let _ = writeln!(out, "    - {reason}");
        }
    }
    let _ = writeln!(
        out,
        "{} request{} awaiting approval",
        pending.len(),
        if pending.len() == 1 { "" } else { "s" }
    );
    printer.out(out.trim_end());
}

/// Prints a decision in JSON (the text output is the note before it).
pub fn print_decision(
    printer: &Printer,
    command: &str,
    decision: Decision,
    file: Option<std::path::PathBuf>,
) {
    if printer.format() == crate::cli::Format::Json {
        printer.json(&DecisionDocument {
            schema_version: SCHEMA_VERSION,
            command: command.into(),
            decision,
            file,
        });
    }
}
