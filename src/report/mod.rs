//! Everything crp prints: text for people, one versioned JSON document for
//! programs. Data goes to stdout; progress, warnings and errors to stderr.

pub mod approval;
pub mod diff;
pub mod drift;
pub mod gc;
pub mod metrics;
pub mod policy;
pub mod provenance;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use console::style;
use serde::{Deserialize, Serialize};

use crate::cli::{ColorChoice, Format, GlobalArgs};
use crate::diagnostic::DiagnosticJson;
use crate::digest::Sha256Digest;
use crate::error::{ExitStatus, hint_of, status_of};
use crate::execute::{LinkOutcome, Status, SyncReport, UnlinkStatus};
use crate::fsutil::display_path;
use crate::manifest::ManifestError;
use crate::name::Name;
use crate::plan::{Action, LinkStep, Plan};
use crate::progress::{Bars, Lines, Reporter, Silent};
use crate::torrent::TorrentState;
use crate::units::ByteCount;

pub(crate) use crate::stdio::{errln, out, outln};

impl crate::progress::Messages for Printer {
    fn warn(&self, message: &str) {
        Printer::warn(self, message);
    }

    fn note(&self, message: &str) {
        Printer::note(self, message);
    }
}

/// The version of every JSON document crp prints.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// `crp status`: why the daemon could not be asked, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_error: Option<String>,
}

pub use crate::ops::status::TorrentStates;

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
        for r in &report.resources {
            if r.fetched_from.is_some() && r.sha256.is_some_and(|d| fetched.insert(d)) {
                s.fetched += 1;
                s.fetched_bytes += r.size.unwrap_or(0);
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

/// `crp hash` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashDocument {
    pub schema_version: u32,
    pub command: String,
    pub path: PathBuf,
    pub kind: crate::store::record::ObjectKind,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// `crp add` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    pub name: Name,
    pub source: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Set when the bytes were downloaded now; absent when the store had them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_from: Option<String>,
}

/// `crp torrent daemon start|stop` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether the daemon runs now.
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
}

/// `crp hook torrent-done` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookDocument {
    pub schema_version: u32,
    pub command: String,
    pub info_hash: String,
    pub name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// `crp init` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitDocument {
    pub schema_version: u32,
    pub command: String,
    pub manifest: PathBuf,
    pub project: Name,
}

