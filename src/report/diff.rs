//! `crp diff`: the JSON document, the text and the Markdown of a manifest
//! change.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Abbrev;
use crate::inspect::diff::{Change, ManifestDiff};
use crate::policy::Verdict;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION, markdown_cell};

/// `crp diff --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffDocument {
    pub schema_version: u32,
    pub command: String,
    #[serde(flatten)]
    pub diff: ManifestDiff,
}

fn size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "size unknown".to_owned(), |b| ByteCount(b).to_string())
}

fn verdict_text(verdict: &Option<Verdict>) -> String {
    match verdict {
        None => String::new(),
        Some(Verdict::AutoApproved) => "auto-approves".into(),
        Some(Verdict::Approved { by, .. }) => format!("approved by {by}"),
        Some(Verdict::AwaitingApproval { reasons }) => {
            let reasons: Vec<&str> = reasons.iter().map(|r| r.message.as_str()).collect();
            format!("needs a person: {}", reasons.join("; "))
        }
        Some(v @ Verdict::Denied { .. }) => v.to_string(),
    }
}

fn what(r: &crate::inspect::diff::ResourceDiff, abbrev: Abbrev) -> String {
    match r.change {
        Change::Added => format!("{} new", size(r.new_size)),
        Change::Removed => format!("{} no longer needed", size(r.old_size)),
        Change::Changed => {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| match f.as_str() {
                    "sha256" => format!(
                        "a new version ({} → {})",
                        r.old_sha256
                            .map_or_else(|| "unpinned".into(), |d| abbrev.of(&d)),
                        r.new_sha256
                            .map_or_else(|| "unpinned".into(), |d| abbrev.of(&d))
                    ),
                    "size" => format!("size {} → {}", size(r.old_size), size(r.new_size)),
                    other => other.to_owned(),
                })
                .collect();
            fields.join(", ")
        }
    }
}

fn change_name(change: Change) -> &'static str {
    match change {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Changed => "changed",
    }
}

fn totals(d: &ManifestDiff) -> String {
    let mut line = format!(
        "storage: +{} to fetch, -{} no longer referenced",
        ByteCount(d.bytes_added),
        ByteCount(d.bytes_freed)
    );
    if d.unknown_sizes > 0 {
        let _ = write!(
            line,
            " ({} added size{} not declared)",
            d.unknown_sizes,
            if d.unknown_sizes == 1 { "" } else { "s" }
        );
    }
    let _ = write!(
        line,
        "; {} need a person's approval, {} denied",
        d.need_approval, d.denied
    );
    line
}

/// Abbreviations that tell apart every digest the diff shows.
fn abbrev(d: &ManifestDiff) -> Abbrev {
    Abbrev::among(
        d.resources
            .iter()
            .flat_map(|r| [r.old_sha256.as_ref(), r.new_sha256.as_ref()])
            .flatten(),
    )
}

pub fn text(d: &ManifestDiff) -> String {
    let mut out = format!(
        "manifest change of `{}`: {} → {}\n",
        d.project, d.base, d.head
    );
    if d.resources.is_empty() {
        out.push_str("no resource changes\n");
        return out;
    }
    let width = d.resources.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let abbrev = abbrev(d);
    for r in &d.resources {
        let _ = write!(
            out,
            "  {:<8} {:<width$}  {}",
            change_name(r.change),
            r.name,
            what(r, abbrev)
        );
        let verdict = verdict_text(&r.verdict);
        if !verdict.is_empty() {
            let _ = write!(out, "  [{verdict}]");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}\n", totals(d));
    for r in &d.resources {
        out.push_str(&r.text_diff);
    }
    out
}

pub fn markdown(d: &ManifestDiff) -> String {
    let mut out = format!("### Resources: `{}`\n\n", d.project);
    if d.resources.is_empty() {
        out.push_str("No resource changes.\n");
        return out;
    }
    out.push_str("| change | resource | what | size | policy |\n|---|---|---|---:|---|\n");
    let abbrev = abbrev(d);
    for r in &d.resources {
        let bytes = match r.change {
            Change::Removed => format!("−{}", ByteCount(r.bytes_freed)),
            _ if r.bytes_added > 0 => format!("+{}", ByteCount(r.bytes_added)),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {bytes} | {} |",
            change_name(r.change),
            markdown_cell(&r.name),
            markdown_cell(&what(r, abbrev)),
            markdown_cell(&verdict_text(&r.verdict))
        );
    }
    let _ = writeln!(out, "\n**{}**", markdown_cell(&totals(d)));
    out.push_str("\n<details><summary>Entry diffs</summary>\n\n```diff\n");
    for r in &d.resources {
        out.push_str(&r.text_diff);
    }
    out.push_str("```\n\n</details>\n");
    out
}

/// Prints a manifest change in the chosen format.
pub fn print(printer: &Printer, diff: ManifestDiff) {
    match printer.format() {
        Format::Json => printer.json(&DiffDocument {
            schema_version: SCHEMA_VERSION,
            command: "diff".into(),
            diff,
        }),
        Format::Markdown => printer.data_out(&markdown(&diff)),
        _ => printer.out(text(&diff).trim_end()),
    }
}
