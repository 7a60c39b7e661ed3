//! A verified transfer becomes an object: checked for executable content,
//! written durably, recorded, and only then visible.

use crate::store::StoreError;
use crate::store::record::{Asked, NewObject, ObjectKind, ObjectRecord, Verification};
use crate::time::Timestamp;

use super::part::Finished;
use super::{Delivered, FetchRequest, Fetched, Fetcher};

impl Fetcher {
    /// Publishes a verified part as an object and writes its record. The
    /// part and the record are written unflushed, made durable by one
    /// [`Store::flush`] shared with the fetches finishing at the same time,
    /// and only then renamed into place: the object first, then its record.
    ///
    /// The job `slot` is given up before waiting for the flush: the bytes
    /// are written and the connection is free, so the next download starts
    /// while this one waits for the disk. What waits holds only its
    /// object's lock, and no more fetches wait than the caller's window.
    pub(super) async fn publish(
        &self,
        request: &FetchRequest,
        finished: Finished,
        source: &str,
        delivered: Delivered,
        executable: bool,
        slot: &mut Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> Result<Fetched, StoreError> {
        let Finished {
            file,
            path,
            sha256: digest,
            len: size,
            ..
        } = finished;
        // A pinned fetch holds its object's lock already; one on first use
        // holds its sources' lock, and takes the object's now, so that two
        // projects fetching the same bytes from different sources do not
        // write its record over each other (the order is always sources,
        // then object).
        let _object_lock = match request.sha256 {
            Some(_) => None,
            None => Some(
                self.store
                    .lock_object(
                        &digest,
                        &format!("publishing `{}`", request.name),
                        &*self.reporter,
                    )
                    .await
                    .map_err(StoreError::Lock)?,
            ),
        };
        let already = self.store.has_object(&digest);
        let mut stamp = None;
        if already {
            // Trust on first use found bytes the store already has.
            drop(file);
            fs_err::remove_file(&path)?;
        } else {
            let mode = if executable { 0o555 } else { 0o444 };
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
                .and_then(|()| file.metadata())
                .map(|meta| stamp = Some(crate::store::record::FileStamp::of(&meta)))
                .map_err(|err| crate::fsutil::with_path(err, &path))?;
            drop(file);
        }
        let now = Timestamp::now();
        let mut record = match self.store.read_object_record(&digest)? {
            Some(existing) => existing,
            None => ObjectRecord::new(
                NewObject {
                    sha256: digest,
                    kind: ObjectKind::File,
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
                    verification: if request.sha256.is_some() {
                        Verification::Manifest
                    } else {
                        Verification::FirstUse
                    },
                },
            ),
        };
        if !already {
            record.served_by = Some(source.to_owned());
            record.executable = executable;
            // Back after corruption or archiving: available again.
            record.status = crate::provenance::State::Available;
            record.stamp = stamp;
            record.size = size;
            record.fetched_at = now;
            record.verified_at = now;
            record.http = delivered.validators;
        }
        if let Some(user) = &request.user {
            record.add_use(user);
        }
        if already {
            self.store.write_object_record(&record)?;
        } else {
            let staged = self.store.stage_object_record(&record)?;
            drop(slot.take());
            self.store.flush().await?;
            self.store.publish_flushed(&path, &digest)?;
            staged.commit()?;
        }
        Ok(Fetched {
            sha256: digest,
            size,
            source: (!already).then(|| source.to_owned()),
            torrent: None,
        })
    }
}
