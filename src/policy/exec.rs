//! Recognising executable content from its bytes.
//!
//! A manifest may say `executable = true`; what counts is what the bytes
//! are. Programs are told by their magic numbers (ELF, Mach-O, PE), scripts
//! by `#!`, and zip and tar archives (gzip-compressed or not) by what their
//! members start with. Archives are read as leniently as the tools that
//! unpack them: a tar header is looked for at every 512-byte block, as GNU
//! tar does after junk, with sizes in base-256 or in pax records and GNU
//! sparse members; every member of a gzip stream is read; a zip may have
//! bytes before and after it. A zip member crp cannot read (encrypted, or
//! compressed other than stored or deflated) counts as executable: nothing
//! says it is not. Archives inside archives are not opened.
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
    let file = fs_err::File::open(path)?.into_parts().0;
    detect_file(&file, None)
}

/// [`detect`] for a file, open for reading, whose every byte went through
/// `blocks` as it was written: where a tar header may be is known without
/// reading it again. Moves the file's offset.
pub fn detect_written(file: &File, blocks: &TarBlocks) -> io::Result<Option<Finding>> {
    detect_file(file, Some(blocks.first))
}

/// Watches bytes as they are written, in order, for the first 512-byte
/// block that is a valid tar header, so that looking for a tar hidden
/// after other bytes needs no second read of a large file.
#[derive(Debug, Clone, Default)]
pub struct TarBlocks {
    block: Vec<u8>,
    offset: u64,
    /// The offset of the first header seen.
    first: Option<u64>,
}

impl TarBlocks {
    /// Takes the next bytes of the file.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while self.first.is_none() && !bytes.is_empty() {
            if self.block.is_empty() && bytes.len() >= 512 {
                // Whole blocks straight from the input, the common case.
                let whole = bytes.len() / 512 * 512;
                if let Some(i) = bytes[..whole].chunks_exact(512).position(tar_header_ok) {
                    self.first = Some(self.offset + i as u64 * 512);
                    return;
                }
                self.offset += whole as u64;
                bytes = &bytes[whole..];
                continue;
            }
            let take = (512 - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.block.len() == 512 {
                if tar_header_ok(&self.block) {
                    self.first = Some(self.offset);
                }
                self.offset += 512;
                self.block.clear();
            }
        }
    }
}

fn detect_dir(root: &Path, dir: &Path) -> io::Result<Option<Finding>> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let found = if entry.file_type()?.is_dir() {
            detect_dir(root, &path)?
        } else if entry.file_type()?.is_file() {
            let file = fs_err::File::open(&path)?.into_parts().0;
            detect_file(&file, None)?.map(|mut finding| {
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
/// that cannot be read is simply not looked at. `tar_at` is where the
/// first tar header is, when the file's bytes were watched as they were
/// written (`Some(None)`: nowhere); without it the file is read through.
fn detect_file(mut file: &File, tar_at: Option<Option<u64>>) -> io::Result<Option<Finding>> {
    // From the first byte, wherever the handle was left (a part just
    // written ends at its last byte).
    file.seek(SeekFrom::Start(0))?;
    let head = read_head(&mut file)?;
    let size = file.metadata()?.len();
    let at = |offset: u64| {
        let mut signature = [0u8; 4];
        (offset.checked_add(4)? <= size
            && file.seek(SeekFrom::Start(offset)).is_ok()
            && file.read_exact(&mut signature).is_ok())
        .then_some(signature)
    };
    if let Some(what) = program(&head, at) {
        return Ok(Some(Finding {
            what,
            path: String::new(),
        }));
    }
    let budget = size
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_SLACK);
    // A zip may be between other bytes (a self-extracting stub before it,
    // padding after): its end record, near the end of the file, tells.
    if let Some(end) = zip_end(file, size) {
        file.seek(SeekFrom::Start(0))?;
        if let Some(found) = scan_zip(file, end) {
            return Ok(Some(found));
        }
    }
    file.seek(SeekFrom::Start(0))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // Every member of the stream, as `gzip -d` and `tar xz` read it.
        let mut inner = Budget::new(
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
            budget,
        );
        let inner_head = read_head_lossy(&mut inner);
        let read = inner_head.len() as u64;
        if let Some(what) = program(&inner_head, |offset| read_on(&mut inner, read, offset)) {
            return Ok(Some(Finding {
                what,
                path: "(gzip content)".into(),
            }));
        }
        file.seek(SeekFrom::Start(0))?;
        let mut inner = Budget::new(
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
            budget,
        );
        return Ok(scan_tar(&mut inner));
    }
    Ok(match tar_at {
        Some(None) => None,
        Some(Some(at)) => {
            file.seek(SeekFrom::Start(at))?;
            scan_tar_seekable(&mut BufReader::new(file))
        }
        None => scan_tar_seekable(&mut BufReader::new(file)),
    })
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

/// What kind of program `head` (the first bytes of some content) begins,
/// if any. `at(offset)` reads the 4 bytes at `offset` of the content, past
/// the head, for a PE signature the DOS header points beyond it; `None`
/// when the content is shorter (see [`read_on`]).
fn program(head: &[u8], at: impl FnOnce(u64) -> Option<[u8; 4]>) -> Option<&'static str> {
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
    } else if magic(b"MZ") && is_pe(head, at) {
        Some("a Windows (PE) program")
    } else if magic(b"#!") && is_shebang(&head[2..]) {
        Some("a `#!` script")
    } else {
        None
    }
}

