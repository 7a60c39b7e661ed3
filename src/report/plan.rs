//! `crp plan`, `crp sync --dry-run` and `crp status`: the JSON document
//! and the text of a plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use console::style;
use serde::{Deserialize, Serialize};

use crate::digest::Abbrev;
use crate::fsutil::display_path;
use crate::name::Name;
use crate::plan::{Action, LinkStep, Plan};
use crate::stdio::{out, outln};
use crate::torrent::TorrentState;
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION, TorrentStates, action_style, name_width, trim_lines};

/// `crp plan`, `crp sync --dry-run` and `crp status` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDocument {
    pub schema_version: u32,
    pub command: String,
    #[serde(flatten)]
    pub plan: Plan,
    pub summary: PlanSummary,
    /// `crp status`: where each torrent resource stands in the daemon.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub torrents: BTreeMap<Name, TorrentState>,
    /// `crp status`: whether every resource is ready — in the store,
    /// linked and allowed, and with `--remote` on the remote too (what
    /// `--check` exits 1 on when false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// `crp status`: why the daemon could not be asked, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_error: Option<String>,
    /// `crp status --remote`: which objects the remote lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<crate::ops::remote::RemoteCheck>,
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub fetch: usize,
    /// Bytes to download, as far as sizes are declared.
    pub fetch_bytes: u64,
    pub link: usize,
    pub relink: usize,
    pub unlink: usize,
    pub up_to_date: usize,
    pub conflict: usize,
    #[serde(default)]
    pub awaiting_approval: usize,
    #[serde(default)]
    pub denied: usize,
}

impl PlanSummary {
    pub fn of(plan: &Plan) -> Self {
        let mut summary = Self {
            fetch_bytes: plan.fetch_bytes(),
            unlink: plan.unlinks.iter().filter(|u| u.conflict.is_none()).count(),
            conflict: plan.unlinks.iter().filter(|u| u.conflict.is_some()).count(),
            ..Self::default()
        };
        for r in &plan.resources {
            *match r.action {
                Action::Fetch | Action::FetchAndPin => &mut summary.fetch,
                Action::Link => &mut summary.link,
                Action::Relink => &mut summary.relink,
                Action::UpToDate => &mut summary.up_to_date,
                Action::Conflict => &mut summary.conflict,
                Action::AwaitingApproval => &mut summary.awaiting_approval,
                Action::Denied => &mut summary.denied,
            } += 1;
        }
        summary
    }
}

