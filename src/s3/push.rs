//! Uploading objects to a remote: whole for small ones, in parts for large
//! ones (resumable after a kill), parts in parallel within a bound on the
//! memory they hold.
//!
//! An object's bytes go first, its record last: a record on a remote says
//! its object is complete. A directory object uploads each of its files as
//! an object of its own, then its tree listing under the tree digest.
//!
//! A multipart upload's id is kept in `<store>/.incomplete/upload-<key
//! hash>.json` until it completes, so that a push killed half-way resumes
//! where it stopped: the parts the remote lists with the right size are
//! not sent again. Two processes pushing the same object to the same
//! remote take turns (a lock per upload); two machines pushing it at once
//! both write the same bytes under the same key.

use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::digest::Sha256Digest;
use crate::progress::{Download, NoteKind, Reporter};
use crate::store::Store;
use crate::store::record::{ObjectKind, ObjectRecord};
use crate::time::Timestamp;

use super::{Client, RemoteError};

/// The size of each part of a multipart upload, and the largest object sent
/// in one request. Each transfer in flight holds one such buffer.
pub const PART_SIZE: u64 = 8 << 20;

/// S3's limit on the parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// Why an object was not pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store's copy of the object does not verify: nothing was sent.
    #[error("{0}")]
    Rotten(String),
    #[error("{0}")]
    Other(String),
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pushed {
    /// The remote had it.
    Present,
    /// Sent now.
    Uploaded,
}

/// What a remote keeps beside an object: what the store knows of it, less
/// what only holds on one machine (paths, inodes, links).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteRecord {
    pub schema_version: u32,
    pub sha256: Sha256Digest,
    #[serde(rename = "type")]
    pub kind: ObjectKind,
    pub size_bytes: u64,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    #[serde(default)]
    pub executable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_hash: Option<String>,
    /// The projects that referenced it where it was pushed from: name and
    /// resource name.
    #[serde(default)]
    pub projects: Vec<RemoteUse>,
    pub pushed_at: Timestamp,
}

/// One project's use of an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteUse {
    pub project: String,
    pub resource: String,
}

impl RemoteRecord {
    pub fn of(record: &ObjectRecord) -> Self {
        Self {
            schema_version: 1,
            sha256: record.sha256,
            kind: record.kind,
            size_bytes: record.size,
            sources: record.sources.clone(),
            served_by: record.served_by.clone(),
            purpose: record.purpose.clone(),
            requested_by: record.requested_by.clone(),
            requested_at: record.requested_at,
            executable: record.executable,
            info_hash: record.info_hash.clone(),
            projects: record
                .projects
                .iter()
                .map(|u| RemoteUse {
                    project: u.project.to_string(),
                    resource: u.resource.to_string(),
                })
                .collect(),
            pushed_at: Timestamp::now(),
        }
    }
}

/// Pushes objects of one store to one remote.
#[derive(Clone)]
pub struct Pusher {
    pub client: Client,
    pub store: Store,
    /// Transfers in flight (whole objects or parts), each holding one
    /// buffer of at most [`PART_SIZE`].
    pub slots: Arc<Semaphore>,
    pub reporter: Arc<dyn Reporter>,
    /// The keys the remote held when the push began (one listing instead
    /// of a request per object); `None` to ask of each key.
    pub listed: Option<Arc<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("remote", &self.client.remote().name)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// Whether `key` may be on the remote: listed there when the push
    /// began, or not known (no listing).
    fn listed(&self, key: &str) -> bool {
        self.listed.as_ref().is_none_or(|keys| keys.contains(key))
    }
}

/// The state of a multipart upload, kept until it completes, and past that
/// while an upload resumed from parts found on the remote is read back.
#[derive(Debug, Serialize, Deserialize)]
struct UploadState {
    upload_id: String,
    part_size: u64,
    size: u64,
    /// Completed, and not yet read back: until it is, the key's metadata
    /// does not make it the object.
    #[serde(default)]
    completed: bool,
}

