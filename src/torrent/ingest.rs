//! A completed torrent becomes an object: verified, moved into the store,
//! and seeded from there. `crp sync` and `crp hook torrent-done` both come
//! here, under the torrent's lock, so whichever is first does the work and
//! the other finds it done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    CompletionLine, Daemon, Ingested, Refused, TorrentError, TorrentRecord, TorrentSettings,
    TorrentView, log_completion,
};
use crate::digest::{Sha256Digest, hash_file};
use crate::progress::{NoteKind, Reporter};
use crate::provenance::State;
use crate::store::lock::LockError;
use crate::store::record::{
    Asked, NewObject, ObjectKind, ObjectRecord, RECORD_VERSION, Verification,
};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::tree::{TreeError, hash_tree};

/// Why a completed torrent did not become an object.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "the torrent's data does not match the manifest:\n    expected {expected}\n    actual   {actual}\n  it was quarantined in `{}` and never became an object",
        quarantined.display()
    )]
    Mismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error(
        "the torrent's data holds executable content ({finding}), and the manifest does not declare `executable = true`; quarantined in `{}`",
        quarantined.display()
    )]
    Executable {
        finding: String,
        actual: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error("the torrent's data is not at `{}`", .0.display())]
    Missing(PathBuf),
    #[error("the store's policy holds it for a person: {}; once approved (`crp approve {name}`), run `crp hook torrent-done --info-hash {info_hash}` to bring it in", reasons.join("; "))]
    Held {
        name: String,
        info_hash: String,
        reasons: Vec<String>,
    },
    #[error("the store's policy refuses it: {reason}; it was removed with its data")]
    Refused { reason: String },
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("failed to move the torrent's data into the store")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Torrent(#[from] TorrentError),
}

/// Who is ingesting, for the completion log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Sync,
    Hook,
}

/// What ingestion needs.
#[derive(Clone, Copy)]
pub struct Ingest<'a> {
    pub store: &'a Store,
    pub daemon: &'a Daemon,
    pub settings: &'a TorrentSettings,
    pub reporter: &'a dyn Reporter,
    pub by: By,
    /// Judges a torrent no manifest asked for (the watch folder, one added
    /// by hand) once its data is hashed, before it becomes an object, as
    /// the store's policy judges any request. `None` admits everything.
    pub admit: Option<&'a (dyn Fn(&Unrequested<'_>) -> Admission + Sync)>,
}

/// A completed torrent no manifest asked for, hashed.
#[derive(Debug, Clone)]
pub struct Unrequested<'a> {
    pub info_hash: &'a str,
    /// The torrent's name.
    pub name: &'a str,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Executable content found in it.
    pub executable: Option<String>,
}

/// What the policy says about an unrequested torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// Kept where it is, stopped, until a person decides.
    Hold {
        reasons: Vec<String>,
    },
    /// Removed with its data (a hard limit).
    Refuse {
        reason: String,
    },
    /// Executable content nobody declared: quarantined, never an object.
    Quarantine {
        finding: String,
    },
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("store", self.store)
            .field("by", &self.by)
            .finish_non_exhaustive()
    }
}

