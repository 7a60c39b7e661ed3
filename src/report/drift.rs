//! `crp drift`: the JSON document, the text and the Markdown of a drift
//! report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::inspect::drift::DriftReport;

use super::{Printer, SCHEMA_VERSION, markdown_cell};

/// `crp drift --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether nothing (but what the ignore file accepts) differs.
    pub ok: bool,
    #[serde(flatten)]
    pub report: DriftReport,
}

pub fn summary(report: &DriftReport) -> String {
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(category, n)| format!("{n} {}", category.as_str()))
        .collect();
    let mut line = match report.items.len() {
        0 => "no drift".to_owned(),
        1 => format!("1 finding: {}", counts.join(", ")),
        n => format!("{n} findings: {}", counts.join(", ")),
    };
    if !report.ignored.is_empty() {
        let _ = write!(line, "; {} ignored", report.ignored.len());
    }
    line
}

pub fn text(report: &DriftReport) -> String {
    let mut out = String::new();
    let width = report
        .items
        .iter()
        .map(|i| i.name.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(0);
    for item in &report.items {
        let mut who = item.name.clone().unwrap_or_else(|| "-".into());
        if report.projects.len() != 1
            && let Some(project) = &item.project
        {
            who = format!("{project}/{who}");
        }
        let _ = writeln!(
            out,
            "  {:<19} {who:<width$}  {}",
            item.category.as_str(),
            item.detail
        );
    }
    let scope = if report.projects.len() == 1 {
        format!("`{}`", report.projects[0])
    } else {
        format!("{} projects and the store", report.projects.len())
    };
    let mut checks = Vec::new();
    if !report.verified {
        checks.push("objects checked by size and time; `--verify` re-hashes".to_owned());
    }
    if !report.upstream_checked {
        checks.push("sources not asked; `--upstream` asks".to_owned());
    }
    if let Some(remote) = &report.remote_checked {
        checks.push(remote_asked(remote));
    }
    let _ = writeln!(
        out,
        "drift of {scope}: {} ({})",
        summary(report),
        checks.join("; ")
    );
    out
}

/// "remote `team` (s3://bucket/prefix) asked about 3 pinned objects".
fn remote_asked(remote: &crate::inspect::drift::RemoteChecked) -> String {
    format!(
        "remote `{}` ({}) asked about {}",
        remote.remote,
        remote.url,
        crate::units::count(remote.objects as u64, "pinned object")
    )
}

/// Markdown fit for an issue or a pull-request comment.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = format!("### crp drift: {}\n\n", summary(report));
    if !report.items.is_empty() {
        out.push_str("| category | project | resource | detail |\n|---|---|---|---|\n");
        for item in &report.items {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                item.category.as_str(),
                markdown_cell(item.project.as_deref().unwrap_or("")),
                markdown_cell(item.name.as_deref().unwrap_or("")),
                markdown_cell(&item.detail)
            );
        }
    }
    if !report.ignored.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} ignored</summary>\n",
            report.ignored.len()
        );
        for ignored in &report.ignored {
            let _ = writeln!(
                out,
                "- {} `{}`: {} — *{}*",
                ignored.item.category.as_str(),
                ignored
                    .item
                    .name
                    .as_deref()
                    .or(ignored.item.project.as_deref())
                    .unwrap_or("-"),
                markdown_cell(&ignored.item.detail),
                markdown_cell(&ignored.reason)
            );
        }
        out.push_str("\n</details>\n");
    }
    let _ = writeln!(
        out,
        "\n<sub>{}{}</sub>",
        if report.verified {
            "objects re-hashed"
        } else {
            "objects checked by size and modification time"
        },
        if report.upstream_checked {
            "; sources asked"
        } else {
            ""
        }
    );
    if let Some(remote) = &report.remote_checked {
        let _ = writeln!(out, "<sub>{}</sub>", markdown_cell(&remote_asked(remote)));
    }
    out
}

/// Prints a drift report in the chosen format.
pub fn print(printer: &Printer, report: DriftReport) {
    let ok = report.items.is_empty();
    match printer.format() {
        Format::Json => printer.json(&DriftDocument {
            schema_version: SCHEMA_VERSION,
            command: "drift".into(),
            ok,
            report,
        }),
        Format::Markdown => printer.data_out(&markdown(&report)),
        _ => printer.out(text(&report).trim_end()),
    }
}
