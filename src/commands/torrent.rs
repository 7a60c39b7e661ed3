//! `crp torrent daemon start|stop`: the store's private transmission-daemon.

use crate::cli::{DaemonCommand, GlobalArgs};
use crate::error::ExitStatus;
use crate::ops::torrent;
use crate::report::Printer;
use crate::torrent::daemon::Peers;

pub(super) async fn daemon(
    global: &GlobalArgs,
    command: &DaemonCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = global.store.as_deref();
    let (state, running, message) = match command {
        DaemonCommand::Start(args) => {
            let peers = if args.loopback {
                Peers::Loopback
            } else {
                Peers::Everywhere
            };
            let (started, store) = torrent::start(store, peers, args.rpc_port).await?;
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
        DaemonCommand::Stop => match torrent::stop(store).await? {
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
    crate::report::torrent::print(printer, state, running, message);
    Ok(ExitStatus::Success)
}
