//! `crp gc`: the JSON document and the text of a collection.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Abbrev;
use crate::inspect::gc::{self, GcPlan, Why};
use crate::units::ByteCount;
use crate::units::count;

use super::{Printer, SCHEMA_VERSION};

/// `crp gc` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether anything was done (`--apply`, `--remove --yes`).
    pub applied: bool,
    #[serde(flatten)]
    pub plan: GcPlan,
    /// What was archived or removed.
    pub archived: Vec<crate::digest::Sha256Digest>,
    /// What `--apply` left in the store because its copy did not verify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<gc::NotArchived>,
    pub removed: Vec<crate::digest::Sha256Digest>,
}

/// Prints a gc plan and what was done. `given` repeats the options the
/// user gave (` --grace 0s`) in the command the text suggests.
pub fn print(
    printer: &Printer,
    plan: &GcPlan,
    given: &str,
    applied: bool,
    archived: &[crate::digest::Sha256Digest],
    failed: &[gc::NotArchived],
    removed: &[crate::digest::Sha256Digest],
) {
    if printer.format() == Format::Json {
        printer.json(&GcDocument {
            schema_version: SCHEMA_VERSION,
            command: "gc".into(),
            applied,
            plan: plan.clone(),
            archived: archived.to_vec(),
            failed: failed.to_vec(),
            removed: removed.to_vec(),
        });
        return;
    }
    let grace = match plan.grace_secs {
        0 => "no".to_owned(),
        s if s % 86_400 == 0 => format!("{}-day", s / 86_400),
        s => humantime::format_duration(std::time::Duration::from_secs(s)).to_string(),
    };
    let mut out = String::new();
    let abbrev = Abbrev::among(
        [&plan.archive, &plan.keep, &plan.seeding]
            .into_iter()
            .flatten()
            .map(|c| &c.sha256)
            .chain(plan.remove.iter().map(|c| &c.sha256)),
    );
    // The counts are the plan's, taken before anything moved.
    let before = if applied { " before this gc" } else { "" };
    let _ = write!(
        out,
        "store{before}: {}, {} (hard links counted once)",
        count(plan.store_objects, "object"),
        ByteCount(plan.store_bytes)
    );
    if let Some(quota) = plan.quota {
        let _ = write!(out, " of a {} quota", ByteCount(quota));
    }
    let _ = writeln!(
        out,
        "; {} referenced by live projects\ncold storage `{}`{before}: {}, {}",
        plan.referenced,
        plan.cold.display(),
        count(plan.cold_objects, "object"),
        ByteCount(plan.cold_bytes)
    );
    if !plan.stale_projects.is_empty() {
        let _ = writeln!(out, "\nstale projects (their manifest is gone):");
        for p in &plan.stale_projects {
            let _ = writeln!(
                out,
                "  {:<20} `{}` last synced {}; its {} protect objects until {}",
                p.name,
                p.manifest.display(),
                p.synced_at,
                count(p.objects as u64, "reference"),
                p.protects_until
            );
        }
    }
    let names = |names: &[String]| {
        if names.is_empty() {
            String::new()
        } else {
            format!("  ({})", names.join(", "))
        }
    };
    // What stayed in the store is listed apart, with why, below.
    let listed: Vec<&gc::Candidate> = plan
        .archive
        .iter()
        .filter(|c| !failed.iter().any(|f| f.sha256 == c.sha256))
        .collect();
    if !listed.is_empty() {
        let verb = if applied { "archived" } else { "to archive" };
        let bytes: u64 = listed.iter().map(|c| c.size).sum();
        let _ = writeln!(out, "\n{verb} ({}):", ByteCount(bytes));
        for c in listed {
            let why = match c.why {
                Some(Why::Quota) => "over the quota, least recently used".to_owned(),
                _ => format!("unreferenced since {}", c.unreferenced_since),
            };
            let _ = writeln!(
                out,
                "  {}  {:>10}  {why}{}",
                abbrev.of(&c.sha256),
                ByteCount(c.size),
                names(&c.names)
            );
        }
    }
    // Unreferenced objects that stay, under a heading that says why.
    let kept = |out: &mut String, heading: &str, list: &[gc::Candidate]| {
        if list.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{heading}:");
        for c in list {
            let _ = writeln!(
                out,
                "  {}  {:>10}  unreferenced since {}{}",
                abbrev.of(&c.sha256),
                ByteCount(c.size),
                c.unreferenced_since,
                names(&c.names)
            );
        }
    };
    kept(
        &mut out,
        &format!("kept for now (unreferenced, within the {grace} grace period)"),
        &plan.keep,
    );
    if !plan.parts.is_empty() {
        let verb = if applied {
            "removed unfinished downloads and writes"
        } else {
            "unfinished downloads and writes no manifest needs, to remove"
        };
        let bytes: u64 = plan.parts.iter().map(|p| p.size).sum();
        let _ = writeln!(out, "\n{verb} ({}):", ByteCount(bytes));
        for part in &plan.parts {
            let _ = writeln!(
                out,
                "  {}  {:>10}  last written {}",
                part.path.file_name().unwrap_or_default().to_string_lossy(),
                ByteCount(part.size),
                part.modified
            );
        }
    }
    kept(
        &mut out,
        "kept while the torrent daemon seeds them (archived once seeding ends: `seed_time`, `seed_ratio`, or the torrent removed)",
        &plan.seeding,
    );
    if !plan.remove.is_empty() {
        let verb = if removed.is_empty() {
            "to remove from cold storage"
        } else {
            "removed from cold storage"
        };
        let _ = writeln!(out, "\n{verb}:");
        for c in &plan.remove {
            let _ = writeln!(
                out,
                "  {}  {:>10}  archived {}",
                abbrev.of(&c.sha256),
                ByteCount(c.size),
                c.archived_at
            );
        }
    }
    let nothing = plan.archive.is_empty() && plan.remove.is_empty() && plan.parts.is_empty();
    let summary = match (applied, nothing) {
        (_, true) => "\nnothing to collect".to_owned(),
        (false, false) if !plan.archive.is_empty() || !plan.parts.is_empty() => {
            format!("\nrun `crp gc --apply{given}` to collect them")
        }
        (false, false) => String::new(),
        (true, false) => {
            let mut summary = String::new();
            for f in failed {
                let _ = write!(summary, "\n  not archived  {}: {}", f.sha256, f.error);
            }
            let _ = write!(
                summary,
                "\narchived {}, removed {}",
                count(archived.len() as u64, "object"),
                count(removed.len() as u64, "object")
            );
            if !failed.is_empty() {
                let _ = write!(
                    summary,
                    "; {} left in the store (`crp verify --all` checks the store's copies)",
                    count(failed.len() as u64, "object")
                );
            }
            summary
        }
    };
    out.push_str(&summary);
    printer.out(out.trim_end());
}
