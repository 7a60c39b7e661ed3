//! Re-hashing objects after the fact: bytes that rotted on disk, or were
//! changed by hand despite being read-only.
//!
//! Hashing reads every byte, so it is spread over all cores and takes no
//! lock: objects never change in place, and one that disappears meanwhile
//! (archived by `crp gc`) is skipped. Only moving a corrupted object to
//! quarantine takes the store's lock, after checking it once more.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, hash_file};
use crate::progress::Reporter;
use crate::provenance::{Event, EventLog, State};
use crate::store::{Store, StoreError};

/// What re-hashing one object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Intact {
        bytes: u64,
    },
    /// Its bytes hash to something else.
    Corrupted {
        actual: Sha256Digest,
        bytes: u64,
    },
    /// It could not be read (or is not a file or folder any more).
    Unreadable {
        error: String,
    },
    /// It left the store while being checked.
    Gone,
}

/// Re-hashes `digests` on all cores. Results come back in input order.
pub fn rehash(store: &Store, digests: &[Sha256Digest]) -> Vec<Check> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Check>>> = Mutex::new(vec![None; digests.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(digests.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(digest) = digests.get(i) else { break };
                    let check = check(&store.object_path(digest), digest);
                    results.lock().expect("not poisoned")[i] = Some(check);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|c| c.expect("every object checked"))
        .collect()
}

/// Re-hashes one object.
pub fn check(path: &Path, expected: &Sha256Digest) -> Check {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Check::Gone,
        Err(err) => {
            return Check::Unreadable {
                error: err.to_string(),
            };
        }
    };
    let hashed = if meta.is_dir() {
        crate::tree::hash_tree(path)
            .map(|tree| (tree.digest, tree.size()))
            .map_err(|err| crate::fetch::error_text(&err))
    } else if meta.is_file() {
        hash_file(path).map_err(|err| err.to_string())
    } else {
        Err("it is neither a file nor a folder".to_owned())
    };
    match hashed {
        Ok((actual, bytes)) if &actual == expected => Check::Intact { bytes },
        Ok((actual, bytes)) => Check::Corrupted { actual, bytes },
        Err(_) if !path.exists() => Check::Gone,
        Err(error) => Check::Unreadable { error },
    }
}

/// A corrupted object, moved out of the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corrupted {
    pub sha256: Sha256Digest,
    /// What its bytes hash to now; absent when they could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where it went.
    pub quarantined: PathBuf,
    /// The resource names projects give it.
    pub resources: Vec<String>,
}

/// Moves a corrupted object to quarantine under the store's lock, after
/// checking it once more, and marks its record: the next sync that needs it
/// fetches it again. Returns `None` when it turned out intact or gone.
pub async fn quarantine(
    store: &Store,
    digest: &Sha256Digest,
    events: &EventLog,
    reporter: &dyn Reporter,
) -> Result<Option<Corrupted>, StoreError> {
    let _lock = store
        .lock_store_exclusive(
            &format!("quarantining corrupted object {}", digest.short()),
            reporter,
        )
        .await?;
    let path = store.object_path(digest);
    let (actual, error) = match check(&path, digest) {
        Check::Intact { .. } | Check::Gone => return Ok(None),
        Check::Corrupted { actual, .. } => (Some(actual), None),
        Check::Unreadable { error } => (None, Some(error)),
    };
    let quarantined = store.quarantine(&path, &format!("corrupted-{}", digest.hex()))?;
    let mut resources = Vec::new();
    if let Some(mut record) = store.read_object_record(digest)? {
        resources = record
            .projects
            .iter()
            .map(|u| u.resource.to_string())
            .collect();
        resources.dedup();
        let from = record.status;
        record.status = State::Failed;
        store.write_object_record(&record)?;
        let mut event = Event::new(Some(from), State::Failed)
            .object(Some(*digest))
            .detail("reason", "corrupted")
            .detail("expected", digest.to_string())
            .detail("quarantined", quarantined.display().to_string());
        if let Some(actual) = actual {
            event = event.detail("actual", actual.to_string());
        }
        events.record(&event);
    }
    store.sync_dirs()?;
    Ok(Some(Corrupted {
        sha256: *digest,
        actual,
        error,
        quarantined,
        resources,
    }))
}