/// Any command that failed, in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDocument {
    pub schema_version: u32,
    pub command: String,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid-input` (exit code 2) or `failure` (exit code 1).
    pub kind: String,
    pub message: String,
    /// The chain of causes, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For problems in a manifest: each with file, line and column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<DiagnosticJson>,
}

/// Prints results in the chosen format.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    pub quiet: bool,
    pub verbose: u8,
    color_err: bool,
    command: &'static str,
}

fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal && crate::settings::var_os(crate::settings::NO_COLOR).is_none()
        }
    }
}

impl Printer {
    pub fn new(global: &GlobalArgs, command: &'static str) -> Self {
        let color_out = use_color(global.color, std::io::stdout().is_terminal());
        let color_err = use_color(global.color, std::io::stderr().is_terminal());
        console::set_colors_enabled(color_out);
        console::set_colors_enabled_stderr(color_err);
        Self {
            format: global.format,
            quiet: global.quiet,
            verbose: global.verbose,
            color_err,
            command,
        }
    }

    fn text(&self) -> bool {
        self.format == Format::Text
    }

    /// The progress reporter that fits the output: bars on a terminal, lines
    /// elsewhere, nothing with `-q` or `--format json`.
    pub fn reporter(&self) -> Arc<dyn Reporter> {
        if !self.text() || self.quiet {
            Arc::new(Silent)
        } else if std::io::stderr().is_terminal() {
            Arc::new(Bars::default())
        } else {
            Arc::new(Lines)
        }
    }

    /// Prints a JSON document on stdout.
    pub fn json<T: Serialize>(&self, doc: &T) {
        outln!(
            "{}",
            serde_json::to_string_pretty(doc).expect("documents serialize")
        );
    }

    /// Prints a line of data on stdout (text format, unless quiet).
    pub fn out(&self, line: impl std::fmt::Display) {
        if self.text() && !self.quiet {
            outln!("{line}");
        }
    }

    /// Prints a warning on stderr (text format, unless quiet).
    pub fn warn(&self, message: impl std::fmt::Display) {
        if self.text() && !self.quiet {
            errln!("{}: {message}", style("warning").yellow().bold());
        }
    }

    /// The output format asked for.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Prints a command's data (`--format dot`, `prometheus`) on stdout,
    /// quiet or not: it is the command's result.
    pub fn data_out(&self, text: &str) {
        out!("{text}");
    }

    /// Prints a note on stderr (text format, unless quiet).
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.text() && !self.quiet {
            errln!("{}: {message}", style("note").bold());
        }
    }

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
                daemon_error: None,
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
    pub fn status(&self, plan: &Plan, torrents: &TorrentStates) {
        if !self.text() {
            return self.json(&PlanDocument {
                schema_version: SCHEMA_VERSION,
                command: "status".into(),
                plan: plan.clone(),
                summary: PlanSummary::of(plan),
                torrents: torrents.states.clone(),
                daemon_error: torrents.error.clone(),
            });
        }
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
                        .map_or_else(|| "(not pinned)".to_owned(), |d| d.short()),
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
        for u in &plan.unlinks {
            outln!(
                "{} `{}` left the manifest; its link `{}` goes at the next sync",
                style("note:").bold(),
                u.name,
                display_path(&u.path)
            );
        }
    }

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
                    format!("{size:>10}  from {from}  ({})", r.verdict),
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
                    let message = r
                        .error
                        .as_ref()
                        .map(|e| e.message.clone())
                        .unwrap_or_default();
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
        if complete {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }

    fn error_text(&self, message: &str, hint: Option<&str>) {
        errln!("{}: {message}", style("error").red().bold());
        if let Some(hint) = hint {
            errln!("  {}: {hint}", style("hint").cyan().bold());
        }
    }

    /// Reports the error that stopped a command and returns its exit status.
    pub fn error(&self, err: &anyhow::Error) -> ExitStatus {
        let status = status_of(err);
        let hint = hint_of(err);
        let report = err
            .chain()
            .find_map(|cause| match cause.downcast_ref::<ManifestError>() {
                Some(ManifestError::Invalid(report)) => Some(report),
                _ => None,
            });
        if !self.text() {
            self.json(&ErrorDocument {
                schema_version: SCHEMA_VERSION,
                command: self.command.into(),
                error: ErrorBody {
                    kind: match status {
                        ExitStatus::Input => "invalid-input",
                        _ => "failure",
                    }
                    .into(),
                    message: err.to_string(),
                    causes: err.chain().skip(1).map(ToString::to_string).collect(),
                    hint,
                    diagnostics: report.map(|r| r.to_json()).unwrap_or_default(),
                },
            });
            return status;
        }
        if let Some(report) = report {
            use std::io::Write as _;
            let rendered = report.render(self.color_err);
            let _ = std::io::stderr()
                .lock()
                .write_all(crate::redact::text(&rendered).as_bytes());
        }
        let mut message = err.to_string();
        for cause in err.chain().skip(1) {
            let _ = write!(message, "\n  caused by: {cause}");
        }
        self.error_text(&message, hint.as_deref());
        status
    }
}

/// Style for an action's verb.
fn action_style(action: Action) -> console::StyledObject<&'static str> {
    // The verb column is 12 wide: the long action gets a short verb.
    let s = style(match action {
        Action::AwaitingApproval => "awaiting",
        other => other.as_str(),
    });
    match action {
        Action::Fetch | Action::FetchAndPin => s.cyan(),
        Action::Link | Action::Relink => s.green(),
        Action::UpToDate => s.dim(),
        Action::Conflict | Action::Denied => s.red().bold(),
        Action::AwaitingApproval => s.yellow().bold(),
    }
}

fn name_width<'a>(names: impl Iterator<Item = &'a Name>) -> usize {
    names.map(|n| n.as_str().len()).max().unwrap_or(0)
}

/// Text made safe for one cell of a Markdown table.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Removes padding at the ends of lines (columns pad every row).
fn trim_lines(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

fn plan_summary_line(plan: &Plan, s: &PlanSummary) -> String {
    if plan.is_noop() {
        return format!(
            "`{}` is up to date ({} resources)",
            plan.project.name, s.up_to_date
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
