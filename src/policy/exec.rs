//! Recognising executable content from its bytes.
//!
//! A manifest may say `executable = true`; what counts is what the bytes
//! are. Programs are told by their magic numbers (ELF, Mach-O, PE), scripts
//! by `#!`, and zip and tar archives (gzip-compressed or not) by what their
//! members start with. Only the first bytes of each file or member are read.
//!
//! Looking inside never fails a fetch: content is data whatever it is, and
//! an archive that is damaged, or only looks like one (`1f 8b` and noise),
//! is judged by what can be read of it. The look is bounded in time and
//! memory: at most [`MAX_MEMBERS`] members, at most
//! [`MAX_EXPANSION`] times the file's size (plus [`EXPANSION_SLACK`]) of
//! decompressed bytes, and zip directories of at most [`MAX_ZIP_DIRECTORY`].

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// How many bytes of a file or archive member are looked at.
const HEAD: usize = 4096;

/// The most archive members looked at.
pub const MAX_MEMBERS: usize = 100_000;

/// Decompressed bytes read at most, per byte of the compressed file: a
/// bomb expands far more, ordinary archives less.
pub const MAX_EXPANSION: u64 = 16;

/// Decompressed bytes always allowed, whatever the file's size.
pub const EXPANSION_SLACK: u64 = 64 << 20;

/// The largest zip central directory read (about 300,000 members).
pub const MAX_ZIP_DIRECTORY: u64 = 16 << 20;

/// Executable content that was found, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is: "an ELF program", "a `#!` script".
    pub what: &'static str,
    /// Where it is inside the object, for folders and archives
    /// (`bin/tool`, `tools.zip: bin/tool`); empty for the object itself.
    pub path: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(self.what)
        } else {
            write!(f, "{} at `{}`", self.what, self.path)
        }
    }
}

/// Looks for executable content in the file or folder at `path`.
pub fn detect(path: &Path) -> io::Result<Option<Finding>> {
    let meta = fs_err::symlink_metadata(path)?;
    if meta.is_dir() {
        return detect_dir(path, path);
    }
    let mut file = fs_err::File::open(path)?.into_parts().0;
    detect_file(&mut file)
}

fn detect_dir(root: &Path, dir: &Path) -> io::Result<Option<Finding>> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let found = if entry.file_type()?.is_dir() {
            detect_dir(root, &path)?
        } else if entry.file_type()?.is_file() {
            let mut file = fs_err::File::open(&path)?.into_parts().0;
            detect_file(&mut file)?.map(|mut finding| {
                let here = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                finding.path = join(&here, &finding.path);
                finding
            })
        } else {
            None
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn join(outer: &str, inner: &str) -> String {
    if inner.is_empty() {
        outer.to_owned()
    } else {
        format!("{outer}: {inner}")
    }
}

/// One file: a program or script itself, or an archive holding one. Only
/// the file itself failing to read is an error; what is inside an archive
/// that cannot be read is simply not looked at.
fn detect_file(file: &mut File) -> io::Result<Option<Finding>> {
    let head = read_head(file)?;
    if let Some(what) = program(&head) {
        return Ok(Some(Finding {
            what,
            path: String::new(),
        }));
    }
    let size = file.metadata()?.len();
    let budget = size
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_SLACK);
    file.seek(SeekFrom::Start(0))?;
    let found = match Container::of(&head) {
        Some(Container::Zip) => scan_zip(file, size),
        Some(Container::Gzip) => {
            let mut inner =
                Budget::new(flate2::read::GzDecoder::new(BufReader::new(&*file)), budget);
            let inner_head = read_head_lossy(&mut inner);
            if let Some(what) = program(&inner_head) {
                Some(Finding {
                    what,
                    path: "(gzip content)".into(),
                })
            } else if is_tar(&inner_head) {
                file.seek(SeekFrom::Start(0))?;
                scan_tar(Budget::new(
                    flate2::read::GzDecoder::new(BufReader::new(&*file)),
                    budget,
                ))
            } else {
                None
            }
        }
        Some(Container::Tar) => scan_tar_seekable(BufReader::new(&*file)),
        None => None,
    };
    Ok(found)
}

