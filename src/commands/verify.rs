//! `crp verify`: re-hash objects, quarantine the corrupted ones.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{Format, GlobalArgs, VerifyArgs};
use crate::digest::Sha256Digest;
use crate::error::ExitStatus;
use crate::inspect::verify::{self, Check, Corrupted};
use crate::manifest::Manifest;
use crate::provenance::EventLog;
use crate::report::{Printer, SCHEMA_VERSION};
use crate::store::Store;
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
    let store = Store::open(global.store.as_deref())?;
    let digests: Vec<Sha256Digest> = if args.all {
        if store.check()? {
            store.object_digests()?
        } else {
            Vec::new()
        }
    } else {
        let manifest = Manifest::load(&global.manifest)?;
        let mut digests: Vec<Sha256Digest> = manifest
            .resources
            .iter()
            .filter_map(|r| r.sha256)
            .filter(|d| store.has_object(d))
            .collect();
        digests.sort();
        digests.dedup();
        digests
    };
    let checks = tokio::task::block_in_place(|| verify::rehash(&store, &digests));
    let reporter = printer.reporter();
    let events = EventLog::open(&store);
    let mut corrupted = Vec::new();
    let mut bytes = 0;
    let mut checked = 0;
    for (digest, check) in digests.iter().zip(checks) {
        match check {
            Check::Intact { bytes: b } => {
                checked += 1;
                bytes += b;
            }
            Check::Gone => {}
            Check::Corrupted { bytes: b, .. } => {
                checked += 1;
                bytes += b;
                corrupted.extend(verify::quarantine(&store, digest, &events, &*reporter).await?);
            }
            Check::Unreadable { .. } => {
                checked += 1;
                corrupted.extend(verify::quarantine(&store, digest, &events, &*reporter).await?);
            }
        }
    }
    events.flush();
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
