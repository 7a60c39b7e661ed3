//! Progress events from the core, and the ways to show them.
//!
//! Library code reports through [`Reporter`] and never prints. Three
//! reporters exist: progress bars on a terminal ([`Bars`]), one plain line per
//! event otherwise ([`Lines`]), and nothing at all for `-q` and
//! `--format json` ([`Silent`]). All of them write to stderr: stdout is data.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::ByteCount;

/// What kind of note the core has for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Waiting on another process (a lock).
    Waiting,
    /// A transient failure, about to be tried again.
    Retrying,
    /// Something went wrong but the work goes on.
    Warning,
    /// Something worth knowing.
    Info,
}

/// Receives progress events.
pub trait Reporter: Send + Sync {
    /// A transfer starts; the handle receives its progress.
    fn download(&self, resource: &str, source: &str, size: Option<u64>) -> Box<dyn Download>;
    /// A transfer that first asks the source whether what the store holds
    /// is still what it serves: it may download nothing.
    fn check(&self, resource: &str, source: &str, size: Option<u64>) -> Box<dyn Download> {
        self.download(resource, source, size)
    }
    /// An upload to a remote starts (`crp push`).
    fn upload(&self, object: &str, target: &str, size: Option<u64>) -> Box<dyn Download> {
        self.download(object, target, size)
    }
    /// A note for the user while work goes on.
    fn note(&self, kind: NoteKind, message: &str);
}

/// Warnings and notes for people that are not progress: an approvals file
/// the policy does not trust, a daemon that could not be asked. The printer
/// shows them in text output and keeps them out of JSON.
pub trait Messages: Send + Sync {
    fn warn(&self, message: &str);
    fn note(&self, message: &str);
}

/// One transfer's progress.
pub trait Download: Send + Sync {
    /// The transfer is at `bytes` (after a resume or a restart).
    fn set_position(&self, bytes: u64);
    /// `bytes` more have arrived.
    fn advance(&self, bytes: u64);
    /// The expected length became known.
    fn set_length(&self, bytes: u64);
    /// What the transfer is doing, in words ("stalled at 40% (no peers)").
    fn set_detail(&self, detail: &str);
    /// The transfer ended; `ok` tells whether the bytes were accepted.
    fn finish(&self, ok: bool);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

struct NoDownload;

impl Download for NoDownload {
    fn set_position(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn set_length(&self, _: u64) {}
    fn set_detail(&self, _: &str) {}
    fn finish(&self, _: bool) {}
}

impl Reporter for Silent {
    fn download(&self, _: &str, _: &str, _: Option<u64>) -> Box<dyn Download> {
        Box::new(NoDownload)
    }
    fn note(&self, _: NoteKind, _: &str) {}
}

fn note_prefix(kind: NoteKind) -> console::StyledObject<&'static str> {
    match kind {
        NoteKind::Waiting => style("waiting").cyan().bold(),
        NoteKind::Retrying => style("retrying").yellow().bold(),
        NoteKind::Warning => style("warning").yellow().bold(),
        NoteKind::Info => style("note").bold(),
    }
}

/// One line per event, for logs and pipes.
#[derive(Debug, Default)]
pub struct Lines;

struct LineDownload {
    resource: String,
    started: Instant,
    /// The verb of the line that says it is done.
    done: &'static str,
    bytes: Mutex<u64>,
    /// The last detail printed, so a line appears only when it changes in kind.
    detail: Mutex<String>,
}

impl Download for LineDownload {
    fn set_position(&self, bytes: u64) {
        *self.bytes.lock().expect("not poisoned") = bytes;
    }
    fn advance(&self, bytes: u64) {
        *self.bytes.lock().expect("not poisoned") += bytes;
    }
    fn set_length(&self, _: u64) {}
    fn set_detail(&self, detail: &str) {
        // "downloading 41.2% (…)" and "downloading 41.3% (…)" are one state.
        let kind = detail
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut last = self.detail.lock().expect("not poisoned");
        if *last != kind {
            crate::stdio::errln!(
                "{:>10} {}: {detail}",
                style("torrent").cyan().bold(),
                self.resource
            );
            *last = kind;
        }
    }
    fn finish(&self, ok: bool) {
        if ok {
            let bytes = *self.bytes.lock().expect("not poisoned");
            crate::stdio::errln!(
                "{:>10} {} ({}) in {}",
                style(self.done).green().bold(),
                self.resource,
                ByteCount(bytes),
                Seconds(self.started.elapsed())
            );
        }
    }
}

impl Lines {
    /// "fetching NAME (SIZE) from SOURCE": `how` is the verb and its preposition.
    fn start(
        how: (&str, &str, &'static str),
        resource: &str,
        source: &str,
        size: Option<u64>,
    ) -> Box<dyn Download> {
        let size = size
            .map(|s| format!(" ({})", ByteCount(s)))
            .unwrap_or_default();
        crate::stdio::errln!(
            "{:>10} {resource}{size} {} {}",
            style(how.0).cyan().bold(),
            how.1,
            crate::fsutil::display_source(source)
        );
        Box::new(LineDownload {
            resource: resource.to_owned(),
            started: Instant::now(),
            done: how.2,
            bytes: Mutex::new(0),
            detail: Mutex::new(String::new()),
        })
    }
}

impl Reporter for Lines {
    fn download(&self, resource: &str, source: &str, size: Option<u64>) -> Box<dyn Download> {
        Self::start(("fetching", "from", "fetched"), resource, source, size)
    }

