//! `crp gc`: archive what no project needs, and remove what was archived.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::inspect::gc::{self, GcPlan, GcSettings};
use crate::policy::Policy;
use crate::progress::Reporter;
use crate::provenance::{EventLog, actor};
use crate::store::Store;

/// What to collect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// Archive what the plan says (and remove unfinished downloads).
    pub apply: bool,
    /// How long an unreferenced object is kept; else the store's setting.
    pub grace: Option<Duration>,
    /// Remove archived objects from cold storage...
    pub remove: bool,
    /// ... archived longer ago than this ...
    pub older_than: Option<Duration>,
    /// ... which takes this explicit consent.
    pub yes: bool,
}

/// What gc found and did.
#[derive(Debug)]
pub enum Outcome {
    /// There is no store at this path yet: nothing to collect.
    NoStore(PathBuf),
    /// `remove` without `yes`, with something to remove: the plan, and
    /// nothing done.
    NeedsConsent(GcPlan),
    Collected {
        plan: GcPlan,
        /// Whether anything was done (`apply`, or `remove` with `yes`).
        applied: bool,
        archived: Vec<Sha256Digest>,
        /// Objects `apply` left in the store: their copy did not verify.
        failed: Vec<gc::NotArchived>,
        removed: Vec<Sha256Digest>,
    },
}

/// Plans the collection of the store at `store` and, when asked, carries it
/// out under the store's exclusive lock (no sync runs meanwhile).
///
/// # Errors
/// A store, config, policy or record that cannot be read, a lock that
/// cannot be taken, or an archive or removal that fails.
pub async fn gc(
    store: Option<&Path>,
    request: Request,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Outcome> {
    let store = Store::open(store)?;
    if !store.check()? {
        return Ok(Outcome::NoStore(store.root().to_owned()));
    }
    let config = Config::load(store.root())?;
    let settings = GcSettings::resolve(&store, &config, request.grace)
        .map_err(crate::error::UsageError::new)?;
    // An archive shares nothing with a cache: removing from it must never
    // remove what projects fetch from.
    // Checked for a plan too, so that it never proposes what `--apply`
    // would refuse.
    if let Some(cold) = &settings.cold_remote {
        gc::allowed_by_policy(&store, cold).map_err(|err| {
            crate::error::UsageError::new(format!("`[gc] cold`: {err}")).hint(
                "give the archive an endpoint of a scheme the store's policy allows, or allow the scheme in `schemes`",
            )
        })?;
        for record in store.projects()? {
            // A project gone is no longer fetched for; one whose manifest
            // does not read might use this very bucket.
            let manifest = match crate::manifest::Manifest::load(&record.manifest) {
                Ok(manifest) => manifest,
                Err(crate::manifest::ManifestError::NotFound { .. }) => continue,
                Err(err) => {
                    return Err(crate::error::UsageError::new(format!(
                        "cannot tell whether `[gc] cold = \"{}\"` holds a remote of project `{}`: {err}",
                        cold.url, record.name
                    ))
                    .hint(format!(
                        "fix `{}` first (`crp plan` there shows what is wrong)",
                        record.manifest.display()
                    ))
                    .into());
                }
            };
            if let Some(remote) = manifest
                .project
                .remotes
                .iter()
                .find(|r| cold.url.holds(&r.url) || r.url.holds(&cold.url))
            {
                return Err(crate::error::UsageError::new(format!(
                    "`[gc] cold = \"{}\"` is where project `{}` keeps its remote `{}` ({}): archiving there and removing from it would take objects that project fetches",
                    cold.url, record.name, remote.name, remote.url
                ))
                .hint("give the archive a bucket or prefix of its own")
                .into());
            }
        }
    }
    let quota = Policy::load(store.root())?.limits.quota;
    let acting = request.apply || (request.remove && request.yes);
    // Acting plans under the store's exclusive lock: no sync runs meanwhile.
    let _lock = if acting {
        Some(
            store
                .lock_store_exclusive("collecting garbage", &*reporter)
                .await?,
        )
    } else {
        None
    };
    let plan = gc::plan(
        &store,
        &settings,
        quota,
        request.older_than.filter(|_| request.remove),
    )?;
    // Consent is asked for what would go; with nothing to remove, there
    // is nothing to consent to.
    if request.remove && !request.yes && !plan.remove.is_empty() {
        return Ok(Outcome::NeedsConsent(plan));
    }
    let events = EventLog::open(&store);
    let archiving = if request.apply && settings.cold_remote.is_some() {
        gc::archive_to_remote(&store, &settings, &plan, &events, Arc::clone(&reporter)).await?
    } else if request.apply {
        tokio::task::block_in_place(|| gc::archive(&store, &settings, &plan, &events))?
    } else {
        gc::Archiving::default()
    };
    if request.apply {
        gc::collect_parts(&plan)?;
    }
    let removed = if request.remove && request.yes {
        gc::remove(&store, &plan, &actor(), &events).await?
    } else {
        Vec::new()
    };
    Ok(Outcome::Collected {
        plan,
        applied: acting,
        archived: archiving.archived,
        failed: archiving.failed,
        removed,
    })
}
