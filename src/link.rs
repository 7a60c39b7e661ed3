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
/// what is there. `root` is the project's folder (the manifest's, its
/// symbolic links resolved): the link's folder is resolved, checked to be
/// inside it, and then opened from it one folder at a time without
/// following any symbolic link; every step after goes through that open
/// folder, never its path — swapping a folder for a symbolic link while crp
/// works makes the sync fail, never sends a link anywhere else. The link is built
/// under a temporary name and renamed into place, so a reader never sees a
/// half-made one. Returns how it was made: a hard link falls back to a copy
/// when the store is on another file system.
pub fn create(root: &Path, path: &Path, object: &Path, mode: LinkMode) -> io::Result<LinkRecord> {
    let (dir, name) = Folder::of_link(root, path, true)?;
    let temp = temp_name();
    let made = match build(&dir, &temp, object, mode)
        .and_then(|made| put_in_place(&dir, &temp, &name).map(|()| made))
    {
        Ok(made) => made,
        Err(err) => {
            let _ = remove_at(&dir, &temp);
            return Err(fsutil::with_path(err, path));
        }
    };
    let stamp = (made != LinkMode::Symlink)
        .then(|| dir.stamp(&name))
        .transpose()
        .map_err(|err| fsutil::with_path(err, path))?;
    Ok(LinkRecord {
        path: path.to_owned(),
        mode: made,
        stamp,
        target: (made == LinkMode::Symlink).then(|| object.to_owned()),
    })
}

/// Removes a link crp made — a symbolic link, a file, or a folder of hard
/// links or copies — through its folder opened inside `root`, as
/// [`create`] makes one. What is not there is not an error.
pub fn remove(root: &Path, path: &Path) -> io::Result<()> {
    let (dir, name) = match Folder::of_link(root, path, false) {
        Ok(found) => found,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(fsutil::with_path(err, path)),
    };
    match remove_at(&dir, &name) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|err| fsutil::with_path(err, path)),
    }
}

/// A folder, open: what is done in it goes where it is, whatever its path
/// leads to by then.
struct Folder {
    fd: rustix::fd::OwnedFd,
}

impl Folder {
    /// The folder of the link at `path`, opened inside `root`, and the
    /// link's name in it. With `make`, missing folders are made, and a link
    /// folder crp makes gets a `.gitignore`, so links never end up in the
    /// project's history.
    fn of_link(root: &Path, path: &Path, make: bool) -> io::Result<(Self, std::ffi::OsString)> {
        use rustix::fs::{Mode, OFlags};
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a link needs a name"))?
            .to_owned();
        // Where the folder is now, symbolic links resolved; from here on,
        // none is followed, so it cannot move while crp works in it.
        let real = resolved(fsutil::parent_of(path))?;
        let rel = real.strip_prefix(root).map_err(|_| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "`{}` leads outside the project, to `{}`",
                    fsutil::parent_of(path).display(),
                    real.display()
                ),
            )
        })?;
        let mut fd = rustix::fs::open(
            root,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            let part = part.as_os_str();
            let next = match open_folder(&fd, part) {
                Err(err) if make && err.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&fd, part, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(err) => return Err(err.into()),
                    }
                    let made = open_folder(&fd, part)?;
                    if i + 1 == parts.len() {
                        write_gitignore(&made)?;
                    }
                    made
                }
                other => other?,
            };
            fd = next;
        }
        Ok((Self { fd }, name))
    }

    /// A stamp of the entry `name`, not following a symbolic link.
    fn stamp(&self, name: &std::ffi::OsStr) -> io::Result<FileStamp> {
        let stat = rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(FileStamp {
            len: u64::try_from(stat.st_size).unwrap_or(0),
            ino: stat.st_ino,
            mtime_ns: i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec),
        })
    }

    fn is_dir(&self, name: &std::ffi::OsStr) -> io::Result<bool> {
        let stat = rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory)
    }
}

