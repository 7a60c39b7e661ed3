//! `crp hash PATH`: the sha256 of a file, or the tree digest of a folder
//! (see [`crate::tree`]), as the manifest expects it.

use std::io;
use std::path::Path;

use anyhow::Context as _;

use crate::digest::{Sha256Digest, hash_file};
use crate::error::UsageError;
use crate::store::record::ObjectKind;
use crate::tree::hash_tree;

/// A file's or a folder's digest, kind and size in bytes.
///
/// # Errors
/// Nothing at `path` (a usage error), or content that cannot be read.
pub fn hash(path: &Path) -> anyhow::Result<(ObjectKind, Sha256Digest, u64)> {
    if path.is_dir() {
        let tree =
            hash_tree(path).with_context(|| format!("failed to hash `{}`", path.display()))?;
        return Ok((ObjectKind::Directory, tree.digest, tree.size()));
    }
    let (sha256, size) = match hash_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(UsageError::new(format!("no file at `{}`", path.display())).into());
        }
        other => other.with_context(|| format!("failed to hash `{}`", path.display()))?,
    };
    Ok((ObjectKind::File, sha256, size))
}
