//! Recognising executable content from its bytes.
//!
//! A manifest may say `executable = true`; what counts is what the bytes
//! are. Programs are told by their magic numbers (ELF, Mach-O, PE), scripts
//! by `#!`, and zip and tar archives (gzip-compressed or not) by what their
//! members start with. Only the first bytes of each file or member are read.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// How many bytes of a file or archive member are looked at.
const HEAD: usize = 4096;

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

/// One file: a program or script itself, or an archive holding one.
fn detect_file(file: &mut File) -> io::Result<Option<Finding>> {
    let head = read_head(file)?;
    if let Some(what) = program(&head) {
        return Ok(Some(Finding {
            what,
            path: String::new(),
        }));
    }
    file.seek(SeekFrom::Start(0))?;
    match Container::of(&head) {
        Some(Container::Zip) => scan_zip(file),
        Some(Container::Gzip) => {
            let mut inner = flate2::read::GzDecoder::new(BufReader::new(&*file));
            let mut inner_head = Vec::with_capacity(HEAD);
            (&mut inner)
                .take(HEAD as u64)
                .read_to_end(&mut inner_head)?;
            if let Some(what) = program(&inner_head) {
                return Ok(Some(Finding {
                    what,
                    path: "(gzip content)".into(),
                }));
            }
            if is_tar(&inner_head) {
                file.seek(SeekFrom::Start(0))?;
                scan_tar(flate2::read::GzDecoder::new(BufReader::new(&*file)))
            } else {
                Ok(None)
            }
        }
        Some(Container::Tar) => scan_tar(BufReader::new(&*file)),
        None => Ok(None),
    }
}

fn read_head(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD);
    reader.take(HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
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

fn scan_zip(file: &mut File) -> io::Result<Option<Finding>> {
    let mut archive = match zip::ZipArchive::new(BufReader::new(&*file)) {
        Ok(archive) => archive,
        // Not a readable zip after all: its head was already checked.
        Err(_) => return Ok(None),
    };
    for i in 0..archive.len() {
        let Ok(mut member) = archive.by_index(i) else {
            continue;
        };
        if !member.is_file() {
            continue;
        }
        let name = member
            .name()
            .map_or_else(|_| format!("member {i}"), |n| n.into_owned());
        // A member crp cannot decompress is skipped: its head is unknown.
        let Ok(head) = read_head(&mut member) else {
            continue;
        };
        if let Some(what) = program(&head) {
            return Ok(Some(Finding { what, path: name }));
        }
    }
    Ok(None)
}

fn scan_tar(reader: impl Read) -> io::Result<Option<Finding>> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.display().to_string();
        let head = read_head(&mut entry)?;
        if let Some(what) = program(&head) {
            return Ok(Some(Finding { what, path: name }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

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
