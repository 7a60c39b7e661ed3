//! The digest of a directory: what a multi-file torrent delivers.
//!
//! A directory resource is identified, like a file, by one sha256: the
//! **tree digest** (format `crp-tree-v1`), the sha256 of this text:
//!
//! ```text
//! crp-tree-v1
//! <mode> <size> <sha256> <path>
//! …
//! ```
//!
//! with one line, ending in `\n`, per regular file below the directory,
//! sorted by `path` (its path relative to the directory, `/`-separated,
//! compared byte by byte). `mode` is `755` when any execute bit is set and
//! `644` otherwise, `size` is in bytes, and `sha256` is the file's own
//! digest. Folders are implied by the paths (empty ones do not count).
//! Symbolic links, special files, and names that are not UTF-8 or contain a
//! newline are refused: they have no place in a resource.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Sha256Digest, hash_file};

/// The first line of every tree listing.
pub const TREE_FORMAT: &str = "crp-tree-v1";

/// One file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Relative, `/`-separated.
    pub path: String,
    pub executable: bool,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// A directory's files and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub digest: Sha256Digest,
    /// Sorted by path.
    pub files: Vec<TreeFile>,
}

impl Tree {
    /// Bytes in all files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Why a folder has no tree digest.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is {what}; a directory resource holds only files and folders", path.display())]
    Unsupported { path: PathBuf, what: &'static str },
    #[error("`{}` has a name that is not UTF-8 or contains a newline", path.display())]
    BadName { path: PathBuf },
}

/// The listing whose sha256 is the tree digest.
pub fn listing(files: &[TreeFile]) -> String {
    let mut text = format!("{TREE_FORMAT}\n");
    for f in files {
        let mode = if f.executable { "755" } else { "644" };
        let _ = writeln!(text, "{mode} {} {} {}", f.size, f.sha256, f.path);
    }
    text
}

/// The files of a listing (see [`listing`]), checked: the first line, one
/// `<mode> <size> <sha256> <path>` per file with mode `644` or `755`,
/// paths relative and `/`-separated without `.`, `..` or empty names,
/// sorted and unique, no file a folder of another.
///
/// # Errors
/// The first line that breaks a rule, in words.
pub fn parse_listing(text: &str) -> Result<Vec<TreeFile>, String> {
    let mut lines = text.split_terminator('\n');
    if lines.next() != Some(TREE_FORMAT) || !text.ends_with('\n') {
        return Err(format!("it does not start with `{TREE_FORMAT}`"));
    }
    let mut files: Vec<TreeFile> = Vec::new();
    for (n, line) in lines.enumerate() {
        let bad = |what: &str| format!("line {}: {what}", n + 2);
        let mut cells = line.splitn(4, ' ');
        let (Some(mode), Some(size), Some(sha256), Some(path)) =
            (cells.next(), cells.next(), cells.next(), cells.next())
        else {
            return Err(bad("not `<mode> <size> <sha256> <path>`"));
        };
        let executable = match mode {
            "755" => true,
            "644" => false,
            _ => return Err(bad("the mode is not 644 or 755")),
        };
        let size: u64 = size
            .parse()
            .map_err(|_| bad("the size is not a number of bytes"))?;
        let sha256: Sha256Digest = sha256
            .parse()
            .map_err(|_| bad("the sha256 is not 64 lowercase hex digits"))?;
        let safe = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|s| !matches!(s, "" | "." | "..") && !s.contains('\0'));
        if !safe {
            return Err(bad("the path is not a relative path inside the folder"));
        }
        if let Some(last) = files.last() {
            if last.path.as_bytes() >= path.as_bytes() {
                return Err(bad("the paths are not sorted and unique"));
            }
            if path.starts_with(&format!("{}/", last.path)) {
                return Err(bad("a file is also a folder"));
            }
        }
        files.push(TreeFile {
            path: path.to_owned(),
            executable,
            size,
            sha256,
        });
    }
    Ok(files)
}

/// Hashes every file below `dir` and computes the tree digest.
pub fn hash_tree(dir: &Path) -> Result<Tree, TreeError> {
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let digest = Sha256Digest::of_bytes(listing(&files).as_bytes());
    Ok(Tree { digest, files })
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<TreeFile>) -> Result<(), TreeError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TreeError::Io { path, source }
    };
    for entry in fs_err::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .ok()
            .filter(|n| !n.contains('\n'))
            .ok_or_else(|| TreeError::BadName { path: path.clone() })?;
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs_err::symlink_metadata(&path).map_err(io_err(&path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(&path, &rel, files)?;
        } else if kind.is_file() {
            let (sha256, size) = hash_file(&path).map_err(io_err(&path))?;
            files.push(TreeFile {
                path: rel,
                executable: meta.permissions().mode() & 0o111 != 0,
                size,
                sha256,
            });
        } else {
            let what = if kind.is_symlink() {
                "a symbolic link"
            } else {
                "a special file"
            };
            return Err(TreeError::Unsupported { path, what });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_parses_back_and_hostile_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x y.txt"), b"one").unwrap();
        std::fs::write(dir.path().join("z"), b"two").unwrap();
        let tree = hash_tree(dir.path()).unwrap();
        assert_eq!(parse_listing(&listing(&tree.files)).unwrap(), tree.files);
        let digest = Sha256Digest::of_bytes(b"");
        for bad in [
            "crp-tree-v2\n".to_owned(),
            format!("{TREE_FORMAT}\n700 1 {digest} a\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} ../a\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} /etc/passwd\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} a//b\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} b\n644 1 {digest} a\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} a\n644 1 {digest} a/b\n"),
            format!("{TREE_FORMAT}\n644 x {digest} a\n"),
            format!("{TREE_FORMAT}\n644 1 {digest} a"),
        ] {
            assert!(parse_listing(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digest_follows_the_documented_listing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("b.txt"), b"bee").unwrap();
        std::fs::write(root.join("sub/a.txt"), b"a").unwrap();
        std::fs::write(root.join("sub/deeper/run.sh"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("sub/deeper/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let tree = hash_tree(root).unwrap();
        let expected = format!(
            "crp-tree-v1\n644 3 {} b.txt\n644 1 {} sub/a.txt\n755 10 {} sub/deeper/run.sh\n",
            Sha256Digest::of_bytes(b"bee"),
            Sha256Digest::of_bytes(b"a"),
            Sha256Digest::of_bytes(b"#!/bin/sh\n"),
        );
        assert_eq!(listing(&tree.files), expected);
        assert_eq!(tree.digest, Sha256Digest::of_bytes(expected.as_bytes()));
        assert_eq!(tree.size(), 14);

        // Any change of content, name or mode changes the digest.
        std::fs::set_permissions(root.join("b.txt"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        assert_ne!(hash_tree(root).unwrap().digest, tree.digest);
    }

    #[test]
    fn refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(matches!(
            hash_tree(dir.path()),
            Err(TreeError::Unsupported {
                what: "a symbolic link",
                ..
            })
        ));
    }
}
