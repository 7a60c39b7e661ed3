//! The store's private transmission-daemon: `crp torrent daemon start|stop`.
//!
//! Its configuration lives in `<store>/meta/transmission/` (the daemon's
//! `-g` folder), it downloads into `<store>/.incomplete/torrents/`, watches
//! `<store>/watch/` for `.torrent` files, runs `crp hook torrent-done` when
//! a torrent completes, and answers RPC on 127.0.0.1 only. What crp started
//! is in `crp-daemon.json` beside its settings, so `stop` stops exactly that
//! process and other commands find its URL.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::fsutil;
use crate::store::Store;

/// The daemon crp started for a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: i32,
    pub rpc_url: Url,
    pub peer_port: u16,
}

/// Why the private daemon could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("crp is configured to use the transmission-daemon at {url} (from {origin})")]
    Configured { url: String, origin: String },
    #[error("`transmission-daemon` is not installed")]
    NotInstalled,
    #[error("transmission-daemon did not answer on {url} within 10 s; its log is `{}`", log.display())]
    NoAnswer { url: String, log: PathBuf },
    #[error("failed to start transmission-daemon")]
    Io(#[from] std::io::Error),
}

impl DaemonError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Configured { .. } => Some(format!(
                "a private daemon is for stores without one; to use it instead, unset `{}` and remove `rpc_url` from the store's config.toml",
                super::URL_ENV
            )),
            Self::NotInstalled => {
                Some("install it, e.g. `apt-get install transmission-daemon`".into())
            }
            _ => None,
        }
    }
}

/// The daemon's `-g` folder.
pub fn config_dir(store: &Store) -> PathBuf {
    store.root().join("meta").join("transmission")
}

fn state_path(store: &Store) -> PathBuf {
    config_dir(store).join("crp-daemon.json")
}

/// The private daemon's state, if it is running.
pub fn running(store: &Store) -> Option<DaemonState> {
    let state: DaemonState = serde_json::from_slice(
        &crate::fsutil::read_regular(&state_path(store), crate::store::MAX_RECORD).ok()?,
    )
    .ok()?;
    alive(state.pid).then_some(state)
}

/// The private daemon's RPC URL, if it is running.
pub fn running_url(store: &Store) -> Option<Url> {
    running(store).map(|s| s.rpc_url)
}

fn alive(pid: i32) -> bool {
    // A zombie has no command line; a recycled pid has another one.
    fs_err::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains("transmission-daemon"))
}

/// How the private daemon meets peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// Listen on every interface, with DHT and peer exchange.
    Everywhere,
    /// Listen on 127.0.0.1 only, no DHT, local discovery, peer exchange or
    /// port forwarding: for tests and air-gapped machines.
    Loopback,
}

/// What `start` did.
#[derive(Debug, Clone)]
pub struct Started {
    pub state: DaemonState,
    /// It was running already.
    pub already: bool,
}