/// `MZ` content is a PE program when `PE\0\0` sits where its DOS header
/// says (`e_lfanew`, at 0x3c), which may lie past the head.
fn is_pe(head: &[u8], at: impl FnOnce(u64) -> Option<[u8; 4]>) -> bool {
    let Some(offset) = head.get(0x3c..0x40) else {
        return false;
    };
    let offset = u32::from_le_bytes(offset.try_into().expect("4 bytes"));
    match head.get(offset as usize..offset as usize + 4) {
        Some(signature) => signature == b"PE\0\0",
        None => at(u64::from(offset)) == Some(*b"PE\0\0"),
    }
}

/// The 4 bytes at `offset` of content whose first `read` bytes `reader`
/// has given already; `None` past the end. Reads (or skips) forward.
fn read_on(reader: &mut impl Read, read: u64, offset: u64) -> Option<[u8; 4]> {
    let gap = offset.checked_sub(read)?;
    let skipped = io::copy(&mut reader.take(gap), &mut io::sink()).ok()?;
    let mut signature = [0u8; 4];
    (skipped == gap && reader.read_exact(&mut signature).is_ok()).then_some(signature)
}

/// What follows `#!` is an interpreter line as the kernel reads one (its
/// first 256 bytes, to the newline): text, with no control characters but
/// tabs. Binary data that happens to start with `#!` is not a script.
fn is_shebang(rest: &[u8]) -> bool {
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len())
        .min(254);
    let line = &rest[..end];
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        // A character cut at the kernel's limit.
        Err(err) if err.error_len().is_none() => {
            std::str::from_utf8(&line[..err.valid_up_to()]).expect("valid up to here")
        }
        Err(_) => return false,
    };
    let text = text.strip_suffix('\r').unwrap_or(text);
    !text.chars().any(|c| c.is_control() && c != '\t')
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
    // The sum of the bytes as unsigned, or (as old tars wrote it, and GNU
    // tar still accepts) as signed.
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b.cast_signed());
    }
    // An all-zero block (the end of an archive) is not a header.
    unsigned != 256 && (unsigned == stored || i64::try_from(stored).is_ok_and(|s| s == signed))
}

