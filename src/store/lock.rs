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
use std::time::{Duration, Instant};

use crate::digest::Sha256Digest;
use crate::progress::{NoteKind, Reporter};

use super::Store;

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

/// Which locks the store hands out, and where their files are (`lib.rs`
/// says what each guards).
impl Store {
    /// Takes the lock `<meta>/locks/<kind>/<key>.lock`.
    pub(super) async fn lock(
        &self,
        kind: &str,
        key: &str,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        let path = self
            .root
            .join("meta")
            .join("locks")
            .join(kind)
            .join(format!("{key}.lock"));
        acquire(&path, what, reporter, self.lock_timeout).await
    }

    /// Excludes other processes from fetching (or re-recording) this object.
    pub async fn lock_object(
        &self,
        digest: &Sha256Digest,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("objects", &digest.hex(), what, reporter).await
    }

    /// Excludes other processes from adding or ingesting this torrent.
    pub async fn lock_torrent(
        &self,
        info_hash: &str,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("torrents", info_hash, what, reporter).await
    }

    /// Excludes other processes from fetching from this source when the
    /// digest is not known yet (trust on first use).
    pub async fn lock_source(
        &self,
        key: &str,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("sources", key, what, reporter).await
    }

    /// Excludes other processes from the multipart upload `key` (a hash of
    /// the remote and the object's key) while this one sends its parts.
    pub async fn lock_upload(
        &self,
        key: &str,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("uploads", key, what, reporter).await
    }

    /// Excludes other processes from editing the store's configuration
    /// (`crp remote add|remove`) at the same time.
    pub async fn lock_config(
        &self,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("config", "config", what, reporter).await
    }

    /// The source lock, if no other process holds it; `None` otherwise.
    pub fn try_lock_source(&self, key: &str) -> Option<Lock> {
        let path = self
            .root
            .join("meta")
            .join("locks")
            .join("sources")
            .join(format!("{key}.lock"));
        try_acquire(&path)
    }

    /// Keeps garbage collection (and `crp verify`'s quarantine) away while
    /// this process reads or adds objects. Any number of readers share it.
    pub async fn lock_store_shared(
        &self,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        acquire_shared(&self.store_lock_path(), what, reporter, self.lock_timeout).await
    }

    /// Excludes every reader and writer of objects: for moving objects out
    /// of the store (archiving, quarantining corrupted ones).
    pub async fn lock_store_exclusive(
        &self,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        acquire(&self.store_lock_path(), what, reporter, self.lock_timeout).await
    }

    pub(super) fn store_lock_path(&self) -> PathBuf {
        self.root.join("meta").join("locks").join("store.lock")
    }

    /// Excludes other processes from syncing the same project.
    pub async fn lock_project(
        &self,
        id: &str,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<Lock, LockError> {
        self.lock("projects", id, what, reporter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

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
