//! `crp remove NAME…`: take resources out of the manifest, and their links
//! out of the project. Their objects stay in the store, for `crp gc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::error::UsageError;
use serde::{Deserialize, Serialize};

use crate::execute::{LinkOutcome, UnlinkOutcome};
use crate::manifest::Manifest;
use crate::manifest::edit::{self, EditError};
use crate::name::Name;
use crate::progress::{Messages, Reporter};

use super::Session;
use super::sync::{Options, sync_locked};

/// What `crp remove` did.
#[derive(Debug, Clone)]
pub struct Removed {
    pub manifest: PathBuf,
    /// The entries taken out of the manifest.
    pub removed: Vec<Name>,
    /// What became of their links (and of any other link the project no
    /// longer wants).
    pub unlinked: Vec<UnlinkOutcome>,
    /// Links of the remaining resources that bringing the project in line
    /// made, replaced or removed (one the user deleted is made again; a
    /// denied resource's goes).
    pub relinked: Vec<LinkChange>,
}

/// A remaining resource's link that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    pub name: Name,
    pub path: PathBuf,
    pub link: LinkOutcome,
}

impl LinkChange {
    /// The links a sync made, replaced or removed, of its `resources`.
    pub fn made(resources: Vec<crate::execute::ResourceOutcome>) -> Vec<Self> {
        resources
            .into_iter()
            .filter(|r| {
                matches!(
                    r.link,
                    LinkOutcome::Created | LinkOutcome::Replaced | LinkOutcome::Removed
                )
            })
            .map(|r| Self {
                name: r.name,
                path: r.link_path,
                link: r.link,
            })
            .collect()
    }
}

/// Every one of `names` must be an entry of the manifest: else a usage
/// error naming the first that is not, with `hint`.
pub(super) fn known_names(manifest: &Manifest, names: &[String], hint: &str) -> anyhow::Result<()> {
    match names.iter().find(|n| manifest.resource(n).is_none()) {
        Some(name) => Err(UsageError::new(format!(
            "`{}` has no resource `{name}`",
            manifest.path.display()
        ))
        .hint(hint)
        .into()),
        None => Ok(()),
    }
}

/// Removes the entries `names` from the manifest at `manifest` (keeping
/// its formatting and comments), then brings the project in line without
/// the network: their links go, and the project's record no longer holds
/// their objects, which `crp gc` archives in time. Other links that this
/// changes are reported in [`Removed::relinked`].
///
/// # Errors
/// A name the manifest does not have, or a manifest that would no longer
/// be valid without them (another entry's `derived_from` names one): a
/// usage error, and nothing is written. A store that cannot be opened or
/// locked, or a manifest that cannot be written.
pub async fn remove(
    store: Option<&Path>,
    manifest: &Path,
    names: &[String],
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<Removed> {
    let manifest = Manifest::load(manifest)?;
    check_names(&manifest, names)?;
    let session = Session::for_project(
        store,
        &manifest,
        &format!(
            "removing resources from project `{}`",
            manifest.project.name
        ),
        reporter,
        messages,
    )
    .await?;
    // Re-read under the lock: the edit applies to the file as it is now.
    let manifest = manifest.reload()?;
    check_names(&manifest, names)?;
    let text = crate::manifest::read_text(&manifest.path)?;
    let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let edited = edit::remove_resources(&text, &wanted).map_err(|err| match err {
        EditError::NoSuchResource(_) => anyhow::Error::new(UsageError::new(err.to_string())),
        other => anyhow::Error::new(other),
    })?;
    let edited_manifest = Manifest::from_text(&manifest.path, edited.clone())
        .context("without them, the manifest would not be valid; nothing was changed")?;
    crate::manifest::write_text(&manifest.path, &edited)
        .with_context(|| format!("failed to write `{}`", manifest.path.display()))?;
    let report = sync_locked(&session, edited_manifest, &Options::offline()).await?;
    Ok(Removed {
        manifest: manifest.path.clone(),
        removed: wanted
            .iter()
            .filter_map(|n| manifest.resource(n).map(|r| r.name.clone()))
            .collect(),
        relinked: LinkChange::made(report.resources),
        unlinked: report.unlinked,
    })
}

/// Every name must be an entry of the manifest, and no entry that stays
/// may derive from one that goes.
fn check_names(manifest: &Manifest, names: &[String]) -> anyhow::Result<()> {
    known_names(
        manifest,
        names,
        "`crp status` lists the project's resources",
    )?;
    let going = |name: &Name| names.iter().any(|n| n == name.as_str());
    for resource in manifest.resources.iter().filter(|r| !going(&r.name)) {
        if let Some(parent) = resource.derived_from.iter().find(|p| going(p)) {
            return Err(UsageError::new(format!(
                "`{}` is derived from `{parent}`, which would be removed",
                resource.name
            ))
            .hint(format!(
                "remove `{}` too, or take `{parent}` out of its `derived_from` first",
                resource.name
            ))
            .into());
        }
    }
    Ok(())
}
