//! The store's records on disk: objects', projects', sources' and
//! quarantine notes, each a JSON file written atomically and read within a
//! size bound.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::digest::Sha256Digest;
use crate::fsutil;

use super::record::{ObjectRecord, ProjectRecord, SourceRecord};
use super::{MAX_PROJECT_RECORD, MAX_RECORD, Store, StoreError, record, with_parent};

impl Store {
    pub(super) fn record_path(&self, digest: &Sha256Digest) -> PathBuf {
        Self::fanout(
            &self.root.join("meta").join("objects").join("sha256"),
            digest,
            ".json",
        )
    }

    pub fn read_object_record(
        &self,
        digest: &Sha256Digest,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        read_json(&self.record_path(digest))
    }

    /// Writes an object's record beside its place, unflushed and not yet
    /// visible: [`fsutil::Staged::commit`] renames it into place once a
    /// [`Store::flush`] made it durable.
    pub fn stage_object_record(&self, record: &ObjectRecord) -> Result<fsutil::Staged, StoreError> {
        let path = self.record_path(&record.sha256);
        let bytes = json_bytes(record);
        let staged = with_parent(&path, || fsutil::stage(&path, &bytes))?;
        self.dirty(fsutil::parent_of(&path));
        Ok(staged)
    }

    pub fn write_object_record(&self, record: &ObjectRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.sha256);
        let bytes = json_bytes(record);
        with_parent(&path, || fsutil::write_atomic_deferred(&path, &bytes))?;
        self.dirty(fsutil::parent_of(&path));
        Ok(())
    }

    pub(super) fn project_path(&self, id: &str) -> PathBuf {
        self.root
            .join("meta")
            .join("projects")
            .join(format!("{id}.json"))
    }

    pub fn read_project(&self, id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        read_json_within(&self.project_path(id), MAX_PROJECT_RECORD)
    }

    pub fn write_project(&self, record: &ProjectRecord) -> Result<(), StoreError> {
        write_json(&self.project_path(&record.id), record)
    }

    pub(super) fn quarantined_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.root
            .join("meta")
            .join("quarantined")
            .join(format!("{}.json", digest.hex()))
    }

    /// Remembers that content with this digest was quarantined for being
    /// executable without a declaration, so it is not downloaded again to
    /// be quarantined again.
    pub fn write_quarantined(&self, note: &record::QuarantineNote) -> Result<(), StoreError> {
        write_json(&self.quarantined_path(&note.sha256), note)
    }

    pub fn read_quarantined(
        &self,
        digest: &Sha256Digest,
    ) -> Result<Option<record::QuarantineNote>, StoreError> {
        read_json(&self.quarantined_path(digest))
    }

    /// Every object record in the store.
    pub fn object_records(&self) -> Result<Vec<ObjectRecord>, StoreError> {
        let root = self.root.join("meta").join("objects").join("sha256");
        let fanouts = match fs_err::read_dir(&root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        };
        let mut records = Vec::new();
        for fanout in fanouts {
            for entry in fs_err::read_dir(fanout?.path())? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "json")
                    && let Some(record) = read_json(&path)?
                {
                    records.push(record);
                }
            }
        }
        records.sort_by_key(|r: &ObjectRecord| r.sha256);
        Ok(records)
    }

    /// Every project record in the store.
    pub fn projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
        let dir = self.root.join("meta").join("projects");
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        };
        let mut projects = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(project) = read_json_within(&path, MAX_PROJECT_RECORD)?
            {
                projects.push(project);
            }
        }
        projects.sort_by(|a: &ProjectRecord, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(projects)
    }

    pub(super) fn source_path(&self, key: &str) -> PathBuf {
        self.root
            .join("meta")
            .join("sources")
            .join(format!("{key}.json"))
    }

    /// Whether what unpinned sources served before (`known`) may be offered
    /// to them for confirmation, for a resource of `size` (if declared)
    /// that does or does not declare `executable`: the source can be asked,
    /// the object is still here and of that size, and executable content
    /// another project declared is not reused for one that does not (its
    /// bytes are fetched and judged as on a first fetch).
    pub fn remembered_reusable(
        &self,
        known: &SourceRecord,
        size: Option<u64>,
        executable: bool,
    ) -> bool {
        known.can_revalidate()
            && self.has_object(&known.sha256)
            && size.is_none_or(|declared| declared == known.size)
            && (executable || !self.object_executable(&known.sha256, None))
    }

    /// What unpinned sources delivered when they were first fetched, so
    /// every project that leaves them unpinned shares one object.
    pub fn read_source(&self, key: &str) -> Result<Option<SourceRecord>, StoreError> {
        read_json(&self.source_path(key))
    }

    pub fn write_source(&self, key: &str, record: &SourceRecord) -> Result<(), StoreError> {
        write_json(&self.source_path(key), record)
    }

    /// Names a list of sources for locks and what the store remembers of
    /// them: a hash of their identities (see
    /// [`Source::identity`](crate::source::Source::identity)), so sources
    /// that differ anywhere, a secret query value included, never share a
    /// name.
    pub fn source_key(&self, sources: &[&crate::source::Source]) -> String {
        let key = self.identity_key();
        let joined: Vec<String> = sources.iter().map(|s| s.identity(&key)).collect();
        Sha256Digest::of_bytes(joined.join("\n").as_bytes()).hex()
    }
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    read_json_within(path, MAX_RECORD)
}

/// [`read_json`] of a file of at most `limit` bytes.
pub(super) fn read_json_within<T: DeserializeOwned>(
    path: &Path,
    limit: u64,
) -> Result<Option<T>, StoreError> {
    match fsutil::read_bounded(path, limit) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::BadRecord {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// A record as stored: pretty JSON with every URL in it redacted, whatever
/// put it there (see [`crate::redact::text`]).
pub(super) fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("records serialize");
    if let std::borrow::Cow::Owned(safe) = crate::redact::text(&text) {
        text = safe;
    }
    text.push('\n');
    text.into_bytes()
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = json_bytes(value);
    with_parent(path, || fsutil::write_atomic(path, &bytes))?;
    Ok(())
}
