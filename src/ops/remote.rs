//! `crp remote add|list|remove` and `crp push`: configuring remotes, and
//! uploading objects to one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::digest::Sha256Digest;
use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::manifest::edit::{self, EditError};
use crate::progress::Reporter;
use crate::remote::{Origin, Remote, RemoteConfig};
use crate::s3::push::{PushError, Pushed, Pusher};
use crate::s3::{Client, RemoteError};
use crate::store::Store;

/// Where `crp remote add|remove` writes.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// The store's configuration.
    Store(Option<&'a Path>),
    /// The manifest's `[[project.remote]]`, checked in with the project
    /// (and the store that holds the project's lock).
    Project(&'a Path, Option<&'a Path>),
}

/// Adds a remote; returns the file written.
///
/// # Errors
/// A remote of that name already there, a file that is not TOML, and a
/// result that would not be valid.
pub async fn add(
    place: Place<'_>,
    remote: &RemoteConfig,
    reporter: Arc<dyn Reporter>,
    messages: &dyn crate::progress::Messages,
) -> anyhow::Result<PathBuf> {
    edit_place(place, reporter, messages, |text, at| {
        edit::add_remote(text, at, remote)
    })
    .await
}

/// Removes a remote; returns the file written.
///
/// # Errors
/// No remote of that name there, and a file that cannot be edited.
pub async fn remove(
    place: Place<'_>,
    name: &str,
    reporter: Arc<dyn Reporter>,
    messages: &dyn crate::progress::Messages,
) -> anyhow::Result<PathBuf> {
    edit_place(place, reporter, messages, |text, at| {
        edit::remove_remote(text, at, name)
    })
    .await
}

/// Edits the file under a lock (the project's, or the store
/// configuration's), re-read under it, and writes it whole only if the
/// result is valid.
async fn edit_place(
    place: Place<'_>,
    reporter: Arc<dyn Reporter>,
    messages: &dyn crate::progress::Messages,
    edit: impl Fn(&str, &[&str]) -> Result<String, EditError>,
) -> anyhow::Result<PathBuf> {
    let project = matches!(place, Place::Project(..));
    let usage = |err: EditError| {
        match err {
        EditError::Syntax(_) => anyhow::Error::new(err),
        EditError::NoSuchRemote(_) if !project => anyhow::Error::new(
            UsageError::new(format!("{err} (in the store's configuration)")).hint(
                "`crp remote list` shows where each remote is configured; one in `resources.toml` is removed with `--project`",
            ),
        ),
        other => anyhow::Error::new(
            UsageError::new(other.to_string())
                .hint("`crp remote list` shows the remotes and where each is configured"),
        ),
    }
    };
    match place {
        Place::Project(path, store) => {
            let manifest = Manifest::load(path)?;
            let _session = super::Session::for_project(
                store,
                &manifest,
                &format!("editing the remotes of project `{}`", manifest.project.name),
                reporter,
                messages,
            )
            .await?;
            let manifest = manifest.reload()?;
            let text = crate::manifest::read_text(&manifest.path)?;
            let edited = edit(&text, &["project", "remote"]).map_err(usage)?;
            Manifest::from_text(&manifest.path, edited.clone())
                .context("the edited manifest would not be valid; nothing was changed")?;
            crate::manifest::write_text(&manifest.path, &edited)
                .with_context(|| format!("failed to write `{}`", manifest.path.display()))?;
            Ok(manifest.path)
        }
        Place::Store(flag) => {
            let store = Store::open(flag)?;
            // A store not made yet has no remote to remove: the edit of
            // nothing says so, and nothing is made.
            if !store.check()? {
                edit("", &["remote"]).map_err(usage)?;
            }
            store.create()?;
            let _lock = store
                .lock_config("editing the store's configuration", &*reporter)
                .await?;
            // A configuration that does not read is reported as such,
            // where it is wrong.
            Config::load(store.root())?;
            let path = crate::config::path(store.root());
            let text = crate::config::read_toml_text(&path)?.unwrap_or_default();
            let edited = edit(&text, &["remote"]).map_err(usage)?;
            crate::config::parse_toml::<Config>(
                &path,
                &edited,
                "the edited configuration would not be valid; nothing was changed",
                None,
            )?;
            crate::fsutil::write_atomic(&path, edited.as_bytes())
                .with_context(|| format!("failed to write `{}`", path.display()))?;
            Ok(path)
        }
    }
}

