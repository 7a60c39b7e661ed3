//! File-system helpers shared by the store, the linker and manifest edits.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder is
/// written, flushed to disk and renamed over `path`, so readers see the old
/// content or the new, never a mix. The folder is synced afterwards so the
/// rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_deferred(path, bytes)?;
    sync_dir(parent_of(path))
}

/// [`write_atomic`] without syncing the folder: for many writes into a few
/// folders, whose caller syncs each folder once at the end.
pub fn write_atomic_deferred(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_beside(path, bytes)?;
    temp.as_file()
        .sync_all()
        .map_err(|err| with_path(err, temp.path()))?;
    temp.persist(path)
        .map_err(|err| with_path(err.error, path))?;
    Ok(())
}

/// A file written beside `path` under a temporary name, not flushed, to be
/// renamed into place by [`Staged::commit`] once a flush of the file system
/// made it durable; removed if dropped uncommitted.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::TempPath,
    path: PathBuf,
}

impl Staged {
    /// Renames the file into place.
    pub fn commit(self) -> io::Result<()> {
        self.temp
            .persist(&self.path)
            .map_err(|err| with_path(err.error, &self.path))
    }
}

/// Writes `bytes` beside `path` without flushing them (see [`Staged`]).
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let temp = temp_beside(path, bytes)?;
    Ok(Staged {
        temp: temp.into_temp_path(),
        path: path.to_owned(),
    })
}

/// `syncfs(2)`: flushes every dirty byte and name of the file system that
/// holds `dir`, and the disk's cache, in one call.
pub fn sync_file_system(dir: &Path) -> io::Result<()> {
    let folder = fs_err::File::open(dir)?;
    rustix::fs::syncfs(&folder).map_err(|err| with_path(err.into(), dir))
}

/// A temporary file in `path`'s folder holding `bytes`.
fn temp_beside(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let dir = parent_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".crp-tmp-")
        // As a plain `create` would (the process's umask applies), not the
        // owner-only default of temporary files: a shared store's records
        // are read by every user of the store.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|err| with_path(err, dir))?;
    // Keep the permissions of the file being replaced (a manifest may be
    // group-writable); new files get the process's default.
    if let Ok(meta) = fs_err::metadata(path) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.write_all(bytes)
        .map_err(|err| with_path(err, temp.path()))?;
    Ok(temp)
}

/// Opens `path` for appending, creating it (and its folder) if needed. A
/// symbolic link or anything but a regular file there is refused (see
/// [`own_file`]).
pub fn open_append(path: &Path) -> io::Result<std::fs::File> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    let open = || {
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(NO_FOLLOW)
            .open(path)
    };
    let file = match open() {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs_err::create_dir_all(parent_of(path))?;
            open()
        }
        other => other,
    };
    own_file(file, path)
}

/// `O_NOFOLLOW`: a file crp writes in the store is opened only if its name
/// is not a symbolic link. In a store a group shares, a link planted where
/// crp keeps a file would otherwise have crp write (as whoever runs it)
/// wherever the link points.
pub const NO_FOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

/// Checks what `open` (with [`NO_FOLLOW`]) gave for `path`: a symbolic link
/// (`ELOOP`) or anything but a regular file is an error that says so.
pub fn own_file(open: io::Result<fs_err::File>, path: &Path) -> io::Result<std::fs::File> {
    let refused = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is not a regular file (a symbolic link, say); crp writes only its own files there, so move it away",
                path.display()
            ),
        )
    };
    let file = match open {
        // `ELOOP`, which `fs_err` wraps out of reach: the name is a link.
        Err(_) if fs_err::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(refused());
        }
        other => other?.into_parts().0,
    };
    if !file.metadata()?.is_file() {
        return Err(refused());
    }
    Ok(file)
}

/// `word` as a POSIX shell reads it back: as it is when it is made of
/// characters no shell treats specially, else quoted.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./-+=:,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        shell_quote(word)
    }
}

/// `text` in single quotes, as a POSIX shell reads it back whatever it
/// holds (a quote inside is closed, escaped and reopened).
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Appends `bytes` to `path` with a single write, and flushes them to disk.
/// Appends of whole lines by several processes interleave without tearing.
/// Every store log goes through here: URLs in the lines are redacted (see
/// [`crate::redact::text`]).
pub fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let text = String::from_utf8_lossy(bytes);
    let bytes = crate::redact::text(&text);
    let mut file = open_append(path)?;
    file.write_all(bytes.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|err| with_path(err, path))
}

/// How long a read of a fifo waits for its writer to write something.
pub const FIFO_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The bytes of `path`, at most `limit` of them: a file crp reads whole
/// (a manifest, a record, a log) may be anything a path can name —
/// `/dev/zero`, a fifo — and must neither grow memory without bound nor
/// block for ever. A fifo (`--manifest <(…)`) is opened without waiting for
/// a writer (none means an empty file), and read while its writer writes:
/// one that holds it open and writes nothing for [`FIFO_IDLE`] is an
/// [`io::ErrorKind::TimedOut`] error. Past `limit`, the error is
/// [`io::ErrorKind::FileTooLarge`].
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    let fifo = fs_err::metadata(path)?.file_type().is_fifo();
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if fifo {
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let mut file = options
        .open(path)
        .map_err(|err| with_path(err, path))?
        .take(limit.saturating_add(1));
    let mut bytes = Vec::new();
    if fifo {
        read_fifo(&mut file, &mut bytes, path)?;
    } else {
        file.read_to_end(&mut bytes)
            .map_err(|err| with_path(err, path))?;
    }
    within(bytes, limit, path)
}

