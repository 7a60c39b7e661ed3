//! A download in flight: a file in `.incomplete/` and the hash of every byte
//! in it, kept in step so the content is read exactly once. Beside a part
//! of 1 MiB or more, `<part>.json` records which source and validator its
//! bytes came from, so a later run resumes it only from the same version
//! (`direct` decides; `http` sends the range request).

use std::io::{self, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::{READ_BUFFER, Sha256Digest};
use crate::policy::exec::TarBlocks;
use crate::store::record::HttpValidators;

/// How much is written before the kernel is asked to start writing it back.
const WRITEBACK_WINDOW: u64 = 8 << 20;

/// What the bytes in a part are: the response they came from. Bytes kept
/// from an earlier attempt are combined with a later `206` only when this
/// says they come from the same source and the `206` carries the same
/// validator (RFC 9110, section 15.3.7.3: combining partial content needs
/// a strong validator both responses share). Kept beside the part, in
/// `<part>.json`, for large downloads, so a later run can resume one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartOrigin {
    /// The source's identity (see [`crate::source::Source::identity`]).
    pub source: String,
    #[serde(flatten)]
    pub validators: HttpValidators,
    /// The whole file's length, when the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Downloads smaller than this are never resumed across runs: starting
/// over costs less than remembering where they came from.
pub(crate) const ORIGIN_MIN: u64 = 1 << 20;

/// Where the origin of the part at `part` is kept.
pub(crate) fn origin_path(part: &Path) -> PathBuf {
    let mut path = part.as_os_str().to_owned();
    path.push(".json");
    PathBuf::from(path)
}

/// The recorded origin of the part at `part`, if there is a readable one.
pub(crate) fn read_origin(part: &Path) -> Option<PartOrigin> {
    let bytes = crate::fsutil::read_regular(&origin_path(part), 64 << 10).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records where the part's bytes come from, durably, before the first of
/// them is written: a crash must never leave new bytes beside an old origin.
pub(crate) fn write_origin(part: &Path, origin: &PartOrigin) -> io::Result<()> {
    let bytes = serde_json::to_vec(origin).expect("origins serialize");
    crate::fsutil::write_atomic(&origin_path(part), &bytes)
}

/// Removes a part and its origin; what is not there is not an error.
pub(crate) fn discard(part: &Path) {
    let _ = fs_err::remove_file(part);
    forget_origin(part);
}

/// Removes a part's origin, once its bytes are of no further use.
pub(crate) fn forget_origin(part: &Path) {
    let _ = fs_err::remove_file(origin_path(part));
}

/// A partial file and the running hash of its content.
pub(crate) struct Part {
    writer: PartWriter,
    hasher: Sha256,
}

/// The file half of a [`Part`]: it writes, and starts writeback as it goes.
pub(crate) struct PartWriter {
    path: PathBuf,
    file: io::BufWriter<std::fs::File>,
    /// Where a tar header may hide in what is written, for the look for
    /// executable content (see [`crate::policy::exec::detect_written`]).
    blocks: TarBlocks,
    len: u64,
    /// Bytes already handed to the kernel's writeback.
    flushed_to: u64,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("path", &self.writer.path)
            .field("len", &self.writer.len)
            .finish()
    }
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish()
    }
}

