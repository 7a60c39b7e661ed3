//! Everything crp prints: text for people, one versioned JSON document for
//! programs. Data goes to stdout; progress, warnings and errors to stderr.

pub mod add;
pub mod approval;
pub mod diff;
pub mod drift;
pub mod gc;
pub mod hash;
pub mod hook;
pub mod init;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod provenance;
pub mod remove;
pub mod request;
pub mod sync;
pub mod torrent;
pub mod update;
pub mod verify;

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Arc;

use console::style;
use serde::{Deserialize, Serialize};

use crate::cli::{ColorChoice, Format, GlobalArgs};
use crate::diagnostic::DiagnosticJson;
use crate::error::{ExitStatus, hint_of, status_of};
use crate::manifest::ManifestError;
use crate::name::Name;
use crate::plan::Action;
use crate::progress::{Bars, Lines, Reporter, Silent};

pub use add::AddDocument;
pub use hash::HashDocument;
pub use hook::HookDocument;
pub use init::InitDocument;
pub use plan::{PlanDocument, PlanSummary};
pub use sync::{SyncDocument, SyncSummary};
pub use torrent::DaemonDocument;

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

pub use crate::ops::status::TorrentStates;

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

/// Prints an error in the arguments themselves (clap's) as the JSON error
/// document `--format json` promises, for `crp COMMAND`.
pub fn argument_error(command: &str, err: &clap::Error) {
    let rendered = err.render().to_string();
    let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
    let (message, causes) = match err.kind() {
        // A group without its subcommand: clap shows the group's help,
        // which is no message. Said as clap says it when other arguments
        // follow the group.
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let mut group = <crate::cli::Cli as clap::CommandFactory>::command();
            for word in command.split(' ') {
                if let Some(sub) = group.find_subcommand(word).cloned() {
                    group = sub;
                }
            }
            let mut names: Vec<&str> = group.get_subcommands().map(|c| c.get_name()).collect();
            names.push("help");
            (
                format!("'crp {command}' requires a subcommand but one was not provided"),
                vec![format!("[subcommands: {}]", names.join(", "))],
            )
        }
        _ => {
            let message = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned();
            let causes: Vec<String> = lines
                .filter(|l| !l.starts_with("For more information") && !l.starts_with("Usage:"))
                .map(|l| l.trim().to_owned())
                .collect();
            (message, causes)
        }
    };
    let help = match command {
        "crp" => "`crp --help`".to_owned(),
        command => format!("`crp {command} --help`"),
    };
    let doc = ErrorDocument {
        schema_version: SCHEMA_VERSION,
        command: command.to_owned(),
        error: ErrorBody {
            kind: "invalid-input".into(),
            message,
            causes,
            hint: Some(format!("{help} lists what it takes")),
            diagnostics: Vec::new(),
        },
    };
    crate::stdio::outln!(
        "{}",
        serde_json::to_string_pretty(&doc).expect("documents serialize")
    );
}

/// Prints results in the chosen format.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    pub quiet: bool,
    pub verbose: u8,
    color_err: bool,
    command: &'static str,
    /// Where the search for a manifest began, when it found none.
    searched_from: Option<std::path::PathBuf>,
}

/// Whether to colour a stream: `--color`, else (`auto`) a terminal without
/// `NO_COLOR`.
pub fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal && crate::settings::var_os(crate::settings::NO_COLOR).is_none()
        }
    }
}

impl Printer {
    /// The command, as its documents name it (`torrent daemon start`).
    pub fn command(&self) -> &'static str {
        self.command
    }

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
            searched_from: global.searched_from.clone(),
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

    /// Prints a hint on stderr (text format, unless quiet).
    pub fn hint(&self, message: impl std::fmt::Display) {
        if self.text() && !self.quiet {
            errln!("  {}: {message}", style("hint").cyan().bold());
        }
    }

    /// Prints, on stderr, an error that stopped a command part-way, whose
    /// report says what it did before.
    pub fn failure(&self, message: &str, hint: Option<&str>) {
        self.error_text(message, hint);
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
        let mut hint = hint_of(err);
        // A manifest that was looked for: where.
        if let Some(dir) = &self.searched_from
            && err
                .chain()
                .any(|c| matches!(c.downcast_ref(), Some(ManifestError::NotFound { .. })))
        {
            hint = Some(format!(
                "crp looked for `{}` in `{}` and every folder above it; run `crp init` to create one here, or point at one with `--manifest PATH`",
                crate::manifest::DEFAULT_FILE,
                dir.display()
            ));
        }
        let report = err
            .chain()
            .find_map(|cause| match cause.downcast_ref::<ManifestError>() {
                Some(ManifestError::Invalid(report)) => Some(report),
                _ => None,
            });
        // A JSON error for JSON output; for text, Markdown, dot or
        // Prometheus, words on stderr, where people and CI logs see them.
        if self.format == Format::Json {
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
