//! `crp torrent daemon start|stop`: the store's private transmission-daemon.

use crate::cli::{DaemonCommand, Format, GlobalArgs};
use crate::config::Config;
use crate::error::ExitStatus;
use crate::report::{DaemonDocument, Printer, SCHEMA_VERSION};
use crate::store::Store;
use crate::torrent::daemon::{self, DaemonError, Peers};
use crate::torrent::{TorrentSettings, UrlOrigin};

pub(super) async fn daemon(
    global: &GlobalArgs,
    command: &DaemonCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::open(global.store.as_deref())?;
    store.create()?;
    let (state, running, message) = match command {
        DaemonCommand::Start(args) => {
            let config = Config::load(store.root())?;
            let settings = TorrentSettings::resolve(&store, &config)?;
            if matches!(settings.origin, UrlOrigin::Environment | UrlOrigin::Config) {
                return Err(DaemonError::Configured {
                    url: crate::source::redact_url(&settings.rpc_url),
                    origin: settings.origin.to_string(),
                }
                .into());
            }
            let peers = if args.loopback {
                Peers::Loopback
            } else {
                Peers::Everywhere
            };
            let started = daemon::start(&store, peers, args.rpc_port).await?;
            let verb = if started.already {
                "is already running"
            } else {
                "started"
            };
            let message = format!(
                "transmission-daemon {verb} for `{}` (pid {}, RPC {}); drop .torrent files into `{}`",
                store.root().display(),
                started.state.pid,
                started.state.rpc_url,
                store.watch_dir().display()
            );
            (Some(started.state), true, message)
        }
        DaemonCommand::Stop => match daemon::stop(&store).await? {
            Some(state) => {
                let message = format!("stopped transmission-daemon (pid {})", state.pid);
                (Some(state), false, message)
            }
            None => (
                None,
                false,
                "no private transmission-daemon runs for this store".to_owned(),
            ),
        },
    };
    match printer.format {
        Format::Json => printer.json(&DaemonDocument {
            schema_version: SCHEMA_VERSION,
            command: "torrent daemon".into(),
            running,
            pid: state.as_ref().map(|s| s.pid),
            rpc_url: state.map(|s| s.rpc_url.to_string()),
        }),
        _ => printer.out(message),
    }
    Ok(ExitStatus::Success)
}
