//! `crp show` and `crp dag`: the JSON documents, the text of an object's
//! provenance, and the DAG in Graphviz.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::digest::Abbrev;
use crate::ops::provenance::{Dag, DagEdge, DagNode};
use crate::provenance::Event;
use crate::store::record::ObjectRecord;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION};

/// `crp show` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowDocument {
    pub schema_version: u32,
    pub command: String,
    pub record: ObjectRecord,
    /// Every event about this object, oldest first.
    pub history: Vec<Event>,
}

/// `crp dag --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagDocument {
    pub schema_version: u32,
    pub command: String,
    pub nodes: Vec<DagNode>,
    pub edges: Vec<DagEdge>,
}

/// Prints an object's record and history.
pub fn show(printer: &Printer, record: ObjectRecord, history: Vec<Event>) {
    if printer.format() == Format::Json {
        printer.json(&ShowDocument {
            schema_version: SCHEMA_VERSION,
            command: "show".into(),
            record,
            history,
        });
        return;
    }
    let r = &record;
    let mut out = String::new();
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "{key:<15} {value}");
    };
    row("sha256", r.sha256.to_string());
    row("type", format!("{:?}", r.kind).to_lowercase());
    row("size", format!("{} ({} bytes)", ByteCount(r.size), r.size));
    row("status", r.status.to_string());
    // Where cold storage keeps it (a folder, or a remote's `s3://` URL);
    // the store's path is where a sync brings it back to.
    let archived = r
        .archived
        .as_ref()
        .filter(|_| r.status == crate::provenance::State::Archived);
    let removed = r
        .removed
        .as_ref()
        .filter(|_| r.status == crate::provenance::State::Removed);
    row(
        "path",
        match (archived, removed) {
            (Some(_), _) => format!(
                "{} (not there while archived; `crp sync` restores it)",
                r.file_path.display()
            ),
            (None, Some(removed)) => format!(
                "{} (not there: removed by {} at {}; a sync downloads it again)",
                r.file_path.display(),
                removed.by,
                removed.at
            ),
            (None, None) => r.file_path.display().to_string(),
        },
    );
    if let Some(archived) = archived {
        row(
            "archived to",
            format!("{} ({})", archived.path.display(), archived.at),
        );
    }
    row("purpose", r.purpose.clone());
    if let Some(who) = &r.requested_by {
        row("requested by", who.clone());
    }
    if let Some(at) = r.requested_at {
        row("requested at", at.to_string());
    }
    row("source", r.source.clone());
    if let Some(served) = &r.served_by {
        row("served by", served.clone());
    }
    if r.sources.len() > 1 {
        row("sources", r.sources.join(", "));
    }
    row(
        "verification",
        format!("{:?}", r.verification).to_lowercase(),
    );
    row("fetched at", r.fetched_at.to_string());
    row("executable", r.executable.to_string());
    if let Some(info_hash) = &r.info_hash {
        row("info-hash", info_hash.clone());
    }
    for use_ in &r.projects {
        row(
            "used by",
            format!("project `{}` as `{}`", use_.project, use_.resource),
        );
    }
    for approval in &r.approvals {
        row(
            "approved",
            format!(
                "by {} at {}{}",
                approval.by,
                approval.at,
                approval
                    .note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        );
    }
    for old in &r.supersedes {
        row("supersedes", old.to_string());
    }
    for parent in &r.derived_from {
        row("derived from", parent.to_string());
    }
    let _ = writeln!(out, "\nhistory:");
    for e in &history {
        let _ = writeln!(
            out,
            "  {}  {:<17} -> {:<17} {}{}{}",
            e.time,
            e.from_state.map_or("", |s| s.as_str()),
            e.to_state.as_str(),
            e.actor,
            e.project
                .as_ref()
                .map(|p| format!(" (project `{p}`)"))
                .unwrap_or_default(),
            if e.details.is_empty() {
                String::new()
            } else {
                format!(" {}", serde_json::Value::Object(e.details.clone()))
            }
        );
    }
    printer.out(out.trim_end());
}

/// Prints the content DAG.
pub fn dag(printer: &Printer, dag: Dag) {
    let Dag {
        nodes,
        edges,
        missing,
    } = dag;
    match printer.format() {
        Format::Json => printer.json(&DagDocument {
            schema_version: SCHEMA_VERSION,
            command: "dag".into(),
            nodes,
            edges,
        }),
        Format::Dot | Format::Text => printer.data_out(&dot(&nodes, &edges, &missing)),
        Format::Prometheus | Format::Markdown => unreachable!("checked by the command dispatcher"),
    }
}

/// Graphviz: projects as folders, objects as boxes, edges labelled.
fn dot(nodes: &[DagNode], edges: &[DagEdge], missing: &BTreeSet<String>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph crp {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    let abbrev = Abbrev::among(nodes.iter().filter_map(|n| match n {
        DagNode::Object { sha256, .. } => Some(sha256),
        DagNode::Project { .. } => None,
    }));
    // Projects that share a name are told apart by their folders.
    let mut named: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for node in nodes {
        if let DagNode::Project { name, .. } = node {
            *named.entry(name).or_default() += 1;
        }
    }
    for node in nodes {
        match node {
            DagNode::Project { id, name, manifest } => {
                let mut label = format!("project {name}");
                if named.get(name.as_str()).is_some_and(|&n| n > 1) {
                    let folder = crate::fsutil::parent_of(manifest);
                    let _ = write!(label, "\n{}", crate::fsutil::display_path(folder));
                }
                // Quoted, then each line break a DOT one (`\n`).
                let label = quote(&label).replace('\n', "\\n");
                let _ = writeln!(out, "  {} [shape=folder, label={label}];", quote(id));
            }
            DagNode::Object {
                id,
                sha256,
                names,
                former_names,
                size_bytes,
                status,
            } => {
                let who = match (names.is_empty(), former_names.is_empty()) {
                    (false, _) => names.join(", "),
                    (true, true) => "(no project names it)".to_owned(),
                    (true, false) => {
                        format!("(no project names it; was {})", former_names.join(", "))
                    }
                };
                let label = format!(
                    "{who}\\n{}\\n{} · {status}",
                    abbrev.of(sha256),
                    ByteCount(*size_bytes)
                );
                let _ = writeln!(
                    out,
                    "  {} [shape=box, label=\"{}\"];",
                    quote(id),
                    label.replace('"', "\\\"")
                );
            }
        }
    }
    for id in missing {
        let _ = writeln!(
            out,
            "  {} [shape=box, style=dashed, label=\"not in the store\"];",
            quote(id)
        );
    }
    for e in edges {
        let style = match e.kind.as_str() {
            "supersedes" => ", style=dashed",
            "derived-from" => ", style=bold",
            _ => "",
        };
        let label = e.label.clone().unwrap_or_else(|| e.kind.clone());
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            quote(&e.from),
            quote(&e.to),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}