impl Pusher {
    /// Makes sure the remote holds the object `record` describes (bytes,
    /// then record). `label` names it in progress.
    ///
    /// # Errors
    /// The remote's faults, and an object that cannot be read.
    pub async fn push(&self, record: &ObjectRecord, label: &str) -> Result<Pushed, PushError> {
        let remote = self.client.remote();
        let key = remote.key_of(&record.sha256);
        let path = self.store.object_path(&record.sha256);
        let pushed = match record.kind {
            ObjectKind::File => {
                self.push_file(&path, &key, &record.sha256, record.size, label)
                    .await?
            }
            ObjectKind::Directory => self.push_tree(&path, &record.sha256, label).await?,
        };
        let record_key = remote.record_key_of(&record.sha256);
        if pushed == Pushed::Uploaded
            || !self.listed(&record_key)
            || self.client.head(&record_key).await?.is_none()
        {
            let json =
                serde_json::to_vec_pretty(&RemoteRecord::of(record)).expect("a record serializes");
            self.client
                .put(&record_key, Bytes::from(json), None)
                .await?;
        }
        Ok(pushed)
    }

    async fn push_tree(
        &self,
        dir: &Path,
        digest: &Sha256Digest,
        label: &str,
    ) -> Result<Pushed, PushError> {
        let remote = self.client.remote();
        let key = remote.key_of(digest);
        if self.holds(&key, digest, None, false).await? {
            return Ok(Pushed::Present);
        }
        let owned = dir.to_owned();
        let tree = tokio::task::spawn_blocking(move || crate::tree::hash_tree(&owned))
            .await
            .expect("hashing does not panic")
            .map_err(|err| PushError::Other(err.to_string()))?;
        if tree.digest != *digest {
            return Err(PushError::Other(format!(
                "the directory object `{}` no longer has its digest {digest} (it has {}); run `crp verify`",
                dir.display(),
                tree.digest
            )));
        }
        for file in &tree.files {
            let file_key = remote.key_of(&file.sha256);
            let path = dir.join(&file.path);
            self.push_file(
                &path,
                &file_key,
                &file.sha256,
                file.size,
                &format!("{label}/{}", file.path),
            )
            .await?;
        }
        let listing = crate::tree::listing(&tree.files);
        self.client
            .put(&key, Bytes::from(listing), Some(digest))
            .await?;
        Ok(Pushed::Uploaded)
    }

    /// Whether the remote holds `digest` at `key`: the size (when known)
    /// and the digest its upload recorded agree. A key holding something
    /// else (bytes someone replaced, an upload by another tool) is not it,
    /// and is written over.
    /// Without `ask`, a key the listing lacks is taken to be absent.
    async fn holds(
        &self,
        key: &str,
        digest: &Sha256Digest,
        size: Option<u64>,
        ask: bool,
    ) -> Result<bool, PushError> {
        if !ask && !self.listed(key) {
            return Ok(false);
        }
        Ok(match self.client.head_object(key).await? {
            Some(head) if size.is_none_or(|s| s == head.size) && head.sha256 == Some(*digest) => {
                true
            }
            Some(head) => {
                self.reporter.note(
                    NoteKind::Warning,
                    &format!(
                        "{} holds something else ({} bytes{}); replacing it",
                        self.client.remote().show_key(key),
                        head.size,
                        match head.sha256 {
                            Some(other) => format!(", recorded as {other}"),
                            None => ", no digest recorded".into(),
                        }
                    ),
                );
                false
            }
            None => false,
        })
    }

    async fn push_file(
        &self,
        path: &Path,
        key: &str,
        digest: &Sha256Digest,
        size: u64,
        label: &str,
    ) -> Result<Pushed, PushError> {
        // Only a multipart upload keeps a state; a key whose upload was not
        // read back is asked of under the upload's lock.
        let multipart = size > PART_SIZE;
        if !(multipart && unverified(&self.upload_id(key).1))
            && self.holds(key, digest, Some(size), false).await?
        {
            return Ok(Pushed::Present);
        }
        let shown = self.client.remote().show_key(key);
        let progress: Arc<dyn Download> =
            Arc::from(self.reporter.upload(label, &shown, Some(size)));
        let result = match multipart {
            false => self.put_whole(path, key, digest, size, &*progress).await,
            true => self.put_parts(path, key, digest, size, &progress).await,
        };
        progress.finish(result.is_ok());
        result
    }

