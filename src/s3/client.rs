//! Requests to one remote: the S3 REST API (signed by `rusty-s3` with AWS
//! Signature Version 4, sent by `reqwest`), with errors that name the
//! remote and say what to do.
//!
//! Every request is retried on a transient fault (a connection that fails,
//! HTTP 5xx, 429) three times, with growing pauses between.

use std::time::Duration;

use bytes::Bytes;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, DeleteObject, GetObject,
    HeadObject, ListObjectsV2, ListParts, PutObject, UploadPart,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

use crate::remote::Remote;

/// How long a signed request stays valid. A download of a large object
/// runs under one signature, so this is long; it is never shown.
const SIGNED_FOR: Duration = Duration::from_secs(12 * 3600);

/// The largest error document or record read whole.
const SMALL_BODY: usize = 16 << 20;

/// Retries of a request after a transient fault.
const RETRIES: u32 = 3;

/// How long a request may wait for the next piece of an answer. A request
/// that times out is not tried again: a service that stopped answering
/// costs one wait, not four.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most pages a listing reads (a thousand keys each).
const MAX_PAGES: usize = 100_000;

/// The metadata header that carries an object's sha256 (hex): written by
/// every upload, and read back by [`Client::head_object`], so that a key
/// whose bytes someone replaced is told from the object crp wrote.
pub const SHA256_HEADER: &str = "x-amz-meta-crp-sha256";

/// The header that carries a body's sha256 (base64) for the service to
/// check on arrival (S3's additional checksums).
const CHECKSUM_HEADER: &str = "x-amz-checksum-sha256";

/// `action` signed for [`SIGNED_FOR`], recording the object's `sha256`
/// (when known) as the metadata [`SHA256_HEADER`]; with the header's value,
/// which the request must then send as signed.
fn signed_with_digest<'a, A: S3Action<'a>>(
    mut action: A,
    sha256: Option<&crate::digest::Sha256Digest>,
) -> (Url, Option<String>) {
    let hex = sha256.map(crate::digest::Sha256Digest::hex);
    if let Some(hex) = &hex {
        action.headers_mut().insert(SHA256_HEADER, hex.clone());
    }
    (action.sign(SIGNED_FOR), hex)
}

/// `request` with the sha256 header [`signed_with_digest`] signed.
fn with_digest(request: reqwest::RequestBuilder, hex: Option<&str>) -> reqwest::RequestBuilder {
    match hex {
        Some(hex) => request.header(SHA256_HEADER, hex),
        None => request,
    }
}

/// How long the first request to a remote may take: one that accepts
/// connections and never answers is given up on quickly.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// What a HEAD request says of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes.
    pub size: u64,
    /// The sha256 an upload of crp recorded with it, if any.
    pub sha256: Option<crate::digest::Sha256Digest>,
}

/// Why a request to a remote failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach remote `{remote}` at {endpoint}: {reason}")]
    Unreachable {
        remote: String,
        endpoint: String,
        reason: String,
    },
    #[error("remote `{remote}` refused the credentials ({code}); they came from {origin}")]
    Credentials {
        remote: String,
        code: String,
        origin: String,
    },
    #[error("remote `{remote}`: {reason}")]
    NoCredentials { remote: String, reason: String },
    #[error(
        "remote `{remote}` needs credentials, and none were found (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, ~/.aws/credentials)"
    )]
    Unsigned { remote: String },
    #[error("the bucket `{bucket}` of remote `{remote}` does not exist")]
    NoBucket { remote: String, bucket: String },
    #[error("remote `{remote}` denied {what} ({code})")]
    Denied {
        remote: String,
        what: String,
        code: String,
    },
    #[error(
        "remote `{remote}`: {what} failed: HTTP {status}{}",
        code_text(code, message)
    )]
    Service {
        remote: String,
        what: String,
        status: u16,
        code: String,
        message: String,
    },
}

fn code_text(code: &str, message: &str) -> String {
    match (code.is_empty(), message.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" ({code})"),
        (false, false) => format!(" ({code}: {message})"),
    }
}