/// A tar number field: octal digits, padded with spaces or NULs.
fn octal(field: &[u8]) -> Option<u64> {
    // Most blocks are not headers: their bytes say so at once.
    if !field.iter().all(|b| matches!(b, b'0'..=b'7' | b' ' | 0)) {
        return None;
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The members of the zip that ends at `end` (see [`zip_end`]).
fn scan_zip(file: &File, end: ZipEnd) -> Option<Finding> {
    if end.directory > MAX_ZIP_DIRECTORY {
        tracing::debug!("not looking inside a zip whose directory is too large");
        return None;
    }
    // The zip as its reader expects it: ending with its end record.
    let window = Window {
        inner: BufReader::new(file),
        end: end.at,
        position: 0,
    };
    let mut archive = zip::ZipArchive::new(window).ok()?;
    for i in 0..archive.len().min(MAX_MEMBERS) {
        let (name, readable) = match archive.by_index_raw(i) {
            // The zip crate calls any mode with the link bits set a link;
            // `unzip` makes a link only of exactly `S_IFLNK`, a file of the rest.
            Ok(member)
                if !member.is_dir()
                    && member.unix_mode().is_none_or(|m| m & 0o170000 != 0o120000) =>
            {
                (
                    member
                        .name()
                        .map_or_else(|_| format!("member {i}"), |n| n.into_owned()),
                    !member.encrypted()
                        && matches!(
                            member.compression(),
                            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                        ),
                )
            }
            _ => continue,
        };
        if !readable {
            return Some(Finding {
                what: "a member crp cannot look inside (encrypted, or compressed other than stored or deflated)",
                path: name,
            });
        }
        let Ok(mut member) = archive.by_index(i) else {
            continue;
        };
        let head = read_head_lossy(&mut member);
        let read = head.len() as u64;
        if let Some(what) = program(&head, |offset| read_on(&mut member, read, offset)) {
            return Some(Finding { what, path: name });
        }
    }
    None
}

/// Where a zip's end record says its central directory is.
#[derive(Debug, Clone, Copy)]
struct ZipEnd {
    /// The size of the central directory.
    directory: u64,
    /// The offset just past the end record and its comment.
    at: u64,
}

/// A zip's end, from its end record (PKWARE's APPNOTE, 4.3.16): the last
/// signature within the final 64 KiB + 22 bytes whose comment reaches
/// exactly to the end of the file, else (bytes after the zip, which
/// `unzip` passes over) the last whose comment fits in the file; for a
/// zip64 archive the directory's size is in its zip64 end record (4.3.14,
/// found through its locator, 4.3.15).
fn zip_end(mut file: &File, size: u64) -> Option<ZipEnd> {
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
    // Found forwards (the vectorised direction), taken from the end.
    let found: Vec<usize> = memchr::memmem::find_iter(&buf, b"PK\x05\x06").collect();
    let records: Vec<(usize, u64)> = found
        .into_iter()
        .rev()
        .filter(|&at| at + 22 <= buf.len())
        .filter_map(|at| Some((at, at as u64 + 22 + le16(&buf, at + 20)?)))
        .filter(|&(_, end)| end <= tail)
        .collect();
    let (at, end) = records
        .iter()
        .find(|&&(_, end)| end == tail)
        .or_else(|| records.first())
        .copied()?;
    let directory = le32(&buf, at + 12)?;
    let directory = if directory == u64::from(u32::MAX) {
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
        le64(&record, 40)?
    } else {
        directory
    };
    Some(ZipEnd {
        directory,
        at: size - tail + end,
    })
}

/// The first `end` bytes of a reader, as if there were no more.
struct Window<R> {
    inner: R,
    end: u64,
    position: u64,
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.position)).unwrap_or(usize::MAX);
        let max = buf.len().min(left);
        let n = self.inner.read(&mut buf[..max])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(n) => self.end.checked_add_signed(n),
            SeekFrom::Current(n) => self.position.checked_add_signed(n),
        }
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.position = self.inner.seek(SeekFrom::Start(target))?;
        Ok(self.position)
    }
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
        i64::try_from(n).is_ok_and(|n| reader.seek_relative(n).is_ok())
    })
}

