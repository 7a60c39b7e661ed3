//! A real HTTP/1.1 server on 127.0.0.1 that can misbehave on demand.
//!
//! One helper, many faults: bodies cut short, stalls, slow trickles, more
//! bytes than announced, ranges ignored, `If-Range` ignored, a `200` that
//! carries a slice, files that change version between requests, `429` and
//! `503` with `Retry-After`, redirects (loops, other schemes), and bodies
//! that depend on the query string. A correct server is the default: it
//! honours `Range`, `If-Range`, `If-None-Match` and `If-Modified-Since`,
//! and sends a strong `ETag` and a `Last-Modified` date.
//!
//! Every request is logged (target, headers that matter, status, body bytes
//! sent, when) so tests can check what crp actually asked for.
//! [`Server::start_tls`] serves HTTPS with the certificate in
//! `tests/fixtures/tls` (for `127.0.0.1`, signed by the test CA in
//! `ca.pem`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a route answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Serves the body, honouring `Range`.
    Normal,
    /// Ignores `Range` and always sends the whole body.
    NoRange,
    /// Answers `status` to the first `times` requests, then serves normally.
    FailFirst { status: u16, times: usize },
    /// Always answers `status`.
    Status(u16),
    /// The first `times` responses announce the full length but stop after
    /// `after` body bytes and close the connection.
    CutShort { after: usize, times: usize },
    /// Sends the body in `chunk`-byte pieces with `delay` between them.
    Slow { chunk: usize, delay: Duration },
    /// The first `times` responses send `after` bytes, then nothing more
    /// for `pause`.
    Stall {
        after: usize,
        pause: Duration,
        times: usize,
    },
    /// Announces no length and sends the body followed by `extra` bytes.
    Oversize { extra: usize },
    /// Answers the first `times` requests with `status` and a
    /// `Retry-After: value` header, then serves normally.
    RetryAfter {
        status: u16,
        value: String,
        times: usize,
    },
    /// Always redirects (`302`) to `location`.
    Redirect { location: String },
    /// Answers a range request with `200` and the asked-for slice, with a
    /// `Content-Range` header: what a broken cache might do.
    SliceAs200,
    /// Answers a range request with `416` and a total equal to where the
    /// range starts: "you have it all", whatever the file's length.
    Lying416,
    /// Answers a range request with only `len` bytes of it (a `206` with a
    /// shorter range than asked for, which RFC 9110 allows).
    ShortRanges { len: usize },
    /// Answers every request `304 Not Modified`, conditional or not.
    AlwaysNotModified,
    /// Answers `200` with a chunked body (no length) cut off after `after`
    /// bytes; a range request gets `range`.
    ChunkedCut { after: usize, range: RangeAnswer },
    /// Sends the whole body chunked, then holds the connection for `pause`
    /// without ending the body.
    ChunkedHold { pause: Duration },
}

/// How [`Behavior::ChunkedCut`] answers a range request.
#[derive(Debug, Clone)]
pub enum RangeAnswer {
    /// `416` saying the file ends where the range starts ("you have it
    /// all"), with this `ETag`.
    Complete416 { etag: Option<String> },
    /// `206` with `len` bytes and an unknown total (`bytes a-b/*`).
    UnknownTotal { len: usize },
}

/// One version of a route's content, with how it is served.
#[derive(Debug, Clone)]
pub struct Version {
    body: Arc<Vec<u8>>,
    behavior: Behavior,
    etag: Option<String>,
    last_modified: Option<String>,
    honour_if_range: bool,
    /// Served for this many requests, then the next version is; `None`
    /// for ever.
    requests: Option<usize>,
}

impl Version {
    /// `body`, served correctly, with an ETag derived from its content.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        let body: Vec<u8> = body.into();
        let etag = format!(
            "\"{}\"",
            &crp::digest::Sha256Digest::of_bytes(&body).hex()[..16]
        );
        Self {
            body: Arc::new(body),
            behavior: Behavior::Normal,
            etag: Some(etag),
            last_modified: Some("Sat, 01 Nov 2025 10:00:00 GMT".into()),
            honour_if_range: true,
            requests: None,
        }
    }

    pub fn behavior(mut self, behavior: Behavior) -> Self {
        self.behavior = behavior;
        self
    }

    /// Sends this `ETag` (or none).
    pub fn etag(mut self, etag: Option<&str>) -> Self {
        self.etag = etag.map(str::to_owned);
        self
    }

    /// Sends this `Last-Modified` date (or none).
    pub fn last_modified(mut self, date: Option<&str>) -> Self {
        self.last_modified = date.map(str::to_owned);
        self
    }

    /// Answers a range request with `206` whatever `If-Range` says.
    pub fn ignore_if_range(mut self) -> Self {
        self.honour_if_range = false;
        self
    }

    /// Served for `n` requests, then the route's next version is.
    pub fn for_requests(mut self, n: usize) -> Self {
        self.requests = Some(n);
        self
    }
}

