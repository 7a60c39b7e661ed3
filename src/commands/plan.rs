//! `crp plan`, `crp status` and `crp sync --dry-run`: the plan, changing nothing.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::error::ExitStatus;
use crate::manifest::Manifest;
use crate::manifest::Resource;
use crate::plan::{Plan, plan};
use crate::report::{Printer, TorrentStates};
use crate::source::Source;
use crate::store::Store;
use crate::torrent::{Daemon, TorrentSettings, TorrentState, info_hash_of_file};

/// How to show the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Plan,
    Status,
}

pub(super) async fn run(
    global: &GlobalArgs,
    printer: &Printer,
    view: View,
) -> anyhow::Result<ExitStatus> {
    let manifest = Manifest::load(&global.manifest)?;
    let plan = read_only_plan(global, &manifest, &[], printer)?;
    match view {
        View::Plan => printer.plan(&plan),
        View::Status => {
            let torrents = torrent_states(global, &manifest, &plan).await;
            printer.status(&plan, &torrents);
        }
    }
    Ok(ExitStatus::Success)
}

/// Asks the daemon about every resource with a torrent source: how far a
/// missing one got, and whether a present one is seeding. Without torrent
/// resources the daemon is not contacted; an unreachable one is a note.
async fn torrent_states(global: &GlobalArgs, manifest: &Manifest, plan: &Plan) -> TorrentStates {
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
    let Ok(store) = Store::locate(global.store.as_deref()).map(Store::at) else {
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

/// Plans, with each resource's verdict, without writing anything, not even
/// a new store.
pub(super) fn read_only_plan(
    global: &GlobalArgs,
    manifest: &Manifest,
    approvals: &[std::path::PathBuf],
    printer: &Printer,
) -> anyhow::Result<Plan> {
    let store = Store::open(global.store.as_deref())?;
    let previous = if store.check()? {
        crate::plan::previous_record(&store, manifest)?
    } else {
        None
    };
    let mut plan = plan(manifest, &store, previous.as_ref());
    let policy = crate::policy::Policy::load(store.root())?;
    let ledger = super::ledger(&store, &policy, approvals, printer)?;
    super::judge(
        &store,
        &policy,
        &ledger,
        manifest,
        &mut plan,
        previous.as_ref(),
        None,
    )?;
    Ok(plan)
}