/// Opens the folder `name` in `dir`, following no symbolic link.
fn open_folder(
    dir: &rustix::fd::OwnedFd,
    name: &std::ffi::OsStr,
) -> io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        // A symbolic link where a folder was: it moved under crp's feet.
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` is no longer a folder (a symbolic link took its place?)",
                name.to_string_lossy()
            ),
        )),
        other => Ok(other?),
    }
}

/// `dir` with every symbolic link resolved as far as it exists, and the
/// rest (folders to make) appended.
fn resolved(dir: &Path) -> io::Result<PathBuf> {
    let mut existing = dir;
    let mut rest = Vec::new();
    loop {
        if fs_err::symlink_metadata(existing).is_ok() {
            let mut out = existing.canonicalize()?;
            out.extend(rest.iter().rev());
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(dir.to_owned()),
        }
    }
}

fn write_gitignore(dir: &rustix::fd::OwnedFd) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        ".gitignore",
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    );
    let fd = match fd {
        Ok(fd) => fd,
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    std::io::Write::write_all(
        &mut std::fs::File::from(fd),
        b"# Links made by `crp sync` into the shared store; not for version control.\n*\n",
    )
}

/// A fresh name for building a link.
fn temp_name() -> std::ffi::OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".crp-tmp-{}-{n}", std::process::id()).into()
}

/// Makes the link `name` in `dir`; returns the mode actually used.
fn build(
    dir: &Folder,
    name: &std::ffi::OsStr,
    object: &Path,
    mode: LinkMode,
) -> io::Result<LinkMode> {
    if mode == LinkMode::Symlink {
        rustix::fs::symlinkat(object, &dir.fd, name)?;
        return Ok(LinkMode::Symlink);
    }
    if fs_err::metadata(object)?.is_dir() {
        let mut made = mode;
        build_tree(&dir.fd, name, object, &mut made)?;
        return Ok(made);
    }
    if mode == LinkMode::Hardlink {
        match link_file(&dir.fd, name, object) {
            Ok(()) => return Ok(LinkMode::Hardlink),
            Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {}
            Err(err) => return Err(err),
        }
    }
    // A copied file is the project's own, not a read-only store object.
    copy_file(&dir.fd, name, object, 0o644)?;
    Ok(LinkMode::Copy)
}

/// A hard link `name` in `dir` to `object`.
fn link_file(dir: &rustix::fd::OwnedFd, name: &std::ffi::OsStr, object: &Path) -> io::Result<()> {
    rustix::fs::linkat(
        rustix::fs::CWD,
        object,
        dir,
        name,
        rustix::fs::AtFlags::empty(),
    )?;
    Ok(())
}

/// A new file `name` in `dir` with `object`'s bytes and `mode`.
fn copy_file(
    dir: &rustix::fd::OwnedFd,
    name: &std::ffi::OsStr,
    object: &Path,
    mode: u32,
) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    let mut to = std::fs::File::from(fd);
    let mut from = fs_err::File::open(object)?;
    io::copy(&mut from, &mut to)?;
    // Whatever the umask made of it.
    to.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Mirrors the directory object `object` as `name` in `dir`: folders are
/// made, files hard-linked or copied. Copied files stay read-only, as in
/// the store, so that changing one is a deliberate act; crp replaces or
/// removes the folder only while the folder itself is as crp left it.
fn build_tree(
    dir: &rustix::fd::OwnedFd,
    name: &std::ffi::OsStr,
    object: &Path,
    made: &mut LinkMode,
) -> io::Result<()> {
    use rustix::fs::Mode;
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o777))?;
    let sub = open_folder(dir, name)?;
    for entry in fs_err::read_dir(object)? {
        let entry = entry?;
        let (from, to) = (entry.path(), entry.file_name());
        if entry.file_type()?.is_dir() {
            build_tree(&sub, &to, &from, made)?;
            continue;
        }
        if *made == LinkMode::Hardlink {
            match link_file(&sub, &to, &from) {
                Ok(()) => continue,
                Err(err) if err.kind() == io::ErrorKind::CrossesDevices => *made = LinkMode::Copy,
                Err(err) => return Err(err),
            }
        }
        let mode = fs_err::metadata(&from)?.permissions().mode() & 0o777;
        copy_file(&sub, &to, &from, mode)?;
    }
    Ok(())
}

/// Renames `temp` to `name` in `dir`. A file or link replaces a file or
/// link atomically; where a folder is involved on either side the rename
/// cannot replace, so what is there is moved aside first and removed after.
fn put_in_place(dir: &Folder, temp: &std::ffi::OsStr, name: &std::ffi::OsStr) -> io::Result<()> {
    let folder_involved = dir.is_dir(temp)? || dir.is_dir(name).unwrap_or(false);
    if folder_involved
        && rustix::fs::statat(&dir.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
    {
        let aside = temp_name();
        rustix::fs::renameat(&dir.fd, name, &dir.fd, &aside)?;
        rustix::fs::renameat(&dir.fd, temp, &dir.fd, name)?;
        return remove_at(dir, &aside);
    }
    rustix::fs::renameat(&dir.fd, temp, &dir.fd, name)?;
    Ok(())
}

/// Removes the entry `name` in `dir`, a folder with all it holds.
fn remove_at(dir: &Folder, name: &std::ffi::OsStr) -> io::Result<()> {
    if dir.is_dir(name)? {
        remove_tree(&dir.fd, name)
    } else {
        rustix::fs::unlinkat(&dir.fd, name, rustix::fs::AtFlags::empty())?;
        Ok(())
    }
}

fn remove_tree(dir: &rustix::fd::OwnedFd, name: &std::ffi::OsStr) -> io::Result<()> {
    use rustix::fs::{AtFlags, FileType};
    let sub = open_folder(dir, name)?;
    let mut entries = rustix::fs::Dir::read_from(&sub)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name != b"." && entry_name != b".." {
            use std::os::unix::ffi::OsStrExt as _;
            names.push((
                std::ffi::OsStr::from_bytes(entry_name).to_owned(),
                entry.file_type() == FileType::Directory,
            ));
        }
    }
    for (entry, is_dir) in names {
        if is_dir {
            remove_tree(&sub, &entry)?;
        } else {
            rustix::fs::unlinkat(&sub, &entry, AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
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
            let record = create(root.path(), &path, &object, mode).unwrap();
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
        create(root.path(), &path, &object, LinkMode::Symlink).unwrap();
        assert_eq!(fs_err::read_link(&path).unwrap(), object);
        remove(root.path(), &path).unwrap();
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
        let record = create(root.path(), &path, &object, LinkMode::Copy).unwrap();
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
