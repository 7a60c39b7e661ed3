//! HTTP(S) downloads: streamed to disk in constant memory, hashed on the
//! way, resumed with `Range` requests, retried with backoff.
//!
//! The network side runs on the async runtime and hashes as bytes arrive;
//! they go through a small bounded channel to a blocking thread that writes
//! them, so receiving and writing proceed in parallel and memory stays
//! bounded by the channel, whatever the file's size.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use sha2::Digest as _;
use tokio::sync::mpsc;
use url::Url;

use super::part::Part;
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

/// The environment variable with the HTTP timeout in seconds.
pub const TIMEOUT_ENV: &str = "CRP_HTTP_TIMEOUT";

/// Settings for the HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The limit for connecting, and for each wait on data.
    pub timeout: Duration,
}

impl HttpSettings {
    /// Settings from the environment (`CRP_HTTP_TIMEOUT`, 30 s by default).
    pub fn from_env() -> Self {
        let timeout = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(Duration::from_secs(30), Duration::from_secs_f64);
        Self { timeout }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Http {
    client: reqwest::Client,
}

impl Http {
    pub(super) fn new(settings: &HttpSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("crp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .build()?;
        Ok(Self { client })
    }

    /// Downloads `url` into `part`, retrying transient failures and resuming
    /// from what the part already holds where that is safe.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn download(
        &self,
        url: &Url,
        mut part: Part,
        expect: Expect<'_>,
        progress: &dyn Download,
        retry: &RetryPolicy,
        reporter: &dyn Reporter,
        name: &Name,
    ) -> Result<(Part, Delivered), SourceError> {
        let mut validators: Option<HttpValidators> = None;
        let mut retries = 0;
        loop {
            let (returned, result) = self
                .attempt(url, part, expect, progress, &mut validators)
                .await;
            part = returned;
            let err = match result {
                Ok(()) => return Ok((part, Delivered { validators })),
                Err(err) => err,
            };
            if !err.is_transient() || retries >= retry.retries {
                return Err(err);
            }
            let delay = retry.delay(retries);
            retries += 1;
            reporter.note(
                NoteKind::Retrying,
                &format!(
                    "`{name}` from {}: {err}; attempt {} of {} in {:.1}s",
                    redact_url(url),
                    retries + 1,
                    retry.retries + 1,
                    delay.as_secs_f64()
                ),
            );
            tokio::time::sleep(delay).await;
            // A download to be pinned may resume only if the server can tell
            // us whether the file is still the one we started on.
            if part.len() > 0
                && expect.sha256.is_none()
                && validators.as_ref().and_then(if_range).is_none()
            {
                reset(&mut part)?;
            }
        }
    }

    /// One request. The part is handed back whatever happens, holding every
    /// byte received so far.
    async fn attempt(
        &self,
        url: &Url,
        part: Part,
        expect: Expect<'_>,
        progress: &dyn Download,
        validators: &mut Option<HttpValidators>,
    ) -> (Part, Result<(), SourceError>) {
        let offset = part.len();
        if expect.size == Some(offset) && offset > 0 {
            // An earlier run got every byte but did not finish; verify them.
            progress.set_position(offset);
            return (part, Ok(()));
        }
        let mut request = self.client.get(url.clone());
        if offset > 0 {
            request = request.header(header::RANGE, format!("bytes={offset}-"));
            if let Some(value) = validators.as_ref().and_then(if_range) {
                request = request.header(header::IF_RANGE, value);
            }
        }
        tracing::debug!(url = %redact_url(url), offset, "GET");
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => return (part, Err(transport(&err))),
        };
        let status = response.status();
        tracing::debug!(url = %redact_url(url), %status, "response");
        let mut part = part;
        let part = match status {
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                if content_range_start(response.headers()) != Some(offset) {
                    let err = match reset(&mut part) {
                        Ok(()) => SourceError::Transport("the server sent the wrong range".into()),
                        Err(err) => err,
                    };
                    return (part, Err(err));
                }
                part
            }
            StatusCode::OK => {
                if validators.is_none() {
                    *validators = Some(validators_of(response.headers()));
                }
                if offset > 0 {
                    // The server sends the whole file (no range support, or
                    // the file changed): start over.
                    tracing::debug!("no range support; restarting");
                    if let Err(err) = reset(&mut part) {
                        return (part, Err(err));
                    }
                }
                part
            }
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                let err = match reset(&mut part) {
                    Ok(()) => {
                        SourceError::Transport("the server refused to resume (HTTP 416)".into())
                    }
                    Err(err) => err,
                };
                return (part, Err(err));
            }
            status => return (part, Err(SourceError::Status { status })),
        };
        let start = part.len();
        progress.set_position(start);
        if let Some(remaining) = response.content_length() {
            let total = start + remaining;
            progress.set_length(total);
            if let Some(expected) = expect.size
                && total != expected
            {
                return (
                    part,
                    Err(SourceError::AnnouncedSize {
                        expected,
                        announced: total,
                    }),
                );
            }
            // An undeclared size is judged by what the server announces,
            // before a byte is written.
            if expect.size.is_none() {
                if let Some(limit) = expect.cap
                    && total > limit
                {
                    return (part, Err(SourceError::OverCap { limit }));
                }
                if let Err(err) = expect.fits(remaining) {
                    return (part, Err(err));
                }
            }
        }

        // This task receives and hashes; a blocking thread writes. Each chunk
        // is hashed just before it is handed over, so the hash covers exactly
        // what the writer is given. (Measured against hashing on the writing
        // thread, and against a third thread for hashing: this is fastest.)
        let (mut hasher, mut writer) = part.split();
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(CHANNEL_CHUNKS);
        let writing = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(err) = writer.write(&chunk) {
                    return (writer, Err(err));
                }
            }
            let flushed = writer.flush();
            (writer, flushed)
        });
        let mut received = start;
        let mut taken = 0;
        let streamed = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
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
                    if tx.send(chunk).await.is_err() {
                        // The writer stopped; its error is reported below.
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(transport(&err)),
            }
        };
        drop(tx);
        let (writer, written) = writing.await.expect("the writer does not panic");
        let part = Part::join(hasher, writer);
        // Bytes of a failed attempt are not kept against the quota.
        if (streamed.is_err() || written.is_err())
            && let Some(quota) = expect.quota
        {
            quota.give_back(taken);
        }
        match written {
            Err(err) => (part, Err(SourceError::Write(err))),
            Ok(()) => (part, streamed),
        }
    }
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
        .map_err(|err| describe_reqwest_error(&err))?;
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
            return Err(SourceError::Status { status });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| transport(&err))? {
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
    let text = describe_reqwest_error(err);
    let mut source = std::error::Error::source(err);
    let mut tls = false;
    while let Some(cause) = source {
        tls |= is_tls_error(cause);
        source = cause.source();
    }
    if tls {
        // An untrusted certificate stays untrusted: no point in retrying.
        SourceError::Tls(text)
    } else {
        SourceError::Transport(text)
    }
}

/// What went wrong in a request, in words. reqwest's own message ("error
/// sending request for url (…)") repeats the URL the report already names;
/// the causes say what went wrong.
pub fn describe_reqwest_error(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let mut text = if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    };
    if err.is_timeout() && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    if let Some(url) = err.url() {
        // Keep credentials out of whatever still names the URL.
        text = text.replace(url.as_str(), &redact_url(url));
    }
    text
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
    validators
        .etag
        .clone()
        .filter(|etag| !etag.starts_with("W/"))
        .or_else(|| validators.last_modified.clone())
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}
