//! How bytes become visible objects: written, made durable in batches
//! (one `syncfs` shared by every writer that finishes at once), sealed
//! read-only, and only then renamed into place; and how bad ones leave.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::fsutil;

use super::{Store, with_parent};

impl Store {
    /// Makes durable every byte this process wrote into the store before
    /// the call: one `syncfs(2)` of the store's file system, shared by every
    /// task that asks while it runs (see `Flusher`). Objects are renamed
    /// into place only after it, so what is visible is on disk.
    ///
    /// # Errors
    ///
    /// The store's folder cannot be opened, or the file system reports a
    /// write-back error.
    pub async fn flush(&self) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        let ticket = self.flusher.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut durable = self.flusher.durable.lock().await;
        if *durable >= ticket {
            return Ok(());
        }
        let upto = self.flusher.issued.load(Ordering::SeqCst);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || fsutil::sync_file_system(&root))
            .await
            .map_err(io::Error::other)??;
        *durable = upto;
        Ok(())
    }

    /// Publishes a verified file as the object `digest`: read-only (and
    /// executable when crp found it to be), flushed to disk, then renamed
    /// into place. `file` (open at `path`) must hold
    /// exactly the bytes whose digest is `digest`.
    ///
    /// The folder holding the new name is synced by [`Store::sync_dirs`]: a
    /// crash before that can lose the object (it is fetched again) but never
    /// show a partial one, since its bytes were on disk before its name.
    pub fn publish(
        &self,
        file: std::fs::File,
        path: &Path,
        digest: &Sha256Digest,
        executable: bool,
    ) -> io::Result<PathBuf> {
        let target = self.object_path(digest);
        let mode = if executable { 0o555 } else { 0o444 };
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| file.sync_all())
            .map_err(|err| fsutil::with_path(err, path))?;
        drop(file);
        with_parent(&target, || fs_err::rename(path, &target))?;
        self.dirty(fsutil::parent_of(&target));
        Ok(target)
    }

    /// Renames a verified part into place as the object `digest`, after
    /// [`Store::flush`] made its bytes durable: [`Store::publish`] with the
    /// flush of many objects shared.
    pub fn publish_flushed(&self, path: &Path, digest: &Sha256Digest) -> io::Result<PathBuf> {
        let target = self.object_path(digest);
        with_parent(&target, || fs_err::rename(path, &target))?;
        self.dirty(fsutil::parent_of(&target));
        Ok(target)
    }

    /// Publishes a verified directory as the object `digest`: every file
    /// read-only and flushed to disk, every folder read-only, then renamed
    /// into place, like [`Store::publish`] for a file.
    pub fn publish_dir(&self, path: &Path, digest: &Sha256Digest) -> io::Result<PathBuf> {
        let target = self.object_path(digest);
        seal_tree(path, false)?;
        with_parent(&target, || fs_err::rename(path, &target))?;
        // Moving a folder needs write permission on it (for its `..`), so
        // the top folder is sealed only once in place.
        seal_dir(&target)?;
        self.dirty(fsutil::parent_of(&target));
        Ok(target)
    }

    /// Moves data that failed verification out of the way, to
    /// `quarantine/<time>-<label>` (with `-2`, `-3`… when that name is
    /// taken: nothing quarantined is ever replaced), where nothing uses it
    /// and a person can look at it. Returns where it went.
    pub fn quarantine(&self, path: &Path, label: &str) -> io::Result<PathBuf> {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "");
        let dir = self.root.join("quarantine");
        for n in 1u32.. {
            let name = match n {
                1 => format!("{stamp}-{label}"),
                n => format!("{stamp}-{label}-{n}"),
            };
            let target = dir.join(name);
            let moved = with_parent(&target, || {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    path,
                    rustix::fs::CWD,
                    &target,
                    rustix::fs::RenameFlags::NOREPLACE,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(fsutil::with_path(err, path)),
                Ok(()) => return Ok(target),
            }
        }
        unreachable!("some name is free")
    }

    /// Remembers a folder whose entries changed, for [`Store::sync_dirs`].
    pub(super) fn dirty(&self, dir: &Path) {
        let mut dirty = self.dirty_dirs.lock().expect("not poisoned");
        if !dirty.contains(dir) {
            dirty.insert(dir.to_owned());
        }
    }

    /// Flushes to disk the folders that new objects and records were renamed
    /// into. Each folder is synced once, however many names it gained; past
    /// a few dozen folders, one `syncfs(2)` of the store's file system does
    /// it in one call.
    pub fn sync_dirs(&self) -> io::Result<()> {
        let dirs: Vec<PathBuf> =
            std::mem::take(&mut *self.dirty_dirs.lock().expect("not poisoned"))
                .into_iter()
                .collect();
        if dirs.len() > 32 {
            return fsutil::sync_file_system(&self.root);
        }
        // Syncs issued together share the file system's journal commits, so
        // a few threads finish many folders in the time of a few.
        let chunk = dirs.len().div_ceil(8).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = dirs
                .chunks(chunk)
                .map(|part| scope.spawn(|| part.iter().try_for_each(|dir| fsutil::sync_dir(dir))))
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("syncing does not panic"))
        })
    }
}

/// One `syncfs(2)` for many writers: each writer takes a ticket once its
/// bytes are written, and a flush that starts after a ticket was taken
/// covers it. While one flush runs, the writers that arrive queue behind
/// it, and the next flush covers all of them: the batching of git's
/// `core.fsyncMethod = batch`, with the file system's own flush.
#[derive(Debug, Default)]
pub(super) struct Flusher {
    /// Tickets handed out.
    issued: std::sync::atomic::AtomicU64,
    /// Every ticket up to this one is durable.
    durable: tokio::sync::Mutex<u64>,
}

/// Makes everything below `dir` read-only and flushes it to disk: files
/// first, then each folder once its entries are final. With `top`, `dir`
/// itself too.
pub(super) fn seal_tree(dir: &Path, top: bool) -> io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = fs_err::symlink_metadata(&path)?;
        if meta.is_dir() {
            seal_tree(&path, true)?;
        } else {
            let executable = meta.permissions().mode() & 0o111 != 0;
            let file = fs_err::File::open(&path)?;
            file.set_permissions(std::fs::Permissions::from_mode(if executable {
                0o555
            } else {
                0o444
            }))?;
            file.sync_all()?;
        }
    }
    if top {
        seal_dir(dir)
    } else {
        fsutil::sync_dir(dir)
    }
}

pub(super) fn seal_dir(dir: &Path) -> io::Result<()> {
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o555))?;
    fsutil::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_never_replaces_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(&dir.path().join("store"))).unwrap();
        store.create().unwrap();
        let mut moved = Vec::new();
        for content in [b"first".as_slice(), b"second", b"third"] {
            let path = dir.path().join("bad");
            std::fs::write(&path, content).unwrap();
            moved.push(store.quarantine(&path, "same-label").unwrap());
        }
        let kept: Vec<Vec<u8>> = moved.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(
            kept,
            [b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
    }
}
