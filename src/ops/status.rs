//! `crp plan`, `crp status` and `crp sync --dry-run`: the plan, judged,
//! changing nothing; and where torrents stand in the daemon.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::manifest::{Manifest, Resource};
use crate::name::Name;
use crate::plan::Plan;
use crate::progress::{Messages, Reporter};
use crate::source::Source;
use crate::store::Store;
use crate::torrent::{Daemon, TorrentSettings, TorrentState, info_hash_of_file};

use super::Session;

/// Torrent resources' states for `crp status`, as far as the daemon told.
#[derive(Debug, Clone, Default)]
pub struct TorrentStates {
    pub states: BTreeMap<Name, TorrentState>,
    /// Why the daemon could not be asked, if it could not.
    pub error: Option<String>,
}

/// `crp plan`: the plan of the manifest at `manifest`, judged, changing
/// nothing (see [`Session::read_only_plan`]).
///
/// # Errors
/// An invalid manifest, or a store, policy, ledger or record that cannot be
/// read.
pub fn plan(
    store: Option<&Path>,
    manifest: &Path,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Plan> {
    let manifest = Manifest::load(manifest)?;
    let session = Session::read_only(store, reporter, messages)?;
    let plan = session.read_only_plan(&manifest, &[])?;
    session.check_remotes(&manifest, &plan)?;
    Ok(plan)
}

/// `crp status`: the plan, and where each torrent resource stands in the
/// daemon.
///
/// # Errors
/// As [`plan`]; a daemon that cannot be asked is said in the states.
pub async fn status(
    store: Option<&Path>,
    manifest: &Path,
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<(Plan, TorrentStates)> {
    let manifest = Manifest::load(manifest)?;
    let session = Session::read_only(store, reporter, messages)?;
    let plan = session.read_only_plan(&manifest, &[])?;
    session.check_remotes(&manifest, &plan)?;
    let torrents = torrent_states(store, &manifest, &plan).await;
    Ok((plan, torrents))
}

/// Asks the daemon about every resource with a torrent source: how far a
/// missing one got, and whether a present one is seeding. Without torrent
/// resources the daemon is not contacted; an unreachable one is a note.
async fn torrent_states(store: Option<&Path>, manifest: &Manifest, plan: &Plan) -> TorrentStates {
    let wanted: Vec<(&Resource, Vec<String>)> = manifest
        .resources
        .iter()
        .filter(|r| r.needs_torrent())
        .map(|r| (r, info_hashes(r)))
        .collect();
    let mut out = TorrentStates::default();
    if wanted.is_empty() {
        return out;
    }
    let Ok(store) = Store::locate(store).map(Store::at) else {
        return out;
    };
    let records = store.torrent_records();
    let settings = match Config::load(store.root())
        .map_err(anyhow::Error::from)
        .and_then(|config| Ok(TorrentSettings::resolve(&store, &config)?))
    {
        Ok(settings) => settings,
        Err(err) => {
            out.error = Some(err.to_string());
            return out;
        }
    };
    let daemon = match Daemon::connect(&settings).await {
        Ok(daemon) => daemon,
        Err(err) => {
            out.error = Some(match err.hint() {
                Some(hint) => format!("{err}; {hint}"),
                None => err.to_string(),
            });
            return out;
        }
    };
    for (resource, mut hashes) in wanted {
        let present = plan
            .resources
            .iter()
            .any(|p| p.name == resource.name && p.present);
        // A `.torrent` fetched from a URL is known by the record of it.
        for entry in &resource.sources {
            let shown = entry.source.to_string();
            hashes.extend(
                records
                    .iter()
                    .filter(|r| r.source == shown)
                    .map(|r| r.info_hash.clone()),
            );
        }
        let mut state = None;
        for hash in hashes {
            if let Ok(Some(view)) = daemon.get(&hash).await {
                state = Some(view.state());
                break;
            }
        }
        let state = match state {
            Some(state) => state,
            None if present => TorrentState::available(),
            None => continue,
        };
        out.states.insert(resource.name.clone(), state);
    }
    out
}

/// The info-hashes a resource's torrent sources name, as far as known
/// without the network: a magnet's, a local `.torrent` file's.
fn info_hashes(resource: &Resource) -> Vec<String> {
    resource
        .sources
        .iter()
        .filter_map(|entry| match &entry.source {
            Source::Magnet(magnet) => Some(magnet.info_hash.clone()),
            Source::Torrent(file) => match &**file {
                Source::File(path) => info_hash_of_file(path),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
