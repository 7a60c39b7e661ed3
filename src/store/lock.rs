//! Advisory file locks that say what they wait for.
//!
//! Locks keep two processes from downloading the same object or syncing the
//! same project at once. The store's correctness never depends on them:
//! objects are published by rename only after verification. Lock files are
//! never deleted, because deleting a locked file would let a third process lock
//! a new file of the same name while the first still holds the old one.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::progress::{NoteKind, Reporter};

/// How often a waiting process tries again.
const POLL: Duration = Duration::from_millis(50);

/// The environment variable that bounds lock waits, in seconds.
pub const TIMEOUT_ENV: &str = crate::settings::LOCK_TIMEOUT;

/// How long to wait for a lock before giving up; a whole hour by default,
/// because the holder may be downloading something large.
pub fn default_timeout() -> Duration {
    crate::settings::lock_timeout()
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: fs_err::File,
}

/// How many lock files object locks are spread over: one per value of a
/// digest's first byte.
pub const OBJECT_STRIPES: usize = 256;

/// The object locks of one process. Within the process a lock is exact:
/// its tasks wait for each other per object. Between processes it is
/// striped: a process holds the file lock of stripe `digest[0]` while any of
/// its tasks holds an object of the stripe, so a store has at most
/// [`OBJECT_STRIPES`] object lock files however many objects it holds (a
/// lock file per object cost a file created per download). Another process
/// may wait for an object it does not want, for as long as this one works
/// on the stripe's objects: never for ever, since no holder of an object
/// lock waits for another lock.
#[derive(Debug)]
pub struct ObjectLocks {
    /// This process's holders and waiters, by object.
    held: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// Per stripe: the file lock, while this process holds one of its objects.
    stripes: Vec<tokio::sync::Mutex<std::sync::Weak<Lock>>>,
}

impl Default for ObjectLocks {
    fn default() -> Self {
        Self {
            held: std::sync::Mutex::default(),
            stripes: (0..OBJECT_STRIPES)
                .map(|_| tokio::sync::Mutex::default())
                .collect(),
        }
    }
}

/// A held object lock (see [`ObjectLocks`]); released when dropped.
#[derive(Debug)]
pub struct ObjectLock {
    key: [u8; 32],
    locks: Arc<ObjectLocks>,
    _stripe: Arc<Lock>,
    _mine: tokio::sync::OwnedMutexGuard<()>,
}

impl ObjectLocks {
    /// Takes the lock of object `key` (its digest's bytes); `dir` holds the
    /// stripes' lock files. Waits as [`acquire`] does.
    pub async fn lock(
        self: &Arc<Self>,
        key: [u8; 32],
        dir: &Path,
        what: &str,
        reporter: &dyn Reporter,
        timeout: Duration,
    ) -> Result<ObjectLock, LockError> {
        let entry = {
            let mut held = self.held.lock().expect("not poisoned");
            Arc::clone(held.entry(key).or_default())
        };
        let taken = async {
            let mine = tokio::time::timeout(timeout, Arc::clone(&entry).lock_owned())
                .await
                .map_err(|_| LockError::Timeout {
                    holder: "another task of this process".to_owned(),
                    timeout,
                })?;
            let mut slot = self.stripes[usize::from(key[0])].lock().await;
            let stripe = match slot.upgrade() {
                Some(held) => held,
                None => {
                    let path = dir.join(format!("{:02x}.lock", key[0]));
                    let held = Arc::new(acquire(&path, what, reporter, timeout).await?);
                    *slot = Arc::downgrade(&held);
                    held
                }
            };
            Ok((mine, stripe))
        }
        .await;
        drop(entry);
        let (mine, stripe) = match taken {
            Ok(taken) => taken,
            Err(err) => {
                self.forget(&key, 1);
                return Err(err);
            }
        };
        Ok(ObjectLock {
            key,
            locks: Arc::clone(self),
            _stripe: stripe,
            _mine: mine,
        })
    }
}

impl ObjectLocks {
    /// Removes the entry of `key` once nobody holds or waits for it: its
    /// owners are the map and `owners - 1` others being dropped.
    fn forget(&self, key: &[u8; 32], owners: usize) {
        let mut held = self.held.lock().expect("not poisoned");
        if held
            .get(key)
            .is_some_and(|entry| Arc::strong_count(entry) == owners)
        {
            held.remove(key);
        }
    }
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        // The map and this lock's guard.
        self.locks.forget(&self.key, 2);
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("gave up after {} waiting for {holder}", humantime::format_duration(*timeout))]
    Timeout { holder: String, timeout: Duration },
    #[error("failed to lock `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Timeout { timeout, .. } => Some(format!(
                "set `{TIMEOUT_ENV}` to a number of seconds to wait longer than {} (an hour unless set)",
                humantime::format_duration(*timeout)
            )),
            Self::Io { .. } => None,
        }
    }
}

/// Takes the exclusive lock at `path`, creating the file if needed.
///
/// `what` says what the lock protects ("fetching `pico-8`"); it is written
/// into the lock file so that a waiting process can say whom it waits for.
pub async fn acquire(
    path: &Path,
    what: &str,
    reporter: &dyn Reporter,
    timeout: Duration,
) -> Result<Lock, LockError> {
    take(path, what, reporter, timeout, false).await
}

