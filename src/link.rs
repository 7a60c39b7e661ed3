//! Links from a project's `link_dir` into the store.
//!
//! crp only ever replaces or removes what it can tell it made: a symbolic
//! link into the store's objects, a hard link sharing an object's inode, or a
//! copy whose size, inode and modification time still match what crp
//! recorded when it wrote it. Anything else at a link's path is a conflict,
//! reported and left alone. Inspection reads metadata only, never content.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fsutil;
use crate::manifest::LinkMode;
use crate::store::record::{FileStamp, LinkRecord};

/// What is at a link's path, compared with what the manifest wants there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Missing,
    Correct,
    /// crp's own link, but not the one wanted now.
    Stale {
        reason: String,
    },
    /// Something crp did not make.
    Foreign {
        what: String,
    },
}

/// The link the manifest wants.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// The object to link to; `None` while its digest is unknown (not pinned yet).
    pub object: Option<&'a Path>,
    pub mode: LinkMode,
}

/// Compares what is at `path` with what is wanted. `objects_dir` is the
/// store's object folder, with its symbolic links resolved; `previous` is
/// what crp recorded about this path.
pub fn inspect(
    path: &Path,
    want: Want<'_>,
    objects_dir: &Path,
    previous: Option<&PreviousLink<'_>>,
) -> LinkState {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return LinkState::Missing,
        Err(err) => {
            return LinkState::Foreign {
                what: format!("something crp cannot inspect ({err})"),
            };
        }
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let Ok(target) = fs_err::read_link(path) else {
            return foreign("a symbolic link crp cannot read");
        };
        // The common case, a link as crp writes it, costs one `readlink`.
        if want.mode == LinkMode::Symlink && want.object == Some(target.as_path()) {
            return LinkState::Correct;
        }
        // Otherwise ownership comes from what the link leads to, whatever
        // its spelling (relative, through a linked folder, a store reached
        // another way), or from crp's record of the link it made.
        let resolved = fs_err::canonicalize(path).ok();
        let into_store = resolved
            .as_deref()
            .is_some_and(|r| r.starts_with(objects_dir));
        let recorded = previous.is_some_and(|p| {
            p.record.mode == LinkMode::Symlink
                && match &p.record.target {
                    Some(written) => *written == target,
                    // Recorded before targets were: the object it named.
                    None => target.file_name() == p.object.file_name(),
                }
        });
        if !into_store && !recorded {
            return LinkState::Foreign {
                what: format!(
                    "a symbolic link to `{}`, which crp did not make",
                    target.display()
                ),
            };
        }
        let wanted = want.object.and_then(|o| fs_err::canonicalize(o).ok());
        return match want.mode {
            LinkMode::Symlink if resolved.is_some() && resolved == wanted => LinkState::Correct,
            LinkMode::Symlink if resolved.is_none() => stale("it points to a store that moved"),
            LinkMode::Symlink => stale("it points to another object"),
            mode => stale(&format!("the link mode is now `{mode}`")),
        };
    }
    if file_type.is_dir() {
        // crp's own folder of hard links or copies, while it is as crp left it.
        let ours = previous.filter(|p| {
            p.record.mode != LinkMode::Symlink && p.record.stamp == Some(FileStamp::of(&meta))
        });
        let copy_stands_in = |p: &PreviousLink<'_>| {
            // A copy made because the store is on another file system.
            p.record.mode == LinkMode::Copy
                && want.mode == LinkMode::Hardlink
                && fs_err::metadata(p.object).is_ok_and(|o| o.dev() != meta.dev())
        };
        return match ours {
            None => foreign("a folder crp did not make, or changed since"),
            Some(p)
                if want.object == Some(p.object)
                    && (want.mode == p.record.mode || copy_stands_in(p)) =>
            {
                LinkState::Correct
            }
            Some(p) if want.mode != p.record.mode => {
                stale(&format!("the link mode is now `{}`", want.mode))
            }
            Some(_) => stale("it holds another object"),
        };
    }
    if !file_type.is_file() {
        return foreign("a special file crp did not make");
    }
    // A regular file: one of crp's hard links or copies, or the user's.
    let same_inode = |object: &Path| {
        fs_err::metadata(object).is_ok_and(|o| o.ino() == meta.ino() && o.dev() == meta.dev())
    };
    if want.mode == LinkMode::Hardlink && want.object.is_some_and(same_inode) {
        return LinkState::Correct;
    }
    let Some(previous) = previous else {
        return foreign("a file crp did not make");
    };
    let ours = match previous.record.mode {
        LinkMode::Hardlink => same_inode(previous.object),
        LinkMode::Copy => previous.record.stamp == Some(FileStamp::of(&meta)),
        LinkMode::Symlink => false,
    };
    if !ours {
        return foreign("a file changed or replaced since crp made it");
    }
    let copy_of_wanted =
        previous.record.mode == LinkMode::Copy && want.object == Some(previous.object);
    // A copy stands in for a hard link when the store is on another file system.
    let cannot_hardlink = || fs_err::metadata(previous.object).is_ok_and(|o| o.dev() != meta.dev());
    match want {
        Want {
            mode: LinkMode::Copy,
            ..
        } if copy_of_wanted => LinkState::Correct,
        Want {
            mode: LinkMode::Hardlink,
            ..
        } if copy_of_wanted && cannot_hardlink() => LinkState::Correct,
        Want { mode, .. } if mode != previous.record.mode => {
            stale(&format!("the link mode is now `{mode}`"))
        }
        _ => stale("it holds another object"),
    }
}