/// Starts the store's private daemon, unless it runs already.
pub async fn start(
    store: &Store,
    peers: Peers,
    rpc_port: Option<u16>,
) -> Result<Started, DaemonError> {
    if let Some(state) = running(store) {
        return Ok(Started {
            state,
            already: true,
        });
    }
    let program = which("transmission-daemon").ok_or(DaemonError::NotInstalled)?;
    let config = config_dir(store);
    let downloads = store.incomplete_dir().join("torrents");
    for dir in [&config, &downloads, &store.watch_dir()] {
        fs_err::create_dir_all(dir)?;
    }
    // A port found free may be taken by another program before the daemon
    // binds it; the daemon then exits at once, and is started again on
    // ports found free again (a port given that is taken fails each time).
    let mut attempt = 0;
    loop {
        attempt += 1;
        let rpc_port = match rpc_port {
            None => free_port(9091)?,
            Some(0) => free_port(0)?,
            Some(port) => port,
        };
        let peer_port = free_port(if peers == Peers::Loopback { 0 } else { 51413 })?;
        let hook = write_hook(store, &config)?;
        let loopback = peers == Peers::Loopback;
        let settings = serde_json::json!({
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-whitelist-enabled": true,
            "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": false,
            "rpc-authentication-required": false,
            "bind-address-ipv4": if loopback { "127.0.0.1" } else { "0.0.0.0" },
            "bind-address-ipv6": "::1",
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "port-forwarding-enabled": !loopback,
            "dht-enabled": !loopback,
            "lpd-enabled": false,
            "pex-enabled": !loopback,
            "utp-enabled": !loopback,
            "download-dir": downloads,
            "incomplete-dir-enabled": false,
            "rename-partial-files": true,
            "start-added-torrents": true,
            "download-queue-enabled": false,
            "seed-queue-enabled": false,
            "queue-stalled-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "message-level": 2,
            "umask": 18,
            "script-torrent-done-enabled": true,
            "script-torrent-done-filename": hook,
            "watch-dir-enabled": true,
            "watch-dir": store.watch_dir(),
            "trash-original-torrent-files": false,
        });
        fsutil::write_atomic(
            &config.join("settings.json"),
            serde_json::to_string_pretty(&settings)
                .expect("settings serialize")
                .as_bytes(),
        )?;
        let log = config.join("daemon.log");
        let mut command = Command::new(&program);
        command
            .args(["-f", "-g"])
            .arg(&config)
            .arg("-e")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Loopback web seeds and trackers must not go through a proxy.
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1")
            .env(crate::store::STORE_ENV, store.root());
        // Its own process group: a Ctrl-C meant for crp does not stop it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn()?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let rpc_url = Url::parse(&format!("http://127.0.0.1:{rpc_port}/transmission/rpc"))
            .expect("a valid URL");
        let state = DaemonState {
            pid,
            rpc_url: rpc_url.clone(),
            peer_port,
        };
        fsutil::write_atomic(
            &state_path(store),
            serde_json::to_string_pretty(&state)
                .expect("state serializes")
                .as_bytes(),
        )?;
        let waited = wait_for_answer(pid, rpc_port).await;
        if waited == Waited::Answered {
            return Ok(Started {
                state,
                already: false,
            });
        }
        // Leave nothing behind that nobody will stop.
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = fs_err::remove_file(state_path(store));
        if !(waited == Waited::Exited && attempt < 3) {
            return Err(DaemonError::NoAnswer {
                url: rpc_url.to_string(),
                log,
            });
        }
    }
}

/// How a daemon's start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// Its RPC port takes connections.
    Answered,
    /// It exited first (a port it could not bind, a bad setting).
    Exited,
    /// It neither answered nor exited within 10 s.
    TimedOut,
}

/// Waits for the daemon `pid` to take connections on `rpc_port`: within a
/// fraction of a second when all is well.
async fn wait_for_answer(pid: i32, rpc_port: u16) -> Waited {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", rpc_port)).is_ok() {
            return Waited::Answered;
        }
        if !alive(pid) {
            return Waited::Exited;
        }
        if Instant::now() >= deadline {
            return Waited::TimedOut;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the daemon `start` started; `None` when it was not running.
pub async fn stop(store: &Store) -> Result<Option<DaemonState>, DaemonError> {
    let Some(state) = running(store) else {
        let _ = fs_err::remove_file(state_path(store));
        return Ok(None);
    };
    let pid = rustix::process::Pid::from_raw(state.pid)
        .ok_or_else(|| std::io::Error::other("invalid pid"))?;
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    // It saves its state and says goodbye to trackers: about a second.
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(state.pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if alive(state.pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    let _ = fs_err::remove_file(state_path(store));
    Ok(Some(state))
}

/// The completion script: runs this crp's `hook torrent-done` for the store.
fn write_hook(store: &Store, config: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe()?;
    let script = format!(
        "#!/bin/sh\n# Written by `crp torrent daemon start`: ingests finished torrents into the store.\nexec {} --store {} hook torrent-done\n",
        fsutil::shell_quote(&exe.to_string_lossy()),
        fsutil::shell_quote(&store.root().to_string_lossy())
    );
    let path = config.join("torrent-done.sh");
    fsutil::write_atomic(&path, script.as_bytes())?;
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// `preferred` if nothing listens there, else any free port.
fn free_port(preferred: u16) -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind(("127.0.0.1", 0)))?;
    Ok(listener.local_addr()?.port())
}

fn which(program: &str) -> Option<PathBuf> {
    crate::settings::var_os(crate::settings::PATH).and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}