fn scan_blocks<R: Read>(
    reader: &mut R,
    mut skip: impl FnMut(&mut R, u64) -> bool,
) -> Option<Finding> {
    let mut block = [0u8; 512];
    let mut members = 0;
    // What pax records (`x` for the next member, `g` for all that follow)
    // and GNU long names (`L`) say about the next member.
    let mut next = Extended::default();
    let mut global = Extended::default();
    while members < MAX_MEMBERS {
        if reader.read_exact(&mut block).is_err() {
            return None;
        }
        if !tar_header_ok(&block) {
            continue;
        }
        members += 1;
        let kind = block[156];
        let mut size = number(&block[124..136]).unwrap_or(0);
        if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            // Read as a stream, however long: only the few values that
            // matter are kept, a bounded part of each.
            let padded = size.div_ceil(512) * 512;
            let mut data = (&mut *reader).take(size);
            match kind {
                b'x' => next.pax(&mut data)?,
                b'g' => global.pax(&mut data)?,
                b'L' => {
                    next.path = Some(String::from_utf8_lossy(&read_value(&mut data)?).into_owned())
                }
                _ => {}
            }
            let rest = data.limit();
            if !skip(reader, rest + (padded - size)) {
                return None;
            }
            continue;
        }
        let this = std::mem::take(&mut next);
        if let Some(pax_size) = this.size.or(global.size) {
            size = pax_size;
        }
        let name = this
            .path
            .or_else(|| global.path.clone())
            .unwrap_or_else(|| tar_name(&block));
        // Links, devices, folders and fifos have no data; any other type,
        // even one GNU tar does not know, is extracted as a file.
        let has_data = !matches!(kind, b'1'..=b'6');
        if kind == b'S' {
            // An old GNU sparse member: more of its map may follow in
            // extension blocks before the data.
            let mut extended = block[482] != 0;
            while extended {
                reader.read_exact(&mut block).ok()?;
                extended = block[504] != 0;
            }
        }
        let mut consumed = 0;
        if has_data && size > 0 {
            if this.sparse_map || global.sparse_map {
                // A pax sparse member (format 1.0): its map, in decimal
                // lines, comes first and fills whole blocks.
                consumed += sparse_map_len(reader)?;
            }
            let head_len = size.saturating_sub(consumed).min(HEAD as u64);
            let mut head = vec![0u8; usize::try_from(head_len).unwrap_or(HEAD)];
            if reader.read_exact(&mut head).is_err() {
                return None;
            }
            consumed += head_len;
            let data_left = size.saturating_sub(consumed);
            let mut further = 0;
            let found = program(&head, |offset| {
                // Within this member's data only.
                let wanted = offset.checked_add(4)?.checked_sub(head_len)?;
                if wanted > data_left {
                    return None;
                }
                further = wanted;
                read_on(reader, head_len, offset)
            });
            consumed += further;
            if let Some(what) = found {
                return Some(Finding { what, path: name });
            }
        }
        // On to the next header: the data, rounded up to whole blocks.
        let padded = if has_data {
            size.div_ceil(512) * 512
        } else {
            0
        };
        if !skip(reader, padded.saturating_sub(consumed)) {
            return None;
        }
    }
    None
}

/// What extended headers say about the member after them.
#[derive(Debug, Default)]
struct Extended {
    size: Option<u64>,
    path: Option<String>,
    /// `GNU.sparse.major=1`: the data starts with the sparse map.
    sparse_map: bool,
}

impl Extended {
    /// Takes in pax records, `<length> <key>=<value>\n` (POSIX.1-2001,
    /// pax), from `data` (one header's records). `None` if they are not.
    fn pax(&mut self, data: &mut io::Take<impl Read>) -> Option<()> {
        while data.limit() > 0 {
            // The record's length, counting itself.
            let mut digits = Vec::new();
            loop {
                let mut byte = [0u8; 1];
                data.read_exact(&mut byte).ok()?;
                match byte[0] {
                    b' ' => break,
                    b @ b'0'..=b'9' if digits.len() < 20 => digits.push(b),
                    _ => return None,
                }
            }
            let len: u64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
            let rest = len.checked_sub(digits.len() as u64 + 1)?;
            let mut record = (&mut *data).take(rest);
            let mut key = Vec::new();
            loop {
                let mut byte = [0u8; 1];
                record.read_exact(&mut byte).ok()?;
                if byte[0] == b'=' {
                    break;
                }
                if key.len() < 64 {
                    key.push(byte[0]);
                }
            }
            let interesting = matches!(
                &key[..],
                b"size" | b"path" | b"GNU.sparse.name" | b"GNU.sparse.major"
            );
            if interesting {
                let value = read_value(&mut record)?;
                let value = value.strip_suffix(b"\n").unwrap_or(&value);
                let text = String::from_utf8_lossy(value);
                match &key[..] {
                    b"size" => self.size = text.parse().ok(),
                    b"GNU.sparse.major" => self.sparse_map = text == "1",
                    _ => self.path = Some(text.into_owned()),
                }
            }
            io::copy(&mut record, &mut io::sink()).ok()?;
        }
        Some(())
    }
}

