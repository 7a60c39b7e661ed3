//! Direct sources (HTTP and local files): tried in order, each with its
//! retries, resumed where a part allows, verified while streaming.

use crate::manifest::SourceEntry;
use crate::progress::{Download, NoteKind};
use crate::source::Source;
use crate::store::record::{FileStamp, SourceRecord};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

use super::part::{Finished, Part};
use super::{
    Delivered, Expect, FetchError, FetchRequest, Fetched, Fetcher, SourceError, SourceFailure,
    Transferred, file, http, part, resolved,
};

impl Fetcher {
    /// Why a fetch limited to remotes and mirrors had none to ask (a
    /// resource without a sha256 is refused before it gets here).
    fn why_no_remote(&self) -> String {
        let (remotes, mirrors) = (&self.remotes_left_out, &self.mirrors_left_out);
        if remotes.is_empty() && mirrors.is_empty() {
            return "none is configured (`crp remote add`, or `mirrors = [...]` for a hashed mirror)"
                .into();
        }
        let remotes = match remotes.is_empty() {
            true => "no remote is configured".to_owned(),
            false => remotes.join("; "),
        };
        let mirrors = match mirrors.is_empty() {
            true => "no hashed mirror could be asked".to_owned(),
            false => mirrors.join("; "),
        };
        format!("{remotes}; {mirrors}")
    }

    /// Fetches from the direct sources (http, files), in order, after the
    /// content-addressed mirrors of a pinned object.
    pub(super) async fn fetch_direct(
        &self,
        request: &FetchRequest,
        sources: &[&SourceEntry],
    ) -> Result<Fetched, FetchError> {
        // A remote's copy is read by a signed URL, named by its label.
        let (remote_entries, labels): (Vec<SourceEntry>, Vec<String>) = match request.sha256 {
            Some(digest) => request
                .remotes
                .iter()
                .map(|client| {
                    let url = client.get_url(&client.remote().key_of(&digest));
                    let entry = SourceEntry {
                        spec: url
                            .as_str()
                            .parse()
                            .expect("a signed URL is an http(s) URL"),
                        source: Source::Http(url),
                    };
                    (entry, client.remote().label_of(&digest))
                })
                .unzip(),
            None => Default::default(),
        };
        let with_mirrors: Vec<&SourceEntry> = match request.sha256 {
            Some(_) => remote_entries
                .iter()
                .chain(&request.mirrors)
                .chain(sources.iter().copied())
                .collect(),
            None => sources.to_vec(),
        };
        // `--remotes-only` with nothing content-addressed to ask.
        if with_mirrors.is_empty() && request.sha256.and_then(|d| self.present(&d)).is_none() {
            return Err(FetchError::Failed {
                resource: request.name.clone(),
                failures: vec![SourceFailure {
                    source: "remotes and mirrors".into(),
                    error: SourceError::Remote(format!(
                        "no remote or hashed mirror could be asked for it: {}; `--remotes-only` forbids its sources",
                        self.why_no_remote()
                    )),
                    mirror: false,
                }],
            });
        }
        let what = format!("fetching `{}`", request.name);
        let store_err = |source: StoreError| FetchError::Store {
            resource: request.name.clone(),
            source,
        };
        if let Some(present) = request.sha256.and_then(|d| self.present(&d)) {
            return Ok(present);
        }
        // The job slot comes first and the lock second, so that what a fetch
        // holds open (its lock file, its part, its connection) is bounded by
        // `--jobs`, however many objects wait their turn.
        let mut slot = Some(
            self.jobs
                .acquire()
                .await
                .expect("the semaphore is never closed"),
        );
        let (part_path, _lock, remembered) = match request.sha256 {
            Some(digest) => {
                let lock = self
                    .store
                    .lock_object(&digest, &what, &*self.reporter)
                    .await?;
                // Another process may have published it while this one waited.
                if let Some(present) = self.present(&digest) {
                    return Ok(present);
                }
                (
                    self.store
                        .incomplete_dir()
                        .join(Store::object_part_name(&digest)),
                    lock,
                    None,
                )
            }
            None => {
                let resolved = resolved(sources);
                let key = self.store.source_key(&resolved);
                let lock = self.store.lock_source(&key, &what, &*self.reporter).await?;
                // What these sources served before (perhaps to another
                // project, perhaps while this one waited) is reused only once
                // the source confirms it still serves it.
                let known = match &request.known {
                    Some(known) => Some(known.clone()),
                    None => self.store.read_source(&key).map_err(store_err)?,
                };
                let remembered = match known {
                    Some(known)
                        if !self.refresh
                            && self.store.remembered_reusable(
                                &known,
                                request.size,
                                request.executable,
                            ) =>
                    {
                        Some(known)
                    }
                    // Executable content these sources served before was
                    // quarantined: asked whether it changed, so that the
                    // same bytes are refused without downloading them again.
                    Some(known)
                        if !self.refresh
                            && !request.executable
                            && known.can_revalidate()
                            && !self.store.has_object(&known.sha256)
                            && self
                                .store
                                .read_quarantined(&known.sha256)
                                .map_err(store_err)?
                                .is_some() =>
                    {
                        Some(known)
                    }
                    _ => None,
                };
                let part_path = self
                    .store
                    .incomplete_dir()
                    .join(Store::sources_part_name(&key));
                // `--refresh` takes nothing an earlier run left, not even
                // bytes that only wait to be confirmed.
                if self.refresh {
                    part::discard(&part_path);
                }
                (part_path, lock, remembered)
            }
        };
        // A declared size is taken from the quota whole, before the first
        // byte; an undeclared one chunk by chunk.
        let quota = self.quota.as_deref();
        if let (Some(quota), Some(size)) = (quota, request.size)
            && !quota.take(size)
        {
            return Err(FetchError::Failed {
                resource: request.name.clone(),
                failures: vec![SourceFailure {
                    source: sources
                        .first()
                        .copied()
                        .or(request.mirrors.first())
                        .map(|s| s.source.to_string())
                        .unwrap_or_default(),
                    error: SourceError::Quota { quota: quota.limit },
                    mirror: sources.is_empty(),
                }],
            });
        }
        let expect = Expect {
            sha256: request.sha256,
            size: request.size,
            cap: request.cap,
            quota: quota.filter(|_| request.size.is_none()),
        };
        let result = self
            .fetch_sources(
                request,
                &with_mirrors,
                &labels,
                &part_path,
                expect,
                remembered.as_ref(),
                &mut slot,
            )
            .await;
        // What was taken from the quota is now part of the store, or was
        // not kept: the store had it already, or the fetch failed.
        if let Some(quota) = quota {
            match (&result, request.size) {
                (Ok(fetched), _) if fetched.source.is_some() => quota.commit(fetched.size),
                (Ok(fetched), None) => quota.give_back(fetched.size),
                (_, Some(size)) => quota.give_back(size),
                (Err(_), None) => {}
            }
            quota.release_spare();
        }
        result
    }

