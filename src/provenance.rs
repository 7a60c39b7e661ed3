//! Where every object came from and what happened to it: lifecycle states,
//! the event log, and the content DAG.
//!
//! Every transition of a request or an object is appended to
//! `<store>/meta/events.jsonl` as one JSON line (time, object, resource,
//! project, actor, from-state, to-state, details). Object records hold the
//! current state and the DAG's edges: `supersedes` (the previous hash of the
//! same resource name) and `derived_from` (objects this one was made from).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::store::record::Timestamp;
use crate::store::{Store, StoreError};

/// The lifecycle states of the collective, plus how a request can end
/// without an object (`denied`, `failed`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Requested,
    Evaluating,
    AwaitingApproval,
    Approved,
    Downloading,
    Verifying,
    #[default]
    Available,
    Seeding,
    Archived,
    Removed,
    Denied,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Evaluating => "evaluating",
            Self::AwaitingApproval => "awaiting-approval",
            Self::Approved => "approved",
            Self::Downloading => "downloading",
            Self::Verifying => "verifying",
            Self::Available => "available",
            Self::Seeding => "seeding",
            Self::Archived => "archived",
            Self::Removed => "removed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: Timestamp,
    /// The object's sha256, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Sha256Digest>,
    /// The resource name the request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Name>,
    /// The requesting project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Name>,
    /// Who made it happen: the person for approvals, else the user running crp.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_state: Option<State>,
    pub to_state: State,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    pub fn new(from: Option<State>, to: State) -> Self {
        Self {
            time: Timestamp::now(),
            object: None,
            resource: None,
            project: None,
            actor: actor(),
            from_state: from,
            to_state: to,
            details: serde_json::Map::new(),
        }
    }

    pub fn object(mut self, digest: Option<Sha256Digest>) -> Self {
        self.object = digest;
        self
    }

    pub fn resource(mut self, name: &Name) -> Self {
        self.resource = Some(name.clone());
        self
    }

    pub fn project(mut self, name: &Name) -> Self {
        self.project = Some(name.clone());
        self
    }

    pub fn actor(mut self, actor: &str) -> Self {
        actor.clone_into(&mut self.actor);
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// Who runs crp: `CRP_ACTOR`, else the login name.
pub fn actor() -> String {
    [crate::settings::ACTOR, "USER", "LOGNAME"]
        .into_iter()
        .find_map(crate::settings::var)
        .unwrap_or_else(|| "unknown".into())
}

/// The event log's path in a store.
pub fn events_path(store: &Store) -> PathBuf {
    store.root().join("meta").join("events.jsonl")
}

/// Appends events to the store's log. Each event is one `write` of one
/// whole line, so the events of concurrent processes interleave without
/// tearing; [`EventLog::flush`] makes them durable.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<Option<std::fs::File>>,
    path: PathBuf,
}

impl EventLog {
    pub fn open(store: &Store) -> Self {
        Self {
            file: Mutex::new(None),
            path: events_path(store),
        }
    }

    /// Appends one event. A log that cannot be written is reported, not
    /// fatal: the work it describes is done either way.
    pub fn record(&self, event: &Event) {
        if let Err(err) = self.append(event) {
            tracing::warn!(
                "could not write to the event log `{}`: {err}",
                self.path.display()
            );
        }
    }

    fn append(&self, event: &Event) -> std::io::Result<()> {
        let line = serde_json::to_string(event).expect("events serialize");
        // Sources and errors in details may name URLs: never their secrets.
        let mut line = crate::redact::text(&line).into_owned();
        line.push('\n');
        let mut file = self.file.lock().expect("not poisoned");
        if file.is_none() {
            *file = Some(crate::fsutil::open_append(&self.path)?);
        }
        file.as_mut().expect("opened").write_all(line.as_bytes())
    }

    /// Flushes what was appended to disk.
    pub fn flush(&self) {
        if let Some(file) = &*self.file.lock().expect("not poisoned")
            && let Err(err) = file.sync_data()
        {
            tracing::warn!(
                "could not flush the event log `{}`: {err}",
                self.path.display()
            );
        }
    }
}

/// Reads the whole event log, oldest first.
pub fn read_events(store: &Store) -> Result<Vec<Event>, StoreError> {
    let path = events_path(store);
    let text = match crate::fsutil::read_bounded(&path, crate::store::MAX_LOG) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|source| StoreError::BadRecord {
                path: path.clone(),
                source,
            })
        })
        .collect()
}