/// A reader that ends after `left` bytes: decompression stops there.
struct Budget<R> {
    inner: R,
    left: u64,
}

impl<R> Budget<R> {
    fn new(inner: R, left: u64) -> Self {
        Self { inner, left }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            tracing::debug!("stopped looking inside an archive: it expands too far");
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn read_head(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD);
    reader.take(HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// As much of the head as can be read: inside an archive, bytes before a
/// damaged spot still say what the member is.
fn read_head_lossy(reader: &mut impl Read) -> Vec<u8> {
    let mut head = vec![0u8; HEAD];
    let mut len = 0;
    while len < HEAD {
        match reader.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    head.truncate(len);
    head
}

/// What kind of program `head` begins, if any.
fn program(head: &[u8]) -> Option<&'static str> {
    let magic = |m: &[u8]| head.starts_with(m);
    if magic(b"\x7fELF") {
        Some("an ELF program")
    } else if magic(&[0xfe, 0xed, 0xfa, 0xce])
        || magic(&[0xfe, 0xed, 0xfa, 0xcf])
        || magic(&[0xce, 0xfa, 0xed, 0xfe])
        || magic(&[0xcf, 0xfa, 0xed, 0xfe])
    {
        Some("a Mach-O program")
    } else if magic(&[0xca, 0xfe, 0xba, 0xbe]) {
        // Shared by universal Mach-O binaries (a small count of
        // architectures follows) and Java classes (a version of 45 or more):
        // both run.
        match head
            .get(4..8)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
        {
            Some(n) if n < 45 => Some("a universal Mach-O program"),
            _ => Some("a Java class"),
        }
    } else if magic(b"MZ") && is_pe(head) {
        Some("a Windows (PE) program")
    } else if magic(b"#!") {
        Some("a `#!` script")
    } else {
        None
    }
}

/// `MZ` files are PE programs when `PE\0\0` sits where the DOS header says;
/// when that lies past the head, the DOS header alone decides.
fn is_pe(head: &[u8]) -> bool {
    let Some(offset) = head.get(0x3c..0x40) else {
        return false;
    };
    let offset = u32::from_le_bytes(offset.try_into().expect("4 bytes")) as usize;
    match head.get(offset..offset + 4) {
        Some(sig) => sig == b"PE\0\0",
        None => offset >= head.len(),
    }
}

enum Container {
    Zip,
    Gzip,
    Tar,
}

impl Container {
    fn of(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Self::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if is_tar(head) {
            Some(Self::Tar)
        } else {
            None
        }
    }
}

/// POSIX and GNU tar both write `ustar` at offset 257.
fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar")
}

fn scan_zip(file: &mut File, size: u64) -> Option<Finding> {
    if zip_directory_size(file, size).is_none_or(|d| d > MAX_ZIP_DIRECTORY) {
        tracing::debug!("not looking inside a zip whose directory is unreadable or too large");
        return None;
    }
    // Not a readable zip after all: its head was already checked.
    let mut archive = zip::ZipArchive::new(BufReader::new(&*file)).ok()?;
    for i in 0..archive.len().min(MAX_MEMBERS) {
        let Ok(mut member) = archive.by_index(i) else {
            continue;
        };
        if !member.is_file() {
            continue;
        }
        let name = member
            .name()
            .map_or_else(|_| format!("member {i}"), |n| n.into_owned());
        if let Some(what) = program(&read_head_lossy(&mut member)) {
            return Some(Finding { what, path: name });
        }
    }
    None
}

/// The size of a zip's central directory, from its end record (PKWARE's
/// APPNOTE, 4.3.16): found within the last 64 KiB + 22 bytes.
fn zip_directory_size(file: &mut File, size: u64) -> Option<u64> {
    let tail = size.min(65_557);
    file.seek(SeekFrom::Start(size - tail)).ok()?;
    let mut buf = vec![0u8; usize::try_from(tail).ok()?];
    file.read_exact(&mut buf).ok()?;
    let at = buf.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let field = buf.get(at + 12..at + 16)?;
    let directory = u32::from_le_bytes(field.try_into().ok()?);
    file.seek(SeekFrom::Start(0)).ok()?;
    // 0xFFFFFFFF: the size is in a zip64 record; such directories are big.
    (directory != u32::MAX).then_some(u64::from(directory))
}

/// A tar archive's members, streamed: for compressed archives, where
/// getting to a member means decompressing the ones before it.
fn scan_tar(reader: impl Read) -> Option<Finding> {
    let mut archive = tar::Archive::new(reader);
    scan_entries(archive.entries().ok()?)
}

/// A plain tar archive's members, skipping their data with seeks.
fn scan_tar_seekable(reader: impl Read + Seek) -> Option<Finding> {
    let mut archive = tar::Archive::new(reader);
    scan_entries(archive.entries_with_seek().ok()?)
}

fn scan_entries<R: Read>(entries: tar::Entries<'_, R>) -> Option<Finding> {
    // A damaged member ends the look: what follows cannot be found.
    for entry in entries.take(MAX_MEMBERS) {
        let mut entry = entry.ok()?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().ok()?.display().to_string();
        if let Some(what) = program(&read_head_lossy(&mut entry)) {
            return Some(Finding { what, path: name });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_bytes(bytes: &[u8]) -> Option<Finding> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, bytes).unwrap();
        detect(&path).expect("looking never fails on readable files")
    }

    #[test]
    fn damaged_archives_are_data() {
        let mut noise = vec![0x1f, 0x8b];
        noise.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        assert_eq!(detect_bytes(&noise), None);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&noise);
        assert_eq!(detect_bytes(&zip), None);
        let mut tar = vec![0u8; 1024];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect_bytes(&tar), None);
        // A gzip stream cut short still shows the program it starts with.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"\x7fELF\x02\x01\x01 and more").unwrap();
        let full = gz.finish().unwrap();
        assert_eq!(
            detect_bytes(&full[..full.len() - 6]).map(|f| f.what),
            Some("an ELF program")
        );
    }

