//! `crp sync`: the JSON document and the text of what a sync did.

use std::fmt::Write as _;

use console::style;
use serde::{Deserialize, Serialize};

use crate::error::ExitStatus;
use crate::execute::{LinkOutcome, Status, SyncReport, UnlinkStatus};
use crate::fsutil::display_path;
use crate::name::Name;
use crate::stdio::{errln, out, outln};
use crate::units::ByteCount;

use super::{Printer, SCHEMA_VERSION, name_width, trim_lines};

/// `crp sync` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether everything the manifest asks for is in place.
    pub ok: bool,
    #[serde(flatten)]
    pub report: SyncReport,
    pub summary: SyncSummary,
}

/// Counts of what a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    pub fetched: usize,
    pub fetched_bytes: u64,
    /// Objects brought back from cold storage.
    #[serde(default)]
    pub restored: usize,
    pub pinned: usize,
    pub linked: usize,
    pub relinked: usize,
    pub unlinked: usize,
    pub up_to_date: usize,
    pub failed: usize,
    pub missing: usize,
    pub conflict: usize,
    /// Torrents not complete yet.
    pub downloading: usize,
    #[serde(default)]
    pub awaiting_approval: usize,
    #[serde(default)]
    pub denied: usize,
    #[serde(default)]
    pub quarantined: usize,
}

impl SyncSummary {
    pub fn of(report: &SyncReport) -> Self {
        let mut s = Self::default();
        let mut fetched = std::collections::HashSet::new();
        let mut restored = std::collections::HashSet::new();
        for r in &report.resources {
            if r.fetched_from.is_some() && r.sha256.is_some_and(|d| fetched.insert(d)) {
                s.fetched += 1;
                s.fetched_bytes += r.size.unwrap_or(0);
            }
            if r.restored_from.is_some() && r.sha256.is_some_and(|d| restored.insert(d)) {
                s.restored += 1;
            }
            s.pinned += usize::from(r.pinned);
            match r.status {
                Status::Ok => match r.link {
                    LinkOutcome::Created => s.linked += 1,
                    LinkOutcome::Replaced => s.relinked += 1,
                    LinkOutcome::UpToDate | LinkOutcome::NotLinked | LinkOutcome::Removed => {
                        s.up_to_date += 1
                    }
                },
                Status::Failed => s.failed += 1,
                Status::Missing => s.missing += 1,
                Status::Conflict => s.conflict += 1,
                Status::Downloading => s.downloading += 1,
                Status::AwaitingApproval => s.awaiting_approval += 1,
                Status::Denied => s.denied += 1,
                Status::Quarantined => s.quarantined += 1,
            }
        }
        for u in &report.unlinked {
            match u.status {
                UnlinkStatus::Removed => s.unlinked += 1,
                UnlinkStatus::Conflict => s.conflict += 1,
                UnlinkStatus::Failed => s.failed += 1,
            }
        }
        s
    }
}

