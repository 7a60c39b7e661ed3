//! HTTP(S) downloads: streamed to disk in constant memory, hashed on the
//! way, resumed with `Range` requests, retried with backoff.
//!
//! The network side runs on the async runtime and hashes as bytes arrive;
//! they go through a small bounded channel to a blocking thread that writes
//! them, so receiving and writing proceed in parallel and memory stays
//! bounded by the channel, whatever the file's size.

use std::io;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use sha2::Digest as _;
use tokio::sync::mpsc;
use url::Url;

use super::part::{self, Part, PartOrigin, PartWriter};
use super::{Delivered, Expect, RetryPolicy, SourceError};
use crate::name::Name;
use crate::progress::{Download, NoteKind, Reporter};
use crate::source::redact_url;
use crate::store::record::HttpValidators;

/// Chunks in flight between the network and the disk, per download. hyper's
/// chunks grow to a few hundred KiB on a fast link; eight of them keep the
/// hashing thread busy while bounding memory (16 MiB peak for a 1 GiB file;
/// with 64 it was 57 MiB, no faster).
const CHANNEL_CHUNKS: usize = 8;

/// The largest body written on the receiving task rather than a thread of
/// its own: what fits the part's buffer, [`crate::digest::READ_BUFFER`].
const INLINE_BODY: u64 = crate::digest::READ_BUFFER as u64;

/// Settings for the HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The limit for connecting, and for each wait on data.
    pub timeout: Duration,
    /// The slowest transfer waited for: at least this many bytes per
    /// second over every window of this length, or the source has failed
    /// (like curl's `--speed-limit`/`--speed-time`). `None`: no floor.
    pub min_rate: Option<(u64, Duration)>,
    /// Redirects to plain `http:` are refused: the store's policy allows
    /// only `https` (its `schemes`), and a redirect must not get round it.
    pub https_only: bool,
}

impl HttpSettings {
    /// Settings from the environment (`CRP_HTTP_TIMEOUT`, 30 s by default;
    /// `CRP_HTTP_MIN_RATE` and `CRP_HTTP_MIN_RATE_TIME`, 1 KiB/s over 60 s).
    pub fn from_env() -> Self {
        Self {
            timeout: crate::settings::http_timeout(),
            min_rate: crate::settings::min_rate(),
            https_only: false,
        }
    }

    /// These settings, following redirects only to schemes `policy` allows.
    #[must_use]
    pub fn within(mut self, policy: &crate::policy::Policy) -> Self {
        self.https_only = Self::https_only_under(policy);
        self
    }

    /// Whether `policy` leaves redirects only `https` to follow.
    pub fn https_only_under(policy: &crate::policy::Policy) -> bool {
        !policy.limits.schemes.contains(&crate::policy::Scheme::Http)
    }
}

/// The longest `Retry-After` crp waits for before trying the same source
/// again; a server that asks for longer is treated as failed for this run,
/// and the next source is tried.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Redirects followed before a request fails, as browsers and curl do.
const MAX_REDIRECTS: usize = 10;

/// Times one download starts over from byte 0 because a server mixed two
/// versions of a file, before the source counts as failed.
const MAX_RESTARTS: u32 = 3;

/// Partial responses one download may take to arrive whole.
const MAX_PIECES: u32 = 64;

#[derive(Debug, Clone)]
pub(super) struct Http {
    client: reqwest::Client,
    min_rate: Option<(u64, Duration)>,
}

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("a redirect to a non-HTTP scheme (`{scheme}:`), which crp does not follow")]
    Scheme { scheme: String },
    #[error(
        "a redirect to plain `http:` ({url}), which the store's policy does not allow (`schemes`)"
    )]
    Policy { url: String },
    #[error("a redirect loop (back to {url})")]
    Loop { url: String },
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
}