    /// Tries each direct source in turn until one delivers the right bytes.
    /// The first sources are named by `labels` (a remote's copies, whose
    /// URLs hold a signature), the others by their URLs or paths.
    /// `remembered` is what these sources served before, when the digest is
    /// not pinned: the source that served it is asked whether it changed.
    /// `slot` is the job slot this fetch holds; publishing gives it up once
    /// the bytes are written (see [`Fetcher::publish`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_sources(
        &self,
        request: &FetchRequest,
        sources: &[&SourceEntry],
        labels: &[String],
        part_path: &std::path::Path,
        expect: Expect<'_>,
        remembered: Option<&SourceRecord>,
        slot: &mut Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> Result<Fetched, FetchError> {
        let store_err = |source: StoreError| FetchError::Store {
            resource: request.name.clone(),
            source,
        };
        let key = self.store.identity_key();
        let mut failures = Vec::new();
        let count = sources.len();
        for (i, entry) in sources.iter().enumerate() {
            let (shown, id) = match labels.get(i) {
                Some(label) => (label.clone(), label.clone()),
                None => (entry.source.to_string(), entry.source.identity(&key)),
            };
            let unless = remembered.filter(|r| r.served_by.as_deref() == Some(id.as_str()));
            match self
                .try_source(
                    request,
                    &entry.source,
                    &shown,
                    &id,
                    part_path,
                    expect,
                    unless,
                )
                .await
            {
                Ok(Transferred::Unchanged(known)) => {
                    tracing::debug!(
                        "`{}`: {shown} still serves what it served at {}",
                        request.name,
                        known.fetched_at
                    );
                    if !self.store.has_object(&known.sha256)
                        && let Some(note) = self
                            .store
                            .read_quarantined(&known.sha256)
                            .map_err(store_err)?
                    {
                        return Err(FetchError::Failed {
                            resource: request.name.clone(),
                            failures: vec![SourceFailure {
                                source: shown,
                                error: SourceError::StillQuarantined {
                                    finding: note.finding,
                                    quarantined: note.quarantined,
                                },
                                mirror: false,
                            }],
                        });
                    }
                    return Ok(Fetched {
                        sha256: known.sha256,
                        size: known.size,
                        source: None,
                        torrent: None,
                    });
                }
                Ok(Transferred::Bytes(finished, mut delivered)) => {
                    // A remote's or mirror's validators say nothing of the
                    // declared sources, which later checks ask.
                    if request.sha256.is_some() && i < labels.len() + request.mirrors.len() {
                        delivered.validators = None;
                    }
                    let finding = tokio::task::block_in_place(|| {
                        crate::policy::exec::detect_written(&finished.file, &finished.blocks)
                    })
                    .map_err(|e| store_err(e.into()))?;
                    if let Some(finding) = finding.as_ref().filter(|_| !request.executable) {
                        let sha256 = finished.sha256;
                        let size = finished.len;
                        drop(finished.file);
                        part::forget_origin(part_path);
                        // What unpinned sources served is remembered even so:
                        // the next run asks them whether it changed instead
                        // of downloading it to quarantine it again.
                        if request.sha256.is_none() {
                            self.remember_served(sources, &id, (sha256, size), &delivered)
                                .map_err(store_err)?;
                        }
                        let quarantined = self
                            .store
                            .quarantine(
                                &finished.path,
                                &format!("{}-{}", request.name, sha256.hex()),
                            )
                            .map_err(|e| store_err(e.into()))?;
                        return Err(FetchError::Executable {
                            resource: request.name.clone(),
                            finding: finding.to_string(),
                            sha256,
                            quarantined,
                        });
                    }
                    if let Some(admit) = &request.admit
                        && !self.store.has_object(&finished.sha256)
                        && let Some(verdict) = (admit.0)(finished.sha256, finished.len)
                    {
                        drop(finished.file);
                        part::discard(part_path);
                        return Err(FetchError::Held {
                            resource: request.name.clone(),
                            sha256: finished.sha256,
                            size: finished.len,
                            verdict: Box::new(verdict),
                        });
                    }
                    let answered = Delivered {
                        validators: delivered.validators.clone(),
                        stamp: delivered.stamp,
                        ..Delivered::default()
                    };
                    let fetched = self
                        .publish(
                            request,
                            finished,
                            &shown,
                            delivered,
                            finding.is_some(),
                            slot,
                        )
                        .await
                        .map_err(store_err)?;
                    part::forget_origin(part_path);
                    if request.sha256.is_none() {
                        self.remember_served(
                            sources,
                            &id,
                            (fetched.sha256, fetched.size),
                            &answered,
                        )
                        .map_err(store_err)?;
                    }
                    return Ok(fetched);
                }
                Err(error) => {
                    // A remote or mirror that lacks the object is the
                    // common case.
                    let mirror =
                        request.sha256.is_some() && i < labels.len() + request.mirrors.len();
                    // A mirror that sends more than crp takes says nothing
                    // of the sources after it.
                    let local = error.is_local()
                        && !(mirror && matches!(error, SourceError::OverCap { .. }));
                    let lacks = mirror
                        && match &error {
                            SourceError::Status { status, .. } => {
                                matches!(status.as_u16(), 404 | 410)
                            }
                            SourceError::Read { source, .. } => {
                                source.kind() == std::io::ErrorKind::NotFound
                            }
                            _ => false,
                        };
                    if lacks {
                        tracing::debug!("`{}`: mirror {shown} lacks it", request.name);
                    } else if !local && i + 1 < count {
                        // A remote's wrong copy is mended by a push.
                        let mend = match i < labels.len() {
                            true => error.remote_mend(),
                            false => "",
                        };
                        self.reporter.note(
                            NoteKind::Warning,
                            &format!(
                                "`{}` from {}: {error}; trying the next source{mend}",
                                request.name,
                                crate::fsutil::display_source(&shown)
                            ),
                        );
                    }
                    failures.push(SourceFailure {
                        source: shown,
                        error,
                        mirror,
                    });
                    if local {
                        break;
                    }
                }
            }
        }
        Err(FetchError::Failed {
            resource: request.name.clone(),
            failures,
        })
    }