    fn check(&self, resource: &str, source: &str, size: Option<u64>) -> Box<dyn Download> {
        Self::start(("checking", "at", "fetched"), resource, source, size)
    }

    fn upload(&self, object: &str, target: &str, size: Option<u64>) -> Box<dyn Download> {
        Self::start(("pushing", "to", "pushed"), object, target, size)
    }

    fn note(&self, kind: NoteKind, message: &str) {
        crate::stdio::errln!("{:>10} {message}", note_prefix(kind));
    }
}

/// Progress bars, for a terminal.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
}

impl Default for Bars {
    fn default() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }
}

struct BarDownload {
    bar: ProgressBar,
    resource: String,
    started: Instant,
    done: &'static str,
    multi: MultiProgress,
}

impl Download for BarDownload {
    fn set_position(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn set_length(&self, bytes: u64) {
        self.bar.set_length(bytes);
    }
    fn set_detail(&self, detail: &str) {
        self.bar
            .set_message(format!("{} {}", self.resource, crate::redact::text(detail)));
    }
    fn finish(&self, ok: bool) {
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
        if ok {
            let _ = self.multi.println(format!(
                "{:>10} {} ({}) in {}",
                style(self.done).green().bold(),
                self.resource,
                ByteCount(self.bar.position()),
                Seconds(self.started.elapsed())
            ));
        }
    }
}

impl Reporter for Bars {
    fn download(&self, resource: &str, _source: &str, size: Option<u64>) -> Box<dyn Download> {
        self.start(("fetching", "fetched"), resource, size)
    }

    fn upload(&self, object: &str, _target: &str, size: Option<u64>) -> Box<dyn Download> {
        self.start(("pushing", "pushed"), object, size)
    }

    fn note(&self, kind: NoteKind, message: &str) {
        let _ = self.multi.println(format!(
            "{:>10} {}",
            note_prefix(kind),
            crate::redact::text(message)
        ));
    }
}

impl Bars {
    /// A bar prefixed by `how.0`, and a line with `how.1` once done.
    fn start(
        &self,
        how: (&'static str, &'static str),
        resource: &str,
        size: Option<u64>,
    ) -> Box<dyn Download> {
        let bar = self.multi.add(match size {
            Some(size) => ProgressBar::new(size),
            None => ProgressBar::no_length(),
        });
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10.cyan.bold} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(how.0);
        bar.set_message(crate::redact::text(resource).into_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(BarDownload {
            bar,
            resource: resource.to_owned(),
            started: Instant::now(),
            done: how.1,
            multi: self.multi.clone(),
        })
    }
}

/// A duration as people read it in a log line: `0.4s`, `12s`, `3m 05s`.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.as_secs_f64();
        if secs < 10.0 {
            write!(f, "{secs:.1}s")
        } else if secs < 60.0 {
            write!(f, "{secs:.0}s")
        } else {
            write!(
                f,
                "{}m {:02}s",
                self.0.as_secs() / 60,
                self.0.as_secs() % 60
            )
        }
    }
}
