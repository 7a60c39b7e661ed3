//! The store's quota, as one budget for every process that adds to it.
//!
//! Syncs, `crp add` and the torrent hook run at once; each used to judge
//! the quota against what the store held when it started, so together they
//! could pass it. Now each process *reserves* bytes before it writes them,
//! in `meta/quota/<pid>-<n>.json`, and a reservation counts against every
//! other process's room while its owner lives (the owner holds a lock on
//! the file; a file nobody holds is a dead process's, and is dropped).
//! Bytes that become an object are *committed*: added to the running total
//! in `meta/quota/committed`, and taken off the reservation.
//!
//! A process measures the store once, when it joins, under the quota lock
//! (`meta/locks/quota.lock`); what others commit after that is the growth
//! of the committed total since. Nothing shrinks the store meanwhile:
//! garbage collection and `crp verify`'s quarantine hold the store's lock
//! alone, and every process that adds holds it shared. Every read and write
//! of these files is under the quota lock, held for a few file operations.

use std::fs::TryLockError;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes reserved at a time for data whose size is not known in advance,
/// so the lock is not taken for every chunk that arrives.
const BLOCK: u64 = 8 << 20;

/// One process's share of the store's quota.
#[derive(Debug)]
pub struct Quota {
    /// The quota, in bytes.
    pub limit: u64,
    dir: PathBuf,
    lock_path: PathBuf,
    /// This process's reservation file, locked for as long as it lives.
    file: Mutex<fs_err::File>,
    path: PathBuf,
    state: Mutex<Own>,
}

#[derive(Debug, Default)]
struct Own {
    /// The store's bytes when this process joined.
    measured: u64,
    /// The committed total then.
    committed_then: u64,
    /// Reserved and not yet committed or given back.
    reserved: u64,
    /// Of `reserved`, what was reserved ahead and not yet taken.
    spare: u64,
}

impl Quota {
    /// Joins the store's budget of `limit` bytes; `measure` says how many
    /// bytes the store holds (it runs under the quota lock).
    pub fn join(
        meta: &Path,
        limit: u64,
        measure: impl FnOnce() -> io::Result<u64>,
    ) -> io::Result<Self> {
        let dir = meta.join("quota");
        fs_err::create_dir_all(&dir)?;
        let lock_path = meta.join("locks").join("quota.lock");
        let guard = GlobalLock::take(&lock_path)?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}.json", std::process::id()));
        // A file of this name from a process long gone goes first: this one
        // is made new, never one found here (which could be a link).
        let _ = fs_err::remove_file(&path);
        let file = {
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            let file = fs_err::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .custom_flags(crate::fsutil::NO_FOLLOW)
                .open(&path);
            fs_err::File::from_parts(crate::fsutil::own_file(file, &path)?, &path)
        };
        file.file().lock()?;
        let own = Own {
            measured: measure()?,
            committed_then: read_committed(&dir)?,
            ..Own::default()
        };
        drop(guard);
        Ok(Self {
            limit,
            dir,
            lock_path,
            file: Mutex::new(file),
            path,
            state: Mutex::new(own),
        })
    }

    /// Takes `n` bytes from the budget, or nothing if they do not fit.
    pub fn take(&self, n: u64) -> bool {
        self.take_ahead(n, 0).unwrap_or(false)
    }

    /// Takes `n` bytes of data whose total is not known yet: a block is
    /// reserved at a time, and what is left of it serves the next chunks.
    pub fn take_streaming(&self, n: u64) -> bool {
        {
            let mut own = self.state.lock().expect("not poisoned");
            if own.spare >= n {
                own.spare -= n;
                return true;
            }
        }
        self.take_ahead(n, BLOCK).unwrap_or(false)
    }

    /// Reserves `n` bytes ahead, as spare for the chunks of a download
    /// whose length the server announced; false if they do not fit.
    pub fn reserve(&self, n: u64) -> bool {
        let Ok(_guard) = GlobalLock::take(&self.lock_path) else {
            return false;
        };
        let mut own = self.state.lock().expect("not poisoned");
        let fits = self
            .used_locked(&own)
            .is_ok_and(|used| used + n <= self.limit);
        if fits {
            own.reserved += n;
            own.spare += n;
            let _ = self.write_own(&own);
        }
        fits
    }

    /// Gives back whatever was reserved ahead and not used, once a
    /// download is over.
    pub fn release_spare(&self) {
        let spare = self.state.lock().expect("not poisoned").spare;
        if spare == 0 {
            return;
        }
        if let Ok(_guard) = GlobalLock::take(&self.lock_path) {
            let mut own = self.state.lock().expect("not poisoned");
            own.reserved = own.reserved.saturating_sub(own.spare);
            own.spare = 0;
            let _ = self.write_own(&own);
        }
    }

    /// Reserves `n` bytes, and up to `ahead` more as spare when they fit.
    fn take_ahead(&self, n: u64, ahead: u64) -> io::Result<bool> {
        let _guard = GlobalLock::take(&self.lock_path)?;
        let mut own = self.state.lock().expect("not poisoned");
        let used = self.used_locked(&own)?;
        let room = self.limit.saturating_sub(used);
        // What this process reserved ahead serves first.
        let from_spare = own.spare.min(n);
        let needed = n - from_spare;
        if needed > room {
            return Ok(false);
        }
        // Never more than a quarter of what is left: others need room too.
        let extra = ahead.min((room - needed) / 4);
        own.reserved += needed + extra;
        own.spare = own.spare - from_spare + extra;
        self.write_own(&own)?;
        Ok(true)
    }

    /// What the store holds and every live process has reserved, this one
    /// included. The caller holds the quota lock.
    fn used_locked(&self, own: &Own) -> io::Result<u64> {
        let committed = read_committed(&self.dir)?;
        let others = self.others_reserved()?;
        Ok(own.measured + committed.saturating_sub(own.committed_then) + others + own.reserved)
    }

    /// How many bytes are left for this process, as of now.
    pub fn left(&self) -> u64 {
        let Ok(_guard) = GlobalLock::take(&self.lock_path) else {
            return 0;
        };
        let own = self.state.lock().expect("not poisoned");
        self.used_locked(&own)
            .map_or(0, |used| self.limit.saturating_sub(used) + own.spare)
    }

    /// Returns reserved bytes that were not kept (a failed download, an
    /// object the store had already).
    pub fn give_back(&self, n: u64) {
        if let Ok(_guard) = GlobalLock::take(&self.lock_path) {
            let mut own = self.state.lock().expect("not poisoned");
            own.reserved = own.reserved.saturating_sub(n);
            own.spare = own.spare.min(own.reserved);
            let _ = self.write_own(&own);
        }
    }

    /// Turns `n` reserved bytes into part of the store: they now count for
    /// every process through the committed total.
    pub fn commit(&self, n: u64) {
        if let Ok(_guard) = GlobalLock::take(&self.lock_path) {
            let mut own = self.state.lock().expect("not poisoned");
            let committed = read_committed(&self.dir).unwrap_or(0);
            if crate::fsutil::write_atomic_deferred(
                &self.dir.join("committed"),
                (committed + n).to_string().as_bytes(),
            )
            .is_ok()
            {
                own.reserved = own.reserved.saturating_sub(n);
                own.spare = own.spare.min(own.reserved);
                let _ = self.write_own(&own);
            }
        }
    }

    fn write_own(&self, own: &Own) -> io::Result<()> {
        let mut file = self.file.lock().expect("not poisoned");
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(own.reserved.to_string().as_bytes())
    }

    /// What other live processes have reserved. A reservation file whose
    /// lock can be taken belongs to a process that is gone: it goes too.
    fn others_reserved(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in fs_err::read_dir(&self.dir)? {
            let path = entry?.path();
            if path == self.path || path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            // Only regular files, and only their first bytes: a number is
            // all a reservation holds.
            let Ok(file) = crate::fsutil::open_regular(&path) else {
                continue;
            };
            match file.try_lock_shared() {
                Ok(()) => {
                    let _ = fs_err::remove_file(&path);
                }
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.take(64).read_to_string(&mut text);
                    total += text.trim().parse::<u64>().unwrap_or(0);
                }
                Err(TryLockError::Error(err)) => return Err(err),
            }
        }
        Ok(total)
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        // Whatever was not committed is not kept.
        let _ = fs_err::remove_file(&self.path);
    }
}