impl Http {
    pub(super) fn new(settings: &HttpSettings) -> Result<Self, reqwest::Error> {
        let https_only = settings.https_only;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let next = attempt.url();
            if !matches!(next.scheme(), "http" | "https") {
                let scheme = next.scheme().to_owned();
                return attempt.error(RedirectRefused::Scheme { scheme });
            }
            if https_only && next.scheme() == "http" {
                let url = redact_url(next);
                return attempt.error(RedirectRefused::Policy { url });
            }
            if attempt.previous().iter().any(|seen| seen == next) {
                let url = redact_url(next);
                return attempt.error(RedirectRefused::Loop { url });
            }
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(RedirectRefused::TooMany);
            }
            attempt.follow()
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("crp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .redirect(redirects)
            .build()?;
        Ok(Self {
            client,
            min_rate: settings.min_rate,
        })
    }

    /// Downloads `url` into `part`, retrying transient failures and resuming
    /// from what the part already holds where that is safe: only bytes whose
    /// `origin` is this source, combined with a `206` that carries the same
    /// strong validator. `source_id` is the source's identity, recorded with
    /// the bytes. With `unless` (a remembered response's validators), the
    /// request is conditional and [`Downloaded::NotModified`] comes back
    /// when the server says the file has not changed. With `whole`, the
    /// file comes in one response: a response cut off is asked for again
    /// from its first byte, never resumed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn download(
        &self,
        url: &Url,
        mut part: Part,
        mut origin: Option<PartOrigin>,
        whole: bool,
        source_id: &str,
        unless: Option<&HttpValidators>,
        expect: Expect<'_>,
        progress: &dyn Download,
        retry: &RetryPolicy,
        reporter: &dyn Reporter,
        name: &Name,
    ) -> Result<Downloaded, SourceError> {
        let mut retries = 0;
        let mut restarts = 0;
        let mut pieces = 0;
        let mut combined = false;
        loop {
            let mut request = Attempt {
                url,
                origin: &mut origin,
                source_id,
                unless,
                expect,
                progress,
                combined: &mut combined,
                whole,
            };
            let (returned, result) = self.attempt(part, &mut request).await;
            part = returned;
            // A `206` may bring less than the rest (RFC 9110, 14.4): ask for
            // more. Past the whole file's length is a fault.
            let known_total = origin.as_ref().and_then(|o| o.total).or(expect.size);
            let result = match (result, known_total) {
                // Pieces of a file whose length no one stated cannot be
                // known to be all of it.
                (Ok(Answer::Body), None) if combined => Err(Fault::Restart(
                    "the server never said how long the file is, so the pieces it sent cannot be known to make it whole".into(),
                )),
                (Ok(Answer::Body), Some(total)) if part.len() > total => {
                    Err(Fault::Restart(format!(
                        "the server sent {} bytes of a file it said has {total}",
                        part.len()
                    )))
                }
                (Ok(Answer::Body), Some(total)) if part.len() < total => {
                    pieces += 1;
                    if pieces > MAX_PIECES {
                        return Err(SourceError::Transport(format!(
                            "the server sent the file in more than {MAX_PIECES} pieces; giving up on this source"
                        )));
                    }
                    continue;
                }
                (result, _) => result,
            };
            let err = match result {
                Ok(Answer::Body) => {
                    return Ok(Downloaded::Body(Box::new((
                        part,
                        Delivered {
                            validators: origin.map(|o| o.validators),
                            combined,
                            stamp: None,
                        },
                    ))));
                }
                Ok(Answer::NotModified) => {
                    part::discard(part.path());
                    return Ok(Downloaded::NotModified);
                }
                Err(Fault::Restart(reason)) => {
                    // Two versions must never be spliced: what is kept goes,
                    // and the file is fetched again from its first byte.
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(SourceError::Transport(format!(
                            "{reason}, {MAX_RESTARTS} times; giving up on this source"
                        )));
                    }
                    reporter.note(
                        NoteKind::Retrying,
                        &format!(
                            "`{name}` from {}: {reason}; starting over from the first byte",
                            redact_url(url)
                        ),
                    );
                    reset(&mut part)?;
                    origin = None;
                    combined = false;
                    continue;
                }
                Err(Fault::Source(err)) => err,
            };
            if !err.is_transient() || retries >= retry.retries {
                return Err(err);
            }
            // The server's own word on when to come back wins over the
            // backoff schedule, up to a point.
            let delay = match err.retry_after() {
                Some(wait) if wait > RETRY_AFTER_MAX => {
                    return Err(SourceError::RetryTooLate {
                        status: err.status().unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                        wait,
                    });
                }
                Some(wait) => wait,
                None => retry.delay(retries),
            };
            retries += 1;
            reporter.note(
                NoteKind::Retrying,
                &format!(
                    "`{name}` from {}: {err}; attempt {} of {} in {:.1}s{}",
                    redact_url(url),
                    retries + 1,
                    retry.retries + 1,
                    delay.as_secs_f64(),
                    if err.retry_after().is_some() {
                        " (as the server's `Retry-After` asks)"
                    } else {
                        ""
                    }
                ),
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One request. The part is handed back whatever happens, holding every
    /// byte received so far from responses that may be combined.
    async fn attempt(
        &self,
        mut part: Part,
        request: &mut Attempt<'_, '_>,
    ) -> (Part, Result<Answer, Fault>) {
        let (url, expect) = (request.url, request.expect);
        let mut offset = part.len();
        if offset > 0 {
            let known_total = request.origin.as_ref().and_then(|o| o.total);
            if known_total.or(expect.size) == Some(offset) && expect.sha256.is_some() {
                // An earlier attempt got every byte but did not finish:
                // hashing what is there comes before downloading again.
                // Bytes to be pinned on first use are confirmed with the
                // source instead (a range past the end, under `If-Range`):
                // a pin is what the source serves now.
                request.progress.set_position(offset);
                return (part, Ok(Answer::Body));
            }
            // Without a strong validator for what is kept, nothing tells
            // whether the rest the server sends is of the same version.
            if request.whole
                || request
                    .origin
                    .as_ref()
                    .and_then(|o| if_range(&o.validators))
                    .is_none()
            {
                if let Err(err) = reset(&mut part) {
                    return (part, Err(Fault::Source(err)));
                }
                *request.origin = None;
                offset = 0;
            }
        }
        let mut get = self.client.get(url.clone());
        if offset > 0 {
            get = get.header(header::RANGE, format!("bytes={offset}-"));
            if let Some(value) = request
                .origin
                .as_ref()
                .and_then(|o| if_range(&o.validators))
            {
                get = get.header(header::IF_RANGE, value);
            }
        } else if let Some(unless) = request.unless {
            if let Some(etag) = &unless.etag {
                get = get.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = &unless.last_modified {
                get = get.header(header::IF_MODIFIED_SINCE, date);
            }
        }
        // Only an answer to a question asked: a `304` to a request that was
        // not conditional says nothing about the remembered bytes.
        let conditional = offset == 0
            && request
                .unless
                .is_some_and(|u| u.etag.is_some() || u.last_modified.is_some());
        tracing::debug!(url = %redact_url(url), offset, "GET");
        let mut response = match get.send().await {
            Ok(response) => response,
            Err(err) => return (part, Err(Fault::Source(transport(&err)))),
        };
        let status = response.status();
        tracing::debug!(url = %redact_url(url), %status, "response");
        let headers = response.headers();
        let content_range = headers.get(header::CONTENT_RANGE).map(parse_content_range);
        let restart = |reason: String| Err(Fault::Restart(reason));
        match status {
            StatusCode::NOT_MODIFIED if conditional => {
                return (part, Ok(Answer::NotModified));
            }
            StatusCode::PARTIAL_CONTENT => {
                let Some(Some(range)) = content_range else {
                    return (
                        part,
                        restart("the server sent part of the file without saying which".into()),
                    );
                };
                if offset == 0 {
                    return (
                        part,
                        restart("the server sent part of the file when asked for all of it".into()),
                    );
                }
                if range.start != offset {
                    return (
                        part,
                        restart(format!(
                            "the server sent bytes from {} when asked for those from {offset}",
                            range.start
                        )),
                    );
                }
                let origin = request
                    .origin
                    .as_ref()
                    .expect("a range is asked for with one");
                if let Some(changed) = changed_version(&origin.validators, headers) {
                    return (part, restart(changed));
                }
                let known = origin.total.or(expect.size);
                if let (Some(known), Some(total)) = (known, range.total)
                    && known != total
                {
                    return (
                        part,
                        restart(format!(
                            "the server says the file has {total} bytes, where it said {known} before"
                        )),
                    );
                }
                // The first response may not have said (a chunked body).
                if let Some(origin) = request.origin.as_mut()
                    && origin.total.is_none()
                {
                    origin.total = range.total;
                }
                *request.combined = true;
            }
            StatusCode::OK => {
                if content_range.is_some() {
                    return (
                        part,
                        restart("the server answered 200 with a `Content-Range`".into()),
                    );
                }
                if offset > 0 {
                    // The whole file again: the server ignores ranges, or
                    // `If-Range` told it the file changed. A fresh start.
                    tracing::debug!("the server sent the whole file; starting over");
                    if let Err(err) = reset(&mut part) {
                        return (part, Err(Fault::Source(err)));
                    }
                }
                let origin = PartOrigin {
                    source: request.source_id.to_owned(),
                    validators: validators_of(headers),
                    total: response.content_length(),
                };
                // Remembered for a later run only where resuming pays.
                if origin.total.is_none_or(|t| t >= part::ORIGIN_MIN)
                    && let Err(err) = part::write_origin(part.path(), &origin)
                {
                    return (part, Err(Fault::Source(SourceError::Write(err))));
                }
                *request.origin = Some(origin);
            }
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                // Every byte is here already, if the server says the file
                // ends there, of the same version, and nothing known before
                // (the first response's length, the declared size) says
                // otherwise. Without either length, only a pinned digest
                // may take the 416's word, since its hash decides: to be
                // pinned on first use, a file cut off before its length was
                // known is fetched again, as the 416 could be telling the
                // length of a cut-off copy.
                let origin = request.origin.as_ref();
                let length_holds = match origin.and_then(|o| o.total).or(expect.size) {
                    Some(known) => known == offset,
                    None => expect.sha256.is_some(),
                };
                let same_version = origin.is_some_and(|o| !contradicts(&o.validators, headers));
                if let Some(Some(range)) = content_range
                    && range.total == Some(offset)
                    && length_holds
                    && same_version
                {
                    request.progress.set_position(offset);
                    return (part, Ok(Answer::Body));
                }
                return (
                    part,
                    restart("the server refused to resume (HTTP 416)".into()),
                );
            }
            // A redirect reqwest did not follow: to somewhere that is not
            // an HTTP URL (`file:`, `data:`), which it cannot even try.
            status if status.is_redirection() => {
                let location = headers
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let scheme = url.join(location).ok().map(|u| u.scheme().to_owned());
                let reason = match scheme {
                    Some(scheme) if !matches!(scheme.as_str(), "http" | "https") => {
                        RedirectRefused::Scheme { scheme }.to_string()
                    }
                    _ => format!(
                        "HTTP {status}: a redirect crp could not follow (to `{}`)",
                        crate::redact::text(location)
                    ),
                };
                return (part, Err(Fault::Source(SourceError::Redirect(reason))));
            }
            status => {
                let retry_after = headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                return (
                    part,
                    Err(Fault::Source(SourceError::Status {
                        status,
                        retry_after,
                    })),
                );
            }
        }
        let start = part.len();
        let progress = request.progress;
        progress.set_position(start);
        if let Some(remaining) = response.content_length() {
            let total = start + remaining;
            progress.set_length(total);
            if let Some(expected) = expect.size
                && total != expected
            {
                return (
                    part,
                    Err(Fault::Source(SourceError::AnnouncedSize {
                        expected,
                        announced: total,
                    })),
                );
            }
            // An undeclared size is judged by what the server announces,
            // before a byte is written.
            if expect.size.is_none() {
                if let Some(limit) = expect.cap
                    && total > limit
                {
                    return (part, Err(Fault::Source(SourceError::OverCap { limit })));
                }
                if let Err(err) = expect.reserve(remaining) {
                    return (part, Err(Fault::Source(err)));
                }
            }
        }

        // This task receives and hashes; a blocking thread writes. Each chunk
        // is hashed just before it is handed over, so the hash covers exactly
        // what the writer is given. (Measured against hashing on the writing
        // thread, and against a third thread for hashing: this is fastest.)
        // A small body is written here instead: it fits the part's buffer,
        // so it costs one `write` at the end, and a thread of its own would
        // cost more in hand-overs than the write itself.
        let small = response
            .content_length()
            .is_some_and(|remaining| remaining <= INLINE_BODY);
        let (mut hasher, writer) = part.split();
        let mut sink = match small {
            true => Sink::Inline(writer, Ok(())),
            false => Sink::spawn(writer),
        };
        let mut received = start;
        let mut taken = 0;
        let mut floor = self.min_rate.map(RateFloor::new);
        let streamed = loop {
            let next = match &floor {
                Some(floor) => {
                    match tokio::time::timeout_at(floor.deadline(), response.chunk()).await {
                        Ok(next) => next,
                        // Nothing at all arrived in the window.
                        Err(_) => Ok(Some(bytes::Bytes::new())),
                    }
                }
                None => response.chunk().await,
            };
            match next {
                Ok(Some(chunk)) => {
                    if let Some(floor) = &mut floor
                        && let Err(err) = floor.add(chunk.len() as u64)
                    {
                        break Err(err);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    received += chunk.len() as u64;
                    if let Some(limit) = expect.size
                        && received > limit
                    {
                        break Err(SourceError::TooLarge { limit });
                    }
                    if let Some(limit) = expect.cap
                        && expect.size.is_none()
                        && received > limit
                    {
                        break Err(SourceError::OverCap { limit });
                    }
                    if let Err(err) = expect.take(chunk.len() as u64) {
                        break Err(err);
                    }
                    taken += chunk.len() as u64;
                    progress.advance(chunk.len() as u64);
                    hasher.update(&chunk);
                    if !sink.send(chunk).await {
                        // The writer stopped; its error is reported below.
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(transport(&err)),
            }
        };
        let (writer, written) = sink.finish().await;
        let part = Part::join(hasher, writer);
        // Bytes of a failed attempt are not kept against the quota.
        if (streamed.is_err() || written.is_err())
            && let Some(quota) = expect.quota
        {
            quota.give_back(taken);
        }
        let result = match written {
            Err(err) => Err(SourceError::Write(err)),
            Ok(()) => streamed,
        };
        (part, result.map(|()| Answer::Body).map_err(Fault::Source))
    }
}

/// Where a response's chunks are written: on this task, for a body small
/// enough to fit the part's buffer, or on a blocking thread fed through a
/// channel.
enum Sink {
    /// Written here; the first error is kept and reported at the end.
    Inline(PartWriter, io::Result<()>),
    Thread {
        chunks: mpsc::Sender<bytes::Bytes>,
        writing: tokio::task::JoinHandle<(PartWriter, io::Result<()>)>,
    },
}

impl Sink {
    fn spawn(mut writer: PartWriter) -> Self {
        let (chunks, mut rx) = mpsc::channel::<bytes::Bytes>(CHANNEL_CHUNKS);
        let writing = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(err) = writer.write(&chunk) {
                    return (writer, Err(err));
                }
            }
            let flushed = writer.flush();
            (writer, flushed)
        });
        Self::Thread { chunks, writing }
    }

    /// Writes a chunk; false once the writer has failed.
    async fn send(&mut self, chunk: bytes::Bytes) -> bool {
        match self {
            Self::Inline(writer, result) => {
                if result.is_ok() {
                    *result = writer.write(&chunk);
                }
                result.is_ok()
            }
            Self::Thread { chunks, .. } => chunks.send(chunk).await.is_ok(),
        }
    }

    /// Flushes, and gives back the writer with the first error.
    async fn finish(self) -> (PartWriter, io::Result<()>) {
        match self {
            Self::Inline(mut writer, result) => {
                let result = result.and_then(|()| writer.flush());
                (writer, result)
            }
            Self::Thread { chunks, writing } => {
                drop(chunks);
                writing.await.expect("the writer does not panic")
            }
        }
    }
}

/// One request's inputs, and what it learns for the next.
struct Attempt<'a, 'b> {
    url: &'a Url,
    /// What the bytes kept in the part are; set by a `200`.
    origin: &'b mut Option<PartOrigin>,
    source_id: &'a str,
    unless: Option<&'a HttpValidators>,
    expect: Expect<'a>,
    progress: &'a dyn Download,
    /// Set once bytes of two responses are in the part.
    combined: &'b mut bool,
    /// Never resume: the part starts empty at every attempt.
    whole: bool,
}

/// How an attempt ended well.
enum Answer {
    /// The part holds the body (complete, unless the caller finds otherwise).
    Body,
    /// `304`: the remembered response is still what the source serves.
    NotModified,
}

/// How an attempt ended badly.
enum Fault {
    /// What the server sent cannot be combined with what the part holds (a
    /// `206` of another version, a `200` carrying `Content-Range`, a total
    /// that changed): a transport fault, never a verdict on the content.
    Restart(String),
    Source(SourceError),
}

/// What a download brought.
pub(super) enum Downloaded {
    Body(Box<(Part, Delivered)>),
    /// The server confirmed that the remembered response is current.
    NotModified,
}

/// The transfer-rate floor over one download: [`HttpSettings::min_rate`].
struct RateFloor {
    rate: u64,
    window: Duration,
    started: tokio::time::Instant,
    bytes: u64,
}

impl RateFloor {
    fn new((rate, window): (u64, Duration)) -> Self {
        Self {
            rate,
            window,
            started: tokio::time::Instant::now(),
            bytes: 0,
        }
    }

    fn deadline(&self) -> tokio::time::Instant {
        self.started + self.window
    }

    /// Counts `n` more bytes; at the end of each window, checks the window
    /// brought enough.
    fn add(&mut self, n: u64) -> Result<(), SourceError> {
        self.bytes += n;
        let now = tokio::time::Instant::now();
        if now < self.deadline() {
            return Ok(());
        }
        let needed = (self.rate as f64 * self.window.as_secs_f64()) as u64;
        if self.bytes < needed {
            return Err(SourceError::TooSlow {
                got: self.bytes,
                window: self.window,
                rate: self.rate,
            });
        }
        self.started = now;
        self.bytes = 0;
        Ok(())
    }
}

/// `Retry-After` (RFC 9110, section 10.2.3): seconds, or an HTTP-date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More seconds than a u64 holds is still "much later".
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Why a `206` cannot continue bytes from a response with `known`
/// validators, if it cannot: RFC 9110's strong comparison for ETags (both
/// strong, and equal), else — only where there was no tag at all — equal
/// `Last-Modified` dates.
fn changed_version(known: &HttpValidators, headers: &HeaderMap) -> Option<String> {
    let now = validators_of(headers);
    match known.etag.as_deref() {
        Some(etag) if etag.starts_with("W/") => Some(format!(
            "the first bytes had only a weak ETag ({etag}), which cannot tell versions apart"
        )),
        Some(etag) => (now.etag.as_deref() != Some(etag)).then(|| {
            format!(
                "the server sent the rest of another version of the file (ETag {} where the first bytes had {etag})",
                now.etag.as_deref().unwrap_or("none")
            )
        }),
        None => (now.last_modified != known.last_modified).then(|| {
            format!(
                "the server sent the rest of another version of the file (Last-Modified {} where the first bytes had {})",
                now.last_modified.as_deref().unwrap_or("none"),
                known.last_modified.as_deref().unwrap_or("none")
            )
        }),
    }
}

/// Whether `headers` name another version than `known`: a validator they
/// carry that differs. Unlike [`changed_version`], a validator they lack is
/// no evidence (a `416` need not carry any).
fn contradicts(known: &HttpValidators, headers: &HeaderMap) -> bool {
    let now = validators_of(headers);
    let differs = |now: &Option<String>, known: &Option<String>| {
        now.as_ref().is_some_and(|now| Some(now) != known.as_ref())
    };
    differs(&now.etag, &known.etag) || differs(&now.last_modified, &known.last_modified)
}

/// A `Content-Range: bytes START-END/TOTAL` (or `bytes */TOTAL`) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    start: u64,
    /// `None` for `*` (unknown).
    total: Option<u64>,
}

