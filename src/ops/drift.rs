//! `crp drift`: how reality differs from the declarations. Read-only:
//! nothing is created or written, not even a store.

use std::path::{Path, PathBuf};

use crate::inspect::drift::{self, DriftReport, Options};
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::policy::approval::Ledger;
use crate::progress::Messages;
use crate::store::Store;

/// What to look at.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Re-hash every object the projects use.
    pub verify: bool,
    /// Ask each source whether its content changed.
    pub upstream: bool,
    /// Every project the store knows, not only the manifest's.
    pub all_projects: bool,
    /// The manifest was named on the command line: with `all_projects`,
    /// where it is only looked at for its ignore file, it must still read.
    pub manifest_given: bool,
    /// The ignore file; else the project's own, if it has one.
    pub ignore: Option<PathBuf>,
    /// Ask this remote (`""` for the first) which pinned objects it lacks.
    pub remote: Option<String>,
}

/// The drift of the project whose manifest is at `manifest` (or of every
/// project the store knows), sorted, with what the ignore file accepts set
/// apart. A project whose manifest no longer loads is skipped with a
/// warning.
///
/// # Errors
/// A store, manifest, policy, ledger, record or ignore file that cannot be
/// read.
pub async fn drift(
    store: Option<&Path>,
    manifest: &Path,
    request: &Request,
    messages: &dyn Messages,
) -> anyhow::Result<DriftReport> {
    let store = Store::open(store)?;
    // Nothing is created or written, not even a store.
    let exists = store.check()?;
    let policy = Policy::load(store.root())?;
    let ledger = if exists {
        Ledger::load(&store)?
    } else {
        Ledger::default()
    };
    let options = Options {
        verify: request.verify,
        upstream: request.upstream,
    };
    let mut report = DriftReport {
        store: store.root().to_owned(),
        projects: Vec::new(),
        verified: request.verify,
        upstream_checked: request.upstream,
        remote_checked: None,
        items: Vec::new(),
        ignored: Vec::new(),
    };
    let mut ignore_default = None;
    // The manifests looked at, for `--remote`.
    let mut manifests = Vec::new();
    if request.all_projects {
        for record in store.projects()? {
            if !record.manifest.exists() {
                continue;
            }
            match Manifest::load(&record.manifest) {
                Ok(manifest) => {
                    report.projects.push(record.name.to_string());
                    manifests.push(manifest.clone());
                    report.items.extend(
                        drift::project_drift(
                            &store,
                            &manifest,
                            Some(&record),
                            &policy,
                            &ledger,
                            options,
                        )
                        .await?,
                    );
                }
                Err(err) => messages.warn(&format!(
                    "skipped project `{}`: {}",
                    record.name,
                    crate::fetch::error_text(&err)
                )),
            }
        }
        report.items.extend(drift::store_drift(&store)?);
        let here = match request.manifest_given {
            true => Some(Manifest::load(manifest)?),
            false => Manifest::load(manifest).ok(),
        };
        if let Some(manifest) = here {
            ignore_default = Some(manifest.dir.join(drift::IGNORE_FILE));
        }
    } else {
        let manifest = Manifest::load(manifest)?;
        let record = if exists {
            crate::plan::previous_record(&store, &manifest)?
        } else {
            None
        };
        report.projects.push(manifest.project.name.to_string());
        report.items.extend(
            drift::project_drift(
                &store,
                &manifest,
                record.as_ref(),
                &policy,
                &ledger,
                options,
            )
            .await?,
        );
        ignore_default = Some(manifest.dir.join(drift::IGNORE_FILE));
        manifests.push(manifest);
    }
    if let Some(name) = &request.remote {
        let name = Some(name.as_str()).filter(|n| !n.is_empty());
        let check = super::remote::lacking(Some(store.root()), &manifests, name).await?;
        report.remote_checked = Some(drift::RemoteChecked {
            remote: check.remote.clone(),
            url: check.url.clone(),
            objects: check.checked,
        });
        for lacking in check.lacking {
            let (project, name) = match manifests.len() {
                1 => (
                    Some(manifests[0].project.name.to_string()),
                    lacking.resources[0].clone(),
                ),
                _ => match lacking.resources[0].split_once('/') {
                    Some((p, n)) => (Some(p.to_owned()), n.to_owned()),
                    None => (None, lacking.resources[0].clone()),
                },
            };
            let mut item = drift::Item::new(
                drift::Category::NotOnRemote,
                format!(
                    "remote `{}` ({}) lacks it; `crp push --remote {}` from a store that has it uploads it",
                    check.remote, check.url, check.remote
                ),
            );
            item.project = project;
            item.name = Some(name);
            item.sha256 = Some(lacking.sha256);
            report.items.push(item);
        }
    }
    let ignores = match (&request.ignore, ignore_default) {
        (Some(path), _) => drift::read_ignores(path, true)?,
        (None, Some(path)) => drift::read_ignores(&path, false)?,
        (None, None) => Vec::new(),
    };
    report.apply_ignores(&ignores);
    report
        .items
        .sort_by(|a, b| (a.category, &a.project, &a.name).cmp(&(b.category, &b.project, &b.name)));
    Ok(report)
}