/// The running total of committed bytes.
fn read_committed(dir: &Path) -> io::Result<u64> {
    match crate::fsutil::read_regular(&dir.join("committed"), 64) {
        Ok(text) => Ok(String::from_utf8_lossy(&text).trim().parse().unwrap_or(0)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err),
    }
}

/// The quota lock, held for a few file operations (blocking: it is never
/// held for long).
struct GlobalLock {
    _file: fs_err::File,
}

impl GlobalLock {
    fn take(path: &Path) -> io::Result<Self> {
        let file = super::lock::open_lock_file(path)?;
        file.file().lock()?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let meta = dir.path();
        let a = Quota::join(meta, 100, || Ok(10)).unwrap();
        let b = Quota::join(meta, 100, || Ok(10)).unwrap();
        assert!(a.take(60));
        // 10 held + 60 reserved by `a`: 30 left for `b`.
        assert!(!b.take(40));
        assert!(b.take(30));
        assert_eq!(a.left(), 0);
        // `a` gives some back; `b` commits what it took, and a later
        // process, measuring the store anew, sees it in the store.
        a.give_back(20);
        b.commit(30);
        assert_eq!(b.left(), 20);
        let c = Quota::join(meta, 100, || Ok(40)).unwrap();
        assert_eq!(c.left(), 20);
        // A process that is gone holds nothing.
        drop(a);
        assert_eq!(c.left(), 60);
        // Streaming takes reserve ahead, a quarter of what is left at most;
        // what is not used goes back when the download is over.
        assert!(c.take_streaming(5));
        assert_eq!(b.left(), 60 - 5 - 13, "c reserved its spare ahead");
        assert!(c.take_streaming(13));
        assert_eq!(b.left(), 42, "taken from the spare");
        c.release_spare();
        assert_eq!(b.left(), 42);
        // An announced length is reserved whole, or not at all.
        assert!(!c.reserve(43));
        assert!(c.reserve(42));
        assert_eq!(b.left(), 0);
        c.release_spare();
        assert_eq!(b.left(), 42);
    }
}
