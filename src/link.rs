//! Links from a project's `link_dir` into the store.
//!
//! crp only ever replaces or removes what it can tell it made: a symbolic
//! link into the store's objects, a hard link sharing an object's inode, or a
//! copy whose size, inode and modification time still match what crp
//! recorded when it wrote it. Anything else at a link's path is a conflict,
//! reported and left alone. Inspection reads metadata only, never content.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
/// store's object folder; `previous` is what crp recorded about this path.
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
        if !target.starts_with(objects_dir) {
            return LinkState::Foreign {
                what: format!(
                    "a symbolic link to `{}`, which crp did not make",
                    target.display()
                ),
            };
        }
        return match (want.mode, want.object) {
            (LinkMode::Symlink, Some(object)) if target == object => LinkState::Correct,
            (LinkMode::Symlink, _) => stale("it points to another object"),
            (mode, _) => stale(&format!("the link mode is now `{mode}`")),
        };
    }
    if file_type.is_dir() {
        return foreign("a folder crp did not make");
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

/// Makes a link at `path` to `object`, replacing what is there atomically.
/// Returns how the link was made: a hard link falls back to a copy when the
/// store is on another file system.
pub fn create(path: &Path, object: &Path, mode: LinkMode) -> io::Result<LinkRecord> {
    let dir = fsutil::parent_of(path);
    ensure_link_dir(dir)?;
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix(".crp-tmp-");
        b
    };
    let made = match mode {
        LinkMode::Symlink => {
            let temp = builder.make_in(dir, |p| std::os::unix::fs::symlink(object, p))?;
            temp.persist(path).map_err(|e| e.error)?;
            LinkMode::Symlink
        }
        LinkMode::Hardlink => match builder.make_in(dir, |p| fs_err::hard_link(object, p)) {
            Ok(temp) => {
                temp.persist(path).map_err(|e| e.error)?;
                LinkMode::Hardlink
            }
            Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {
                copy_into(&builder, dir, path, object)?;
                LinkMode::Copy
            }
            Err(err) => return Err(err),
        },
        LinkMode::Copy => {
            copy_into(&builder, dir, path, object)?;
            LinkMode::Copy
        }
    };
    let stamp = (made == LinkMode::Copy)
        .then(|| fs_err::symlink_metadata(path).map(|m| FileStamp::of(&m)))
        .transpose()?;
    Ok(LinkRecord {
        path: path.to_owned(),
        mode: made,
        stamp,
    })
}

fn copy_into(
    builder: &tempfile::Builder<'_, '_>,
    dir: &Path,
    path: &Path,
    object: &Path,
) -> io::Result<()> {
    let temp = builder.tempfile_in(dir)?;
    fs_err::copy(object, temp.path())?;
    // The copy is the project's own file, not a read-only store object.
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes a link crp made.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs_err::remove_file(path) {
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
