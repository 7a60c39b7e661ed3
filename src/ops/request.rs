//! `crp request`: ask people for a resource before declaring it, with a
//! message in the bridge folder.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::UsageError;
use crate::name::Name;
use crate::notify::{Notifier, RequestMessage, request_message};
use crate::provenance::{Event, EventLog, State};
use crate::source::{InvalidSource, SourceSpec};
use crate::store::Store;
use crate::units::Size;

/// A request, as the command line gave it.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to fetch: a URL, a magnet link or a path.
    pub source: String,
    pub purpose: String,
    pub size: Option<Size>,
    pub priority: String,
    pub name: Option<Name>,
    pub requested_by: Option<String>,
}

/// Writes `request` as a message into the store's bridge folder, and
/// records the event when the store exists. Returns the message's path.
///
/// # Errors
/// No bridge folder configured, an empty purpose, a source crp cannot
/// fetch, or a message that cannot be written.
pub fn request(store: Option<&Path>, request: &Request) -> anyhow::Result<PathBuf> {
    let store = Store::open(store)?;
    let config = Config::load(store.root())?;
    let Some(bridge) = &config.bridge else {
        return Err(UsageError::new("no bridge folder is configured")
            .hint(format!(
                "add `[bridge]` with `folder = \"PATH\"` to `{}`",
                crate::config::path(store.root()).display()
            ))
            .into());
    };
    if request.purpose.trim().is_empty() {
        return Err(UsageError::new("`--purpose` cannot be empty")
            .hint("say why the resource is needed")
            .into());
    }
    // A request names a source crp can fetch, or a person could approve
    // something no manifest can then declare.
    let spec: SourceSpec = request.source.parse().map_err(|err: InvalidSource| {
        let usage = UsageError::new(format!("invalid source `{}`: {err}", request.source));
        match err.hint() {
            Some(hint) => usage.hint(hint),
            None => usage,
        }
    })?;
    // Only the redacted form goes into the message, its file name and the log.
    let shown = spec.to_string();
    let message = request_message(
        bridge,
        &RequestMessage {
            name: request.name.as_ref().map(|n| n.as_str()),
            project: None,
            source: &shown,
            purpose: &request.purpose,
            size: request.size.map(|s| s.0),
            sha256: None,
            requested_by: request.requested_by.as_deref(),
            reasons: &[],
            priority: &request.priority,
        },
    );
    let path = Notifier::new(&store, &config).write_bridge(bridge, &message)?;
    if store.check()? {
        let events = EventLog::open(&store);
        let mut event = Event::new(None, State::Requested)
            .detail("source", shown.clone())
            .detail("purpose", request.purpose.clone())
            .detail("message", path.display().to_string());
        if let Some(name) = &request.name {
            event = event.resource(name);
        }
        if let Some(who) = &request.requested_by {
            event = event.actor(who);
        }
        events.record(&event);
        events.flush();
    }
    Ok(path)
}
