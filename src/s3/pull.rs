//! Reading whole objects back from a remote, verified: for restoring what
//! garbage collection archived there, and for checking an archive before
//! the local copy goes. (A sync fetches from remotes through
//! `crate::fetch`, with resume and progress.)

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::digest::Sha256Digest;
use crate::store::record::ObjectKind;

use super::{Client, RemoteError};

/// Why an object could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("{0} is not there")]
    Missing(String),
    #[error("{what} does not verify: expected {expected}, found {actual}")]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("failed to write `{}`", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks that the remote holds object `digest` of `kind` and `size`
/// bytes whole: a file is read and hashed; a directory's listing is read
/// and hashed, and each of its files' sizes asked.
///
/// # Errors
/// The remote's faults, and an object that is not there or not right.
pub async fn verify(
    client: &Client,
    digest: &Sha256Digest,
    kind: ObjectKind,
    size: u64,
) -> Result<(), PullError> {
    let remote = client.remote();
    let key = remote.key_of(digest);
    match kind {
        ObjectKind::File => {
            let (actual, len) = client
                .stream(&key, None)
                .await?
                .ok_or_else(|| PullError::Missing(remote.label_of(digest)))?;
            check(&remote.label_of(digest), digest, &actual, size, len)
        }
        ObjectKind::Directory => {
            let files = listing(client, digest).await?;
            for file in files {
                let found = client.head(&remote.key_of(&file.sha256)).await?;
                if found != Some(file.size) {
                    return Err(PullError::Mismatch {
                        what: remote.label_of(&file.sha256),
                        expected: format!("{} bytes", file.size),
                        actual: found.map_or_else(|| "nothing".into(), |n| format!("{n} bytes")),
                    });
                }
            }
            Ok(())
        }
    }
}

/// Downloads object `digest` of `kind` into `dest` (a new file, or a new
/// folder for a directory), each byte verified against the digest.
///
/// # Errors
/// The remote's faults, an object that is not there or does not verify,
/// and `dest` that cannot be written.
pub async fn download(
    client: &Client,
    digest: &Sha256Digest,
    kind: ObjectKind,
    dest: &Path,
) -> Result<(), PullError> {
    let remote = client.remote();
    match kind {
        ObjectKind::File => file(client, digest, None, dest).await,
        ObjectKind::Directory => {
            let files = listing(client, digest).await?;
            for entry in &files {
                let path = dest.join(&entry.path);
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent).map_err(|source| PullError::Write {
                        path: parent.to_owned(),
                        source,
                    })?;
                }
                file(client, &entry.sha256, Some(entry.size), &path).await?;
                let mode = if entry.executable { 0o755 } else { 0o644 };
                fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(
                    |source| PullError::Write {
                        path: path.clone(),
                        source,
                    },
                )?;
            }
            let owned = dest.to_owned();
            let tree = tokio::task::spawn_blocking(move || crate::tree::hash_tree(&owned))
                .await
                .expect("hashing does not panic")
                .map_err(|err| PullError::Write {
                    path: dest.to_owned(),
                    source: std::io::Error::other(err.to_string()),
                })?;
            if tree.digest != *digest {
                return Err(PullError::Mismatch {
                    what: remote.label_of(digest),
                    expected: digest.to_string(),
                    actual: tree.digest.to_string(),
                });
            }
            Ok(())
        }
    }
}

async fn file(
    client: &Client,
    digest: &Sha256Digest,
    size: Option<u64>,
    dest: &Path,
) -> Result<(), PullError> {
    let remote = client.remote();
    let write = |source| PullError::Write {
        path: dest.to_owned(),
        source,
    };
    let mut out = fs_err::File::create(dest).map_err(write)?.into_file();
    let (actual, len) = client
        .stream(&remote.key_of(digest), Some(&mut out))
        .await?
        .ok_or_else(|| PullError::Missing(remote.label_of(digest)))?;
    out.sync_all().map_err(write)?;
    check(
        &remote.label_of(digest),
        digest,
        &actual,
        size.unwrap_or(len),
        len,
    )
}

fn check(
    what: &str,
    expected: &Sha256Digest,
    actual: &Sha256Digest,
    size: u64,
    len: u64,
) -> Result<(), PullError> {
    if len != size {
        return Err(PullError::Mismatch {
            what: what.to_owned(),
            expected: format!("{size} bytes"),
            actual: format!("{len} bytes"),
        });
    }
    if actual != expected {
        return Err(PullError::Mismatch {
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// A directory's listing, verified and parsed.
async fn listing(
    client: &Client,
    digest: &Sha256Digest,
) -> Result<Vec<crate::tree::TreeFile>, PullError> {
    let remote = client.remote();
    let label = remote.label_of(digest);
    let bytes = client
        .get_small(&remote.key_of(digest))
        .await?
        .ok_or_else(|| PullError::Missing(label.clone()))?;
    let actual = Sha256Digest::of_bytes(&bytes);
    if actual != *digest {
        return Err(PullError::Mismatch {
            what: label,
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    std::str::from_utf8(&bytes)
        .map_err(|_| "not UTF-8".to_owned())
        .and_then(crate::tree::parse_listing)
        .map_err(|err| PullError::Mismatch {
            what: label,
            expected: "a tree listing".into(),
            actual: err,
        })
}
