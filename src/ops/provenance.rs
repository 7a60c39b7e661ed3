//! `crp show` and `crp dag`: where objects came from and what uses them.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::provenance::{Event, read_events};
use crate::store::Store;
use crate::store::record::ObjectRecord;

/// A node of the content DAG.
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
        /// The names the projects the store knows give it now; empty for
        /// an object no project names any more.
        names: Vec<String>,
        /// Names it had in projects that no longer use it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        former_names: Vec<String>,
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

/// The content DAG: projects and objects, and what links them. `missing`
/// names the objects edges point at that the store has no record of (a
/// declared resource never fetched).
#[derive(Debug, Clone, Default)]
pub struct Dag {
    pub nodes: Vec<DagNode>,
    pub edges: Vec<DagEdge>,
    pub missing: BTreeSet<String>,
}

/// Finds the object `target` names: a sha256 (or a unique prefix of at
/// least 8 digits), or a resource name in the manifest here or in any
/// project the store knows.
fn resolve(
    manifest: Option<&Manifest>,
    store: &Store,
    target: &str,
) -> anyhow::Result<Sha256Digest> {
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
    if let Some(digest) = manifest
        .and_then(|m| m.resource(target))
        .and_then(|r| r.sha256)
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

/// The record of the object `target` names (a sha256, a unique prefix of
/// at least 8 digits, or a resource name), and every event about it,
/// oldest first.
///
/// A resource name is looked up in `manifest` when it reads, else in the
/// store's project records; with `manifest_given` (`--manifest`), it must
/// read.
///
/// # Errors
/// A target that names no object or several, an object the store has no
/// record of, records and events that cannot be read, and a manifest
/// given that cannot be read.
pub fn show(
    store: Option<&Path>,
    manifest: &Path,
    manifest_given: bool,
    target: &str,
) -> anyhow::Result<(ObjectRecord, Vec<Event>)> {
    // A manifest named on the command line must be there, whatever the
    // target turns out to be.
    let manifest = match manifest_given {
        true => Some(Manifest::load(manifest)?),
        false => Manifest::load(manifest).ok(),
    };
    let store = Store::open(store)?;
    store.check()?;
    let digest = resolve(manifest.as_ref(), &store, target)?;
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
    Ok((record, history))
}

/// The store's content DAG.
///
/// # Errors
/// Records that cannot be read.
pub fn dag(store: Option<&Path>) -> anyhow::Result<Dag> {
    let store = Store::open(store)?;
    store.check()?;
    let objects = store.object_records()?;
    let projects = store.projects()?;
    let object_id = |d: &Sha256Digest| format!("sha256:{}", d.hex());
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut current: std::collections::BTreeMap<Sha256Digest, BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for p in &projects {
        for (name, r) in &p.resources {
            current
                .entry(r.sha256)
                .or_default()
                .insert(name.to_string());
        }
    }
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
        let names = current.get(&o.sha256).cloned().unwrap_or_default();
        let former: BTreeSet<String> = o
            .projects
            .iter()
            .map(|u| u.resource.to_string())
            .filter(|n| !names.contains(n))
            .collect();
        nodes.push(DagNode::Object {
            id: object_id(&o.sha256),
            sha256: o.sha256,
            names: names.into_iter().collect(),
            former_names: former.into_iter().collect(),
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
    Ok(Dag {
        nodes,
        edges,
        missing,
    })
}