/// One remote as `crp remote list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub url: String,
    pub endpoint: String,
    pub region: String,
    pub path_style: bool,
    /// `project` or `store`.
    pub configured_in: Origin,
    /// Where its credentials come from (never the credentials).
    pub credentials: String,
}

/// The remotes a project (when there is a manifest) and the store use, in
/// the order they are tried.
///
/// # Errors
/// An invalid manifest or store configuration.
pub fn list(store: Option<&Path>, manifest: Option<&Path>) -> anyhow::Result<Vec<Listed>> {
    let remotes = configured(store, manifest)?;
    Ok(remotes
        .into_iter()
        .map(|remote| {
            let credentials = match crate::s3::credentials::find(remote.profile.as_deref()) {
                Ok(found) => found.origin,
                Err(err) => format!("missing: {err}"),
            };
            Listed {
                name: remote.name.to_string(),
                url: remote.url.to_string(),
                endpoint: remote.endpoint.to_string(),
                region: remote.region.clone(),
                path_style: remote.path_style,
                configured_in: remote.origin,
                credentials,
            }
        })
        .collect())
}

/// The remotes of the manifest (if any) and the store.
fn configured(store: Option<&Path>, manifest: Option<&Path>) -> anyhow::Result<Vec<Remote>> {
    let project = match manifest {
        Some(path) => Manifest::load(path)?.project.remotes,
        None => Vec::new(),
    };
    let store = Store::open(store)?;
    // A folder that is not a store has no configuration to read.
    store.check()?;
    let config = Config::load(store.root())?;
    Ok(crate::remote::configured(&project, &config.remotes).map_err(UsageError::new)?)
}

/// The remote `name`, or the first one configured.
///
/// # Errors
/// No remote configured, or none of that name.
pub fn choose(remotes: Vec<Remote>, name: Option<&str>) -> Result<Remote, UsageError> {
    let names: Vec<String> = remotes.iter().map(|r| format!("`{}`", r.name)).collect();
    match name {
        Some(name) => remotes
            .into_iter()
            .find(|r| r.name.as_str() == name)
            .ok_or_else(|| {
                UsageError::new(format!("there is no remote `{name}`")).hint(
                    match names.is_empty() {
                        true => "add one with `crp remote add NAME s3://BUCKET/PREFIX --endpoint URL`".to_owned(),
                        false => format!("the remotes are {}", names.join(", ")),
                    },
                )
            }),
        None => remotes.into_iter().next().ok_or_else(|| {
            UsageError::new("no remote is configured").hint(
                "add one with `crp remote add NAME s3://BUCKET/PREFIX --endpoint URL` (`--project` to check it in with the project)",
            )
        }),
    }
}

/// Above this many objects, a push lists the remote once rather than
/// asking of each object.
const LIST_ABOVE: usize = 32;

/// What `crp push` is asked to do.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub remote: Option<String>,
    /// Every object in the store, not only the project's.
    pub all: bool,
    /// Transfers at once.
    pub jobs: usize,
}

