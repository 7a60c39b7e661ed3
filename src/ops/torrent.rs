//! `crp torrent daemon start|stop`: the store's private transmission-daemon.

use std::path::Path;

use crate::config::Config;
use crate::store::Store;
use crate::torrent::daemon::{self, DaemonError, DaemonState, Peers, Started};
use crate::torrent::{TorrentSettings, UrlOrigin};

/// Starts the store's private daemon (the store is created if needed),
/// unless one is configured elsewhere. Returns it, and the store.
///
/// # Errors
/// A daemon configured by `CRP_TRANSMISSION_URL` or the store's config, or
/// one that cannot be started.
pub async fn start(
    store: Option<&Path>,
    peers: Peers,
    rpc_port: Option<u16>,
) -> anyhow::Result<(Started, Store)> {
    let store = Store::open(store)?;
    store.create()?;
    let config = Config::load(store.root())?;
    let settings = TorrentSettings::resolve(&store, &config)?;
    if matches!(settings.origin, UrlOrigin::Environment | UrlOrigin::Config) {
        return Err(DaemonError::Configured {
            url: crate::source::redact_url(&settings.rpc_url),
            origin: settings.origin.to_string(),
        }
        .into());
    }
    let started = daemon::start(&store, peers, rpc_port).await?;
    Ok((started, store))
}

/// Stops the store's private daemon; `None` when none runs (as in a store
/// not made yet, which this leaves unmade).
///
/// # Errors
/// A folder that is not a store, or a daemon that cannot be stopped.
pub async fn stop(store: Option<&Path>) -> anyhow::Result<Option<DaemonState>> {
    let store = Store::open(store)?;
    if !store.check()? {
        return Ok(None);
    }
    Ok(daemon::stop(&store).await?)
}
