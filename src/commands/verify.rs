//! `crp verify`: re-hash objects, quarantine the corrupted ones.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{Format, GlobalArgs, VerifyArgs};
use crate::error::ExitStatus;
use crate::inspect::verify::Corrupted;
use crate::ops::verify::{self, Scope, Verified};
use crate::report::{Printer, SCHEMA_VERSION};
use crate::units::ByteCount;

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

pub(super) async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let scope = if args.all {
        Scope::All
    } else {
        Scope::Manifest(&global.manifest)
    };
    let Verified {
        checked,
        bytes,
        corrupted,
    } = verify::verify(global.store.as_deref(), scope, printer.reporter()).await?;
    let status = if corrupted.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    if printer.format() == Format::Json {
        printer.json(&VerifyDocument {
            schema_version: SCHEMA_VERSION,
            command: "verify".into(),
            checked,
            bytes,
            corrupted,
        });
        return Ok(status);
    }
    let mut out = String::new();
    for c in &corrupted {
        let names = if c.resources.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.resources.join(", "))
        };
        let _ = writeln!(out, "corrupted {}{names}", c.sha256.short());
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
    Ok(status)
}
