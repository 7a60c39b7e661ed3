//! `crp policy show|check`: the JSON documents and the text of a policy
//! and of a policy check.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::ops::policy::CheckedResource;
use crate::policy::{self, Origin, Policy, Verdict};

use super::{Printer, SCHEMA_VERSION};

/// `crp policy show` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    pub schema_version: u32,
    pub command: String,
    pub policy: Policy,
    /// Every setting with its value (as TOML) and where it comes from.
    pub settings: Vec<Setting>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// `crp policy check` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether every resource may be fetched and linked without a person.
    pub ok: bool,
    pub resources: Vec<CheckedResource>,
}

/// Prints the effective policy of the store at `store` and where each
/// setting comes from.
/// `crp policy init --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInitDocument {
    pub schema_version: u32,
    pub command: String,
    /// The policy file written.
    pub path: std::path::PathBuf,
    /// The collective's full rule set, rather than the default.
    pub collective: bool,
}

/// Prints where `crp policy init` wrote which policy.
pub fn init(printer: &Printer, path: &Path, collective: bool) {
    if printer.format() == crate::cli::Format::Json {
        printer.json(&PolicyInitDocument {
            schema_version: SCHEMA_VERSION,
            command: "policy init".into(),
            path: path.to_owned(),
            collective,
        });
        return;
    }
    printer.note(format!(
        "wrote {} policy to `{}`",
        if collective {
            "the collective's"
        } else {
            "the default"
        },
        path.display()
    ));
}

pub fn show(printer: &Printer, store: &Path, policy: Policy) {
    let settings = policy.settings();
    if printer.format() == crate::cli::Format::Json {
        printer.json(&PolicyDocument {
            schema_version: SCHEMA_VERSION,
            command: "policy show".into(),
            settings: settings
                .into_iter()
                .map(|(key, value, origin)| Setting {
                    key: key.into(),
                    value,
                    origin,
                })
                .collect(),
            policy,
        });
        return;
    }
    let mut out = String::new();
    match &policy.file {
        Some(path) => {
            let _ = writeln!(
                out,
                "# policy of `{}` (from `{}`)",
                store.display(),
                path.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "# policy of `{}`: the default (no `{}`)",
                store.display(),
                policy::path(store).display()
            );
        }
    }
    let line_of = |key: &str, value: &str| {
        let name = key.split_once('.').map_or(key, |(_, name)| name);
        format!("{name} = {value}")
    };
    // Comments line up, except behind the odd long list.
    let width = settings
        .iter()
        .map(|(k, v, _)| line_of(k, v).len())
        .filter(|w| *w <= 40)
        .max()
        .unwrap_or(0);
    let mut section = "";
    for (key, value, origin) in &settings {
        let table = key.split_once('.').map_or("", |(table, _)| table);
        if table != section {
            let _ = writeln!(out, "\n[{table}]");
            section = table;
        }
        // The file is named above: a line number says enough.
        let origin = match origin {
            Origin::File { line, .. } => format!("line {line}"),
            Origin::Default => "default".to_owned(),
        };
        let _ = writeln!(out, "{:<width$}  # {origin}", line_of(key, value));
    }
    printer.out(out.trim_end());
}

/// Prints each resource's verdict; true when all are allowed.
pub fn check(printer: &Printer, project: &Name, resources: Vec<CheckedResource>) -> bool {
    let ok = resources.iter().all(|r| r.verdict.allows());
    if printer.format() == crate::cli::Format::Json {
        printer.json(&CheckDocument {
            schema_version: SCHEMA_VERSION,
            command: "policy check".into(),
            ok,
            resources,
        });
    } else {
        let width = resources
            .iter()
            .map(|r| r.name.as_str().len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for r in &resources {
            let _ = writeln!(out, "  {:<width$}  {}", r.name.as_str(), r.verdict);
        }
        let waiting = resources
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::AwaitingApproval { .. }))
            .count();
        let denied = resources
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Denied { .. }))
            .count();
        let _ = writeln!(
            out,
            "policy check of `{}`: {} allowed, {waiting} awaiting approval, {denied} denied",
            project,
            resources.len() - waiting - denied
        );
        printer.out(out.trim_end());
    }
    ok
}