impl Printer {
    /// What a sync did. Failures are detailed on stderr.
    pub fn sync(&self, report: &SyncReport) -> ExitStatus {
        let summary = SyncSummary::of(report);
        let complete = report.is_complete();
        if !self.text() {
            self.json(&SyncDocument {
                schema_version: SCHEMA_VERSION,
                command: "sync".into(),
                ok: complete,
                report: report.clone(),
                summary,
            });
            return if complete {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            };
        }
        let width = name_width(
            report
                .resources
                .iter()
                .map(|r| &r.name)
                .chain(report.unlinked.iter().map(|u| &u.name)),
        );
        let mut out = String::new();
        let mut line = |verb: console::StyledObject<&str>, name: &Name, detail: String| {
            let _ = writeln!(out, "  {verb:<12} {:<width$}  {detail}", name.as_str());
        };
        for r in &report.resources {
            if let Some(from) = &r.fetched_from {
                let size = r.size.map(|s| ByteCount(s).to_string()).unwrap_or_default();
                line(
                    style("fetched").green(),
                    &r.name,
                    format!(
                        "{size:>10}  from {}  ({})",
                        crate::fsutil::display_source(from),
                        r.verdict
                    ),
                );
            }
            if let Some(from) = &r.restored_from {
                let size = r.size.map(|s| ByteCount(s).to_string()).unwrap_or_default();
                line(
                    style("restored").green(),
                    &r.name,
                    format!(
                        "{size:>10}  from cold storage {}",
                        crate::fsutil::display_source(from)
                    ),
                );
            }
            if r.pinned
                && let Some(digest) = r.sha256
            {
                line(
                    style("pinned").green().bold(),
                    &r.name,
                    format!(
                        "sha256 = \"{digest}\", size = {} written to `{}` (trust on first use)",
                        r.size.unwrap_or(0),
                        display_path(&report.project.manifest)
                    ),
                );
            }
            match (r.status, r.link) {
                (Status::Ok, LinkOutcome::Created) => {
                    line(style("linked").green(), &r.name, display_path(&r.link_path));
                }
                (Status::Ok, LinkOutcome::Replaced) => {
                    line(
                        style("relinked").green(),
                        &r.name,
                        display_path(&r.link_path),
                    );
                }
                (Status::Ok, _) if self.verbose > 0 => {
                    line(style("up to date").dim(), &r.name, String::new())
                }
                (Status::Ok, _) => {}
                (status, _) => {
                    let verb = match status {
                        Status::Missing => style("missing").yellow().bold(),
                        Status::AwaitingApproval => style("awaiting").yellow().bold(),
                        Status::Denied => style("denied").red().bold(),
                        Status::Quarantined => style("quarantined").red().bold(),
                        Status::Conflict => style("conflict").red().bold(),
                        Status::Downloading => match &r.torrent {
                            Some(state) if state.phase == crate::torrent::TorrentPhase::Stalled => {
                                style("stalled").yellow().bold()
                            }
                            Some(state)
                                if state.phase == crate::torrent::TorrentPhase::Verifying =>
                            {
                                style("verifying").cyan().bold()
                            }
                            _ => style("downloading").cyan().bold(),
                        },
                        _ => style("failed").red().bold(),
                    };
                    // The first source's reason, on one line; every one is
                    // detailed on stderr.
                    let message = match &r.error {
                        // A declared source's reason first: a mirror's
                        // is the common "does not have it".
                        Some(e) => match e
                            .failures
                            .iter()
                            .position(|f| !f.mirror)
                            .map(|i| {
                                let mut failures = e.failures.clone();
                                let declared = failures.remove(i);
                                failures.insert(0, declared);
                                failures
                            })
                            .unwrap_or_else(|| e.failures.clone())
                            .as_slice()
                        {
                            [] => e.message.clone(),
                            [first, rest @ ..] => {
                                let reason = first
                                    .error
                                    .lines()
                                    .next()
                                    .unwrap_or_default()
                                    .trim_end_matches(':');
                                let more = match rest.len() {
                                    0 => String::new(),
                                    n => format!(
                                        " (and {} more)",
                                        crate::units::count(n as u64, "source")
                                    ),
                                };
                                format!(
                                    "{reason} (from {}){more}",
                                    crate::fsutil::display_source(&first.source)
                                )
                            }
                        },
                        None => String::new(),
                    };
                    line(verb, &r.name, message);
                }
            }
        }
        for u in &report.unlinked {
            let (verb, detail) = match u.status {
                UnlinkStatus::Removed => (style("unlinked").red(), display_path(&u.path)),
                UnlinkStatus::Conflict => (
                    style("conflict").red().bold(),
                    u.reason.clone().unwrap_or_default(),
                ),
                UnlinkStatus::Failed => (
                    style("failed").red().bold(),
                    u.reason.clone().unwrap_or_default(),
                ),
            };
            line(verb, &u.name, detail);
        }
        if !self.quiet {
            out!("{}", trim_lines(&out));
            outln!("{}", sync_summary_line(report, &summary));
        }
        // Each failure in full, where errors go.
        for r in &report.resources {
            if r.status == Status::Failed
                && let Some(error) = &r.error
            {
                let mut text = error.message.clone();
                for f in &error.failures {
                    let _ = write!(
                        text,
                        "\n  from {}: {}",
                        f.source,
                        f.error.replace('\n', "\n  ")
                    );
                }
                self.error_text(&text, error.hint.as_deref());
            }
        }
        if summary.awaiting_approval > 0 && !self.quiet {
            errln!(
                "  {}: `crp pending` lists what waits; a person runs `crp approve NAME --by WHO`, then `crp sync` fetches it",
                style("hint").cyan().bold()
            );
        }
        let executable: Vec<String> = report
            .resources
            .iter()
            .filter(|r| undeclared_executable(r))
            .map(|r| format!("`{}`", r.name))
            .collect();
        if !executable.is_empty() && !self.quiet {
            errln!(
                "  {}: if {} {} meant to run, declare `executable = true` in {} entry; the store's policy then judges it (a person may need to `crp approve` it). Otherwise it stays out of the project",
                style("hint").cyan().bold(),
                executable.join(", "),
                if executable.len() == 1 { "is" } else { "are" },
                if executable.len() == 1 { "its" } else { "each" },
            );
        }
        if complete {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

/// Held back for executable content the manifest does not declare: just
/// quarantined, refused for content quarantined or stored before, or
/// still served as it was quarantined.
fn undeclared_executable(r: &crate::execute::ResourceOutcome) -> bool {
    match r.status {
        Status::Quarantined => true,
        Status::Denied => match &r.verdict {
            crate::policy::Verdict::Denied { rule, .. } => {
                *rule == Some(crate::policy::Rule::UndeclaredExecutable)
            }
            // Allowed by the plan, refused once the content was known.
            verdict => verdict.allows() && r.error.is_some(),
        },
        _ => false,
    }
}

fn sync_summary_line(report: &SyncReport, s: &SyncSummary) -> String {
    let mut parts = Vec::new();
    if s.fetched > 0 {
        parts.push(format!(
            "{} fetched ({})",
            s.fetched,
            ByteCount(s.fetched_bytes)
        ));
    }
    for (n, what) in [
        (s.restored, "restored"),
        (s.pinned, "pinned"),
        (s.linked, "linked"),
        (s.relinked, "relinked"),
        (s.unlinked, "unlinked"),
        (s.up_to_date, "up to date"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut problems = Vec::new();
    for (n, what) in [
        (s.failed, "failed"),
        (s.missing, "missing"),
        (s.conflict, "in conflict"),
        (s.downloading, "still downloading"),
        (s.awaiting_approval, "awaiting approval"),
        (s.denied, "denied"),
        (s.quarantined, "quarantined"),
    ] {
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    let name = &report.project.name;
    match (problems.is_empty(), parts.is_empty()) {
        (true, true) => format!("synced `{name}`: nothing to do"),
        (true, false) => format!("synced `{name}`: {}", parts.join(", ")),
        (false, true) => format!("sync of `{name}` incomplete: {}", problems.join(", ")),
        (false, false) => format!(
            "sync of `{name}` incomplete: {}; {}",
            problems.join(", "),
            parts.join(", ")
        ),
    }
}