impl RemoteError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Unreachable { remote, .. } => Some(format!(
                "check remote `{remote}`'s `endpoint` (`crp remote list`) and that the service runs"
            )),
            Self::Credentials { origin, .. } if origin.starts_with("environment") => Some(
                "check that `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`, if one is needed) belongs to `AWS_ACCESS_KEY_ID` and has not expired".into(),
            ),
            Self::Credentials { origin, .. } => Some(format!(
                "check the keys of {origin}, or set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`"
            )),
            Self::Unsigned { .. } => Some(
                "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or name a `profile` of ~/.aws/credentials in the remote's configuration".into(),
            ),
            // Its reason says what to do: it depends on where they were
            // looked for.
            Self::NoCredentials { .. } => None,
            Self::NoBucket { remote, .. } => Some(format!(
                "create the bucket, or fix remote `{remote}`'s `url` (`crp remote list`)"
            )),
            Self::Denied { .. } => Some(
                "ask whoever runs the remote for read and write access to its bucket and prefix"
                    .into(),
            ),
            Self::Service { status, .. } if *status >= 500 => {
                Some("the service failed; try again later".into())
            }
            Self::Service { .. } => None,
        }
    }

    /// Whether the remote lacks a bucket or refuses this machine: nothing
    /// asked of it will work, so it is not asked again this run.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Credentials { .. }
                | Self::NoCredentials { .. }
                | Self::Unsigned { .. }
                | Self::NoBucket { .. }
        )
    }
}

/// One part of a multipart upload, as the remote lists it.
#[derive(Debug, Clone)]
pub struct UploadedPart {
    pub number: u16,
    pub etag: String,
    pub size: u64,
}

/// A connection to one remote.
#[derive(Debug, Clone)]
pub struct Client {
    remote: Remote,
    bucket: Bucket,
    credentials: Option<Credentials>,
    /// Where the credentials came from, for messages.
    origin: String,
    http: reqwest::Client,
}

