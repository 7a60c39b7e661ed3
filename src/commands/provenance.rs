//! `crp show` and `crp dag`: where objects came from and what uses them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{Format, GlobalArgs, ShowArgs};
use crate::digest::Sha256Digest;
use crate::error::{ExitStatus, UsageError};
use crate::manifest::Manifest;
use crate::provenance::{Event, read_events};
use crate::report::{Printer, SCHEMA_VERSION};
use crate::store::Store;
use crate::store::record::ObjectRecord;
use crate::units::ByteCount;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DagNode {
    Project {
        id: String,
        name: String,
        manifest: std::path::PathBuf,
    },
    Object {
        id: String,
        sha256: Sha256Digest,
        /// The names projects give it.
        names: Vec<String>,
        size_bytes: u64,
        status: crate::provenance::State,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagEdge {
    pub from: String,
    pub to: String,
    /// `uses` (project → object, labelled with the resource name),
    /// `supersedes` or `derived-from` (object → object).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Finds the object `target` names: a sha256 (or a unique prefix of at
/// least 8 digits), or a resource name in the manifest here or in any
/// project the store knows.
fn resolve(global: &GlobalArgs, store: &Store, target: &str) -> anyhow::Result<Sha256Digest> {
    if let Ok(digest) = target.parse::<Sha256Digest>() {
        return Ok(digest);
    }
    let hex = target.strip_prefix("sha256:").unwrap_or(target);
    if hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let matches: Vec<Sha256Digest> = store
            .object_records()?
            .into_iter()
            .map(|r| r.sha256)
            .filter(|d| d.hex().starts_with(&hex.to_ascii_lowercase()))
            .collect();
        if let [one] = matches[..] {
            return Ok(one);
        }
    }
    if let Ok(manifest) = Manifest::load(&global.manifest)
        && let Some(digest) = manifest.resource(target).and_then(|r| r.sha256)
    {
        return Ok(digest);
    }
    let digests: BTreeSet<Sha256Digest> = store
        .projects()?
        .iter()
        .filter_map(|p| p.resources.iter().find(|(n, _)| n.as_str() == target))
        .map(|(_, r)| r.sha256)
        .collect();
    match digests.len() {
        1 => Ok(*digests.first().expect("one")),
        0 => Err(
            UsageError::new(format!("no object in the store is known as `{target}`"))
                .hint("give a resource name from `resources.toml`, or an object's sha256")
                .into(),
        ),
        n => Err(UsageError::new(format!(
            "`{target}` names {n} different objects in the store's projects"
        ))
        .hint("give the object's sha256")
        .into()),
    }
}

pub(super) fn show(
    global: &GlobalArgs,
    args: &ShowArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let digest = resolve(global, &store, &args.target)?;
    let Some(record) = store.read_object_record(&digest)? else {
        return Err(
            UsageError::new(format!("the store has no record of {digest}"))
                .hint("`crp status` shows what the store holds for this project")
                .into(),
        );
    };
    let names: BTreeSet<&str> = record
        .projects
        .iter()
        .map(|u| u.resource.as_str())
        .collect();
    let history: Vec<Event> = read_events(&store)?
        .into_iter()
        .filter(|e| {
            e.object == Some(digest)
                || (e.object.is_none()
                    && e.resource
                        .as_ref()
                        .is_some_and(|n| names.contains(n.as_str())))
        })
        .collect();
    if printer.format() == Format::Json {
        printer.json(&ShowDocument {
            schema_version: SCHEMA_VERSION,
            command: "show".into(),
            record,
            history,
        });
        return Ok(ExitStatus::Success);
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
    row("path", r.file_path.display().to_string());
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
    Ok(ExitStatus::Success)
}

pub(super) fn dag(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let objects = store.object_records()?;
    let projects = store.projects()?;
    let object_id = |d: &Sha256Digest| format!("sha256:{}", d.hex());
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for p in &projects {
        nodes.push(DagNode::Project {
            id: format!("project:{}", p.id),
            name: p.name.to_string(),
            manifest: p.manifest.clone(),
        });
        for (name, r) in &p.resources {
            edges.push(DagEdge {
                from: format!("project:{}", p.id),
                to: object_id(&r.sha256),
                kind: "uses".into(),
                label: Some(name.to_string()),
            });
        }
    }
    let known: BTreeSet<Sha256Digest> = objects.iter().map(|o| o.sha256).collect();
    for o in &objects {
        let names: BTreeSet<String> = o.projects.iter().map(|u| u.resource.to_string()).collect();
        nodes.push(DagNode::Object {
            id: object_id(&o.sha256),
            sha256: o.sha256,
            names: names.into_iter().collect(),
            size_bytes: o.size,
            status: o.status,
        });
        for old in &o.supersedes {
            edges.push(DagEdge {
                from: object_id(&o.sha256),
                to: object_id(old),
                kind: "supersedes".into(),
                label: None,
            });
        }
        for parent in &o.derived_from {
            edges.push(DagEdge {
                from: object_id(&o.sha256),
                to: object_id(parent),
                kind: "derived-from".into(),
                label: None,
            });
        }
    }
    // Edges may point at objects the store no longer holds a record of
    // (a declared resource never fetched): they still get a node.
    let mut missing: BTreeSet<String> = BTreeSet::new();
    for e in &edges {
        if e.to.starts_with("sha256:") && !known.iter().any(|d| object_id(d) == e.to) {
            missing.insert(e.to.clone());
        }
    }
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
    Ok(ExitStatus::Success)
}

/// Graphviz: projects as folders, objects as boxes, edges labelled.
fn dot(nodes: &[DagNode], edges: &[DagEdge], missing: &BTreeSet<String>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph crp {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    for node in nodes {
        match node {
            DagNode::Project { id, name, .. } => {
                let _ = writeln!(
                    out,
                    "  {} [shape=folder, label={}];",
                    quote(id),
                    quote(&format!("project {name}"))
                );
            }
            DagNode::Object {
                id,
                sha256,
                names,
                size_bytes,
                status,
            } => {
                let label = format!(
                    "{}\\n{}\\n{} · {status}",
                    names.join(", "),
                    sha256.short(),
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