/// `bytes` read from `path` with a limit of `limit` (reading one byte more
/// shows a file past it): [`io::ErrorKind::FileTooLarge`] when past it.
fn within(bytes: Vec<u8>, limit: u64, path: &Path) -> io::Result<Vec<u8>> {
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "`{}` is larger than {}, the most crp reads of it",
                path.display(),
                crate::units::ByteCount(limit)
            ),
        ));
    }
    Ok(bytes)
}

/// Reads a fifo opened `O_NONBLOCK` to its end, while its writer writes
/// (see [`read_bounded`]).
fn read_fifo(fifo: &mut impl io::Read, bytes: &mut Vec<u8>, path: &Path) -> io::Result<()> {
    let mut buffer = vec![0u8; 64 << 10];
    let mut idle_since = std::time::Instant::now();
    loop {
        match fifo.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                idle_since = std::time::Instant::now();
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if idle_since.elapsed() >= FIFO_IDLE {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "`{}` is a fifo whose writer wrote nothing for {}s",
                            path.display(),
                            FIFO_IDLE.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => return Err(with_path(err, path)),
        }
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them (past
/// it, [`io::ErrorKind::FileTooLarge`]). For files crp keeps itself (in the
/// store, beside a download) and local sources: anything else at the path
/// (a fifo, a device) is refused with [`io::ErrorKind::InvalidInput`]
/// without reading a byte or waiting for a writer.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| with_path(err, path))?;
    within(bytes, limit, path)
}

/// Opens the regular file at `path` for reading (following symbolic links),
/// without blocking on whatever else may be there; anything but a regular
/// file is [`io::ErrorKind::InvalidInput`].
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|err| with_path(err, path))?;
    let meta = file.metadata().map_err(|err| with_path(err, path))?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ));
    }
    // Reads of a regular file never wait anyway; the flag goes for tidiness.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())
        .map_err(|err| with_path(err.into(), path))?;
    Ok(file)
}

/// Flushes a folder's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// The folder holding `path`, `.` for a bare file name.
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Adds the path to an error from a crate that does not name it.
pub fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        AtPath {
            error: err,
            path: path.to_owned(),
        },
    )
}

/// An I/O error and the path it happened at: "… (at `path`)".
#[derive(Debug)]
struct AtPath {
    error: io::Error,
    path: PathBuf,
}

impl std::fmt::Display for AtPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at `{}`)", self.error, self.path.display())
    }
}

impl std::error::Error for AtPath {}

/// An I/O error's words without the path [`with_path`] added, for a
/// message that names the path already.
pub fn without_path(err: &io::Error) -> String {
    match err.get_ref().and_then(|e| e.downcast_ref::<AtPath>()) {
        Some(at) => at.error.to_string(),
        None => err.to_string(),
    }
}

/// `path` relative to `base`, both absolute; `None` when they share no root.
pub fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let path: Vec<_> = path
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let base: Vec<_> = base
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    if path.first() != base.first() {
        return None;
    }
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for component in &path[common..] {
        out.push(component);
    }
    Some(out)
}

/// `path` with `.` and `..` taken out by its text alone (no file is
/// looked at): `/p/a/../b` is `/p/b`. For paths written in a manifest,
/// where one file may be spelled several ways.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path for display: relative to the current folder when that is shorter.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_owned))
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_owned())
        .display()
        .to_string()
}

/// A source as people read it in progress and reports: a local file under
/// the current folder by its relative path (as [`display_path`]), anything
/// else as it is.
pub fn display_source(source: &str) -> String {
    if source.starts_with('/') {
        display_path(Path::new(source))
    } else {
        source.to_owned()
    }
}

/// Removes a file, or a folder tree even where it was made read-only
/// (an object's).
pub fn remove_all(path: &Path) -> io::Result<()> {
    let meta = fs_err::symlink_metadata(path)?;
    if meta.is_dir() {
        fn unseal(dir: &Path) -> io::Result<()> {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            for entry in fs_err::read_dir(dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    unseal(&entry.path())?;
                }
            }
            Ok(())
        }
        unseal(path)?;
        fs_err::remove_dir_all(path)
    } else {
        fs_err::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let cases = [
            ("/a/b/c", "/a", "b/c"),
            ("/a/x", "/a/b", "../x"),
            ("/a", "/a", ""),
        ];
        for (path, base, expected) in cases {
            assert_eq!(
                relative_to(Path::new(path), Path::new(base)).unwrap(),
                PathBuf::from(expected)
            );
        }
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