fn stale(reason: &str) -> LinkState {
    LinkState::Stale {
        reason: reason.to_owned(),
    }
}

fn foreign(what: &str) -> LinkState {
    LinkState::Foreign {
        what: what.to_owned(),
    }
}

/// What crp recorded about a link it made, with the object it linked.
#[derive(Debug, Clone, Copy)]
pub struct PreviousLink<'a> {
    pub record: &'a LinkRecord,
    pub object: &'a Path,
}

/// Makes a link at `path` to `object` (a file or a directory), replacing
/// what is there. It is built under a temporary name beside `path` and then
/// renamed into place, so a reader never sees a half-made link. Returns how
/// it was made: a hard link falls back to a copy when the store is on
/// another file system.
pub fn create(path: &Path, object: &Path, mode: LinkMode) -> io::Result<LinkRecord> {
    let dir = fsutil::parent_of(path);
    ensure_link_dir(dir)?;
    let temp = temp_name(dir);
    let made = match build(&temp, object, mode)
        .and_then(|made| put_in_place(&temp, path).map(|()| made))
    {
        Ok(made) => made,
        Err(err) => {
            let _ = remove(&temp);
            return Err(err);
        }
    };
    let stamp = (made != LinkMode::Symlink)
        .then(|| fs_err::symlink_metadata(path).map(|m| FileStamp::of(&m)))
        .transpose()?;
    Ok(LinkRecord {
        path: path.to_owned(),
        mode: made,
        stamp,
        target: (made == LinkMode::Symlink).then(|| object.to_owned()),
    })
}

/// A fresh name in `dir` for building a link.
fn temp_name(dir: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".crp-tmp-{}-{n}", std::process::id()))
}

/// Makes the link at `at`; returns the mode actually used.
fn build(at: &Path, object: &Path, mode: LinkMode) -> io::Result<LinkMode> {
    if mode == LinkMode::Symlink {
        std::os::unix::fs::symlink(object, at).map_err(|err| fsutil::with_path(err, at))?;
        return Ok(LinkMode::Symlink);
    }
    if fs_err::metadata(object)?.is_dir() {
        let mut made = mode;
        build_tree(at, object, &mut made)?;
        return Ok(made);
    }
    if mode == LinkMode::Hardlink {
        match fs_err::hard_link(object, at) {
            Ok(()) => return Ok(LinkMode::Hardlink),
            Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {}
            Err(err) => return Err(err),
        }
    }
    fs_err::copy(object, at)?;
    // A copied file is the project's own, not a read-only store object.
    fs_err::set_permissions(at, std::fs::Permissions::from_mode(0o644))?;
    Ok(LinkMode::Copy)
}

