//! Where every object came from and what happened to it: lifecycle states,
//! the event log, and the content DAG.
//!
//! Every transition of a request or an object is appended to
//! `<store>/meta/events.jsonl` as one JSON line (time, object, resource,
//! project, actor, from-state, to-state, details). Object records hold the
//! current state and the DAG's edges: `supersedes` (the previous hash of the
//! same resource name) and `derived_from` (objects this one was made from).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, mpsc};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

pub use crate::lifecycle::State;

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

/// Who runs crp: `CRP_ACTOR`, else the login name (`USER`, `LOGNAME`),
/// else — in a CI container that sets neither — the name the system's user
/// database gives this process's user ID, else `uid <n>`.
pub fn actor() -> String {
    // Asked for every event: looked up once per process.
    static ACTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ACTOR
        .get_or_init(|| {
            [
                crate::settings::ACTOR,
                crate::settings::USER,
                crate::settings::LOGNAME,
            ]
            .into_iter()
            .find_map(crate::settings::var)
            .unwrap_or_else(|| {
                let uid = rustix::process::getuid().as_raw();
                user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
            })
        })
        .clone()
}

/// The name `/etc/passwd` gives `uid` (`name:password:uid:…`, passwd(5)).
fn user_name(uid: u32) -> Option<String> {
    let passwd = crate::fsutil::read_bounded(std::path::Path::new("/etc/passwd"), 16 << 20).ok()?;
    String::from_utf8_lossy(&passwd).lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_owned())
    })
}

/// The event log's path in a store.
pub fn events_path(store: &Store) -> PathBuf {
    store.root().join("meta").join("events.jsonl")
}

/// Appends events to the store's log, in batches: a writer thread takes
/// every line queued since its last write and appends them with one `write`
/// of whole lines, so a burst of events (a many-file sync records six an
/// object) costs a few writes, the events of concurrent processes
/// interleave without tearing, and a lone event is written at once.
/// [`EventLog::flush`] waits for what was recorded and makes it durable;
/// dropping the log waits for it to be written.
#[derive(Debug)]
pub struct EventLog {
    writer: Mutex<Option<Writer>>,
    path: PathBuf,
}

/// The thread that appends to the log, and the queue it reads.
#[derive(Debug)]
struct Writer {
    queue: mpsc::Sender<Queued>,
    thread: std::thread::JoinHandle<()>,
}

#[derive(Debug)]
enum Queued {
    Line(String),
    /// Flush to disk, then say so.
    Flush(mpsc::SyncSender<()>),
}

/// The most bytes one write appends.
const BATCH: usize = 1 << 20;

impl EventLog {
    pub fn open(store: &Store) -> Self {
        Self {
            writer: Mutex::new(None),
            path: events_path(store),
        }
    }

    /// Queues one event. A log that cannot be written is reported, not
    /// fatal: the work it describes is done either way.
    pub fn record(&self, event: &Event) {
        let line = serde_json::to_string(event).expect("events serialize");
        // Sources and errors in details may name URLs: never their secrets.
        let mut line = crate::redact::text(&line).into_owned();
        line.push('\n');
        self.send(Queued::Line(line));
    }

    /// Waits until every event recorded so far is written, and flushes the
    /// log to disk.
    pub fn flush(&self) {
        let (done, flushed) = mpsc::sync_channel(1);
        if self.send(Queued::Flush(done)) {
            // The writer answers once the flush is done (or it failed, which
            // it reported).
            let _ = flushed.recv();
        }
    }

    /// Hands `queued` to the writer, started on first use. False when there
    /// is no writer to hand it to.
    fn send(&self, queued: Queued) -> bool {
        let mut writer = self.writer.lock().expect("not poisoned");
        if writer.is_none() {
            if matches!(queued, Queued::Flush(_)) {
                // Nothing was recorded: nothing to flush.
                return false;
            }
            let (queue, lines) = mpsc::channel();
            let path = self.path.clone();
            let thread = std::thread::Builder::new()
                .name("crp-events".into())
                .spawn(move || write_events(&path, &lines))
                .expect("a thread can be started");
            *writer = Some(Writer { queue, thread });
        }
        let writer = writer.as_ref().expect("started");
        writer.queue.send(queued).is_ok()
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let writer = self.writer.get_mut().map(Option::take);
        if let Ok(Some(Writer { queue, thread })) = writer {
            // The writer ends once it has written what was queued.
            drop(queue);
            let _ = thread.join();
        }
    }
}

/// The writer's loop: takes what is queued, appends it in one write, and
/// flushes when asked, until the log is dropped.
fn write_events(path: &std::path::Path, queue: &mpsc::Receiver<Queued>) {
    let mut file: Option<std::fs::File> = None;
    let mut failed = false;
    while let Ok(mut next) = queue.recv() {
        let mut batch = String::new();
        let mut flushes = Vec::new();
        loop {
            match next {
                Queued::Line(line) => batch.push_str(&line),
                Queued::Flush(done) => flushes.push(done),
            }
            if batch.len() >= BATCH {
                break;
            }
            match queue.try_recv() {
                Ok(queued) => next = queued,
                Err(_) => break,
            }
        }
        let mut written = Ok(());
        if !batch.is_empty() {
            written = match &mut file {
                Some(file) => file.write_all(batch.as_bytes()),
                None => crate::fsutil::open_append(path).and_then(|mut opened| {
                    let written = opened.write_all(batch.as_bytes());
                    file = Some(opened);
                    written
                }),
            };
        }
        if written.is_ok()
            && !flushes.is_empty()
            && let Some(file) = &file
        {
            written = file.sync_data();
        }
        if let Err(err) = written {
            // Said once: a log that cannot be written fails the same way for
            // every batch.
            if !failed {
                tracing::warn!(
                    "could not write to the event log `{}`: {err}",
                    path.display()
                );
            }
            failed = true;
        }
        for done in flushes {
            let _ = done.send(());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> Event {
        Event::new(Some(State::Downloading), State::Verifying).detail("i", i)
    }

    #[test]
    fn events_from_many_threads_are_whole_lines_and_none_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        let log = EventLog::open(&store);
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..2_000 {
                        log.record(&event(t * 10_000 + i));
                    }
                });
            }
        });
        log.flush();
        // Flushed means written: read while the log is still open.
        let mut seen: Vec<u64> = read_events(&store)
            .unwrap()
            .iter()
            .map(|e| e.details["i"].as_u64().unwrap())
            .collect();
        seen.sort_unstable();
        let mut want: Vec<u64> = (0..4)
            .flat_map(|t| (0..2_000).map(move |i| t * 10_000 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(seen, want);
    }

    #[test]
    fn dropping_the_log_writes_what_was_recorded_and_flushing_nothing_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        EventLog::open(&store).flush();
        assert!(!events_path(&store).exists());
        let log = EventLog::open(&store);
        log.record(&event(1));
        log.record(&event(2));
        drop(log);
        assert_eq!(read_events(&store).unwrap().len(), 2);
    }

    #[test]
    fn a_log_that_cannot_be_written_does_not_block_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        // The log's path is a folder: every write fails.
        std::fs::create_dir_all(events_path(&store)).unwrap();
        let log = EventLog::open(&store);
        log.record(&event(1));
        log.flush();
    }
}
