//! Telling people and programs what happened: `[[notify]]` hooks, bridge
//! messages, and the store's completion log.
//!
//! A hook is a command run with `CRP_*` environment variables that describe
//! the event. Bridge messages are Markdown files with a front-matter header
//! (`Type`, `From`, `To`, `Priority`) written into the configured folder.
//! The completion log, `<store>/meta/completion.log`, gets one line per
//! resource that became available or failed. None of these can undo a
//! sync: a failing hook is reported and the sync goes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{BridgeConfig, Config, NotifyConfig};
use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::provenance::State;
use crate::store::Store;
use crate::time::Timestamp;
use crate::units::ByteCount;

pub use crate::config::NoticeKind;

/// Something worth telling.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: NoticeKind,
    pub name: Name,
    pub project: Name,
    pub sha256: Option<Sha256Digest>,
    pub size: Option<u64>,
    /// The object's path in the store, once it is there.
    pub path: Option<PathBuf>,
    pub state: State,
    pub source: String,
    pub purpose: String,
    pub requested_by: Option<String>,
    /// Why it waits, or why it failed.
    pub reasons: Vec<String>,
}

/// Sends notices where the store's configuration says.
#[derive(Debug, Clone)]
pub struct Notifier {
    hooks: Vec<NotifyConfig>,
    bridge: Option<BridgeConfig>,
    store_root: PathBuf,
}

/// How long a hook may run unless its configuration says otherwise.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

impl Notifier {
    pub fn new(store: &Store, config: &Config) -> Self {
        Self {
            hooks: config.notify.clone(),
            bridge: config.bridge.clone(),
            store_root: store.root().to_owned(),
        }
    }

    /// Sends every notice: completion log, hooks, bridge. Returns a warning
    /// for each that could not be delivered.
    pub async fn send(&self, notices: &[Notice]) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Err(err) = self.log_completions(notices) {
            warnings.push(format!("could not write the completion log: {err}"));
        }
        for notice in notices {
            for hook in &self.hooks {
                let wanted = hook.on.as_ref().is_none_or(|on| on.contains(&notice.kind));
                if wanted && let Err(err) = run_hook(hook, notice).await {
                    warnings.push(format!(
                        "the notify hook `{}` failed for `{}`: {err}",
                        hook.command.join(" "),
                        notice.name
                    ));
                }
            }
            if let Some(bridge) = &self.bridge
                && (notice.kind != NoticeKind::Available || bridge.completions.unwrap_or(true))
                && let Err(err) = self.write_bridge(bridge, &message_for(bridge, notice))
            {
                warnings.push(format!(
                    "could not write a bridge message for `{}`: {err}",
                    notice.name
                ));
            }
        }
        warnings
    }

    fn log_completions(&self, notices: &[Notice]) -> std::io::Result<()> {
        let mut text = String::new();
        for notice in notices
            .iter()
            .filter(|n| n.kind != NoticeKind::AwaitingApproval)
        {
            text.push_str(&completion_line(notice));
            text.push('\n');
        }
        if text.is_empty() {
            return Ok(());
        }
        crate::fsutil::append(&completion_log_path(&self.store_root), text.as_bytes())
    }

    /// Writes a message into the bridge folder, atomically, under a name
    /// that sorts by time. Returns its path.
    pub fn write_bridge(
        &self,
        bridge: &BridgeConfig,
        message: &Message,
    ) -> std::io::Result<PathBuf> {
        let folder = self.store_root.join(&bridge.folder);
        fs_err::create_dir_all(&folder)?;
        let stamp = message.date.to_string().replace(':', "");
        // Short enough for any file system, whatever the source's length.
        let slug: String = crate::redact::text(&message.slug)
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut path = folder.join(format!("{stamp}-{}-{slug}.md", message.kind));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = folder.join(format!("{stamp}-{}-{slug}-{n}.md", message.kind));
        }
        // Sources and errors in a message may name URLs: never their secrets.
        let text = message.render();
        crate::fsutil::write_atomic(&path, crate::redact::text(&text).as_bytes())?;
        Ok(path)
    }
}

/// The completion log's path.
pub fn completion_log_path(store_root: &Path) -> PathBuf {
    store_root.join("meta").join("completion.log")
}

/// One line of the completion log.
fn completion_line(notice: &Notice) -> String {
    let time = Timestamp::now();
    let what = notice.kind.as_str();
    match notice.kind {
        NoticeKind::Failed => format!(
            "{time} {what:<9} {} (project {}): {}",
            notice.name,
            notice.project,
            notice.reasons.join("; ").replace('\n', " ")
        ),
        _ => format!(
            "{time} {what:<9} {} (project {}) {} {} from {}",
            notice.name,
            notice.project,
            notice.sha256.map_or_else(|| "-".into(), |d| d.short()),
            notice
                .size
                .map_or_else(|| "-".into(), |s| ByteCount(s).to_string()),
            notice.source
        ),
    }
}

async fn run_hook(hook: &NotifyConfig, notice: &Notice) -> Result<(), String> {
    let Some((program, args)) = hook.command.split_first() else {
        return Err("`command` is empty".into());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .env("CRP_EVENT", notice.kind.as_str())
        .env("CRP_NAME", notice.name.as_str())
        .env("CRP_PROJECT", notice.project.as_str())
        .env("CRP_STATE", notice.state.as_str())
        .env("CRP_SOURCE", crate::redact::text(&notice.source).as_ref())
        .env("CRP_PURPOSE", &notice.purpose)
        .env(
            "CRP_SHA256",
            notice.sha256.map(|d| d.hex()).unwrap_or_default(),
        )
        .env(
            "CRP_SIZE",
            notice.size.map(|s| s.to_string()).unwrap_or_default(),
        )
        .env(
            "CRP_PATH",
            notice
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
        .env(
            "CRP_REASONS",
            crate::redact::text(&notice.reasons.join("\n")).as_ref(),
        )
        .env(
            "CRP_REQUESTED_BY",
            notice.requested_by.clone().unwrap_or_default(),
        );
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let timeout = hook.timeout.unwrap_or(HOOK_TIMEOUT);
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "still running after {}; stopped",
            humantime::format_duration(timeout)
        )),
        Ok(Err(err)) => Err(err.to_string()),
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or("").trim();
            Err(if last.is_empty() {
                format!("{}", output.status)
            } else {
                format!("{}: {last}", output.status)
            })
        }
    }
}