/// Opens the lock file at `path`, creating it (and its folder, the first
/// lock of its kind) if needed. A lock file another user made is locked
/// through a read-only handle: `flock` needs no more, and its note then
/// says nothing new.
pub fn open_lock_file(path: &Path) -> std::io::Result<fs_err::File> {
    use crate::fsutil::NO_FOLLOW;
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    let open = || {
        fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(NO_FOLLOW)
            .open(path)
    };
    let file = match open() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            fs_err::create_dir_all(crate::fsutil::parent_of(path))?;
            open()
        }
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            fs_err::OpenOptions::new()
                .read(true)
                .custom_flags(NO_FOLLOW)
                .open(path)
        }
        other => other,
    };
    crate::fsutil::own_file(file, path).map(|file| fs_err::File::from_parts(file, path))
}

/// Takes the exclusive lock at `path` if nobody holds it, without waiting.
pub fn try_acquire(path: &Path) -> Option<Lock> {
    let file = open_lock_file(path).ok()?;
    file.file().try_lock().ok()?;
    Some(Lock { _file: file })
}

/// Takes the lock at `path` shared with other readers: it excludes only an
/// exclusive holder.
pub async fn acquire_shared(
    path: &Path,
    what: &str,
    reporter: &dyn Reporter,
    timeout: Duration,
) -> Result<Lock, LockError> {
    take(path, what, reporter, timeout, true).await
}

async fn take(
    path: &Path,
    what: &str,
    reporter: &dyn Reporter,
    timeout: Duration,
    shared: bool,
) -> Result<Lock, LockError> {
    let io_err = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = open_lock_file(path).map_err(io_err)?;
    let started = Instant::now();
    let mut announced = false;
    loop {
        let attempt = if shared {
            file.file().try_lock_shared()
        } else {
            file.file().try_lock()
        };
        match attempt {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file, what);
                if !announced {
                    reporter.note(NoteKind::Waiting, &format!("for {holder}"));
                    announced = true;
                }
                if started.elapsed() >= timeout {
                    return Err(LockError::Timeout { holder, timeout });
                }
                tokio::time::sleep(POLL).await;
            }
            Err(TryLockError::Error(err)) => return Err(io_err(err)),
        }
    }
    // Say who holds it, for the next process that has to wait. Readers
    // share it: the last to arrive speaks for them.
    let note = format!("process {} {what}", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(note.as_bytes()));
    Ok(Lock { _file: file })
}

/// Who holds the lock, as its holder described itself.
fn holder(file: &mut fs_err::File, what: &str) -> String {
    let mut text = String::new();
    // A note is a line; whatever else the file may be, a little is read.
    let _ = file.rewind().and_then(|()| {
        Read::by_ref(file.file_mut())
            .take(1024)
            .read_to_string(&mut text)
    });
    let text = text.trim();
    if text.is_empty() {
        format!("another crp process {what}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[tokio::test]
    async fn object_locks_are_exact_within_a_process_and_striped_between() {
        let dir = tempfile::tempdir().unwrap();
        let short = Duration::from_millis(150);
        let locks = Arc::new(ObjectLocks::default());
        let (a, mut b, mut c) = ([7u8; 32], [7u8; 32], [8u8; 32]);
        b[31] = 1;
        c[0] = 8;
        let held = locks
            .lock(a, dir.path(), "testing", &Silent, short)
            .await
            .unwrap();
        // The same object waits; another of its stripe does not.
        assert!(matches!(
            locks.lock(a, dir.path(), "testing", &Silent, short).await,
            Err(LockError::Timeout { .. })
        ));
        let same_stripe = locks
            .lock(b, dir.path(), "testing", &Silent, short)
            .await
            .unwrap();
        // Another process (another set of locks) waits for the stripe...
        let other = Arc::new(ObjectLocks::default());
        assert!(matches!(
            other.lock(b, dir.path(), "testing", &Silent, short).await,
            Err(LockError::Timeout { .. })
        ));
        other
            .lock(c, dir.path(), "testing", &Silent, short)
            .await
            .unwrap();
        // ...until this process holds none of its objects.
        drop(held);
        drop(same_stripe);
        other
            .lock(a, dir.path(), "testing", &Silent, short)
            .await
            .unwrap();
        assert!(locks.held.lock().unwrap().is_empty(), "entries left behind");
        assert!(other.held.lock().unwrap().is_empty(), "entries left behind");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[tokio::test]
    async fn excludes_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = acquire(&path, "testing", &Silent, Duration::from_secs(1))
            .await
            .unwrap();
        let err = acquire(&path, "testing", &Silent, Duration::from_millis(120))
            .await
            .unwrap_err();
        let LockError::Timeout { holder, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(holder, &format!("process {} testing", std::process::id()));
        drop(held);
        acquire(&path, "testing", &Silent, Duration::ZERO)
            .await
            .unwrap();
    }
}