/// What became of one object.
#[derive(Debug, Clone, Serialize)]
pub struct PushedObject {
    /// The resources of the project that use it (empty with `--all`).
    pub resources: Vec<String>,
    pub sha256: Sha256Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `uploaded`, `present` (the remote had it), `missing` (not in this
    /// store), `failed`, or `stopped` (not done: the push stopped, see
    /// [`PushReport::stopped`]).
    pub result: PushResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushResult {
    Uploaded,
    Present,
    Missing,
    Failed,
    Stopped,
}

/// What `crp push` did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub remote: String,
    pub url: String,
    pub objects: Vec<PushedObject>,
    /// Bytes sent.
    pub uploaded_bytes: u64,
    /// Why the push stopped before every object was done: the remote
    /// refused something every object needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

/// An error that stopped a push, with what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Uploads the project's objects (or, with `all`, every object of the
/// store) that the remote lacks.
///
/// # Errors
/// An invalid manifest, no such remote, and a remote that cannot be used
/// at all (unreachable, credentials refused, no bucket); one object's
/// failure is in the report instead.
pub async fn push(
    store_flag: Option<&Path>,
    manifest: Option<&Path>,
    options: &PushOptions,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<PushReport> {
    let manifest = match manifest {
        Some(path) => Some(Manifest::load(path)?),
        None => None,
    };
    let store = Store::open(store_flag)?;
    // Checked before its configuration is read: a folder that is not a
    // store has none.
    let exists = store.check()?;
    let config = Config::load(store.root())?;
    let project_remotes = manifest.as_ref().map(|m| m.project.remotes.clone());
    let remotes = crate::remote::configured(
        project_remotes.as_deref().unwrap_or_default(),
        &config.remotes,
    )
    .map_err(UsageError::new)?;
    let remote = choose(remotes, options.remote.as_deref())?;
    allowed_by_policy(&store, &remote)?;
    let client = Client::new(&remote)?;
    if !exists {
        return Ok(empty_report(&remote));
    }
    client.check().await?;
    // Garbage collection waits while objects are read.
    let _store_lock = store
        .lock_store_shared(&format!("pushing to remote `{}`", remote.name), &*reporter)
        .await?;
    let mut wanted: Vec<(Sha256Digest, Vec<String>)> = Vec::new();
    match (&manifest, options.all) {
        (_, true) => {
            for digest in store.object_digests()? {
                wanted.push((digest, Vec::new()));
            }
        }
        (Some(manifest), false) => {
            for resource in &manifest.resources {
                let Some(digest) = resource.sha256 else {
                    continue;
                };
                match wanted.iter_mut().find(|(d, _)| *d == digest) {
                    Some((_, names)) => names.push(resource.name.to_string()),
                    None => wanted.push((digest, vec![resource.name.to_string()])),
                }
            }
        }
        (None, false) => unreachable!("a manifest is loaded without `--all`"),
    }
    // Many objects: what the remote holds is listed once (a request per
    // thousand keys), and only the keys it lists are asked about.
    let listed = match wanted.len() > LIST_ABOVE {
        true => listing(&client).await?.map(Arc::new),
        false => None,
    };
    let pusher = Pusher {
        client,
        store: store.clone(),
        slots: Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1))),
        reporter,
        listed,
    };
    let mut objects: Vec<Option<PushedObject>> = vec![None; wanted.len()];
    let mut set = tokio::task::JoinSet::new();
    let mut queue = wanted.iter().cloned().enumerate();
    let window = options.jobs.max(1) * 2;
    let mut uploaded_bytes = 0;
    // An error every object would meet (no credentials, writes denied, the
    // bucket gone) stops the push at once, and is said once, not once per
    // object. What is under way is given up: a multipart upload resumes at
    // the next push, and an object whose record was not written is
    // written again.
    let mut stopped: Option<RemoteError> = None;
    loop {
        while stopped.is_none() && set.len() < window {
            let Some((i, (digest, resources))) = queue.next() else {
                break;
            };
            let record = match store.has_object(&digest) {
                true => store.read_object_record(&digest)?,
                false => None,
            };
            let Some(record) = record else {
                objects[i] = Some(PushedObject {
                    resources,
                    sha256: digest,
                    size: None,
                    result: PushResult::Missing,
                    error: None,
                });
                continue;
            };
            let pusher = pusher.clone();
            set.spawn(async move {
                let label = resources.first().cloned().unwrap_or_else(|| digest.short());
                let result = pusher.push(&record, &label).await;
                (i, resources, record, result)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (i, resources, record, result) = match joined {
            Ok(joined) => joined,
            Err(err) if err.is_cancelled() => continue,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        };
        let (result, error) = match result {
            Ok(Pushed::Uploaded) => {
                uploaded_bytes += record.size;
                (PushResult::Uploaded, None)
            }
            Ok(Pushed::Present) => (PushResult::Present, None),
            Err(PushError::Remote(err)) if stops_push(&err) => {
                set.abort_all();
                stopped.get_or_insert(err);
                continue;
            }
            Err(err) => (PushResult::Failed, Some(push_error_text(&err))),
        };
        objects[i] = Some(PushedObject {
            resources,
            sha256: record.sha256,
            size: Some(record.size),
            result,
            error,
        });
    }
    // What the stop left undone is said to be so, object by object.
    let objects = objects
        .into_iter()
        .zip(wanted)
        .map(|(done, (digest, resources))| {
            done.unwrap_or_else(|| {
                assert!(stopped.is_some(), "each object has an outcome");
                // One this store lacks is said to be missing all the same.
                let record = match store.has_object(&digest) {
                    true => store.read_object_record(&digest).ok().flatten(),
                    false => None,
                };
                PushedObject {
                    size: record.as_ref().map(|r| r.size),
                    result: match record {
                        Some(_) => PushResult::Stopped,
                        None => PushResult::Missing,
                    },
                    resources,
                    sha256: digest,
                    error: None,
                }
            })
        })
        .collect();
    Ok(PushReport {
        remote: remote.name.to_string(),
        url: remote.url.to_string(),
        objects,
        uploaded_bytes,
        stopped: stopped.map(|err| Stopped {
            message: err.to_string(),
            hint: err.hint(),
        }),
    })
}

/// Whether every other object's push would fail the same way: the remote
/// cannot be used at all, or it refuses this machine's writes.
fn stops_push(err: &RemoteError) -> bool {
    err.is_fatal() || matches!(err, RemoteError::Denied { .. })
}

fn empty_report(remote: &Remote) -> PushReport {
    PushReport {
        remote: remote.name.to_string(),
        url: remote.url.to_string(),
        objects: Vec::new(),
        uploaded_bytes: 0,
        stopped: None,
    }
}

/// The error and its causes, with what to do.
fn push_error_text(err: &PushError) -> String {
    let mut text = crate::fetch::error_text(err);
    if let PushError::Remote(remote) = err
        && let Some(hint) = remote.hint()
    {
        text.push_str(&format!(" ({hint})"));
    }
    text
}

/// Which of some objects a remote lacks (`crp status --remote`, `crp drift
/// --remote`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCheck {
    pub remote: String,
    pub url: String,
    /// Objects asked about.
    pub checked: usize,
    /// Those the remote lacks, with the resources that use them.
    pub lacking: Vec<Lacking>,
}

/// An object a remote lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lacking {
    pub sha256: Sha256Digest,
    /// `project/resource`, or the resource alone for one project.
    pub resources: Vec<String>,
}

/// Every key under the remote's `sha256/` prefix: one request per thousand
/// keys, where asking of each object would take one per object. `None`
/// when the remote may be read but not listed (a public bucket whose
/// policy grants reading objects alone): each object is asked of then.
///
/// # Errors
/// Any other failure of the listing.
async fn listing(
    client: &Client,
) -> Result<Option<std::collections::HashSet<String>>, RemoteError> {
    let remote = client.remote();
    let prefix = match remote.url.prefix.is_empty() {
        true => "sha256/".to_owned(),
        false => format!("{}/sha256/", remote.url.prefix),
    };
    match client.list(&prefix).await {
        Ok(keys) => Ok(Some(keys.into_iter().map(|(key, _)| key).collect())),
        Err(err @ (RemoteError::Unsigned { .. } | RemoteError::Denied { .. })) => {
            tracing::debug!("{err}; asking of each object instead");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// A remote the policy's `schemes` rule out is never contacted: by a push
/// or a check as by a sync.
///
/// # Errors
/// The policy cannot be read, or rules out the remote's endpoint.
fn allowed_by_policy(store: &Store, remote: &Remote) -> anyhow::Result<()> {
    let policy = crate::policy::Policy::load(store.root())?;
    let Some(reason) = policy.refuses_remote(remote) else {
        return Ok(());
    };
    Err(UsageError::new(format!("remote `{}`: {reason}", remote.name))
    .hint("give the remote an endpoint of a scheme the store's policy allows, or allow the scheme in `schemes`")
    .into())
}

/// The remote several projects are checked against: `name` among the
/// remotes any of them (or the store) configures, else the one each
/// project uses first, which must be the same for all.
fn remote_for(
    manifests: &[Manifest],
    store_remotes: &[crate::remote::RemoteConfig],
    name: Option<&str>,
) -> anyhow::Result<Remote> {
    let mut per_project: Vec<(String, Vec<Remote>)> = Vec::new();
    for manifest in manifests {
        let remotes = crate::remote::configured(&manifest.project.remotes, store_remotes)
            .map_err(UsageError::new)?;
        per_project.push((manifest.project.name.to_string(), remotes));
    }
    if per_project.is_empty() {
        let remotes = crate::remote::configured(&[], store_remotes).map_err(UsageError::new)?;
        per_project.push((String::new(), remotes));
    }
    if let Some(name) = name {
        let all: Vec<Remote> = per_project
            .into_iter()
            .flat_map(|(_, remotes)| remotes)
            .collect();
        let named: Vec<&Remote> = all.iter().filter(|r| r.name.as_str() == name).collect();
        if named.is_empty() {
            return Ok(choose(all, Some(name))?);
        }
        if let Some(other) = named.iter().find(|r| !same_remote(r, named[0])) {
            return Err(UsageError::new(format!(
                "the projects name different remotes `{name}`: {} and {}",
                described(named[0]),
                described(other)
            ))
            .hint("check each project on its own, or give the remotes different names")
            .into());
        }
        return Ok(named[0].clone());
    }
    let mut firsts = per_project
        .into_iter()
        .map(|(project, remotes)| (project, remotes.into_iter().next()));
    let (first_project, first) = firsts.next().expect("one project at least");
    let first = choose(first.into_iter().collect(), None)?;
    for (project, remote) in firsts {
        match remote {
            Some(r) if same_remote(&r, &first) => {}
            other => {
                return Err(UsageError::new(format!(
                    "the projects use different remotes: `{first_project}` uses `{}` ({}), `{project}` uses {}",
                    first.name,
                    first.url,
                    other.map_or_else(|| "none".to_owned(), |r| format!("`{}` ({})", r.name, r.url))
                ))
                .hint("say which remote to check with `--remote NAME`, or check each project on its own")
                .into());
            }
        }
    }
    Ok(first)
}

/// Whether two remotes are one: the same bucket and prefix, reached the
/// same way with the same credentials.
fn same_remote(a: &Remote, b: &Remote) -> bool {
    a.url == b.url
        && a.endpoint == b.endpoint
        && a.region == b.region
        && a.path_style == b.path_style
        && a.profile == b.profile
}

/// A remote for a message telling two apart.
fn described(remote: &Remote) -> String {
    format!(
        "{} at {} ({}{})",
        remote.url,
        crate::source::redact_url(&remote.endpoint),
        remote.region,
        remote
            .profile
            .as_ref()
            .map(|p| format!(", profile `{p}`"))
            .unwrap_or_default()
    )
}

/// Asks the remote `name` (or the one the projects use first, see
/// `remote_for`) which of the manifests' pinned objects it lacks: one
/// HEAD request per object, 16 at a time (for more than 32 objects, only
/// per object the remote's listing holds).
///
/// # Errors
/// No such remote, projects that use different remotes without `name`,
/// and a remote that cannot be asked at all.
pub async fn lacking(
    store_flag: Option<&Path>,
    manifests: &[Manifest],
    name: Option<&str>,
) -> anyhow::Result<RemoteCheck> {
    let store = Store::open(store_flag)?;
    store.check()?;
    let config = Config::load(store.root())?;
    let remote = remote_for(manifests, &config.remotes, name)?;
    allowed_by_policy(&store, &remote)?;
    let client = Client::new(&remote)?;
    client.check().await?;
    let mut objects: Vec<(Sha256Digest, Vec<String>)> = Vec::new();
    // The declared size, else the store's copy's: a key whose metadata
    // claims the digest over other bytes is not the object (a push would
    // replace it too).
    let mut sizes: Vec<Option<u64>> = Vec::new();
    for manifest in manifests {
        for resource in &manifest.resources {
            let Some(digest) = resource.sha256 else {
                continue;
            };
            let label = match manifests.len() {
                1 => resource.name.to_string(),
                _ => format!("{}/{}", manifest.project.name, resource.name),
            };
            match objects.iter_mut().find(|(d, _)| *d == digest) {
                Some((_, names)) => names.push(label),
                None => {
                    objects.push((digest, vec![label]));
                    sizes.push(
                        resource
                            .size
                            .or_else(|| store.object_stat(&digest).and_then(|stat| stat.size)),
                    );
                }
            }
        }
    }
    let checked = objects.len();
    // Many objects: a key the listing lacks is lacking, unasked.
    let listed = match objects.len() > LIST_ABOVE {
        true => listing(&client).await?,
        false => None,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for (i, (digest, _)) in objects.iter().enumerate() {
        if let Some(keys) = &listed
            && !keys.contains(&client.remote().key_of(digest))
        {
            continue;
        }
        let (client, slots, digest) = (client.clone(), Arc::clone(&slots), *digest);
        set.spawn(async move {
            let _slot = slots.acquire().await.expect("never closed");
            let key = client.remote().key_of(&digest);
            (i, digest, client.head_object(&key).await)
        });
    }
    let mut present = vec![false; objects.len()];
    while let Some(joined) = set.join_next().await {
        let (i, digest, result) = joined.expect("a request does not panic");
        // A key holding other bytes than the object (no digest recorded,
        // or another one) is not the object.
        present[i] = result?.is_some_and(|head| {
            head.sha256 == Some(digest) && sizes[i].is_none_or(|size| size == head.size)
        });
    }
    let lacking = objects
        .into_iter()
        .zip(present)
        .filter(|(_, present)| !present)
        .map(|((sha256, resources), _)| Lacking { sha256, resources })
        .collect();
    Ok(RemoteCheck {
        remote: remote.name.to_string(),
        url: remote.url.to_string(),
        checked,
        lacking,
    })
}