impl Part {
    /// Opens the part at `path`. With `resume`, bytes already there are kept
    /// and hashed (blocking: call off the async threads); otherwise the file
    /// starts empty.
    pub(crate) fn open(path: &Path, resume: bool) -> io::Result<Self> {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        // Bytes to resume are taken only from a regular file with one name:
        // anything else at the part's name (a link planted in a shared
        // store, say) is removed, never written through.
        let kept = resume
            && fs_err::symlink_metadata(path)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::MetadataExt::nlink(&m) == 1);
        let open = || {
            fs_err::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(!kept)
                .custom_flags(crate::fsutil::NO_FOLLOW)
                .open(path)
        };
        let file = match open() {
            // `.incomplete/` was cleaned away: make it again.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs_err::create_dir_all(crate::fsutil::parent_of(path))?;
                open()
            }
            // What an earlier run left, and is not to be resumed.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                fs_err::remove_file(path)?;
                open()
            }
            other => other,
        };
        let file = fs_err::File::from_parts(crate::fsutil::own_file(file, path)?, path);
        let resume = kept;
        let mut hasher = Sha256::new();
        let mut blocks = TarBlocks::default();
        let len = if resume {
            let mut reader = io::BufReader::with_capacity(READ_BUFFER, file.file());
            io::copy(
                &mut reader,
                &mut HashSink {
                    hasher: &mut hasher,
                    blocks: &mut blocks,
                },
            )?
        } else {
            0
        };
        let mut file = file.into_file();
        file.seek(SeekFrom::Start(len))?;
        Ok(Self {
            writer: PartWriter {
                path: path.to_owned(),
                file: io::BufWriter::with_capacity(READ_BUFFER, file),
                blocks,
                len,
                flushed_to: len,
            },
            hasher,
        })
    }

    pub(crate) fn len(&self) -> u64 {
        self.writer.len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.writer.path
    }

    /// Appends bytes, hashing them on the way.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.writer.write(bytes)
    }

    /// Separates hashing from writing, so they can run on two threads. The
    /// caller keeps them in step: every byte hashed is written, in order.
    pub(crate) fn split(self) -> (Sha256, PartWriter) {
        (self.hasher, self.writer)
    }

    /// Puts the halves of [`Part::split`] together again.
    pub(crate) fn join(hasher: Sha256, writer: PartWriter) -> Self {
        Self { writer, hasher }
    }

    /// Empties the part to start over, forgetting where its bytes came from.
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        forget_origin(&self.writer.path);
        let writer = &mut self.writer;
        writer.file.flush()?;
        let file = writer.file.get_mut();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writer.len = 0;
        writer.flushed_to = 0;
        writer.blocks = TarBlocks::default();
        self.hasher = Sha256::new();
        Ok(())
    }

    /// Flushes the part and hands over its file, still open, for the caller
    /// to publish or remove.
    pub(crate) fn finish(self) -> io::Result<Finished> {
        let file = self
            .writer
            .file
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(Finished {
            file,
            path: self.writer.path,
            sha256: Sha256Digest::from_hasher(self.hasher),
            len: self.writer.len,
            blocks: self.writer.blocks,
        })
    }
}

impl PartWriter {
    /// Appends bytes (already hashed by the caller).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.blocks.feed(bytes);
        self.len += bytes.len() as u64;
        if self.len - self.flushed_to >= WRITEBACK_WINDOW {
            self.start_writeback()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Asks the kernel to start writing what is written so far to disk, so
    /// the `fsync` before publication finds little left to do: a large
    /// download then overlaps its disk writes instead of waiting for them
    /// all at the end. Pages already on disk leave the page cache, which a
    /// freshly stored object need not occupy.
    fn start_writeback(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let len = NonZeroU64::new(self.len - self.flushed_to);
        // Advice only: a file system that ignores it loses nothing.
        let _ = rustix::fs::fadvise(
            self.file.get_ref(),
            self.flushed_to,
            len,
            rustix::fs::Advice::DontNeed,
        );
        self.flushed_to = self.len;
        Ok(())
    }
}

/// A complete part with the digest and length of its content.
#[derive(Debug)]
pub(crate) struct Finished {
    pub file: std::fs::File,
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    pub len: u64,
    /// What the content looked like block by block.
    pub blocks: TarBlocks,
}

/// Where resumed bytes go when a part is opened: into the hash and the
/// watch for tar headers, as if they were written now.
struct HashSink<'a> {
    hasher: &'a mut Sha256,
    blocks: &'a mut TarBlocks,
}

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.blocks.feed(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_with_the_hash_of_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        let mut part = Part::open(&path, false).unwrap();
        part.write(b"hello ").unwrap();
        // Dropping flushes the buffer: the file holds what a run left behind.
        drop(part);
        let mut part = Part::open(&path, true).unwrap();
        assert_eq!(part.len(), 6);
        part.write(b"world").unwrap();
        let done = part.finish().unwrap();
        assert_eq!(
            (done.sha256, done.len),
            (Sha256Digest::of_bytes(b"hello world"), 11)
        );
        assert_eq!(
            crate::digest::hash_file(&path).unwrap(),
            (done.sha256, done.len)
        );
    }

    #[test]
    fn resets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        let mut part = Part::open(&path, false).unwrap();
        part.write(b"wrong").unwrap();
        part.reset().unwrap();
        part.write(b"right").unwrap();
        assert_eq!(
            part.finish().unwrap().sha256,
            Sha256Digest::of_bytes(b"right")
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"right");
    }
}
