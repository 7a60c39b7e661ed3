//! `crp update`: the JSON document and the text of what changed upstream.

use std::fmt::Write as _;
use std::path::PathBuf;

use console::style;
use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Abbrev;
use crate::fsutil::display_path;
use crate::ops::remove::LinkChange;
use crate::ops::update::{Change, Item, Updated, Version};
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION, name_width, trim_lines};

/// `crp update` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    /// `--dry-run`: the sources were asked, and nothing changed.
    pub dry_run: bool,
    /// Whether no resource failed, waits for a person, or was refused.
    pub ok: bool,
    /// Whether `resources.toml` was re-pinned.
    pub manifest_updated: bool,
    /// Each resource asked about, by name.
    pub resources: Vec<Item>,
    /// Links made, replaced or removed while bringing the project in line.
    pub links: Vec<LinkChange>,
}

/// Prints what `crp update` did, or with `--dry-run` would do.
pub fn print(printer: &Printer, updated: Updated) {
    let ok = updated.ok();
    if printer.format() == Format::Json {
        printer.json(&UpdateDocument {
            schema_version: SCHEMA_VERSION,
            command: "update".into(),
            manifest: updated.manifest,
            dry_run: updated.dry_run,
            ok,
            manifest_updated: updated.manifest_updated,
            resources: updated.items,
            links: updated.links,
        });
        return;
    }
    let width = name_width(
        updated
            .items
            .iter()
            .map(|i| &i.name)
            .chain(updated.links.iter().map(|l| &l.name)),
    );
    let mut out = String::new();
    let abbrev = Abbrev::among(
        updated
            .items
            .iter()
            .flat_map(|i| {
                [
                    i.old.sha256.as_ref(),
                    i.new.as_ref().and_then(|n| n.sha256.as_ref()),
                ]
            })
            .flatten(),
    );
    for item in &updated.items {
        if item.change == Change::UpToDate && printer.verbose == 0 {
            continue;
        }
        let verb = match item.change {
            Change::Updated => style("updated").green().bold(),
            Change::Changed => style("changed").green().bold(),
            Change::UpToDate | Change::Skipped => style(item.change.as_str()).dim(),
            Change::AwaitingApproval => style("awaiting").yellow().bold(),
            Change::Unknown => style("unknown").yellow(),
            Change::Denied => style("denied").red().bold(),
            Change::NotLinked => style("conflict").red().bold(),
            Change::Failed => style("failed").red().bold(),
        };
        let mut detail = version(&item.old, abbrev);
        if let Some(new) = &item.new
            && item.change != Change::UpToDate
        {
            let _ = write!(detail, " → {}", version(new, abbrev));
        }
        if let Some(source) = &item.source
            && matches!(
                item.change,
                Change::Updated | Change::Changed | Change::NotLinked
            )
        {
            let _ = write!(detail, "  from {}", crate::fsutil::display_source(source));
        }
        if let Some(verdict) = &item.verdict {
            let _ = write!(detail, "  ({verdict})");
        }
        if let Some(why) = &item.detail {
            let _ = write!(detail, "  {why}");
        }
        let _ = writeln!(out, "  {verb:<12} {:<width$}  {detail}", item.name.as_str());
    }
    for change in &updated.links {
        let verb = super::remove::link_verb(change.link);
        let _ = writeln!(
            out,
            "  {:<12} {:<width$}  {}",
            style(verb).green(),
            change.name.as_str(),
            display_path(&change.path)
        );
    }
    let count = |c: Change| updated.items.iter().filter(|i| i.change == c).count();
    let mut parts = Vec::new();
    for change in [
        Change::Updated,
        Change::NotLinked,
        Change::Changed,
        Change::Unknown,
        Change::AwaitingApproval,
        Change::Denied,
        Change::Failed,
        Change::UpToDate,
        Change::Skipped,
    ] {
        let n = count(change);
        if n > 0 {
            parts.push(format!("{n} {}", change.as_str()));
        }
    }
    if parts.is_empty() {
        parts.push("nothing to update".into());
    }
    let manifest = display_path(&updated.manifest);
    let _ = write!(
        out,
        "{} `{manifest}`: {}",
        if updated.dry_run {
            "asked the sources of"
        } else if updated.manifest_updated {
            "updated"
        } else {
            "checked"
        },
        parts.join(", ")
    );
    if updated.dry_run {
        out.push_str(" (dry run: nothing changed)");
    }
    printer.out(trim_lines(&out).trim_end());
    if count(Change::AwaitingApproval) > 0 {
        printer.hint(
            "the new versions are pinned; `crp pending` lists what waits, a person runs `crp approve NAME --by WHO`, then `crp sync` fetches it",
        );
    }
    if updated.dry_run && count(Change::Changed) + count(Change::Unknown) > 0 {
        printer.hint("`crp update` without `--dry-run` downloads the new content and re-pins it");
    }
}

/// `1a2b3c4d (224 B)`, as far as it is known.
fn version(v: &Version, abbrev: Abbrev) -> String {
    let digest = v.sha256.map_or_else(
        || "(digest unknown until downloaded)".to_owned(),
        |d| abbrev.of(&d),
    );
    match v.size {
        Some(size) => format!("{digest} ({})", ByteCount(size)),
        None => digest,
    }
}