    #[test]
    fn a_gzip_bomb_is_read_only_so_far() {
        // 96 MiB of zeros in a tar, compressed to a few hundred KiB: looking
        // stops after 16 times the file's size and 64 MiB, long before the end.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut header = tar::Header::new_ustar();
        header.set_size(96 << 20);
        header.set_cksum();
        std::io::Write::write_all(&mut gz, header.as_bytes()).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..96 {
            std::io::Write::write_all(&mut gz, &zeros).unwrap();
        }
        // A program after the padding would be found only by reading it all.
        let mut program = tar::Header::new_ustar();
        program.set_size(8);
        program.set_cksum();
        std::io::Write::write_all(&mut gz, program.as_bytes()).unwrap();
        std::io::Write::write_all(&mut gz, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 2 << 20);
        assert_eq!(detect_bytes(&bomb), None);
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(program(b"\x7fELF\x02\x01"), Some("an ELF program"));
        assert_eq!(program(b"#!/bin/sh\necho hi\n"), Some("a `#!` script"));
        assert_eq!(
            program(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]),
            Some("a Mach-O program")
        );
        assert_eq!(
            program(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]),
            Some("a universal Mach-O program")
        );
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(program(&pe), Some("a Windows (PE) program"));
        // "MZ" text with no PE header where it points is not a program.
        pe[0x40..0x44].copy_from_slice(b"text");
        assert_eq!(program(&pe), None);
        assert_eq!(program(b"hello, world"), None);
        assert_eq!(program(b""), None);
    }
}