    /// Remembers what unpinned `sources` served — its digest and size,
    /// which one (`id`) and how it answered (`delivered`'s validators or
    /// file stamp) — so that the next run asks them whether it changed
    /// instead of downloading it again.
    fn remember_served(
        &self,
        sources: &[&SourceEntry],
        id: &str,
        (sha256, size): (crate::digest::Sha256Digest, u64),
        delivered: &Delivered,
    ) -> Result<(), StoreError> {
        let record = SourceRecord {
            schema_version: crate::store::record::RECORD_VERSION,
            sha256,
            size,
            fetched_at: Timestamp::now(),
            served_by: Some(id.to_owned()),
            http: delivered.validators.clone(),
            stamp: delivered.stamp,
        };
        self.store
            .write_source(&self.store.source_key(&resolved(sources)), &record)
    }

    /// Downloads from one source into the part and verifies it. On success
    /// the part holds exactly the expected bytes, or the source confirmed
    /// that `unless` (what it served before) is still what it serves.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_source(
        &self,
        request: &FetchRequest,
        source: &Source,
        shown: &str,
        source_id: &str,
        part_path: &std::path::Path,
        expect: Expect<'_>,
        unless: Option<&SourceRecord>,
    ) -> Result<Transferred, SourceError> {
        // Asking whether what the store holds is current may download
        // nothing, and says so.
        let progress = if unless.is_some() {
            self.reporter
                .check(request.name.as_str(), shown, request.size)
        } else {
            self.reporter
                .download(request.name.as_str(), shown, request.size)
        };
        let result = self
            .transfer(
                request, source, source_id, part_path, expect, unless, &*progress,
            )
            .await;
        progress.finish(matches!(result, Ok(Transferred::Bytes(..))));
        result
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn transfer(
        &self,
        request: &FetchRequest,
        source: &Source,
        source_id: &str,
        part_path: &std::path::Path,
        expect: Expect<'_>,
        unless: Option<&SourceRecord>,
        progress: &dyn Download,
    ) -> Result<Transferred, SourceError> {
        // A local file that looks as it did when it was fetched is what it was.
        if let (Source::File(path), Some(known)) = (source, unless)
            && known.stamp.is_some()
            && fs_err::metadata(path).ok().map(|m| FileStamp::of(&m)) == known.stamp
        {
            return Ok(Transferred::Unchanged(known.clone()));
        }
        // Bytes an earlier run left are kept only when they are known to
        // come from this source, with a validator to resume them by.
        let mut origin = match source {
            Source::Http(_) => part::read_origin(part_path).filter(|o| o.source == source_id),
            _ => None,
        };
        // Set once bytes combined from several responses failed to verify:
        // the file is then taken in one response, whose verdict stands.
        let mut whole = false;
        loop {
            let path = part_path.to_owned();
            let resumable = origin.is_some();
            // Bytes to resume are read and hashed off the async threads; a
            // fresh part is only a file to create.
            let part = match resumable {
                true => tokio::task::spawn_blocking(move || Part::open(&path, true))
                    .await
                    .expect("opening a part does not panic"),
                false => Part::open(&path, false),
            }
            .map_err(SourceError::Write)?;
            let resumed = part.len() > 0;
            let transferred = match source {
                Source::Http(url) => self
                    .http
                    .download(
                        url,
                        part,
                        origin.take(),
                        whole,
                        source_id,
                        unless.and_then(|k| k.http.as_ref()),
                        expect,
                        progress,
                        &self.retry,
                        &*self.reporter,
                        &request.name,
                    )
                    .await
                    .map(|downloaded| match downloaded {
                        http::Downloaded::Body(body) => Some(*body),
                        http::Downloaded::NotModified => None,
                    }),
                Source::File(path) => file::copy(path, part, expect, progress).await.map(Some),
                Source::Magnet(_) | Source::Torrent(_) => {
                    unreachable!("torrent sources are filtered out")
                }
            };
            let (part, delivered) = match transferred {
                Ok(Some(done)) => done,
                Ok(None) => {
                    let known = unless.expect("only a conditional request is answered 304");
                    return Ok(Transferred::Unchanged(known.clone()));
                }
                Err(err) => {
                    // Bytes cut off by a network failure are kept for the
                    // next run to resume from (verification covers them),
                    // when their origin says where they came from; anything
                    // else (a part too small to be worth resuming, which has
                    // none) is of no further use.
                    if !err.is_transient() || !part::origin_path(part_path).exists() {
                        part::discard(part_path);
                    }
                    return Err(err);
                }
            };
            let combined = resumed || delivered.combined;
            let finished = part.finish().map_err(SourceError::Write)?;
            match verify(&finished, expect) {
                Ok(()) => return Ok(Transferred::Bytes(finished, delivered)),
                // Bytes of two responses that do not verify may be two
                // versions of the file spliced by a server that lied about
                // its validators: a transport fault, not the content's.
                // Start over once with one whole response.
                Err(SourceError::HashMismatch { .. } | SourceError::SizeMismatch { .. })
                    if combined && !whole =>
                {
                    tracing::debug!(
                        "`{}` combined from several responses did not verify; starting over",
                        request.name
                    );
                    drop(finished);
                    part::discard(part_path);
                    origin = None;
                    whole = true;
                }
                Err(err) => {
                    drop(finished);
                    part::discard(part_path);
                    return Err(err);
                }
            }
        }
    }
}

/// Checks size and digest of a finished transfer.
fn verify(finished: &Finished, expect: Expect) -> Result<(), SourceError> {
    if let Some(expected) = expect.size
        && finished.len != expected
    {
        return Err(SourceError::SizeMismatch {
            expected,
            actual: finished.len,
        });
    }
    if let Some(expected) = expect.sha256
        && finished.sha256 != expected
    {
        return Err(SourceError::HashMismatch {
            expected,
            actual: finished.sha256,
        });
    }
    Ok(())
}