/// The first 4 KiB of a value (the rest is read past by the caller), up to
/// a NUL.
fn read_value(reader: &mut impl Read) -> Option<Vec<u8>> {
    let mut value = Vec::new();
    reader.take(4096).read_to_end(&mut value).ok()?;
    if let Some(end) = value.iter().position(|&b| b == 0) {
        value.truncate(end);
    }
    Some(value)
}

/// Reads past a pax 1.0 sparse map (a count, then that many offset and
/// size pairs, one decimal number a line, padded to whole blocks) and
/// returns how many bytes it took; `None` if it is not one.
fn sparse_map_len(reader: &mut impl Read) -> Option<u64> {
    let mut block = [0u8; 512];
    let mut taken = 0u64;
    let mut pairs: Option<u64> = None;
    let mut numbers = 0u64;
    let mut value: Option<u64> = None;
    // A map of more than a few thousand blocks is not a sparse map.
    for _ in 0..4096 {
        reader.read_exact(&mut block).ok()?;
        taken += 512;
        for &b in &block {
            match (b, value) {
                (b'0'..=b'9', _) => {
                    let n = value.unwrap_or(0);
                    value = Some(n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?);
                }
                (b'\n', Some(n)) => {
                    value = None;
                    match pairs {
                        None => pairs = Some(n),
                        Some(_) => numbers += 1,
                    }
                }
                _ => return None,
            }
            if pairs.is_some_and(|p| numbers == p.saturating_mul(2)) {
                return Some(taken);
            }
        }
    }
    None
}

