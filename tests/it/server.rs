//! A real HTTP/1.1 server on 127.0.0.1 that can misbehave on demand.
//!
//! Every request is logged (path, `Range` header, status, body bytes sent) so
//! tests can check what crp actually asked for. [`Server::start_tls`] serves
//! HTTPS with the certificate in `tests/fixtures/tls` (for `127.0.0.1`,
//! signed by the test CA in `ca.pem`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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
}

#[derive(Debug, Clone)]
struct Route {
    body: Arc<Vec<u8>>,
    behavior: Behavior,
    etag: String,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    /// Body bytes written to the socket.
    pub sent: u64,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
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

    /// Serves `body` at `path`.
    pub fn route(&self, path: &str, body: impl Into<Vec<u8>>, behavior: Behavior) {
        let body = body.into();
        let etag = format!(
            "\"{:x}\"",
            body.len() * 31 + body.first().copied().unwrap_or(0) as usize
        );
        self.state.lock().unwrap().routes.insert(
            format!("/{}", path.trim_start_matches('/')),
            Route {
                body: Arc::new(body),
                behavior,
                etag,
            },
        );
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// The requests for one path.
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

fn serve<S: Read + Write>(mut stream: S, state: &Mutex<State>) -> std::io::Result<()> {
    // A GET has no body: once the headers are read, the buffer holds nothing
    // more and can go.
    let (path, range) = {
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // Routes and the log go by path; a tracker's query string is not
        // part of it.
        let target = line.split_whitespace().nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let mut range = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_owned());
            }
        }
        (path, range)
    };
    let (route, hit) = {
        let mut state = state.lock().unwrap();
        let hit = {
            let n = state.hits.entry(path.clone()).or_default();
            *n += 1;
            *n
        };
        (state.routes.get(&path).cloned(), hit)
    };
    let out = &mut stream;
    let (status, sent) = match route {
        None => (respond_status(out, 404)?, 0),
        Some(route) => respond(out, &route, range.as_deref(), hit)?,
    };
    state.lock().unwrap().log.push(Logged {
        path,
        range,
        status,
        sent,
    });
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn respond_status(out: &mut impl Write, status: u16) -> std::io::Result<u16> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        reason(status)
    )?;
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
    route: &Route,
    range: Option<&str>,
    hit: usize,
) -> std::io::Result<(u16, u64)> {
    let body = &route.body[..];
    match route.behavior {
        Behavior::Status(status) => return Ok((respond_status(out, status)?, 0)),
        Behavior::FailFirst { status, times } if hit <= times => {
            return Ok((respond_status(out, status)?, 0));
        }
        _ => {}
    }
    if let Behavior::Oversize { extra } = route.behavior {
        // No length: the body ends when the connection closes.
        write!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
        out.write_all(body)?;
        let filler = vec![b'x'; extra];
        let _ = out.write_all(&filler);
        return Ok((200, (body.len() + extra) as u64));
    }
    let range = match (parse_range(range), &route.behavior) {
        (_, Behavior::NoRange) | (None, _) => None,
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
    let (status, start, end) = match range {
        Some((start, end)) => (206, start, end),
        None => (200, 0, body.len().saturating_sub(1)),
    };
    let len = if body.is_empty() { 0 } else { end + 1 - start };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {len}\r\nETag: {}\r\nConnection: close\r\n",
        reason(status),
        route.etag
    );
    if !matches!(route.behavior, Behavior::NoRange) {
        head.push_str("Accept-Ranges: bytes\r\n");
    }
    if status == 206 {
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
    match route.behavior {
        Behavior::CutShort { after, times } if hit <= times => {
            let _ = send(&rest[..after.min(rest.len())], out);
        }
        Behavior::Slow { chunk, delay } => {
            for piece in rest.chunks(chunk) {
                if send(piece, out).is_err() {
                    break;
                }
                out.flush()?;
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