    async fn put_whole(
        &self,
        path: &Path,
        key: &str,
        digest: &Sha256Digest,
        size: u64,
        progress: &dyn Download,
    ) -> Result<Pushed, PushError> {
        let _slot = self.slots.acquire().await.expect("never closed");
        let body = read_range(path, 0, size).await?;
        // What goes out is the object: a copy that rotted in the store is
        // never published.
        let actual = Sha256Digest::of_bytes(&body);
        if actual != *digest {
            return Err(rotten(path, digest, &actual));
        }
        self.client
            .put_checked(key, body, Some(digest), &actual)
            .await?;
        progress.advance(size);
        Ok(Pushed::Uploaded)
    }

    /// Where the state of `key`'s multipart upload is kept, and the name
    /// of its lock.
    fn upload_id(&self, key: &str) -> (String, PathBuf) {
        let remote = self.client.remote();
        let id = Sha256Digest::of_bytes(
            format!("{}\n{}\n{key}", remote.endpoint, remote.url.bucket).as_bytes(),
        )
        .hex();
        let state_path = self
            .store
            .incomplete_dir()
            .join(format!("upload-{}.json", &id[..32]));
        (id, state_path)
    }

    /// Reads `key` back whole: whether it is the object. One that is not
    /// is removed, and its upload's state with it once it is gone.
    ///
    /// # Errors
    /// The remote fails, or refuses to remove what is not the object (the
    /// state is kept then, so that the next push checks the key again).
    async fn read_back(
        &self,
        key: &str,
        digest: &Sha256Digest,
        size: u64,
        state_path: &Path,
    ) -> Result<(), PushError> {
        let remote = self.client.remote();
        let found = match self.client.stream(key, None).await? {
            Some((actual, len)) if actual == *digest && len == size => {
                let _ = std::fs::remove_file(state_path);
                return Ok(());
            }
            found => found.map_or_else(
                || "nothing was there".to_owned(),
                |(d, n)| format!("{n} bytes, sha256 {d}"),
            ),
        };
        match self.client.delete(key).await {
            Ok(()) => {
                let _ = std::fs::remove_file(state_path);
                Err(PushError::Other(format!(
                    "the upload of {} resumed from parts that were not the object's ({found}); it was removed, push again",
                    remote.show_key(key)
                )))
            }
            Err(err) => Err(PushError::Other(format!(
                "the upload of {} resumed from parts that were not the object's ({found}), and could not be removed ({err}); the next push checks it again",
                remote.show_key(key)
            ))),
        }
    }

