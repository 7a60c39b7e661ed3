//! `crp remove`: the JSON document and the text of what was removed.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::execute::LinkOutcome;
use crate::execute::{UnlinkOutcome, UnlinkStatus};
use crate::fsutil::display_path;
use crate::name::Name;
use crate::ops::remove::{LinkChange, Removed};

use super::{Printer, SCHEMA_VERSION};

/// `crp remove` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    /// The entries taken out of the manifest.
    pub removed: Vec<Name>,
    /// What became of the links the project no longer wants.
    pub unlinked: Vec<UnlinkOutcome>,
    /// Links of the remaining resources that were made, replaced or
    /// removed on the way.
    pub relinked: Vec<LinkChange>,
}

/// What became of a link that bringing a project in line changed, in a
/// word.
pub(super) fn link_verb(link: LinkOutcome) -> &'static str {
    match link {
        LinkOutcome::Created => "linked",
        LinkOutcome::Replaced => "relinked",
        _ => "unlinked",
    }
}

/// Prints what `crp remove` did.
pub fn print(printer: &Printer, removed: Removed) {
    if printer.format() == Format::Json {
        printer.json(&RemoveDocument {
            schema_version: SCHEMA_VERSION,
            command: "remove".into(),
            manifest: removed.manifest,
            removed: removed.removed,
            unlinked: removed.unlinked,
            relinked: removed.relinked,
        });
        return;
    }
    let mut out = String::new();
    for u in &removed.unlinked {
        let path = display_path(&u.path);
        let _ = match u.status {
            UnlinkStatus::Removed => writeln!(out, "  unlinked     {}  {path}", u.name),
            UnlinkStatus::Conflict | UnlinkStatus::Failed => writeln!(
                out,
                "  kept         {}  {path}: {}",
                u.name,
                u.reason.as_deref().unwrap_or("not crp's")
            ),
        };
    }
    for change in &removed.relinked {
        let verb = link_verb(change.link);
        let _ = writeln!(
            out,
            "  {verb:<12} {}  {}",
            change.name,
            display_path(&change.path)
        );
    }
    let names: Vec<String> = removed.removed.iter().map(|n| format!("`{n}`")).collect();
    let _ = write!(
        out,
        "removed {} from `{}`; {} in the store until `crp gc` archives {}",
        names.join(", "),
        display_path(&removed.manifest),
        if names.len() == 1 {
            "its object stays"
        } else {
            "their objects stay"
        },
        if names.len() == 1 { "it" } else { "them" },
    );
    printer.out(out);
}
