//! Directory objects from remotes: a remote holds a directory as its tree
//! listing (under the tree digest) and each file as an object of its own
//! (see [`crate::remote`]). The listing is verified against the digest it
//! is fetched by, each file against the listing, and the assembled folder
//! against the digest again before it is published.
//!
//! A file object is fetched from a remote like from any content-addressed
//! mirror (see `direct`); this is for pinned objects with torrent sources,
//! which may be directories.

use std::os::unix::fs::PermissionsExt as _;

use crate::digest::Sha256Digest;
use crate::s3::Client;
use crate::s3::push::RemoteRecord;
use crate::source::Source;
use crate::store::record::{Asked, NewObject, ObjectKind, ObjectRecord, Verification};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::tree::TreeFile;

use super::{
    Expect, FetchError, FetchRequest, Fetched, Fetcher, SourceError, SourceFailure, Transferred,
    part,
};

/// The largest tree listing read: a line per file.
const MAX_LISTING: usize = 64 << 20;

/// What a remote holds under a digest.
pub(super) enum Held {
    /// A file object: fetched like from a mirror.
    File,
    /// A directory, now in the store.
    Directory(Fetched),
    /// Nothing, or nothing usable (reported in `failures`).
    Nothing,
}

impl Fetcher {
    /// Asks `client` what it holds under the pinned digest of `request`,
    /// and brings a directory object in whole.
    pub(super) async fn fetch_remote_tree(
        &self,
        request: &FetchRequest,
        client: &Client,
        failures: &mut Vec<SourceFailure>,
    ) -> Result<Held, FetchError> {
        let digest = request
            .sha256
            .expect("only pinned objects are asked of remotes");
        let remote = client.remote();
        let label = remote.label_of(&digest);
        let mut fail = |error: SourceError| {
            failures.push(SourceFailure {
                source: label.clone(),
                error,
                mirror: true,
            });
            Ok(Held::Nothing)
        };
        let record = match client.get_small(&remote.record_key_of(&digest)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Held::Nothing),
            Err(err) => return fail(SourceError::Remote(err.to_string())),
        };
        let record: RemoteRecord = match serde_json::from_slice(&record) {
            Ok(record) => record,
            Err(err) => {
                return fail(SourceError::Remote(format!(
                    "its record is unreadable: {err}"
                )));
            }
        };
        if record.kind == ObjectKind::File {
            return Ok(Held::File);
        }
        let listing = match client.get_small(&remote.key_of(&digest)).await {
            Ok(Some(bytes)) if bytes.len() <= MAX_LISTING => bytes,
            Ok(Some(_)) => {
                return fail(SourceError::Remote("its tree listing is too large".into()));
            }
            Ok(None) => return Ok(Held::Nothing),
            Err(err) => return fail(SourceError::Remote(err.to_string())),
        };
        let actual = Sha256Digest::of_bytes(&listing);
        if actual != digest {
            return fail(SourceError::HashMismatch {
                expected: digest,
                actual,
            });
        }
        let files = match std::str::from_utf8(&listing)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(crate::tree::parse_listing)
        {
            Ok(files) => files,
            Err(err) => {
                return fail(SourceError::Remote(format!(
                    "its tree listing is not valid: {err}"
                )));
            }
        };
        let size: u64 = files.iter().map(|f| f.size).sum();
        if let Some(expected) = request.size
            && expected != size
        {
            return fail(SourceError::SizeMismatch {
                expected,
                actual: size,
            });
        }
        let store_err = |source: StoreError| FetchError::Store {
            resource: request.name.clone(),
            source,
        };
        let _lock = self
            .store
            .lock_object(
                &digest,
                &format!("fetching `{}`", request.name),
                &*self.reporter,
            )
            .await?;
        if let Some(present) = self.present(&digest) {
            return Ok(Held::Directory(present));
        }
        let staging = self
            .store
            .incomplete_dir()
            .join(format!("{}.tree", digest.hex()));
        let _ = crate::fsutil::remove_all(&staging);
        let result = self.assemble(request, client, &files, &staging).await;
        if let Err(error) = result {
            let _ = crate::fsutil::remove_all(&staging);
            return fail(error);
        }
        // The folder as assembled, hashed again: what is published is what
        // the digest names.
        let owned = staging.clone();
        let tree = tokio::task::spawn_blocking(move || crate::tree::hash_tree(&owned))
            .await
            .expect("hashing does not panic")
            .map_err(|err| store_err(std::io::Error::other(err.to_string()).into()))?;
        if tree.digest != digest {
            let _ = crate::fsutil::remove_all(&staging);
            return fail(SourceError::HashMismatch {
                expected: digest,
                actual: tree.digest,
            });
        }
        let owned = staging.clone();
        let finding = tokio::task::spawn_blocking(move || crate::policy::exec::detect(&owned))
            .await
            .expect("detection does not panic")
            .map_err(|e| store_err(e.into()))?;
        if let Some(finding) = finding.as_ref().filter(|_| !request.executable) {
            let quarantined = self
                .store
                .quarantine(&staging, &format!("{}-{}", request.name, digest.hex()))
                .map_err(|e| store_err(e.into()))?;
            return Err(FetchError::Executable {
                resource: request.name.clone(),
                finding: finding.to_string(),
                sha256: digest,
                quarantined,
            });
        }
        self.store
            .publish_dir(&staging, &digest)
            .map_err(|e| store_err(e.into()))?;
        let now = Timestamp::now();
        let mut object = match self.store.read_object_record(&digest).map_err(store_err)? {
            Some(existing) => existing,
            None => ObjectRecord::new(
                NewObject {
                    sha256: digest,
                    kind: ObjectKind::Directory,
                    size,
                    path: self.store.object_path(&digest),
                },
                Asked {
                    sources: request
                        .sources
                        .iter()
                        .map(|s| s.source.to_string())
                        .collect(),
                    purpose: request.purpose.clone(),
                    requested_by: request.requested_by.clone(),
                    requested_at: Some(now),
                    verification: Verification::Manifest,
                },
            ),
        };
        object.kind = ObjectKind::Directory;
        object.size = size;
        object.served_by = Some(label.clone());
        object.executable = finding.is_some();
        object.status = crate::provenance::State::Available;
        object.fetched_at = now;
        object.verified_at = now;
        object.info_hash = object.info_hash.or(record.info_hash);
        if let Some(user) = &request.user {
            object.add_use(user);
        }
        self.store.write_object_record(&object).map_err(store_err)?;
        Ok(Held::Directory(Fetched {
            sha256: digest,
            size,
            source: Some(label),
            torrent: None,
        }))
    }

    /// Fetches each file of a listing into `staging`, verified, with its
    /// mode.
    async fn assemble(
        &self,
        request: &FetchRequest,
        client: &Client,
        files: &[TreeFile],
        staging: &std::path::Path,
    ) -> Result<(), SourceError> {
        let remote = client.remote();
        for file in files {
            let target = staging.join(&file.path);
            if let Some(parent) = target.parent() {
                fs_err::create_dir_all(parent).map_err(SourceError::Write)?;
            }
            let part_path = self
                .store
                .incomplete_dir()
                .join(Store::object_part_name(&file.sha256));
            let key = remote.key_of(&file.sha256);
            let shown = remote.label_of(&file.sha256);
            let expect = Expect {
                sha256: Some(file.sha256),
                size: Some(file.size),
                cap: None,
                quota: None,
            };
            let source = Source::Http(client.get_url(&key));
            let fetched = match self
                .try_source(request, &source, &shown, &shown, &part_path, expect, None)
                .await?
            {
                Transferred::Bytes(finished, _) => finished,
                Transferred::Unchanged(_) => unreachable!("nothing is offered to revalidate"),
            };
            let mode = if file.executable { 0o755 } else { 0o644 };
            fetched
                .file
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(SourceError::Write)?;
            drop(fetched.file);
            fs_err::rename(&fetched.path, &target).map_err(SourceError::Write)?;
            part::forget_origin(&part_path);
        }
        Ok(())
    }
}