fn parse_content_range(value: &header::HeaderValue) -> Option<ContentRange> {
    let value = value.to_str().ok()?.trim();
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    let start = match range.trim() {
        // `bytes */N`, of a 416: no range, only the total.
        "*" => total?,
        r => r.split('-').next()?.trim().parse().ok()?,
    };
    Some(ContentRange { start, total })
}

/// What a source says about itself now, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub status: u16,
    /// The whole file's size, from `Content-Range` or `Content-Length`.
    pub size: Option<u64>,
    pub validators: HttpValidators,
}

/// Asks `url` for its first byte only: status, size and validators, at the
/// cost of one request and no download.
pub async fn probe(settings: &HttpSettings, url: &Url) -> Result<Probe, String> {
    let http = Http::new(settings).map_err(|e| e.to_string())?;
    let response = http
        .client
        .get(url.clone())
        .header(header::RANGE, "bytes=0-0")
        .send()
        .await
        .map_err(|err| crate::net::describe_reqwest_error(&err))?;
    let status = response.status();
    let headers = response.headers();
    let size = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('/').next())
        .and_then(|total| total.trim().parse().ok())
        .or_else(|| {
            (status == reqwest::StatusCode::OK)
                .then(|| response.content_length())
                .flatten()
        });
    Ok(Probe {
        status: status.as_u16(),
        size,
        validators: validators_of(headers),
    })
}

