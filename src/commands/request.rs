//! `crp request`: ask people for a resource before declaring it.

use crate::cli::{GlobalArgs, RequestArgs};
use crate::config::Config;
use crate::error::{ExitStatus, UsageError};
use crate::notify::{Notifier, RequestMessage, request_message};
use crate::provenance::{Event, EventLog, State};
use crate::report::Printer;
use crate::source::{InvalidSource, SourceSpec};
use crate::store::Store;

pub(super) fn run(
    global: &GlobalArgs,
    args: &RequestArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    let config = Config::load(store.root())?;
    let Some(bridge) = &config.bridge else {
        return Err(UsageError::new("no bridge folder is configured")
            .hint(format!(
                "add `[bridge]` with `folder = \"PATH\"` to `{}`",
                crate::config::path(store.root()).display()
            ))
            .into());
    };
    if args.purpose.trim().is_empty() {
        return Err(UsageError::new("`--purpose` cannot be empty")
            .hint("say why the resource is needed")
            .into());
    }
    // A request names a source crp can fetch, or a person could approve
    // something no manifest can then declare.
    let spec: SourceSpec = args.source.parse().map_err(|err: InvalidSource| {
        let usage = UsageError::new(format!("invalid source `{}`: {err}", args.source));
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
            name: args.name.as_ref().map(|n| n.as_str()),
            project: None,
            source: &shown,
            purpose: &args.purpose,
            size: args.size.map(|s| s.0),
            sha256: None,
            requested_by: args.requested_by.as_deref(),
            reasons: &[],
            priority: &args.priority,
        },
    );
    let path = Notifier::new(&store, &config).write_bridge(bridge, &message)?;
    if store.check()? {
        let events = EventLog::open(&store);
        let mut event = Event::new(None, State::Requested)
            .detail("source", shown.clone())
            .detail("purpose", args.purpose.clone())
            .detail("message", path.display().to_string());
        if let Some(name) = &args.name {
            event = event.resource(name);
        }
        if let Some(who) = &args.requested_by {
            event = event.actor(who);
        }
        events.record(&event);
        events.flush();
    }
    printer.note(format!("wrote a resource request to `{}`", path.display()));
    if printer.format() == crate::cli::Format::Json {
        printer.json(&serde_json::json!({
            "schema_version": crate::report::SCHEMA_VERSION,
            "command": "request",
            "message": path,
        }));
    }
    Ok(ExitStatus::Success)
}