impl Printer {
    /// A plan, as `crp plan` and `crp sync --dry-run` show it.
    pub fn plan(&self, plan: &Plan) {
        let summary = PlanSummary::of(plan);
        if !self.text() {
            return self.json(&PlanDocument {
                schema_version: SCHEMA_VERSION,
                command: "plan".into(),
                plan: plan.clone(),
                summary,
                torrents: BTreeMap::new(),
                ready: None,
                daemon_error: None,
                remote: None,
            });
        }
        let width = name_width(
            plan.resources
                .iter()
                .map(|r| &r.name)
                .chain(plan.unlinks.iter().map(|u| &u.name)),
        );
        let mut out = String::new();
        for r in &plan.resources {
            let detail = match r.action {
                Action::Fetch | Action::FetchAndPin | Action::AwaitingApproval => {
                    let size = r
                        .size
                        .map_or_else(|| "size unknown".to_owned(), |s| ByteCount(s).to_string());
                    let from = if r.fetch.is_some_and(|f| f.restore) {
                        "cold storage"
                    } else {
                        r.source.as_str()
                    };
                    match r.fetch.and_then(|f| f.remembered) {
                        Some(known) => format!(
                            "{size:>10}  {from}  ({}; asks the source whether it still serves {}, which the store holds, and downloads only if not)",
                            r.verdict,
                            known.short()
                        ),
                        None => format!("{size:>10}  {from}  ({})", r.verdict),
                    }
                }
                Action::Denied => r.verdict.to_string(),
                Action::Relink => match &r.link {
                    LinkStep::Replace { reason } => format!("({reason})"),
                    _ => String::new(),
                },
                Action::Conflict => match &r.link {
                    LinkStep::Conflict { reason } => {
                        format!("`{}` is {reason}", display_path(&r.link_path))
                    }
                    _ => String::new(),
                },
                Action::Link | Action::UpToDate => match &r.verdict {
                    crate::policy::Verdict::AutoApproved => String::new(),
                    verdict => format!("({verdict})"),
                },
            };
            let verb = action_style(r.action);
            let _ = writeln!(out, "  {verb:<12} {:<width$}  {detail}", r.name.as_str());
        }
        for u in &plan.unlinks {
            let (verb, detail) = match &u.conflict {
                None => (style("unlink").red(), display_path(&u.path)),
                Some(what) => (
                    style("conflict").red().bold(),
                    format!("`{}` is {what}", display_path(&u.path)),
                ),
            };
            let _ = writeln!(out, "  {verb:<12} {:<width$}  {detail}", u.name.as_str());
        }
        out!("{}", trim_lines(&out));
        outln!("{}", plan_summary_line(plan, &summary));
    }
    /// The state of each resource, for `crp status`.
    pub fn status(
        &self,
        plan: &Plan,
        torrents: &TorrentStates,
        remote: Option<&crate::ops::remote::RemoteCheck>,
    ) {
        if !self.text() {
            return self.json(&PlanDocument {
                schema_version: SCHEMA_VERSION,
                command: "status".into(),
                plan: plan.clone(),
                summary: PlanSummary::of(plan),
                torrents: torrents.states.clone(),
                // Asked about a remote, ready means it lacks nothing too.
                ready: Some(plan.ready() && remote.is_none_or(|r| r.lacking.is_empty())),
                daemon_error: torrents.error.clone(),
                remote: remote.cloned(),
            });
        }
        let abbrev = Abbrev::among(plan.resources.iter().filter_map(|r| r.sha256.as_ref()));
        let rows: Vec<[String; 5]> = plan
            .resources
            .iter()
            .map(|r| {
                let link = match (&r.link, r.present) {
                    (LinkStep::UpToDate, _) => "linked".to_owned(),
                    (LinkStep::Create, _) => "not linked".to_owned(),
                    (LinkStep::Replace { reason }, _) => format!("outdated ({reason})"),
                    (LinkStep::Conflict { reason }, _) => {
                        format!("conflict: `{}` is {reason}", display_path(&r.link_path))
                    }
                };
                [
                    r.name.to_string(),
                    r.size
                        .map_or_else(|| "-".to_owned(), |s| ByteCount(s).to_string()),
                    r.sha256
                        .map_or_else(|| "(not pinned)".to_owned(), |d| abbrev.of(&d)),
                    match (torrents.states.get(&r.name), r.present, r.action) {
                        (_, _, Action::AwaitingApproval) => "awaiting approval".to_owned(),
                        (_, _, Action::Denied) => "denied".to_owned(),
                        (Some(state), ..) => state.to_string(),
                        (None, true, _) => "present".to_owned(),
                        (None, false, _) if r.fetch.is_some_and(|f| f.restore) => {
                            "archived".to_owned()
                        }
                        (None, false, _) => "missing".to_owned(),
                    },
                    link,
                ]
            })
            .collect();
        let header = ["RESOURCE", "SIZE", "SHA256", "STORE", "LINK"].map(str::to_owned);
        let widths: Vec<usize> = (0..4)
            .map(|i| {
                rows.iter()
                    .chain([&header])
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in [&header].into_iter().chain(&rows) {
            let _ = writeln!(
                out,
                "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
        }
        out!("{}", trim_lines(&out));
        if let Some(error) = &torrents.error {
            outln!("{} torrent states unknown: {error}", style("note:").bold());
        }
        if let Some(remote) = remote {
            match remote.lacking.len() {
                0 => outln!(
                    "remote `{}` ({}) has all {}",
                    remote.remote,
                    remote.url,
                    crate::units::count(remote.checked as u64, "pinned object")
                ),
                n => {
                    let names: Vec<String> = remote
                        .lacking
                        .iter()
                        .map(|l| l.resources.join(", "))
                        .collect();
                    outln!(
                        "remote `{}` ({}) lacks {n} of {}: {} (`crp push --remote {}` uploads them)",
                        remote.remote,
                        remote.url,
                        crate::units::count(remote.checked as u64, "pinned object"),
                        names.join("; "),
                        remote.remote
                    );
                }
            }
        }
        for u in &plan.unlinks {
            outln!(
                "{} `{}` left the manifest; its link `{}` goes at the next sync",
                style("note:").bold(),
                u.name,
                display_path(&u.path)
            );
        }
    }
}

fn plan_summary_line(plan: &Plan, s: &PlanSummary) -> String {
    if plan.is_noop() {
        return format!(
            "`{}` is up to date ({})",
            plan.project.name,
            crate::units::count(s.up_to_date as u64, "resource")
        );
    }
    let mut parts = Vec::new();
    if s.fetch > 0 {
        parts.push(if s.fetch_bytes > 0 {
            format!("{} to fetch ({})", s.fetch, ByteCount(s.fetch_bytes))
        } else {
            format!("{} to fetch", s.fetch)
        });
    }
    for (n, what) in [
        (s.link, "to link"),
        (s.relink, "to relink"),
        (s.unlink, "to unlink"),
        (s.up_to_date, "up to date"),
        (s.conflict, "in conflict"),
        (s.awaiting_approval, "awaiting approval"),
        (s.denied, "denied"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!("plan for `{}`: {}", plan.project.name, parts.join(", "))
}