/// A tar number field: octal digits padded with spaces or NULs, or, when
/// its first byte has the high bit set, a big-endian binary number (GNU's
/// base-256, for sizes past 8 GiB).
fn number(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return None; // negative
            }
            field[1..]
                .iter()
                .try_fold(u64::from(first & 0x3f), |n, &b| {
                    n.checked_mul(256).map(|n| n + u64::from(b))
                })
        }
        // GNU tar's old base-64 form: `+` and digits of
        // `A-Za-z0-9+/` (a `-` is negative).
        Some(b'+') => field[1..]
            .iter()
            .take_while(|&&b| b != 0 && b != b' ')
            .try_fold(0u64, |n, &b| {
                let digit = match b {
                    b'A'..=b'Z' => b - b'A',
                    b'a'..=b'z' => b - b'a' + 26,
                    b'0'..=b'9' => b - b'0' + 52,
                    b'+' => 62,
                    b'/' => 63,
                    _ => return None,
                };
                n.checked_mul(64).map(|n| n + u64::from(digit))
            }),
        _ => octal(field),
    }
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

    const PROGRAM: &[u8] = b"\x7fELF\x02\x01\x01\0 a program";

    /// A tar header for `name` of `size` bytes, of type `kind`.
    fn header(name: &str, size: u64, kind: u8) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_size(size);
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_cksum();
        header
    }

    fn padded(bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out.resize(bytes.len().div_ceil(512) * 512, 0);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        gz.finish().unwrap()
    }

    /// A tar of one program, as `tar` writes it.
    fn tar_of_a_program() -> Vec<u8> {
        let mut tar = header("bin/tool", PROGRAM.len() as u64, b'0')
            .as_bytes()
            .to_vec();
        tar.extend(padded(PROGRAM));
        tar.extend([0; 1024]);
        tar
    }

    #[test]
    fn archives_as_lenient_tools_read_them_are_seen_through() {
        let found = |bytes: &[u8]| detect_bytes(bytes).map(|f| f.path);
        let tool = Some("bin/tool".to_owned());
        // Junk before a tar, which GNU tar skips ("Skipping to next
        // header"), plain and compressed.
        let mut junk = vec![1u8; 512 * 3];
        junk.extend(tar_of_a_program());
        assert_eq!(found(&junk), tool);
        assert_eq!(found(&gzip(&junk)), tool);
        // Every member of a gzip stream.
        let mut members = gzip(b"");
        members.extend(gzip(&tar_of_a_program()));
        assert_eq!(found(&members), tool);
        let mut members = gzip(b"");
        members.extend(gzip(PROGRAM));
        assert_eq!(found(&members), Some("(gzip content)".to_owned()));
        // The size in a pax record, the header's saying 0.
        let body = format!(" size={}\n", PROGRAM.len());
        let record = format!("{}{body}", body.len() + 2);
        assert_eq!(record.len(), body.len() + 2, "a two-digit length");
        let mut pax = header("pax", record.len() as u64, b'x').as_bytes().to_vec();
        pax.extend(padded(record.as_bytes()));
        pax.extend(header("bin/tool", 0, b'0').as_bytes());
        pax.extend(padded(PROGRAM));
        assert_eq!(found(&pax), tool);
        // A size in base-256.
        let mut big = header("bin/tool", 0, b'0');
        big.as_old_mut().size = [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, PROGRAM.len() as u8];
        big.set_cksum();
        let mut base256 = big.as_bytes().to_vec();
        base256.extend(padded(PROGRAM));
        assert_eq!(found(&base256), tool);
        // An old GNU sparse member with an extension block, and a type no
        // tar knows (extracted as a file).
        let mut sparse = header("bin/tool", PROGRAM.len() as u64, b'S');
        sparse.as_mut_bytes()[482] = 1;
        sparse.set_cksum();
        let mut gnu = sparse.as_bytes().to_vec();
        gnu.extend([0; 512]);
        gnu.extend(padded(PROGRAM));
        assert_eq!(found(&gnu), tool);
        let mut odd = header("bin/tool", PROGRAM.len() as u64, b'Z')
            .as_bytes()
            .to_vec();
        odd.extend(padded(PROGRAM));
        assert_eq!(found(&odd), tool);
        // A folder's size is not data to skip or look at.
        let mut folder = header("bin/", 0, b'5').as_bytes().to_vec();
        folder.extend(tar_of_a_program());
        assert_eq!(found(&folder), tool);
        // Bytes after a zip, which `unzip` passes over.
        let mut trailing = zip_of_a_program(b"");
        trailing.extend([0; 100]);
        assert_eq!(found(&trailing).as_deref(), Some("tool"));
    }

    #[test]
    fn tar_headers_in_every_form_gnu_tar_reads_are_seen_through() {
        let found = |bytes: &[u8]| detect_bytes(bytes).map(|f| f.path);
        let tool = Some("bin/tool".to_owned());
        // A checksum summed over signed bytes, as old tars wrote it; a
        // name with bytes of 0x80 and up makes the two sums differ.
        let mut signed = header("bin/tool", PROGRAM.len() as u64, b'0');
        signed.as_mut_bytes()[20] = 0xe9;
        let sum: i64 = signed
            .as_bytes()
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(b.cast_signed())
                }
            })
            .sum();
        signed.as_mut_bytes()[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut tar = signed.as_bytes().to_vec();
        tar.extend(padded(PROGRAM));
        let finding = detect_bytes(&tar).expect("a signed checksum is a header");
        assert!(finding.path.starts_with("bin/tool"), "{finding}");
        // A size in GNU tar's old base-64 form.
        let mut gnu = header("bin/tool", 0, b'0');
        assert_eq!(PROGRAM.len(), 18, "`S` in base 64");
        gnu.as_old_mut().size = *b"+AS\0\0\0\0\0\0\0\0\0";
        gnu.set_cksum();
        assert_eq!(
            number(&gnu.as_bytes()[124..136]),
            Some(PROGRAM.len() as u64)
        );
        let mut base64 = gnu.as_bytes().to_vec();
        base64.extend(padded(PROGRAM));
        assert_eq!(found(&base64), tool);
        // A pax header of more than a MiB before the program.
        let filler = format!(" comment={}\n", "x".repeat(1 << 21));
        let long = format!("{}{filler}", filler.len() + 7);
        assert!(long.starts_with(&(long.len()).to_string()), "a true length");
        let size = format!(" size={}\n", PROGRAM.len());
        let record = format!("{long}{}{size}", size.len() + 2);
        let mut pax = header("pax", record.len() as u64, b'x').as_bytes().to_vec();
        pax.extend(padded(record.as_bytes()));
        pax.extend(header("bin/tool", 0, b'0').as_bytes());
        pax.extend(padded(PROGRAM));
        assert_eq!(found(&pax), tool);
    }

    #[test]
    fn a_zip_member_is_a_link_only_when_unzip_makes_it_one() {
        use std::io::Write as _;
        for (mode, program) in [(0o170_755, true), (0o160_755, true), (0o120_777, false)] {
            let mut out = std::io::Cursor::new(Vec::new());
            let mut zip = zip::ZipWriter::new(&mut out);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(0o755);
            zip.start_file("tool", options).unwrap();
            zip.write_all(PROGRAM).unwrap();
            zip.finish().unwrap();
            let mut bytes = out.into_inner();
            // The external attributes of the central directory's entry:
            // the unix mode in their upper 16 bits.
            let entry = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
            let attributes = (mode as u32) << 16;
            bytes[entry + 38..entry + 42].copy_from_slice(&attributes.to_le_bytes());
            let finding = detect_bytes(&bytes);
            assert_eq!(finding.is_some(), program, "mode {mode:o}: {finding:?}");
        }
    }

    #[test]
    fn zip_members_crp_cannot_read_count_as_executable() {
        // A stored member relabelled as bzip2 (method 12), in its local
        // header and in the central directory.
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("data.bin", stored).unwrap();
        std::io::Write::write_all(&mut zip, b"plain data").unwrap();
        zip.finish().unwrap();
        let mut bytes = out.into_inner();
        assert_eq!(detect_bytes(&bytes), None);
        for (signature, at) in [(&b"PK\x03\x04"[..], 8), (&b"PK\x01\x02"[..], 10)] {
            let start = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[start + at] = 12;
        }
        let finding = detect_bytes(&bytes).unwrap();
        assert_eq!(finding.path, "data.bin");
        assert!(finding.what.contains("cannot look inside"), "{finding}");
    }

    #[test]
    fn watching_blocks_as_written_finds_what_reading_finds() {
        let mut junk = vec![7u8; 5120];
        junk.extend(tar_of_a_program());
        for chunk in [1, 100, 511, 512, 513, 4096, 1 << 20] {
            let mut blocks = TarBlocks::default();
            for piece in junk.chunks(chunk) {
                blocks.feed(piece);
            }
            assert_eq!(blocks.first, Some(5120), "chunks of {chunk}");
        }
        let mut none = TarBlocks::default();
        none.feed(&[7u8; 10_000]);
        assert_eq!(none.first, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, &junk).unwrap();
        let mut blocks = TarBlocks::default();
        blocks.feed(&junk);
        // The handle as a part leaves it: at its end.
        let mut written = std::fs::File::open(&path).unwrap();
        written.seek(SeekFrom::End(0)).unwrap();
        assert_eq!(
            detect_written(&written, &blocks).unwrap().map(|f| f.path),
            Some("bin/tool".to_owned())
        );
        // What the watch saw decides: bytes it never saw are not read.
        assert_eq!(
            detect_written(&std::fs::File::open(&path).unwrap(), &none).unwrap(),
            None
        );
    }

    #[test]
    fn a_file_just_written_is_read_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut written = std::fs::File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let script = b"#!/bin/sh\necho hi\n";
        std::io::Write::write_all(&mut written, script).unwrap();
        let mut blocks = TarBlocks::default();
        blocks.feed(script);
        assert!(detect_written(&written, &blocks).unwrap().is_some());
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
        let program = |head: &[u8]| program(head, |_| None);
        assert_eq!(program(b"\x7fELF\x02\x01"), Some("an ELF program"));
        assert_eq!(program(b"#!/bin/sh\necho hi\n"), Some("a `#!` script"));
        assert_eq!(
            program(b"#! /usr/bin/env python3\r\n"),
            Some("a `#!` script")
        );
        // Binary data that starts with `#!`.
        assert_eq!(program(b"#!\x01\x9f\xff\x00binary"), None);
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
        // A PE header past the head is read where it is; past the end, or
        // something else there, and it is data.
        pe[0x3c..0x40].copy_from_slice(&10_000u32.to_le_bytes());
        assert_eq!(program(&pe), None);
        let mut far = pe.clone();
        far.resize(10_004, 0);
        far[10_000..].copy_from_slice(b"PE\0\0");
        assert_eq!(
            detect_bytes(&far).map(|f| f.what),
            Some("a Windows (PE) program")
        );
        far[10_000..].copy_from_slice(b"PX\0\0");
        assert_eq!(detect_bytes(&far), None);
        far[10_000..].copy_from_slice(b"PE\0\0");
        far.truncate(10_002);
        assert_eq!(detect_bytes(&far), None);
        assert_eq!(program(b"hello, world"), None);
        assert_eq!(program(b""), None);
    }
}