    async fn put_parts(
        &self,
        path: &Path,
        key: &str,
        digest: &Sha256Digest,
        size: u64,
        progress: &Arc<dyn Download>,
    ) -> Result<Pushed, PushError> {
        let remote = self.client.remote();
        let (id, state_path) = self.upload_id(key);
        let _lock = self
            .store
            .lock_upload(
                &id,
                &format!("pushing {}", remote.show_key(key)),
                &*self.reporter,
            )
            .await
            .map_err(|err| PushError::Other(err.to_string()))?;
        // An upload that completed and was not read back (the push was
        // stopped then) is read back now: it counts only once it verifies.
        if unverified(&state_path) {
            self.read_back(key, digest, size, &state_path).await?;
            return Ok(Pushed::Uploaded);
        }
        // Another process may have pushed it while this one waited.
        if self.holds(key, digest, Some(size), true).await? {
            return Ok(Pushed::Present);
        }
        // The part size grows for objects S3's 10,000 parts cannot hold.
        let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
        // What goes out is the object: a copy that rotted in the store is
        // never published. (Its parts are read again as they are sent.)
        let owned = path.to_owned();
        let (actual, _) = tokio::task::spawn_blocking(move || crate::digest::hash_file(&owned))
            .await
            .expect("hashing does not panic")
            .map_err(|source| PushError::Read {
                path: path.to_owned(),
                source,
            })?;
        if actual != *digest {
            return Err(rotten(path, digest, &actual));
        }
        let mut done = Vec::new();
        let state = match crate::store::read_json::<UploadState>(&state_path) {
            // Only a state this crp could have written is taken.
            Ok(Some(state)) if state.size == size && state.part_size == part_size => {
                match self.client.list_parts(key, &state.upload_id).await? {
                    Some(parts) => {
                        done = parts;
                        Some(state)
                    }
                    None => None,
                }
            }
            Ok(Some(state)) => {
                let _ = self.client.abort(key, &state.upload_id).await;
                None
            }
            _ => None,
        };
        let state = match state {
            Some(state) => state,
            None => {
                let upload_id = self.client.create_multipart(key, Some(digest)).await?;
                let state = UploadState {
                    upload_id,
                    part_size,
                    size,
                    completed: false,
                };
                crate::store::write_json(&state_path, &state)
                    .map_err(|err| PushError::Other(err.to_string()))?;
                state
            }
        };
        let count = size.div_ceil(state.part_size);
        let mut etags: Vec<Option<String>> = vec![None; count as usize];
        for part in done {
            let n = u64::from(part.number);
            if n == 0 || n > count {
                continue;
            }
            let expected = state.part_size.min(size - (n - 1) * state.part_size);
            if part.size == expected {
                etags[(n - 1) as usize] = Some(part.etag);
                progress.advance(expected);
            }
        }
        let resumed = etags.iter().filter(|e| e.is_some()).count();
        if resumed > 0 {
            tracing::debug!(
                "resuming the upload of {}: {resumed} of {count} parts are there",
                remote.show_key(key)
            );
        }
        let mut set = tokio::task::JoinSet::new();
        for (i, etag) in etags.iter().enumerate() {
            if etag.is_some() {
                continue;
            }
            let this = self.clone();
            let (path, key, upload_id) = (path.to_owned(), key.to_owned(), state.upload_id.clone());
            let progress = Arc::clone(progress);
            let offset = i as u64 * state.part_size;
            let len = state.part_size.min(size - offset);
            set.spawn(async move {
                let _slot = this.slots.acquire().await.expect("never closed");
                let body = read_range(&path, offset, len).await?;
                let number = u16::try_from(i + 1).expect("at most 10,000 parts");
                let etag = this
                    .client
                    .upload_part(&key, &upload_id, number, body)
                    .await?;
                progress.advance(len);
                Ok::<_, PushError>((i, etag))
            });
        }
        while let Some(joined) = set.join_next().await {
            let (i, etag) = joined.expect("an upload does not panic")?;
            etags[i] = Some(etag);
        }
        let etags: Vec<String> = etags.into_iter().map(|e| e.expect("every part")).collect();
        if let Err(err) = self.client.complete(key, &state.upload_id, &etags).await {
            // An upload the remote will not complete is abandoned: the next
            // push starts afresh.
            if !matches!(err, RemoteError::Unreachable { .. }) {
                let _ = self.client.abort(key, &state.upload_id).await;
                let _ = std::fs::remove_file(&state_path);
            }
            return Err(err.into());
        }
        // Parts found on the remote were taken by their size: the object
        // they make is read back whole before it counts as pushed, and its
        // state says so until then.
        match resumed > 0 {
            true => {
                crate::store::write_json(
                    &state_path,
                    &UploadState {
                        completed: true,
                        ..state
                    },
                )
                .map_err(|err| PushError::Other(err.to_string()))?;
                self.read_back(key, digest, size, &state_path).await?;
            }
            false => {
                let _ = std::fs::remove_file(&state_path);
            }
        }
        match self.client.head(key).await? {
            Some(found) if found == size => Ok(Pushed::Uploaded),
            found => Err(PushError::Other(format!(
                "{} has {} bytes after the upload, not {size}; push again",
                remote.show_key(key),
                found.map_or_else(|| "no".to_owned(), |n| n.to_string())
            ))),
        }
    }
}

/// Whether the upload whose state is at `state_path` completed and was not
/// read back.
fn unverified(state_path: &Path) -> bool {
    matches!(
        crate::store::read_json::<UploadState>(state_path),
        Ok(Some(UploadState {
            completed: true,
            ..
        }))
    )
}

/// The error for an object whose bytes in the store are not its own.
fn rotten(path: &Path, digest: &Sha256Digest, actual: &Sha256Digest) -> PushError {
    PushError::Rotten(format!(
        "the store's copy of {digest} at `{}` does not verify (it hashes to {actual}), so it was not pushed; `crp verify` quarantines it, and a sync fetches it again",
        path.display()
    ))
}

/// `len` bytes of `path` from `offset`.
async fn read_range(path: &Path, offset: u64, len: u64) -> Result<Bytes, PushError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
        let file = std::fs::File::open(&owned)?;
        let mut buf = vec![0; usize::try_from(len).expect("a part fits in memory")];
        file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    })
    .await
    .expect("reading does not panic")
    .map_err(|source| PushError::Read {
        path: path.to_owned(),
        source,
    })
}