#[derive(Debug, Clone)]
struct Route {
    versions: Vec<Version>,
    /// Requests answered so far.
    hits: usize,
}

impl Route {
    /// The version for the `hit`th request (1-based), and how many
    /// requests that version has answered including this one.
    fn version(&self, hit: usize) -> (&Version, usize) {
        let mut before = 0;
        for (i, version) in self.versions.iter().enumerate() {
            match version.requests {
                Some(n) if hit > before + n && i + 1 < self.versions.len() => before += n,
                _ => return (version, hit - before),
            }
        }
        unreachable!("a route has a version")
    }
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub status: u16,
    /// Body bytes written to the socket.
    pub sent: u64,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Logged>,
}

/// The server; it stops when dropped.
pub struct Server {
    port: u16,
    scheme: &'static str,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// The same server over TLS.
    pub fn start_tls() -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        Self::spawn(Some(Arc::new(config)))
    }

    /// The test CA's certificate, for `SSL_CERT_FILE`.
    pub fn ca_file() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem")
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let state = state.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    let tls = tls.clone();
                    thread::spawn(move || {
                        let _ = match tls {
                            None => serve(stream, &state),
                            Some(config) => rustls::ServerConnection::new(config)
                                .map_err(std::io::Error::other)
                                .and_then(|conn| {
                                    serve(rustls::StreamOwned::new(conn, stream), &state)
                                }),
                        };
                    });
                }
            });
        }
        Self {
            port,
            state,
            stop,
            scheme,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://127.0.0.1:{}/{}",
            self.scheme,
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Serves `body` at `path` (which may include a query string: a route
    /// for `get?key=a` answers only that query; one for `get` any query
    /// that has no route of its own).
    pub fn route(&self, path: &str, body: impl Into<Vec<u8>>, behavior: Behavior) {
        self.versions(path, vec![Version::new(body).behavior(behavior)]);
    }

    /// Serves `versions` at `path`, one after the other (see
    /// [`Version::for_requests`]).
    pub fn versions(&self, path: &str, versions: Vec<Version>) {
        assert!(!versions.is_empty());
        self.state.lock().unwrap().routes.insert(
            format!("/{}", path.trim_start_matches('/')),
            Route { versions, hits: 0 },
        );
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// The requests for one path (any query).
    pub fn requests(&self, path: &str) -> Vec<Logged> {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.log().into_iter().filter(|l| l.path == path).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The request headers the server acts on.
#[derive(Default)]
struct Headers {
    range: Option<String>,
    if_range: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

fn serve<S: Read + Write>(mut stream: S, state: &Mutex<State>) -> std::io::Result<()> {
    let at = Instant::now();
    // A GET has no body: once the headers are read, the buffer holds nothing
    // more and can go.
    let (target, headers) = {
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut headers = Headers::default();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = Some(value.trim().to_owned());
                match name.to_ascii_lowercase().as_str() {
                    "range" => headers.range = value,
                    "if-range" => headers.if_range = value,
                    "if-none-match" => headers.if_none_match = value,
                    "if-modified-since" => headers.if_modified_since = value,
                    _ => {}
                }
            }
        }
        (target, headers)
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.clone(), None),
    };
    // A route for the exact target wins; else the path's (a tracker's
    // query string is not part of its route).
    let found = {
        let mut state = state.lock().unwrap();
        let key = if state.routes.contains_key(&target) {
            target.clone()
        } else {
            path.clone()
        };
        state.routes.get_mut(&key).map(|route| {
            route.hits += 1;
            let (version, hit) = route.version(route.hits);
            (version.clone(), hit)
        })
    };
    let out = &mut stream;
    let (status, sent) = match found {
        None => (respond_status(out, 404, &[])?, 0),
        Some((version, hit)) => respond(out, &version, &headers, hit)?,
    };
    state.lock().unwrap().log.push(Logged {
        path,
        query,
        range: headers.range,
        if_range: headers.if_range,
        if_none_match: headers.if_none_match,
        if_modified_since: headers.if_modified_since,
        status,
        sent,
        at,
    });
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn respond_status(
    out: &mut impl Write,
    status: u16,
    extra: &[(&str, &str)],
) -> std::io::Result<u16> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n",
        reason(status)
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    Ok(status)
}

/// A `bytes=START-` or `bytes=START-END` range (END inclusive).
fn parse_range(range: Option<&str>) -> Option<(usize, Option<usize>)> {
    let (start, end) = range?.strip_prefix("bytes=")?.split_once('-')?;
    let end = if end.trim().is_empty() {
        None
    } else {
        Some(end.trim().parse().ok()?)
    };
    Some((start.trim().parse().ok()?, end))
}

fn respond(
    out: &mut impl Write,
    version: &Version,
    headers: &Headers,
    hit: usize,
) -> std::io::Result<(u16, u64)> {
    let body = &version.body[..];
    match &version.behavior {
        Behavior::Status(status) => return Ok((respond_status(out, *status, &[])?, 0)),
        Behavior::FailFirst { status, times } if hit <= *times => {
            return Ok((respond_status(out, *status, &[])?, 0));
        }
        Behavior::RetryAfter {
            status,
            value,
            times,
        } if hit <= *times => {
            return Ok((respond_status(out, *status, &[("Retry-After", value)])?, 0));
        }
        Behavior::Redirect { location } => {
            return Ok((respond_status(out, 302, &[("Location", location)])?, 0));
        }
        _ => {}
    }
    let validators = |head: &mut String| {
        if let Some(etag) = &version.etag {
            head.push_str(&format!("ETag: {etag}\r\n"));
        }
        if let Some(date) = &version.last_modified {
            head.push_str(&format!("Last-Modified: {date}\r\n"));
        }
    };
    // A conditional GET of a file that has not changed (RFC 9110, 13.1.2
    // and 13.1.3): `If-None-Match` decides when given.
    if matches!(version.behavior, Behavior::AlwaysNotModified) {
        return Ok((respond_status(out, 304, &[])?, 0));
    }
    let not_modified = match (&headers.if_none_match, &headers.if_modified_since) {
        (Some(tags), _) => version
            .etag
            .as_ref()
            .is_some_and(|etag| tags.split(',').any(|t| t.trim() == etag)),
        (None, Some(date)) => version.last_modified.as_deref() == Some(date.as_str()),
        (None, None) => false,
    };
    if not_modified {
        let mut head = format!("HTTP/1.1 304 {}\r\nConnection: close\r\n", reason(304));
        validators(&mut head);
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        return Ok((304, 0));
    }
    match &version.behavior {
        Behavior::ChunkedCut { after, range } => {
            return match (parse_range(headers.range.as_deref()), range) {
                (None, _) => {
                    let mut head = String::from(
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
                    );
                    validators(&mut head);
                    head.push_str("\r\n");
                    out.write_all(head.as_bytes())?;
                    let piece = &body[..(*after).min(body.len())];
                    write!(out, "{:x}\r\n", piece.len())?;
                    out.write_all(piece)?;
                    out.write_all(b"\r\n")?;
                    out.flush()?;
                    // Closed here, with no last chunk: cut off.
                    Ok((200, piece.len() as u64))
                }
                (Some((start, _)), RangeAnswer::Complete416 { etag }) => {
                    let mut head = format!(
                        "HTTP/1.1 416 {}\r\nContent-Range: bytes */{start}\r\nContent-Length: 0\r\nConnection: close\r\n",
                        reason(416)
                    );
                    if let Some(etag) = etag {
                        head.push_str(&format!("ETag: {etag}\r\n"));
                    }
                    head.push_str("\r\n");
                    out.write_all(head.as_bytes())?;
                    Ok((416, 0))
                }
                (Some((start, _)), RangeAnswer::UnknownTotal { len }) => {
                    let end = (start + len).min(body.len());
                    let mut head = format!(
                        "HTTP/1.1 206 {}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/*\r\nConnection: close\r\n",
                        reason(206),
                        end - start,
                        end - 1
                    );
                    validators(&mut head);
                    head.push_str("\r\n");
                    out.write_all(head.as_bytes())?;
                    out.write_all(&body[start..end])?;
                    Ok((206, (end - start) as u64))
                }
            };
        }
        Behavior::ChunkedHold { pause } => {
            let mut head = String::from(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
            );
            validators(&mut head);
            head.push_str("\r\n");
            out.write_all(head.as_bytes())?;
            write!(out, "{:x}\r\n", body.len())?;
            out.write_all(body)?;
            out.write_all(b"\r\n")?;
            out.flush()?;
            thread::sleep(*pause);
            return Ok((200, body.len() as u64));
        }
        _ => {}
    }
    if let Behavior::Oversize { extra } = version.behavior {
        // No length: the body ends when the connection closes, or when the
        // client hangs up; `sent` counts what the socket took.
        write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
        out.write_all(body)?;
        let mut sent = body.len() as u64;
        let filler = vec![b'x'; 64 * 1024];
        let mut left = extra;
        while left > 0 {
            let n = left.min(filler.len());
            if out.write_all(&filler[..n]).is_err() {
                break;
            }
            sent += n as u64;
            left -= n;
        }
        return Ok((200, sent));
    }
    // `If-Range` (RFC 9110, 13.1.5): the range only if the file is still
    // the one the client has the start of.
    let if_range_holds = headers.if_range.as_deref().is_none_or(|value| {
        !version.honour_if_range
            || version.etag.as_deref() == Some(value)
            || version.last_modified.as_deref() == Some(value)
    });
    let range = match (parse_range(headers.range.as_deref()), &version.behavior) {
        (_, Behavior::NoRange) | (None, _) => None,
        (Some(_), _) if !if_range_holds => None,
        (Some((start, _)), Behavior::Lying416) => {
            write!(
                out,
                "HTTP/1.1 416 {}\r\nContent-Range: bytes */{start}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                reason(416)
            )?;
            return Ok((416, 0));
        }
        (Some((start, _)), Behavior::ShortRanges { len }) if start < body.len() => {
            Some((start, (start + len).min(body.len()) - 1))
        }
        (Some((start, _)), _) if start >= body.len() => {
            write!(
                out,
                "HTTP/1.1 416 {}\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                reason(416),
                body.len()
            )?;
            return Ok((416, 0));
        }
        (Some((start, end)), _) => {
            Some((start, end.map_or(body.len() - 1, |e| e.min(body.len() - 1))))
        }
    };
    let slice_as_200 = matches!(version.behavior, Behavior::SliceAs200);
    let (status, start, end) = match range {
        Some((start, end)) if slice_as_200 => (200, start, end),
        Some((start, end)) => (206, start, end),
        None => (200, 0, body.len().saturating_sub(1)),
    };
    let len = if body.is_empty() { 0 } else { end + 1 - start };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {len}\r\nConnection: close\r\n",
        reason(status),
    );
    validators(&mut head);
    if !matches!(version.behavior, Behavior::NoRange) {
        head.push_str("Accept-Ranges: bytes\r\n");
    }
    if range.is_some() {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{end}/{}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    let rest = &body[start..start + len];
    let mut sent = 0u64;
    let mut send = |bytes: &[u8], out: &mut dyn Write| -> std::io::Result<()> {
        out.write_all(bytes)?;
        sent += bytes.len() as u64;
        Ok(())
    };
    match version.behavior {
        Behavior::CutShort { after, times } if hit <= times => {
            let _ = send(&rest[..after.min(rest.len())], out);
        }
        Behavior::Slow { chunk, delay } => {
            for piece in rest.chunks(chunk) {
                if send(piece, out).is_err() || out.flush().is_err() {
                    break;
                }
                thread::sleep(delay);
            }
        }
        Behavior::Stall {
            after,
            pause,
            times,
        } if hit <= times => {
            let _ = send(&rest[..after.min(rest.len())], out);
            out.flush()?;
            thread::sleep(pause);
            let _ = send(&rest[after.min(rest.len())..], out);
        }
        _ => {
            let _ = send(rest, out);
        }
    }
    let _ = out.flush();
    Ok((status, sent))
}