/// Mirrors the directory object `object` at `at`: folders are made, files
/// hard-linked or copied. Copied files stay read-only, as in the store, so
/// that changing one is a deliberate act; crp replaces or removes the folder
/// only while the folder itself is as crp left it.
fn build_tree(at: &Path, object: &Path, made: &mut LinkMode) -> io::Result<()> {
    fs_err::create_dir(at)?;
    for entry in fs_err::read_dir(object)? {
        let entry = entry?;
        let (from, to) = (entry.path(), at.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            build_tree(&to, &from, made)?;
            continue;
        }
        if *made == LinkMode::Hardlink {
            match fs_err::hard_link(&from, &to) {
                Ok(()) => continue,
                Err(err) if err.kind() == io::ErrorKind::CrossesDevices => *made = LinkMode::Copy,
                Err(err) => return Err(err),
            }
        }
        fs_err::copy(&from, &to)?;
    }
    Ok(())
}

/// Renames `temp` to `path`. A file or link replaces a file or link
/// atomically; where a folder is involved on either side the rename cannot
/// replace, so what is there is moved aside first and removed after.
fn put_in_place(temp: &Path, path: &Path) -> io::Result<()> {
    let temp_is_dir = fs_err::symlink_metadata(temp)?.is_dir();
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() || temp_is_dir => {
            let aside = temp_name(fsutil::parent_of(path));
            fs_err::rename(path, &aside)?;
            fs_err::rename(temp, path)?;
            remove(&aside)
        }
        _ => fs_err::rename(temp, path),
    }
}

/// Removes a link crp made: a symbolic link, a file, or a folder of hard
/// links or copies.
pub fn remove(path: &Path) -> io::Result<()> {
    let result = match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
        Err(err) => Err(err),
    };
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Creates the link folder if needed. A folder crp creates gets a
/// `.gitignore` so that links never end up in the project's history.
fn ensure_link_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs_err::create_dir_all(dir)?;
    fs_err::write(
        dir.join(".gitignore"),
        "# Links made by `crp sync` into the shared store; not for version control.\n*\n",
    )
}

/// The path of a resource's link.
pub fn link_path(link_dir: &Path, name: &str) -> PathBuf {
    link_dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory object as the store holds one, and a link folder.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let objects = root.path().join("objects");
        let object = objects.join("tree");
        fs_err::create_dir_all(object.join("sub")).unwrap();
        fs_err::write(object.join("a.txt"), b"a").unwrap();
        fs_err::write(object.join("sub/b.txt"), b"b").unwrap();
        (root, objects, object)
    }

    #[test]
    fn links_folders_in_every_mode_and_knows_them_again() {
        let (root, objects, object) = setup();
        let path = root.path().join("project/resources/tree");
        for mode in [LinkMode::Symlink, LinkMode::Hardlink, LinkMode::Copy] {
            let record = create(&path, &object, mode).unwrap();
            assert_eq!(record.mode, mode);
            assert_eq!(fs_err::read(path.join("sub/b.txt")).unwrap(), b"b");
            let previous = PreviousLink {
                record: &record,
                object: &object,
            };
            let want = Want {
                object: Some(&object),
                mode,
            };
            assert_eq!(
                inspect(&path, want, &objects, Some(&previous)),
                LinkState::Correct,
                "{mode}"
            );
            let other = Want {
                object: Some(Path::new("/elsewhere")),
                mode,
            };
            assert!(matches!(
                inspect(&path, other, &objects, Some(&previous)),
                LinkState::Stale { .. }
            ));
        }
        // Replacing a folder with a symbolic link, and removing it.
        create(&path, &object, LinkMode::Symlink).unwrap();
        assert_eq!(fs_err::read_link(&path).unwrap(), object);
        remove(&path).unwrap();
        assert!(fs_err::symlink_metadata(&path).is_err());
        // Nothing is left behind under a temporary name.
        assert_eq!(
            fs_err::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "only .gitignore"
        );
    }

    #[test]
    fn a_changed_folder_is_not_crps_any_more() {
        let (root, objects, object) = setup();
        let path = root.path().join("resources/tree");
        let record = create(&path, &object, LinkMode::Copy).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs_err::write(path.join("mine.txt"), b"mine").unwrap();
        let previous = PreviousLink {
            record: &record,
            object: &object,
        };
        let want = Want {
            object: Some(&object),
            mode: LinkMode::Copy,
        };
        assert!(matches!(
            inspect(&path, want, &objects, Some(&previous)),
            LinkState::Foreign { .. }
        ));
        // Without a record, a folder is never crp's.
        assert!(matches!(
            inspect(&path, want, &objects, None),
            LinkState::Foreign { .. }
        ));
    }
}
