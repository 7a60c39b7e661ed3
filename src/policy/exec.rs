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
    // A zip may follow other bytes (a self-extracting stub, text): its end
    // record, near the end of the file, tells.
    let container = Container::of(&head).or_else(|| {
        zip_directory_size(file, size)
            .is_some()
            .then_some(Container::Zip)
    });
    file.seek(SeekFrom::Start(0))?;
    let found = match container {
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
                scan_tar(&mut Budget::new(
                    flate2::read::GzDecoder::new(BufReader::new(&*file)),
                    budget,
                ))
            } else {
                None
            }
        }
        Some(Container::Tar) => scan_tar_seekable(&mut BufReader::new(&*file)),
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

/// POSIX and GNU tar write `ustar` at offset 257; a v7 archive has no
/// magic, but its first header's checksum adds up.
fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar") || head.get(..512).is_some_and(tar_header_ok)
}

/// Whether a 512-byte block is a tar header: its checksum (the sum of its
/// bytes, the checksum field counted as spaces; POSIX.1 `ustar`) matches.
fn tar_header_ok(block: &[u8]) -> bool {
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let Some(stored) = octal(field) else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    // An all-zero block (the end of an archive) is not a header.
    sum != 256 && sum == stored
}

/// A tar number field: octal digits, padded with spaces or NULs.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
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
/// APPNOTE, 4.3.16): the last signature within the final 64 KiB + 22
/// bytes whose comment length reaches exactly to the end of the file (a
/// signature inside a comment does not), and for a zip64 archive the size
/// in its zip64 end record (4.3.14, found through its locator, 4.3.15).
fn zip_directory_size(file: &mut File, size: u64) -> Option<u64> {
    let tail = size.min(65_557);
    file.seek(SeekFrom::Start(size - tail)).ok()?;
    let mut buf = vec![0u8; usize::try_from(tail).ok()?];
    file.read_exact(&mut buf).ok()?;
    let le16 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from(u16::from_le_bytes(
            b.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let le32 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            b.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let le64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let at = (0..buf.len().saturating_sub(21)).rev().find(|&at| {
        buf[at..].starts_with(b"PK\x05\x06")
            && le16(&buf, at + 20).is_some_and(|comment| at as u64 + 22 + comment == tail)
    })?;
    let directory = le32(&buf, at + 12)?;
    let result = if directory == u64::from(u32::MAX) {
        // A zip64 archive: its locator sits just before the end record.
        let locator = at.checked_sub(20)?;
        if !buf[locator..].starts_with(b"PK\x06\x07") {
            return None;
        }
        let record_at = le64(&buf, locator + 8)?;
        let mut record = [0u8; 56];
        file.seek(SeekFrom::Start(record_at)).ok()?;
        file.read_exact(&mut record).ok()?;
        if !record.starts_with(b"PK\x06\x06") {
            return None;
        }
        le64(&record, 40)
    } else {
        Some(directory)
    };
    file.seek(SeekFrom::Start(0)).ok()?;
    result
}

/// A tar archive's members, block by block, as tolerant as GNU tar: a
/// block that is not a valid header is passed over and the next one tried,
/// so a damaged or hand-made header does not hide what follows. Members'
/// data is read past: for a compressed archive there is no other way.
fn scan_tar(reader: &mut impl Read) -> Option<Finding> {
    scan_blocks(reader, |reader, n| {
        io::copy(&mut reader.take(n), &mut io::sink()).is_ok_and(|copied| copied == n)
    })
}

/// [`scan_tar`] for a plain archive on disk: data is skipped by seeking.
fn scan_tar_seekable(reader: &mut (impl Read + Seek)) -> Option<Finding> {
    scan_blocks(reader, |reader, n| {
        i64::try_from(n).is_ok_and(|n| reader.seek(SeekFrom::Current(n)).is_ok())
    })
}

fn scan_blocks<R: Read>(
    reader: &mut R,
    mut skip: impl FnMut(&mut R, u64) -> bool,
) -> Option<Finding> {
    let mut block = [0u8; 512];
    let mut members = 0;
    while members < MAX_MEMBERS {
        if reader.read_exact(&mut block).is_err() {
            return None;
        }
        if !tar_header_ok(&block) {
            continue;
        }
        members += 1;
        let size = octal(&block[124..136]).unwrap_or(0);
        // Regular files: `0`, NUL (old archives) and `7` (contiguous).
        let regular = matches!(block[156], b'0' | 0 | b'7');
        let mut consumed = 0;
        if regular && size > 0 {
            let head_len = size.min(HEAD as u64);
            let mut head = vec![0u8; usize::try_from(head_len).unwrap_or(HEAD)];
            if reader.read_exact(&mut head).is_err() {
                return None;
            }
            consumed = head_len;
            if let Some(what) = program(&head) {
                return Some(Finding {
                    what,
                    path: tar_name(&block),
                });
            }
        }
        // On to the next header: the data, rounded up to whole blocks.
        let padded = size.div_ceil(512) * 512;
        if !skip(reader, padded - consumed) {
            return None;
        }
    }
    None
}

/// A member's name from its header: `prefix/name` in ustar archives.
fn tar_name(block: &[u8]) -> String {
    let field = |range: std::ops::Range<usize>| {
        let bytes = &block[range];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let name = field(0..100);
    let prefix = if &block[257..262] == b"ustar" {
        field(345..500)
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
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

    /// A zip of one program, `tool`, with `comment`.
    fn zip_of_a_program(comment: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file("tool", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"\x7fELF\x02\x01\x01\0 a program").unwrap();
        zip.set_raw_comment(comment.to_vec().into_boxed_slice())
            .unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn archives_in_disguise_are_seen_through() {
        let found = |bytes: &[u8]| detect_bytes(bytes).map(|f| f.path);
        // Text before the zip, as `unzip` (and a self-extractor) allows.
        let mut prefixed = b"just a text file, honest\n".repeat(10);
        prefixed.extend(zip_of_a_program(b""));
        assert_eq!(found(&prefixed).as_deref(), Some("tool"));
        // An end-record signature inside the comment, pointing nowhere.
        let mut fake = b"PK\x05\x06".to_vec();
        fake.extend([0; 8]);
        fake.extend([0xff; 4]);
        assert_eq!(found(&zip_of_a_program(&fake)).as_deref(), Some("tool"));
        // A v7 tar (no `ustar` magic), and one whose first header is junk.
        let program = b"\x7fELF\x02\x01\x01\0 a program";
        let mut header = tar::Header::new_old();
        header.set_path("bin/tool").unwrap();
        header.set_size(program.len() as u64);
        header.set_cksum();
        let mut v7 = header.as_bytes().to_vec();
        v7.extend(program);
        v7.resize(1024, 0);
        assert_eq!(found(&v7).as_deref(), Some("bin/tool"));
        let mut junk = vec![0u8; 512];
        junk[..5].copy_from_slice(b"junk!");
        junk[257..262].copy_from_slice(b"ustar");
        junk[148..156].copy_from_slice(b"0000001\0");
        junk.extend(&v7);
        assert_eq!(found(&junk).as_deref(), Some("bin/tool"));
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