impl Http {
    /// A small document (a `.torrent` file), in memory, refused past `limit`
    /// bytes.
    pub(super) async fn get_small(&self, url: &Url, limit: u64) -> Result<Vec<u8>, SourceError> {
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|err| transport(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Status {
                status,
                retry_after: None,
            });
        }
        let mut body = Vec::new();
        // The rate floor holds here too: a trickling `.torrent` yields.
        let mut floor = self.min_rate.map(RateFloor::new);
        loop {
            let next = match &floor {
                Some(floor) => tokio::time::timeout_at(floor.deadline(), response.chunk())
                    .await
                    .unwrap_or(Ok(Some(bytes::Bytes::new()))),
                None => response.chunk().await,
            };
            let Some(chunk) = next.map_err(|err| transport(&err))? else {
                break;
            };
            if let Some(floor) = &mut floor {
                floor.add(chunk.len() as u64)?;
            }
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(SourceError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Empties a part (truncating a file can take a moment: not on an async thread).
fn reset(part: &mut Part) -> Result<(), SourceError> {
    tokio::task::block_in_place(|| part.reset()).map_err(SourceError::Write)
}

fn transport(err: &reqwest::Error) -> SourceError {
    let text = crate::net::describe_reqwest_error(err);
    let mut source = std::error::Error::source(err);
    let mut tls = false;
    while let Some(cause) = source {
        tls |= is_tls_error(cause);
        source = cause.source();
    }
    if tls {
        // An untrusted certificate stays untrusted: no point in retrying.
        SourceError::Tls(text)
    } else if err.is_redirect() {
        // A loop or a refused scheme stays so: not worth another attempt.
        SourceError::Redirect(text)
    } else {
        SourceError::Transport(text)
    }
}

/// Whether `err` is a TLS failure. rustls errors arrive wrapped in
/// `io::Error`s (sometimes twice), whose `source()` skips the wrapped error.
fn is_tls_error(mut err: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if err.is::<rustls::Error>() {
            return true;
        }
        match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => err = inner,
            None => return false,
        }
    }
}

fn validators_of(headers: &HeaderMap) -> HttpValidators {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    HttpValidators {
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
    }
}

/// The `If-Range` value that makes a resumed download safe: a strong ETag,
/// else the modification date.
fn if_range(validators: &HttpValidators) -> Option<String> {
    // RFC 9110, 13.1.5: never a weak tag, and a date only when there is no
    // tag at all. A weak tag alone leaves nothing to resume by.
    match &validators.etag {
        Some(etag) if etag.starts_with("W/") => None,
        Some(etag) => Some(etag.clone()),
        None => validators.last_modified.clone(),
    }
}