impl Client {
    /// Finds the remote's credentials and prepares its requests.
    ///
    /// # Errors
    /// A named profile that the credential files lack.
    pub fn new(remote: &Remote) -> Result<Self, RemoteError> {
        let found = super::credentials::find(remote.profile.as_deref()).map_err(|reason| {
            RemoteError::NoCredentials {
                remote: remote.name.to_string(),
                reason,
            }
        })?;
        let style = match remote.path_style {
            true => UrlStyle::Path,
            false => UrlStyle::VirtualHost,
        };
        let bucket = Bucket::new(
            remote.endpoint.clone(),
            style,
            remote.url.bucket.clone(),
            remote.region.clone(),
        )
        .map_err(|err| RemoteError::Unreachable {
            remote: remote.name.to_string(),
            endpoint: remote.endpoint.to_string(),
            reason: err.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| RemoteError::Unreachable {
                remote: remote.name.to_string(),
                endpoint: remote.endpoint.to_string(),
                reason: crate::net::describe_reqwest_error(&err),
            })?;
        Ok(Self {
            remote: remote.clone(),
            bucket,
            credentials: found.credentials,
            origin: found.origin,
            http,
        })
    }

    /// A client that signs with the given key and secret, whatever the
    /// environment says (for tools and tests that hold credentials).
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn with_credentials(remote: &Remote, key: &str, secret: &str) -> Result<Self, RemoteError> {
        let mut client = Self::new(&Remote {
            profile: None,
            ..remote.clone()
        })?;
        client.credentials = Some(Credentials::new(key, secret));
        client.origin = "given".into();
        Ok(client)
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Where the credentials came from, for people.
    pub fn credentials_origin(&self) -> &str {
        &self.origin
    }

    /// A signed URL that reads `key` with a plain GET (ranges allowed):
    /// what downloads are handed. It holds a signature; never show it.
    pub fn get_url(&self, key: &str) -> Url {
        GetObject::new(&self.bucket, self.credentials.as_ref(), key).sign(SIGNED_FOR)
    }

    /// Checks that the remote answers, takes the credentials and has its
    /// bucket, by reading a key that need not exist.
    ///
    /// # Errors
    /// Each way that every later request would fail too.
    pub async fn check(&self) -> Result<(), RemoteError> {
        let key = match self.remote.url.prefix.is_empty() {
            true => "sha256/.crp-check".to_owned(),
            false => format!("{}/sha256/.crp-check", self.remote.url.prefix),
        };
        let url = self.get_url(&key);
        let what = format!("reading {}", self.remote.show_key(&key));
        let response = match self.http.get(url).timeout(CHECK_TIMEOUT).send().await {
            Ok(response) => response,
            Err(err) => {
                return Err(
                    self.unreachable(crate::net::describe_reqwest_error(&err.without_url()))
                );
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        match self.failure(&what, response).await {
            // Only what the key says: without the right to list a bucket,
            // S3 answers 403 for a key that does not exist, and objects
            // may still be readable.
            RemoteError::Denied { .. } => Ok(()),
            RemoteError::Service { .. } if status == 404 => Ok(()),
            err => Err(err),
        }
    }

    /// The size of `key`, or `None` when the remote lacks it.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, RemoteError> {
        Ok(self.head_object(key).await?.map(|h| h.size))
    }

    /// What a HEAD request says of `key`, or `None` when the remote lacks
    /// it.
    pub async fn head_object(&self, key: &str) -> Result<Option<Head>, RemoteError> {
        let url = HeadObject::new(&self.bucket, self.credentials.as_ref(), key).sign(SIGNED_FOR);
        let what = format!("looking up {}", self.remote.show_key(key));
        let response = self
            .send(&what, || self.http.head(url.clone()), &[404])
            .await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        // A HEAD answer has no body: its length is in the header.
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let size = header(reqwest::header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
        let sha256 = header(SHA256_HEADER).and_then(|v| v.parse().ok());
        Ok(size.map(|size| Head { size, sha256 }))
    }

    /// The whole of a small `key` (a record, a tree listing), or `None`
    /// when the remote lacks it.
    pub async fn get_small(&self, key: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let url = self.get_url(key);
        let what = format!("reading {}", self.remote.show_key(key));
        let response = self
            .send(&what, || self.http.get(url.clone()), &[404])
            .await?;
        if response.status().as_u16() == 404 {
            let (code, _) = error_of(response).await;
            return match code.as_str() {
                "NoSuchBucket" => Err(self.no_bucket()),
                _ => Ok(None),
            };
        }
        let body = read_limited(response, SMALL_BODY)
            .await
            .map_err(|reason| self.unreachable(reason))?;
        Ok(Some(body))
    }

    /// Reads `key` whole, hashing it, and writes it to `to` when given:
    /// its sha256 and size, or `None` when the remote lacks it. Memory
    /// stays at one chunk whatever the size.
    pub async fn stream(
        &self,
        key: &str,
        mut to: Option<&mut std::fs::File>,
    ) -> Result<Option<(crate::digest::Sha256Digest, u64)>, RemoteError> {
        use sha2::Digest as _;
        use std::io::Write as _;
        let url = self.get_url(key);
        let what = format!("reading {}", self.remote.show_key(key));
        let mut response = self
            .send(&what, || self.http.get(url.clone()), &[404])
            .await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|err| {
            self.unreachable(crate::net::describe_reqwest_error(&err.without_url()))
        })? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Some(file) = to.as_deref_mut() {
                file.write_all(&chunk)
                    .map_err(|err| self.protocol(&what, &format!("writing it: {err}")))?;
            }
        }
        Ok(Some((
            crate::digest::Sha256Digest::from_hasher(hasher),
            size,
        )))
    }

    /// Writes `body` as `key` in one request.
    /// With `sha256`, the object's digest goes with it as metadata.
    ///
    /// The body's own sha256 goes with it too, as `x-amz-checksum-sha256`,
    /// so that the service refuses (`BadDigest`) a body that arrives other
    /// than it left. [`put_checked`](Self::put_checked) takes it from a
    /// caller that has it; this hashes the body.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        sha256: Option<&crate::digest::Sha256Digest>,
    ) -> Result<(), RemoteError> {
        let checksum = crate::digest::Sha256Digest::of_bytes(&body);
        self.put_checked(key, body, sha256, &checksum).await
    }

    /// [`put`](Self::put), with `checksum`, the sha256 of `body`, given.
    pub async fn put_checked(
        &self,
        key: &str,
        body: Bytes,
        sha256: Option<&crate::digest::Sha256Digest>,
        checksum: &crate::digest::Sha256Digest,
    ) -> Result<(), RemoteError> {
        use base64::Engine as _;
        let mut action = PutObject::new(&self.bucket, self.credentials.as_ref(), key);
        let checksum = base64::engine::general_purpose::STANDARD.encode(checksum.as_bytes());
        action
            .headers_mut()
            .insert(CHECKSUM_HEADER, checksum.clone());
        let (url, hex) = signed_with_digest(action, sha256);
        let what = format!("writing {}", self.remote.show_key(key));
        let response = self
            .send(
                &what,
                || {
                    with_digest(
                        self.http
                            .put(url.clone())
                            .header(CHECKSUM_HEADER, &checksum)
                            .body(body.clone()),
                        hex.as_deref(),
                    )
                },
                &[],
            )
            .await?;
        // Every S3 service answers a write with the ETag of what it stored;
        // an answer without one did not come from one.
        match response.headers().contains_key(reqwest::header::ETAG) {
            true => Ok(()),
            false => Err(self.protocol(
                &what,
                "the answer has no ETag; is the endpoint an S3 service?",
            )),
        }
    }

    /// Removes `key` (removing what is not there succeeds).
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let url = DeleteObject::new(&self.bucket, self.credentials.as_ref(), key).sign(SIGNED_FOR);
        let what = format!("removing {}", self.remote.show_key(key));
        self.send(&what, || self.http.delete(url.clone()), &[404])
            .await
            .map(drop)
    }

