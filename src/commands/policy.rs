//! `crp policy show|check|init`: the store's policy.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{GlobalArgs, PolicyCheckArgs, PolicyInitArgs};
use crate::error::{ExitStatus, UsageError};
use crate::manifest::Manifest;
use crate::ops::Session;
use crate::ops::status::read_only_plan;
use crate::plan::Plan;
use crate::policy::{self, Origin, Policy, Verdict};
use crate::report::{Printer, SCHEMA_VERSION};
use crate::store::Store;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedResource {
    pub name: crate::name::Name,
    /// Whether the store holds it already.
    pub present: bool,
    #[serde(flatten)]
    pub verdict: Verdict,
}

pub(super) fn show(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let policy = Policy::load(store.root())?;
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
        return Ok(ExitStatus::Success);
    }
    let mut out = String::new();
    match &policy.file {
        Some(path) => {
            let _ = writeln!(
                out,
                "# policy of `{}` (from `{}`)",
                store.root().display(),
                path.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "# policy of `{}`: the default (no `{}`)",
                store.root().display(),
                policy::path(store.root()).display()
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
    Ok(ExitStatus::Success)
}

pub(super) fn check(
    global: &GlobalArgs,
    args: &PolicyCheckArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    let session = Session::read_only(global.store.as_deref(), printer.reporter(), printer)?;
    let plan: Plan = read_only_plan(&session, &manifest, &args.approvals)?;
    let resources: Vec<CheckedResource> = plan
        .resources
        .iter()
        .map(|r| CheckedResource {
            name: r.name.clone(),
            present: r.present,
            verdict: r.verdict.clone(),
        })
        .collect();
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
            manifest.project.name,
            resources.len() - waiting - denied
        );
        printer.out(out.trim_end());
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

pub(super) fn init(
    global: &GlobalArgs,
    args: &PolicyInitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let path = policy::path(store.root());
    if path.exists() && !args.force {
        return Err(
            UsageError::new(format!("`{}` exists already", path.display()))
                .hint("pass `--force` to replace it")
                .into(),
        );
    }
    let text = if args.collective {
        policy::COLLECTIVE
    } else {
        DEFAULT_FILE
    };
    // Written only if it parses: a policy crp cannot read would stop every sync.
    Policy::parse(&path, text)?;
    store.create()?;
    crate::fsutil::write_atomic(&path, text.as_bytes())?;
    printer.note(format!(
        "wrote {} policy to `{}`",
        if args.collective {
            "the collective's"
        } else {
            "the default"
        },
        path.display()
    ));
    Ok(ExitStatus::Success)
}

/// The default policy, written out so people can see and change it.
const DEFAULT_FILE: &str = r#"# crp policy: which requests crp fetches on its own, which wait for a
# person (`crp pending`, `crp approve`, `crp deny`), and the limits that no
# approval overrides. These are the defaults; `crp policy show` prints the
# effective policy and where each value comes from.

[limits]
# max_size = "100 GB"
# quota = "2 TB"
schemes = ["https", "http", "file", "magnet", "torrent"]

[approval]
larger_than = "1 GB"
unknown_source = false
trusted_hosts = []
first_request = false
# Declared executable content (`executable = true`) needs no person by
# default; executable content that is not declared is always quarantined.
executable = false
version_change = false
approval_files = true
"#;