/// A bridge message.
#[derive(Debug, Clone)]
pub struct Message {
    /// `Type:`: `resource-request` or `resource-available`.
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    /// `Priority:`: `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    pub date: Timestamp,
    pub subject: String,
    /// For the file name.
    pub slug: String,
    pub body: String,
}

impl Message {
    /// The file's text: front matter, then the Markdown body.
    pub fn render(&self) -> String {
        format!(
            "---\nType: {}\nFrom: {}\nTo: {}\nPriority: {}\nDate: {}\nSubject: {}\n---\n\n{}",
            self.kind, self.from, self.to, self.priority, self.date, self.subject, self.body
        )
    }
}

/// A message asking for a resource.
#[derive(Debug, Clone)]
pub struct RequestMessage<'a> {
    pub name: Option<&'a str>,
    pub project: Option<&'a str>,
    pub source: &'a str,
    pub purpose: &'a str,
    pub size: Option<u64>,
    pub sha256: Option<Sha256Digest>,
    pub requested_by: Option<&'a str>,
    pub reasons: &'a [String],
    pub priority: &'a str,
}

/// `resource-request`: what is asked for, why, and why it needs a person.
pub fn request_message(bridge: &BridgeConfig, request: &RequestMessage<'_>) -> Message {
    let title = request.name.unwrap_or(request.source);
    let mut body = format!("# Resource request: `{title}`\n\n");
    let mut row = |key: &str, value: String| body.push_str(&format!("- **{key}:** {value}\n"));
    if let Some(name) = request.name {
        row("Name", format!("`{name}`"));
    }
    if let Some(project) = request.project {
        row("Project", format!("`{project}`"));
    }
    row("Source", format!("<{}>", request.source));
    row("Purpose", request.purpose.to_owned());
    row(
        "Size",
        request.size.map_or_else(
            || "not declared".into(),
            |s| format!("{} ({s} bytes)", ByteCount(s)),
        ),
    );
    if let Some(sha256) = request.sha256 {
        row("SHA-256", format!("`{sha256}`"));
    }
    if let Some(who) = request.requested_by {
        row("Requested by", who.to_owned());
    }
    if !request.reasons.is_empty() {
        body.push_str("\n## Why it needs approval\n\n");
        for reason in request.reasons {
            body.push_str(&format!("- {reason}\n"));
        }
    }
    if let Some(name) = request.name {
        body.push_str(&format!(
            "\n## To decide\n\n```sh\ncrp approve {name} --by YOUR-NAME --note \"…\"\ncrp deny {name} --by YOUR-NAME --reason \"…\"\n```\n"
        ));
    }
    Message {
        kind: "resource-request",
        from: bridge.from.clone().unwrap_or_else(|| "crp".into()),
        to: bridge.to.clone().unwrap_or_else(|| "humans".into()),
        priority: request.priority.to_owned(),
        date: Timestamp::now(),
        subject: format!("Resource request: {title}"),
        slug: title.rsplit('/').next().unwrap_or(title).to_owned(),
        body,
    }
}

fn message_for(bridge: &BridgeConfig, notice: &Notice) -> Message {
    match notice.kind {
        NoticeKind::AwaitingApproval => request_message(
            bridge,
            &RequestMessage {
                name: Some(notice.name.as_str()),
                project: Some(notice.project.as_str()),
                source: &notice.source,
                purpose: &notice.purpose,
                size: notice.size,
                sha256: notice.sha256,
                requested_by: notice.requested_by.as_deref(),
                reasons: &notice.reasons,
                priority: "normal",
            },
        ),
        kind => {
            let available = kind == NoticeKind::Available;
            let mut body = format!(
                "# Resource {}: `{}`\n\n- **Project:** `{}`\n- **Source:** <{}>\n- **Purpose:** {}\n",
                if available { "available" } else { "failed" },
                notice.name,
                notice.project,
                notice.source,
                notice.purpose
            );
            if let Some(sha256) = notice.sha256 {
                body.push_str(&format!("- **SHA-256:** `{sha256}`\n"));
            }
            if let Some(size) = notice.size {
                body.push_str(&format!("- **Size:** {} ({size} bytes)\n", ByteCount(size)));
            }
            if let Some(path) = &notice.path {
                body.push_str(&format!("- **Path:** `{}`\n", path.display()));
            }
            if !notice.reasons.is_empty() {
                body.push_str(&format!(
                    "\n## Error\n\n```\n{}\n```\n",
                    notice.reasons.join("\n")
                ));
            }
            Message {
                kind: if available {
                    "resource-available"
                } else {
                    "resource-failed"
                },
                from: bridge.from.clone().unwrap_or_else(|| "crp".into()),
                to: bridge.to.clone().unwrap_or_else(|| "humans".into()),
                priority: if available { "low" } else { "high" }.into(),
                date: Timestamp::now(),
                subject: format!(
                    "Resource {}: {}",
                    if available { "available" } else { "failed" },
                    notice.name
                ),
                slug: notice.name.to_string(),
                body,
            }
        }
    }
}
