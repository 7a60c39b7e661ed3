//! `crp drift`: how reality differs from the declarations. Read-only.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{DriftArgs, Format, GlobalArgs};
use crate::error::ExitStatus;
use crate::inspect::drift::{self, DriftReport, Options};
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::policy::approval::Ledger;
use crate::report::{Printer, SCHEMA_VERSION, markdown_cell};
use crate::store::Store;

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

pub(super) async fn run(
    global: &GlobalArgs,
    args: &DriftArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    // Nothing is created or written, not even a store.
    let exists = store.check()?;
    let policy = Policy::load(store.root())?;
    let ledger = if exists {
        Ledger::load(&store)?
    } else {
        Ledger::default()
    };
    let options = Options {
        verify: args.verify,
        upstream: args.upstream,
    };
    let mut report = DriftReport {
        store: store.root().to_owned(),
        projects: Vec::new(),
        verified: args.verify,
        upstream_checked: args.upstream,
        items: Vec::new(),
        ignored: Vec::new(),
    };
    let mut ignore_default = None;
    if args.all_projects {
        for record in store.projects()? {
            if !record.manifest.exists() {
                continue;
            }
            match Manifest::load(&record.manifest) {
                Ok(manifest) => {
                    report.projects.push(record.name.to_string());
                    report.items.extend(
                        drift::project_drift(
                            &store,
                            &manifest,
                            Some(&record),
                            &policy,
                            &ledger,
                            options,
                        )
                        .await?,
                    );
                }
                Err(err) => printer.warn(format!(
                    "skipped project `{}`: {}",
                    record.name,
                    crate::fetch::error_text(&err)
                )),
            }
        }
        report.items.extend(drift::store_drift(&store)?);
        if let Ok(manifest) = Manifest::load(&global.manifest) {
            ignore_default = Some(manifest.dir.join(drift::IGNORE_FILE));
        }
    } else {
        let manifest = Manifest::load(&global.manifest)?;
        let record = if exists {
            crate::plan::previous_record(&store, &manifest)?
        } else {
            None
        };
        report.projects.push(manifest.project.name.to_string());
        report.items.extend(
            drift::project_drift(
                &store,
                &manifest,
                record.as_ref(),
                &policy,
                &ledger,
                options,
            )
            .await?,
        );
        ignore_default = Some(manifest.dir.join(drift::IGNORE_FILE));
    }
    let ignores = match (&args.ignore, ignore_default) {
        (Some(path), _) => drift::read_ignores(path, true)?,
        (None, Some(path)) => drift::read_ignores(&path, false)?,
        (None, None) => Vec::new(),
    };
    report.apply_ignores(&ignores);
    report
        .items
        .sort_by(|a, b| (a.category, &a.project, &a.name).cmp(&(b.category, &b.project, &b.name)));
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
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn summary(report: &DriftReport) -> String {
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

fn text(report: &DriftReport) -> String {
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
        checks.push("objects checked by size and time; `--verify` re-hashes");
    }
    if !report.upstream_checked {
        checks.push("sources not asked; `--upstream` asks");
    }
    let _ = writeln!(
        out,
        "drift of {scope}: {} ({})",
        summary(report),
        checks.join("; ")
    );
    out
}

/// Markdown fit for an issue or a pull-request comment.
fn markdown(report: &DriftReport) -> String {
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
    out
}