    /// Starts a multipart upload of `key`; returns its upload id.
    /// With `sha256`, the object's digest goes with it as metadata.
    pub async fn create_multipart(
        &self,
        key: &str,
        sha256: Option<&crate::digest::Sha256Digest>,
    ) -> Result<String, RemoteError> {
        let action = CreateMultipartUpload::new(&self.bucket, self.credentials.as_ref(), key);
        let (url, hex) = signed_with_digest(action, sha256);
        let what = format!("starting an upload of {}", self.remote.show_key(key));
        let response = self
            .send(
                &what,
                || with_digest(self.http.post(url.clone()), hex.as_deref()),
                &[],
            )
            .await?;
        let text = self.text_of(response).await?;
        CreateMultipartUpload::parse_response(&text)
            .map(|r| r.upload_id().to_owned())
            .map_err(|err| self.protocol(&what, &err.to_string()))
    }

    /// Uploads part `number` (from 1) of an upload; returns its ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: Bytes,
    ) -> Result<String, RemoteError> {
        let url = UploadPart::new(
            &self.bucket,
            self.credentials.as_ref(),
            key,
            number,
            upload_id,
        )
        .sign(SIGNED_FOR);
        let what = format!("uploading part {number} of {}", self.remote.show_key(key));
        let response = self
            .send(&what, || self.http.put(url.clone()).body(body.clone()), &[])
            .await?;
        response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| self.protocol(&what, "the answer has no ETag"))
    }

    /// The parts uploaded so far, or `None` when the remote no longer knows
    /// the upload (completed, aborted, or expired).
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<UploadedPart>>, RemoteError> {
        let what = format!("listing an upload of {}", self.remote.show_key(key));
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let mut action =
                ListParts::new(&self.bucket, self.credentials.as_ref(), key, upload_id);
            if let Some(marker) = marker {
                action.set_part_number_marker(marker);
            }
            let url = action.sign(SIGNED_FOR);
            let response = self
                .send(&what, || self.http.get(url.clone()), &[404])
                .await?;
            if response.status().as_u16() == 404 {
                return Ok(None);
            }
            let text = self.text_of(response).await?;
            let listed = ListParts::parse_response(&text)
                .map_err(|err| self.protocol(&what, &err.to_string()))?;
            parts.extend(listed.parts.into_iter().map(|p| UploadedPart {
                number: p.number,
                etag: p.etag,
                size: p.size,
            }));
            match listed.next_part_number_marker {
                Some(next) if marker.is_some_and(|m| next <= m) => {
                    return Err(self.protocol(&what, "the list of parts does not advance"));
                }
                Some(next) => marker = Some(next),
                None => return Ok(Some(parts)),
            }
        }
    }

    /// Completes an upload from its parts' ETags, in part order.
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), RemoteError> {
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            self.credentials.as_ref(),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = Bytes::from(action.body());
        let what = format!("completing an upload of {}", self.remote.show_key(key));
        let response = self
            .send(
                &what,
                || self.http.post(url.clone()).body(body.clone()),
                &[],
            )
            .await?;
        // S3 may answer 200 with an error document once it has started.
        let text = self.text_of(response).await?;
        if text.contains("<Error>") {
            let (code, message) = parse_error(&text);
            return Err(RemoteError::Service {
                remote: self.remote.name.to_string(),
                what,
                status: 200,
                code,
                message,
            });
        }
        Ok(())
    }

    /// Abandons an upload and its parts.
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        let url =
            AbortMultipartUpload::new(&self.bucket, self.credentials.as_ref(), key, upload_id)
                .sign(SIGNED_FOR);
        let what = format!("abandoning an upload of {}", self.remote.show_key(key));
        self.send(&what, || self.http.delete(url.clone()), &[404])
            .await
            .map(drop)
    }

    /// Every key below `prefix`, with its size.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        let what = format!("listing {}", self.remote.show_key(prefix));
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let mut action = ListObjectsV2::new(&self.bucket, self.credentials.as_ref());
            action.with_prefix(prefix);
            if let Some(token) = &token {
                action.with_continuation_token(token.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let response = self.send(&what, || self.http.get(url.clone()), &[]).await?;
            let text = self.text_of(response).await?;
            let listed = ListObjectsV2::parse_response(&text)
                .map_err(|err| self.protocol(&what, &err.to_string()))?;
            keys.extend(
                listed
                    .contents
                    .into_iter()
                    .map(|c| (c.key, c.size.unwrap_or(0))),
            );
            match listed.next_continuation_token {
                // A service that hands back the token it was given, or
                // pages without end, would loop forever.
                Some(next) if token.as_ref() == Some(&next) || pages >= MAX_PAGES => {
                    return Err(self.protocol(&what, "the listing does not advance"));
                }
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Sends a request, retrying transient faults; an answer other than
    /// 2xx and the statuses in `expected` is an error.
    async fn send(
        &self,
        what: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
        expected: &[u16],
    ) -> Result<reqwest::Response, RemoteError> {
        let mut attempt = 0;
        loop {
            let transient = match request().send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() || expected.contains(&status.as_u16()) {
                        return Ok(response);
                    }
                    if !(status.is_server_error() || status.as_u16() == 429) || attempt == RETRIES {
                        return Err(self.failure(what, response).await);
                    }
                    format!("HTTP {status}")
                }
                Err(err) => {
                    // Without the URL: a signed one holds a signature.
                    let timed_out = err.is_timeout();
                    let reason = crate::net::describe_reqwest_error(&err.without_url());
                    if attempt == RETRIES || timed_out {
                        return Err(self.unreachable(reason));
                    }
                    reason
                }
            };
            tracing::debug!(
                "remote `{}`: {what}: {transient}; trying again",
                self.remote.name
            );
            tokio::time::sleep(Duration::from_millis(250) * 2u32.pow(attempt)).await;
            attempt += 1;
        }
    }

    /// The error an answer means.
    async fn failure(&self, what: &str, response: reqwest::Response) -> RemoteError {
        let status = response.status().as_u16();
        let (code, message) = error_of(response).await;
        let remote = self.remote.name.to_string();
        match code.as_str() {
            "NoSuchBucket" => self.no_bucket(),
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "ExpiredToken"
            | "InvalidSecurity"
            | "AuthorizationHeaderMalformed" => RemoteError::Credentials {
                remote,
                code,
                origin: self.origin.clone(),
            },
            "AccessDenied" | "AllAccessDisabled" | "" if status == 403 => {
                match self.credentials.is_none() {
                    true => RemoteError::Unsigned { remote },
                    false => RemoteError::Denied {
                        remote,
                        what: what.to_owned(),
                        code: if code.is_empty() {
                            "HTTP 403".into()
                        } else {
                            code
                        },
                    },
                }
            }
            _ => RemoteError::Service {
                remote,
                what: what.to_owned(),
                status,
                code,
                message,
            },
        }
    }

    async fn text_of(&self, response: reqwest::Response) -> Result<String, RemoteError> {
        let body = read_limited(response, SMALL_BODY)
            .await
            .map_err(|reason| self.unreachable(reason))?;
        String::from_utf8(body).map_err(|_| self.unreachable("the answer is not UTF-8".into()))
    }

    fn no_bucket(&self) -> RemoteError {
        RemoteError::NoBucket {
            remote: self.remote.name.to_string(),
            bucket: self.remote.url.bucket.clone(),
        }
    }

    fn unreachable(&self, reason: String) -> RemoteError {
        RemoteError::Unreachable {
            remote: self.remote.name.to_string(),
            endpoint: crate::redact::url(&self.remote.endpoint),
            reason,
        }
    }

    fn protocol(&self, what: &str, reason: &str) -> RemoteError {
        RemoteError::Service {
            remote: self.remote.name.to_string(),
            what: what.to_owned(),
            status: 200,
            code: "unreadable answer".into(),
            message: reason.to_owned(),
        }
    }
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| crate::net::describe_reqwest_error(&err))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `Code` and `Message` of an S3 error answer (empty when it has none).
async fn error_of(response: reqwest::Response) -> (String, String) {
    let text = read_limited(response, 64 << 10).await.unwrap_or_default();
    parse_error(&String::from_utf8_lossy(&text))
}

/// The `<Code>` and `<Message>` of an S3 error document.
fn parse_error(text: &str) -> (String, String) {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.split_once(&open)
            .and_then(|(_, rest)| rest.split_once(&close))
            .map(|(value, _)| {
                // What a server says is shown, never obeyed: no terminal
                // controls get through.
                value
                    .trim()
                    .chars()
                    .take(300)
                    .flat_map(|c| match c.is_control() {
                        true => c.escape_default().collect::<Vec<_>>(),
                        false => vec![c],
                    })
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    (element("Code"), element("Message"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_an_error_document() {
        let text = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(
            super::parse_error(text),
            (
                "NoSuchBucket".into(),
                "The specified bucket does not exist".into()
            )
        );
        assert_eq!(super::parse_error("oops"), (String::new(), String::new()));
    }
}