impl Ingest<'_> {
    /// Turns the completed torrent `info_hash` into an object. `unrequested`
    /// describes where it came from when no record asked for it
    /// (`watch-folder` or `daemon`).
    pub async fn run(&self, info_hash: &str, unrequested: &str) -> Result<Ingested, IngestError> {
        let store = self.store;
        let _lock = store
            .lock_torrent(
                info_hash,
                &format!("ingesting torrent {info_hash}"),
                self.reporter,
            )
            .await?;
        let mut record = store.read_torrent(info_hash)?;
        let view = self.daemon.get(info_hash).await?;
        // Done already, by the hook or another sync.
        if let Some(done) = record.as_ref().and_then(|r| r.ingested.clone())
            && store.has_object(&done.sha256)
        {
            self.log_already(view.as_ref(), info_hash, &done);
            return Ok(done);
        }
        // Refused already, by the hook or another sync.
        if let Some(record) = &record
            && let (Some(expected), Some(refused)) = (record.sha256, &record.refused)
        {
            if let Some(finding) = &refused.executable {
                return Err(IngestError::Executable {
                    finding: finding.clone(),
                    actual: refused.actual,
                    quarantined: refused.quarantined.clone(),
                });
            }
            return Err(IngestError::Mismatch {
                expected,
                actual: refused.actual,
                quarantined: refused.quarantined.clone(),
            });
        }
        let view = view.ok_or(TorrentError::Vanished)?;
        let data = view.data_path();
        // Seeding from the store already: its data is an object.
        if view.download_dir == store.seeding_dir(info_hash)
            && let Some(done) = seeded_object(store, &data)
        {
            self.log_already(Some(&view), info_hash, &done);
            return Ok(done);
        }
        let expected = record.as_ref().and_then(|r| r.sha256);
        self.daemon.stop(info_hash).await?;

        let mut executable = false;
        let (digest, kind, size) = if let Some(expected) = expected.filter(|d| store.has_object(d))
        {
            // The object arrived another way (an https mirror): whatever the
            // torrent got is not needed, and it seeds from the object.
            let stat = store.object_stat(&expected).expect("present");
            let size = stat.size.unwrap_or(view.total_size);
            for leftover in [
                data.clone(),
                data.with_file_name(format!("{}.part", view.name)),
            ] {
                if fs_err::symlink_metadata(&leftover).is_ok() {
                    crate::fsutil::remove_all(&leftover)?;
                }
            }
            (expected, stat.kind, size)
        } else {
            if fs_err::symlink_metadata(&data).is_err() {
                return Err(IngestError::Missing(data));
            }
            let data_for_hash = data.clone();
            let (digest, kind, size) =
                tokio::task::spawn_blocking(move || digest_of(&data_for_hash))
                    .await
                    .expect("hashing does not panic")?;
            if let Some(expected) = expected
                && expected != digest
            {
                let err = self.refuse(&view, &data, expected, digest).await;
                // Whoever waits for this torrent learns why it left.
                if let (IngestError::Mismatch { quarantined, .. }, Some(mut record)) =
                    (&err, record.take())
                {
                    record.refused = Some(Refused {
                        actual: digest,
                        quarantined: quarantined.clone(),
                        at: Timestamp::now(),
                        executable: None,
                    });
                    store.write_torrent(&record)?;
                }
                return Err(err);
            }
            let data_for_check = data.clone();
            let finding =
                tokio::task::spawn_blocking(move || crate::policy::exec::detect(&data_for_check))
                    .await
                    .expect("detection does not panic")?;
            if record.is_none()
                && let Some(admit) = self.admit
            {
                let unrequested = Unrequested {
                    info_hash,
                    name: &view.name,
                    sha256: digest,
                    size,
                    executable: finding.as_ref().map(ToString::to_string),
                };
                match admit(&unrequested) {
                    Admission::Admit => {}
                    Admission::Hold { reasons } => {
                        self.log(&view, "held", Some(digest), Some(reasons.join("; ")));
                        return Err(IngestError::Held {
                            name: view.name.clone(),
                            info_hash: info_hash.to_owned(),
                            reasons,
                        });
                    }
                    Admission::Refuse { reason } => {
                        self.daemon.remove(info_hash, true).await?;
                        self.log(&view, "refused", Some(digest), Some(reason.clone()));
                        return Err(IngestError::Refused { reason });
                    }
                    Admission::Quarantine { finding } => {
                        let quarantined =
                            store.quarantine(&data, &format!("torrent-{info_hash}"))?;
                        if let Err(err) = self.daemon.remove(info_hash, false).await {
                            self.reporter.note(
                                NoteKind::Warning,
                                &format!("could not remove the torrent from the daemon: {err}"),
                            );
                        }
                        self.log(&view, "executable", Some(digest), Some(finding.clone()));
                        return Err(IngestError::Executable {
                            finding,
                            actual: digest,
                            quarantined,
                        });
                    }
                }
            }
            if let Some(finding) = &finding
                && record.as_ref().is_some_and(|r| !r.executable)
            {
                let mut record = record.take().expect("checked above");
                let quarantined = store.quarantine(&data, &format!("torrent-{info_hash}"))?;
                if let Err(err) = self.daemon.remove(info_hash, false).await {
                    self.reporter.note(
                        NoteKind::Warning,
                        &format!("could not remove the torrent from the daemon: {err}"),
                    );
                }
                self.log(&view, "executable", Some(digest), Some(finding.to_string()));
                record.refused = Some(Refused {
                    actual: digest,
                    quarantined: quarantined.clone(),
                    at: Timestamp::now(),
                    executable: Some(finding.to_string()),
                });
                store.write_torrent(&record)?;
                return Err(IngestError::Executable {
                    finding: finding.to_string(),
                    actual: digest,
                    quarantined,
                });
            }
            executable = finding.is_some();
            if store.has_object(&digest) {
                crate::fsutil::remove_all(&data)?;
            } else {
                match kind {
                    ObjectKind::File => {
                        let file = fs_err::File::open(&data)?.into_file();
                        store.publish(file, &data, &digest, executable)?;
                    }
                    ObjectKind::Directory => {
                        store.publish_dir(&data, &digest)?;
                    }
                }
            }
            (digest, kind, size)
        };
        let _ = fs_err::remove_dir(store.torrent_download_dir(info_hash));

        self.write_object_record(
            record.as_ref(),
            &view,
            (digest, kind, size, executable),
            unrequested,
        )?;
        let seed = self.settings.seed && record.as_ref().is_none_or(|r| r.seed);
        if seed {
            self.seed(&view, &digest).await?;
        } else {
            self.daemon.remove(info_hash, false).await?;
        }
        let ingested = Ingested {
            sha256: digest,
            kind,
            size,
            at: Timestamp::now(),
            fresh: true,
        };
        let mut updated = record.take().unwrap_or_else(|| TorrentRecord {
            schema_version: RECORD_VERSION,
            info_hash: info_hash.to_owned(),
            source: unrequested.to_owned(),
            sha256: None,
            size: None,
            requested_for: None,
            seed,
            executable,
            added_at: Timestamp::now(),
            ingested: None,
            refused: None,
        });
        updated.ingested = Some(ingested.clone());
        store.write_torrent(&updated)?;
        store.sync_dirs()?;
        self.log(&view, "ingested", Some(digest), None);
        Ok(ingested)
    }

    /// Quarantines data that does not match, and drops the torrent.
    async fn refuse(
        &self,
        view: &TorrentView,
        data: &Path,
        expected: Sha256Digest,
        actual: Sha256Digest,
    ) -> IngestError {
        let quarantined = match self
            .store
            .quarantine(data, &format!("torrent-{}", view.info_hash))
        {
            Ok(path) => path,
            Err(err) => return err.into(),
        };
        if let Err(err) = self.daemon.remove(&view.info_hash, false).await {
            self.reporter.note(
                NoteKind::Warning,
                &format!("could not remove the torrent from the daemon: {err}"),
            );
        }
        self.log(
            view,
            "mismatch",
            Some(actual),
            Some(format!("expected {expected}")),
        );
        IngestError::Mismatch {
            expected,
            actual,
            quarantined,
        }
    }

    /// Points the daemon at the object, through `seeding/<infohash>/<name>`,
    /// and lets it seed from there.
    async fn seed(&self, view: &TorrentView, digest: &Sha256Digest) -> Result<(), IngestError> {
        let dir = self.store.seeding_dir(&view.info_hash);
        fs_err::create_dir_all(&dir)?;
        let link = dir.join(&view.name);
        let _ = fs_err::remove_file(&link);
        std::os::unix::fs::symlink(self.store.object_path(digest), &link)
            .map_err(|err| crate::fsutil::with_path(err, &link))?;
        self.daemon.set_location(&view.info_hash, &dir).await?;
        self.daemon.verify(&view.info_hash).await?;
        self.daemon
            .wait_verified(&view.info_hash, Duration::from_secs(600))
            .await?;
        self.daemon.start(&view.info_hash).await?;
        if let Some(ratio) = self.settings.seed_ratio {
            self.daemon.set_seed_ratio(&view.info_hash, ratio).await?;
        }
        Ok(())
    }

    fn write_object_record(
        &self,
        record: Option<&TorrentRecord>,
        view: &TorrentView,
        (digest, kind, size, executable): (Sha256Digest, ObjectKind, u64, bool),
        unrequested: &str,
    ) -> Result<(), StoreError> {
        // As `run` decides: unrequested torrents seed too.
        let status = if record.is_none_or(|r| r.seed) && self.settings.seed {
            State::Seeding
        } else {
            State::Available
        };
        let mut object = self.store.read_object_record(&digest)?.unwrap_or_else(|| {
            let asked = record.and_then(|r| r.requested_for.as_ref());
            let mut object = ObjectRecord::new(
                NewObject {
                    sha256: digest,
                    kind,
                    size,
                    path: self.store.object_path(&digest),
                },
                Asked {
                    sources: record.map(|r| vec![r.source.clone()]).unwrap_or_default(),
                    purpose: asked.map_or_else(|| describe(unrequested), |u| u.purpose.clone()),
                    requested_by: asked.and_then(|u| u.requested_by.clone()),
                    requested_at: record.map(|r| r.added_at),
                    verification: match record {
                        Some(TorrentRecord {
                            sha256: Some(_), ..
                        }) => Verification::Manifest,
                        Some(_) => Verification::FirstUse,
                        None => Verification::Unverified,
                    },
                },
            );
            object.served_by =
                Some(record.map_or_else(|| unrequested.to_owned(), |r| r.source.clone()));
            if object.source.is_empty() {
                unrequested.clone_into(&mut object.source);
            }
            object.info_hash = Some(view.info_hash.clone());
            object.origin = record.is_none().then(|| unrequested.to_owned());
            object.executable = executable;
            object.stamp = self.store.object_file_stamp(&digest);
            object.status = status;
            object
        });
        // Back after its cold copy rotted, or after archiving or removal:
        // in the store again.
        if !matches!(object.status, State::Available | State::Seeding) {
            object.status = status;
            object.stamp = self.store.object_file_stamp(&digest);
        }
        if let Some(user) = record.and_then(|r| r.requested_for.as_ref()) {
            object.add_use(user);
        }
        object
            .info_hash
            .get_or_insert_with(|| view.info_hash.clone());
        self.store.write_object_record(&object)
    }

    /// The hook logs every completion it is told of, even one that was
    /// ingested already (by a sync that was waiting for it).
    fn log_already(&self, view: Option<&TorrentView>, info_hash: &str, done: &Ingested) {
        if self.by == By::Hook {
            let name = view.map_or_else(String::new, |v| v.name.clone());
            self.log_line(
                &name,
                info_hash,
                done.size,
                "already-in-store",
                Some(done.sha256),
                None,
            );
        }
    }

    fn log(
        &self,
        view: &TorrentView,
        result: &str,
        sha256: Option<Sha256Digest>,
        detail: Option<String>,
    ) {
        if self.by == By::Hook {
            self.record_events(view, result, sha256, detail.as_deref());
        }
        self.log_line(
            &view.name,
            &view.info_hash,
            view.total_size,
            result,
            sha256,
            detail,
        );
    }

    /// The lifecycle events of a completion the hook handled (a waiting
    /// sync records its own).
    fn record_events(
        &self,
        view: &TorrentView,
        result: &str,
        sha256: Option<Sha256Digest>,
        detail: Option<&str>,
    ) {
        use crate::provenance::{Event, EventLog};
        let record = self.store.read_torrent(&view.info_hash).ok().flatten();
        let user = record.as_ref().and_then(|r| r.requested_for.as_ref());
        let event = |from, to| {
            let mut event = Event::new(Some(from), to)
                .object(sha256)
                .detail("info_hash", view.info_hash.clone())
                .detail("by", "hook");
            if let Some(user) = user {
                event = event.resource(&user.resource).project(&user.project);
            }
            event
        };
        let mut events = vec![event(State::Downloading, State::Verifying)];
        match result {
            "ingested" => {
                events.push(
                    event(State::Verifying, State::Available).detail("size_bytes", view.total_size),
                );
                if self.settings.seed && record.as_ref().is_none_or(|r| r.seed) {
                    events.push(event(State::Available, State::Seeding));
                }
            }
            "mismatch" | "executable" | "refused" => events.push(
                event(State::Verifying, State::Failed)
                    .detail("reason", result)
                    .detail("detail", detail.unwrap_or_default()),
            ),
            "held" => events.push(
                event(State::Verifying, State::AwaitingApproval)
                    .detail("reasons", detail.unwrap_or_default()),
            ),
            _ => return,
        }
        let log = EventLog::open(self.store);
        for event in &events {
            log.record(event);
        }
        log.flush();
    }

    fn log_line(
        &self,
        name: &str,
        info_hash: &str,
        size: u64,
        result: &str,
        sha256: Option<Sha256Digest>,
        detail: Option<String>,
    ) {
        let line = CompletionLine {
            time: Timestamp::now(),
            name: name.to_owned(),
            info_hash: info_hash.to_owned(),
            size,
            result: result.to_owned(),
            sha256,
            by: match self.by {
                By::Sync => "sync".into(),
                By::Hook => "hook".into(),
            },
            detail,
        };
        if let Err(err) = log_completion(self.store, &line) {
            self.reporter.note(
                NoteKind::Warning,
                &format!("could not write the completion log: {err}"),
            );
        }
    }
}

fn describe(origin: &str) -> String {
    match origin {
        "watch-folder" => "dropped into the store's watch folder".to_owned(),
        _ => "added to the daemon outside crp".to_owned(),
    }
}

/// The digest, kind and size of a file or a folder.
fn digest_of(path: &Path) -> Result<(Sha256Digest, ObjectKind, u64), IngestError> {
    let meta = fs_err::symlink_metadata(path)?;
    if meta.is_dir() {
        let tree = hash_tree(path)?;
        Ok((tree.digest, ObjectKind::Directory, tree.size()))
    } else {
        let (digest, size) = hash_file(path)?;
        Ok((digest, ObjectKind::File, size))
    }
}

/// The object a seeding link points at.
fn seeded_object(store: &Store, link: &Path) -> Option<Ingested> {
    let target = fs_err::read_link(link).ok()?;
    let digest: Sha256Digest = target.file_name()?.to_str()?.parse().ok()?;
    let stat = store.object_stat(&digest)?;
    let record = store.read_object_record(&digest).ok().flatten();
    Some(Ingested {
        sha256: digest,
        kind: stat.kind,
        size: record.map_or(stat.size.unwrap_or(0), |r| r.size),
        at: Timestamp::now(),
        fresh: false,
    })
}
