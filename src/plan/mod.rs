//! The difference between a manifest and the world, as data.
//!
//! [`Planner::plan`] compares the manifest with the store (is each object present?),
//! with the project's link folder (is each link what it should be?) and with
//! the project's record in the store (which links did crp make before?). It
//! reads metadata only: a plan with nothing to do costs a `stat` and a
//! `readlink` per resource. `crp plan`, `crp sync --dry-run` and `crp status`
//! all show a [`Plan`]; `crp sync` carries one out.

pub mod review;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::link::{self, LinkState, PreviousLink, Want};
use crate::manifest::{LinkMode, Manifest, Resource};
use crate::name::Name;
use crate::policy::approval::Ledger;
use crate::policy::{Policy, Verdict};
use crate::store::record::{LinkRecord, ProjectRecord};
use crate::store::{Store, StoreError};

/// What a sync would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub project: ProjectInfo,
    pub store: PathBuf,
    /// One entry per resource, in manifest order.
    pub resources: Vec<ResourcePlan>,
    /// Links of resources that left the manifest.
    pub unlinks: Vec<UnlinkPlan>,
}

/// The project a plan is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub name: Name,
    /// The project's record id in the store.
    pub id: String,
    pub manifest: PathBuf,
    pub link_dir: PathBuf,
    pub link_mode: LinkMode,
}

/// One resource's part of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePlan {
    pub name: Name,
    /// The headline: what happens to this resource.
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The first source (credentials redacted).
    pub source: String,
    /// Whether the store holds the object.
    pub present: bool,
    /// How it gets into the store; `None` when it is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchStep>,
    pub link_path: PathBuf,
    pub link: LinkStep,
    /// What the policy and the people say (see [`crate::plan::review`]).
    #[serde(default = "auto_approved")]
    pub verdict: Verdict,
    /// For an object in the store: whether its content is executable, when
    /// a `stat` tells (files; a directory's is in its record).
    #[serde(skip)]
    pub stored_executable: Option<bool>,
}

fn auto_approved() -> Verdict {
    Verdict::AutoApproved
}

/// The headline action for a resource, most significant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Download (or copy) into the store, then link.
    Fetch,
    /// Download, then write its sha256 and size into the manifest.
    FetchAndPin,
    /// Something that crp did not make is where the link should go.
    Conflict,
    /// The store has it; make the link.
    Link,
    /// Replace crp's out-of-date link.
    Relink,
    UpToDate,
    /// Not fetched (nor linked) until a person approves it.
    AwaitingApproval,
    /// Refused, by a person or by a hard limit of the policy.
    Denied,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::FetchAndPin => "fetch+pin",
            Self::Conflict => "conflict",
            Self::Link => "link",
            Self::Relink => "relink",
            Self::UpToDate => "up to date",
            Self::AwaitingApproval => "awaiting approval",
            Self::Denied => "denied",
        }
    }
}

/// How an object gets into the store: from its sources, direct ones in
/// order and torrents through the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchStep {
    /// The digest is not known yet: it is pinned on arrival.
    pub pin: bool,
    /// Some source is a torrent.
    pub torrent: bool,
    /// The object is in cold storage (`crp gc`): it is restored, not
    /// downloaded (its record says so).
    #[serde(default)]
    pub restore: bool,
    /// For an entry to pin: what the store remembers its sources served
    /// before. The sync asks the source whether it still serves that (a
    /// conditional request) and pins it only if so; else it downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered: Option<Sha256Digest>,
}

/// What happens at the link's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LinkStep {
    Create,
    Replace { reason: String },
    UpToDate,
    Conflict { reason: String },
}

/// A link of a resource that left the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlinkPlan {
    pub name: Name,
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    /// Set when the path no longer holds crp's link: it is left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

impl Plan {
    /// Whether carrying the plan out changes nothing.
    pub fn is_noop(&self) -> bool {
        self.resources.iter().all(|r| r.action == Action::UpToDate) && self.unlinks.is_empty()
    }

    /// Bytes to download, as far as sizes are declared.
    pub fn fetch_bytes(&self) -> u64 {
        let mut seen = HashSet::new();
        self.resources
            .iter()
            .filter(|r| r.fetch.is_some() && r.verdict.allows())
            .filter(|r| r.sha256.is_none_or(|d| seen.insert(d)))
            .filter_map(|r| r.size)
            .sum()
    }
}

impl Plan {
    /// Whether every resource is ready to use: in the store, linked as
    /// declared, and allowed by the policy and people (`crp status
    /// --check`). Missing, unlinked, in conflict, awaiting approval, denied
    /// and quarantined resources are not.
    pub fn ready(&self) -> bool {
        self.unready().next().is_none()
    }

    /// The resources that keep the project from being [`ready`](Self::ready):
    /// missing from the store, not linked as declared, or not allowed.
    pub fn unready(&self) -> impl Iterator<Item = &ResourcePlan> {
        self.resources
            .iter()
            .filter(|r| !(r.present && r.link == LinkStep::UpToDate && r.verdict.allows()))
    }
}

/// The project's record from its last sync, if it had one.
///
/// A project's id hashes its manifest's path, so a project moved to another
/// folder (alone, or with its store beside it) has no record under its new
/// id. Then the record of a project of the same name whose manifest is gone
/// and whose link folder sat at the same place relative to it is taken for
/// it, with its link paths moved along, so crp still knows the links it
/// made: they are relinked, not reported as someone else's files.
pub fn previous_record(
    store: &Store,
    manifest: &Manifest,
) -> Result<Option<ProjectRecord>, crate::store::StoreError> {
    if let Some(record) = store.read_project(&manifest.project_id())? {
        return Ok(Some(record));
    }
    let link_rel = manifest.project.link_dir.strip_prefix(&manifest.dir).ok();
    let moved = store
        .projects()?
        .into_iter()
        .filter(|p| p.name == manifest.project.name && !p.manifest.exists())
        .filter(|p| {
            let old_dir = crate::fsutil::parent_of(&p.manifest);
            link_rel.is_some() && p.link_dir.strip_prefix(old_dir).ok() == link_rel
        })
        .max_by_key(|p| p.synced_at);
    Ok(moved.map(|mut record| {
        let old_link_dir = record.link_dir.clone();
        for resource in record.resources.values_mut() {
            if let Some(link) = &mut resource.link
                && let Ok(rel) = link.path.strip_prefix(&old_link_dir)
            {
                link.path = manifest.project.link_dir.join(rel);
            }
        }
        record.id = manifest.project_id();
        record.manifest = manifest.abs_path.clone();
        record.link_dir = manifest.project.link_dir.clone();
        record
    }))
}

/// What a plan is made from: the manifest, the store, the project's record
/// from its last sync, and what judges each resource — the store's policy
/// and the decisions people recorded.
#[derive(Debug, Clone, Copy)]
pub struct Planner<'a> {
    pub manifest: &'a Manifest,
    pub store: &'a Store,
    pub previous: Option<&'a ProjectRecord>,
    pub policy: &'a Policy,
    pub ledger: &'a Ledger,
}

impl Planner<'_> {
    /// The complete plan: each resource's state in the store and in the
    /// project, what will be done about it, and its verdict. `used` is how
    /// much of the store's quota is spoken for; it is asked only when the
    /// policy has a quota and something is to be fetched.
    ///
    /// # Errors
    /// Records that cannot be read.
    pub fn plan(&self, used: impl FnOnce() -> Result<u64, StoreError>) -> Result<Plan, StoreError> {
        let mut plan = survey(self.manifest, self.store, self.previous)?;
        review::review(
            &mut plan,
            self.manifest,
            self.store,
            self.policy,
            self.ledger,
            self.previous,
            used,
        )?;
        Ok(plan)
    }
}

/// The state of each resource of `manifest` in `store` and in the project,
/// given the project's record from the last sync: a plan whose verdicts are
/// still to be given by [`review::review`].
fn survey(
    manifest: &Manifest,
    store: &Store,
    previous: Option<&ProjectRecord>,
) -> Result<Plan, StoreError> {
    let project = &manifest.project;
    let objects_dir = store.objects_dir();
    // Keyed by the paths' bytes: hashing those is much cheaper than
    // comparing paths component by component, for 10,000 resources.
    let previous_links: HashMap<&OsStr, (Sha256Digest, &LinkRecord)> = previous
        .into_iter()
        .flat_map(|p| p.resources.values())
        .filter_map(|r| r.link.as_ref().map(|l| (l.path.as_os_str(), (r.sha256, l))))
        .collect();
    let plan_one = |resource: &Resource| {
        let link_path = link::link_path(&project.link_dir, resource.name.as_str());
        let previous = previous_links
            .get(link_path.as_os_str())
            .map(|(digest, record)| (store.object_path(digest), *record));
        let previous = previous
            .as_ref()
            .map(|(object, record)| PreviousLink { record, object });
        plan_resource(
            resource,
            store,
            project.link_mode,
            &objects_dir,
            link_path,
            previous.as_ref(),
        )
    };
    // The checks are a `stat` and a `readlink` per resource: spread them over
    // the cores when there are many.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = manifest.resources.len().div_ceil(threads).max(1024);
    let resources: Vec<ResourcePlan> = std::thread::scope(|scope| {
        let parts: Vec<_> = manifest
            .resources
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(plan_one).collect::<Result<Vec<_>, _>>()))
            .collect();
        parts
            .into_iter()
            .map(|part| part.join().expect("planning does not panic"))
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.into_iter().flatten().collect())
    })?;
    let wanted_paths: HashSet<&OsStr> = resources.iter().map(|r| r.link_path.as_os_str()).collect();
    let unlinks = previous
        .into_iter()
        .flat_map(|p| &p.resources)
        .filter_map(|(name, r)| r.link.as_ref().map(|l| (name, r.sha256, l)))
        .filter(|(_, _, l)| !wanted_paths.contains(l.path.as_os_str()))
        .filter_map(|(name, sha256, record)| {
            let object = store.object_path(&sha256);
            let previous = PreviousLink {
                record,
                object: &object,
            };
            // Whatever is there now, compared with a link that is wanted
            // nowhere: crp's own link shows up as stale, anything else as foreign.
            let state = link::inspect(
                &record.path,
                Want {
                    object: None,
                    mode: record.mode,
                },
                &objects_dir,
                Some(&previous),
            );
            let conflict = match state {
                LinkState::Missing => return None,
                LinkState::Correct | LinkState::Stale { .. } => None,
                LinkState::Foreign { what } => Some(what),
            };
            Some(UnlinkPlan {
                name: name.clone(),
                path: record.path.clone(),
                sha256,
                conflict,
            })
        })
        .collect();
    Ok(Plan {
        project: ProjectInfo {
            name: project.name.clone(),
            id: manifest.project_id(),
            manifest: manifest.abs_path.clone(),
            link_dir: project.link_dir.clone(),
            link_mode: project.link_mode,
        },
        store: store.root().to_owned(),
        resources,
        unlinks,
    })
}

/// What a resource will weigh, as far as can be known before fetching it:
/// its declared size, else what a `.torrent` file on this machine says (it
/// is cheap to read), so the policy judges a 50 GB torrent as 50 GB in
/// `plan`, `policy check` and `diff` alike, as `sync` will.
pub fn expected_size(resource: &Resource) -> Option<u64> {
    resource.size.or_else(|| torrent_size(resource))
}

/// The total size a local `.torrent` source announces, if it reads and
/// passes its checks.
fn torrent_size(resource: &Resource) -> Option<u64> {
    resource.sources.iter().find_map(|s| match &s.source {
        crate::source::Source::Torrent(inner) => match &**inner {
            crate::source::Source::File(path) => {
                crate::torrent::metainfo::Metainfo::read_file(path)
                    .ok()
                    .map(|m| m.total_size)
            }
            _ => None,
        },
        _ => None,
    })
}

/// What the store remembers an unpinned resource's direct sources served,
/// if it still holds it: what a sync offers the source to confirm.
fn remembered(resource: &Resource, store: &Store) -> Option<Sha256Digest> {
    let direct = resource.direct_sources();
    if direct.is_empty() {
        return None;
    }
    let known = store.read_source(&store.source_key(&direct)).ok()??;
    store
        .remembered_reusable(&known, resource.size, resource.executable)
        .then_some(known.sha256)
}

fn plan_resource(
    resource: &Resource,
    store: &Store,
    mode: LinkMode,
    objects_dir: &std::path::Path,
    link_path: PathBuf,
    previous: Option<&PreviousLink<'_>>,
) -> Result<ResourcePlan, StoreError> {
    let object = resource.sha256.map(|d| store.object_path(&d));
    let stored = object.as_deref().and_then(crate::store::stat_object);
    let present = stored.is_some();
    // An object `crp gc` archived comes back from cold storage, judged as
    // when it arrived.
    let archived = match resource.sha256.filter(|_| !present) {
        Some(digest) => store
            .read_object_record(&digest)?
            .filter(|record| record.restorable_copy().is_some()),
        None => None,
    };
    let fetch = (!present).then(|| FetchStep {
        pin: resource.sha256.is_none(),
        torrent: resource.needs_torrent(),
        restore: archived.is_some(),
        remembered: resource
            .sha256
            .is_none()
            .then(|| remembered(resource, store))
            .flatten(),
    });
    let state = link::inspect(
        &link_path,
        Want {
            object: object.as_deref(),
            mode,
        },
        objects_dir,
        previous,
    );
    let link = match state {
        LinkState::Missing => LinkStep::Create,
        // A link to an object that is missing is not up to date, whatever it says.
        LinkState::Correct if present => LinkStep::UpToDate,
        LinkState::Correct => LinkStep::Create,
        LinkState::Stale { reason } => LinkStep::Replace { reason },
        LinkState::Foreign { what } => LinkStep::Conflict { reason: what },
    };
    let action = match (&fetch, &link) {
        (_, LinkStep::Conflict { .. }) => Action::Conflict,
        (Some(FetchStep { pin: true, .. }), _) => Action::FetchAndPin,
        (Some(FetchStep { pin: false, .. }), _) => Action::Fetch,
        (None, LinkStep::Create) => Action::Link,
        (None, LinkStep::Replace { .. }) => Action::Relink,
        (None, LinkStep::UpToDate) => Action::UpToDate,
    };
    Ok(ResourcePlan {
        name: resource.name.clone(),
        action,
        sha256: resource.sha256,
        size: resource
            .size
            .or(stored.and_then(|s| s.size))
            .or_else(|| (!present).then(|| torrent_size(resource)).flatten())
            .or(archived.as_ref().map(|record| record.size)),
        source: resource.primary_source().spec.to_string(),
        present,
        fetch,
        link_path,
        link,
        verdict: Verdict::AutoApproved,
        stored_executable: stored
            .and_then(|s| s.executable)
            .or(archived.map(|record| record.executable)),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use super::*;
    use crate::policy::Rule;
    use crate::policy::approval::{Decision, Kind};
    use crate::store::record::{Archived, Asked, NewObject, ObjectKind, ObjectRecord};
    use crate::time::Timestamp;

    /// A store and a project folder, with the project's manifest.
    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        project: PathBuf,
    }

    impl World {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::at(dir.path().join("store"));
            store.create().unwrap();
            let project = dir.path().join("project");
            std::fs::create_dir_all(&project).unwrap();
            Self {
                _dir: dir,
                store,
                project,
            }
        }

        fn manifest(&self, resources: &str) -> Manifest {
            Manifest::from_text(
                &self.project.join("resources.toml"),
                format!("[project]\nname = \"p\"\n\n{resources}"),
            )
            .unwrap()
        }

        /// Puts `bytes` into the store as an object, as a fetch leaves it.
        fn put(&self, bytes: &[u8]) -> Sha256Digest {
            let digest = Sha256Digest::of_bytes(bytes);
            let path = self.store.object_path(&digest);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            digest
        }

        fn plan_with(&self, manifest: &Manifest, policy: &Policy, ledger: &Ledger) -> Plan {
            Planner {
                manifest,
                store: &self.store,
                previous: None,
                policy,
                ledger,
            }
            .plan(|| Ok(0))
            .unwrap()
        }

        fn plan(&self, manifest: &Manifest) -> Plan {
            self.plan_with(manifest, &Policy::default(), &Ledger::default())
        }
    }

    fn entry(name: &str, sha256: Option<Sha256Digest>, size: u64) -> String {
        let pin = sha256.map_or_else(String::new, |d| format!("sha256 = \"{}\"\n", d.hex()));
        format!(
            "[resources.{name}]\nsource = \"https://example.org/{name}\"\n{pin}size = {size}\npurpose = \"a test\"\n\n"
        )
    }

    fn actions(plan: &Plan) -> Vec<(&str, Action)> {
        plan.resources
            .iter()
            .map(|r| (r.name.as_str(), r.action))
            .collect()
    }

    #[test]
    fn what_the_store_lacks_is_fetched_and_what_is_not_pinned_is_pinned() {
        let world = World::new();
        let digest = Sha256Digest::of_bytes(b"absent");
        let manifest = world.manifest(&(entry("a", Some(digest), 6) + &entry("b", None, 3)));
        let plan = world.plan(&manifest);
        assert_eq!(
            actions(&plan),
            [("a", Action::Fetch), ("b", Action::FetchAndPin)]
        );
        let a = &plan.resources[0];
        assert_eq!(a.link, LinkStep::Create);
        assert_eq!(a.size, Some(6));
        assert!(!a.present);
        assert_eq!(a.verdict, Verdict::AutoApproved);
        assert!(plan.resources[1].fetch.is_some_and(|f| f.pin));
        assert_eq!(plan.project.link_dir, world.project.join("resources"));
    }

    #[test]
    fn a_present_object_is_linked_and_then_up_to_date() {
        let world = World::new();
        let digest = world.put(b"present");
        let manifest = world.manifest(&entry("a", Some(digest), 7));
        assert_eq!(actions(&world.plan(&manifest)), [("a", Action::Link)]);

        let links = world.project.join("resources");
        std::fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(world.store.object_path(&digest), links.join("a")).unwrap();
        let plan = world.plan(&manifest);
        assert_eq!(actions(&plan), [("a", Action::UpToDate)]);
        assert!(plan.resources[0].present);
        assert!(plan.resources[0].fetch.is_none());
    }

    #[test]
    fn someone_elses_file_where_a_link_goes_is_a_conflict() {
        let world = World::new();
        let digest = world.put(b"present");
        let manifest = world.manifest(&entry("a", Some(digest), 7));
        let links = world.project.join("resources");
        std::fs::create_dir_all(&links).unwrap();
        std::fs::write(links.join("a"), b"mine").unwrap();
        let plan = world.plan(&manifest);
        assert_eq!(actions(&plan), [("a", Action::Conflict)]);
        assert!(matches!(plan.resources[0].link, LinkStep::Conflict { .. }));
    }

    #[test]
    fn an_archived_object_is_restored_at_the_size_its_record_gives() {
        let world = World::new();
        let digest = Sha256Digest::of_bytes(b"cold");
        let mut record = ObjectRecord::new(
            NewObject {
                sha256: digest,
                kind: ObjectKind::File,
                size: 4,
                path: PathBuf::new(),
            },
            Asked::default(),
        );
        record.status = crate::lifecycle::State::Archived;
        let cold = world.store.root().join("cold").join(digest.hex());
        std::fs::create_dir_all(cold.parent().unwrap()).unwrap();
        std::fs::write(&cold, b"cold").unwrap();
        record.archived = Some(Archived {
            path: cold.clone(),
            at: Timestamp::now(),
        });
        world.store.write_object_record(&record).unwrap();
        let manifest = world.manifest(&format!(
            "[resources.a]\nsource = \"https://example.org/a\"\nsha256 = \"{}\"\npurpose = \"x\"\n",
            digest.hex()
        ));
        let plan = world.plan(&manifest);
        let a = &plan.resources[0];
        assert!(a.fetch.is_some_and(|f| f.restore));
        assert_eq!(a.size, Some(4));
        assert_eq!(a.verdict, Verdict::AutoApproved);
        // With its cold copy gone, it is a download like any other.
        std::fs::remove_file(&cold).unwrap();
        let plan = world.plan(&manifest);
        assert!(plan.resources[0].fetch.is_some_and(|f| !f.restore));
    }

    #[test]
    fn the_review_holds_what_a_rule_names_and_refuses_what_a_person_denied() {
        let world = World::new();
        let big = Sha256Digest::of_bytes(b"big");
        let denied = Sha256Digest::of_bytes(b"denied");
        let manifest = world.manifest(
            &(entry("big", Some(big), 5_000_000)
                + &entry("denied", Some(denied), 10)
                + &entry("small", None, 10)),
        );
        let policy = Policy::parse(
            Path::new("policy.toml"),
            "[approval]\nlarger_than = \"1 MB\"\n",
        )
        .unwrap();
        let resource = manifest.resource("denied").unwrap();
        Ledger::append(
            &world.store,
            &Decision {
                decision: Kind::Deny,
                name: resource.name.clone(),
                sha256: Some(denied),
                sources: crate::policy::approval::bound_sources(&resource.sources),
                source_ids: crate::policy::approval::bound_ids(
                    &resource.sources,
                    &world.store.identity_key(),
                ),
                by: "alice".into(),
                at: Timestamp::now(),
                note: None,
                reason: Some("not here".into()),
            },
        )
        .unwrap();
        let ledger = Ledger::load(&world.store).unwrap();
        let plan = world.plan_with(&manifest, &policy, &ledger);
        assert_eq!(
            actions(&plan),
            [
                ("big", Action::AwaitingApproval),
                ("denied", Action::Denied),
                ("small", Action::FetchAndPin)
            ]
        );
        match &plan.resources[0].verdict {
            Verdict::AwaitingApproval { reasons } => assert_eq!(reasons[0].rule, Rule::LargerThan),
            other => panic!("{other:?}"),
        }
        match &plan.resources[1].verdict {
            Verdict::Denied { by, reason, .. } => {
                assert_eq!(by.as_deref(), Some("alice"));
                assert_eq!(reason, "not here");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_quota_in_use_is_asked_only_when_something_is_fetched_under_one() {
        let world = World::new();
        let digest = world.put(b"present");
        let quota =
            Policy::parse(Path::new("policy.toml"), "[limits]\nquota = \"100 B\"\n").unwrap();
        let asked = Cell::new(0);
        let plan = |manifest: &Manifest, policy: &Policy, used: u64| {
            Planner {
                manifest,
                store: &world.store,
                previous: None,
                policy,
                ledger: &Ledger::default(),
            }
            .plan(|| {
                asked.set(asked.get() + 1);
                Ok(used)
            })
            .unwrap()
        };
        let present = world.manifest(&entry("a", Some(digest), 7));
        plan(&present, &quota, 0);
        assert_eq!(asked.get(), 0, "nothing to fetch");
        let missing = world.manifest(&(entry("a", None, 60) + &entry("b", None, 60)));
        plan(&missing, &Policy::default(), 0);
        assert_eq!(asked.get(), 0, "no quota");
        // 30 used: the first 60 fit, the second would pass 100.
        let judged = plan(&missing, &quota, 30);
        assert_eq!(asked.get(), 1);
        assert_eq!(
            actions(&judged),
            [("a", Action::FetchAndPin), ("b", Action::Denied)]
        );
    }
}
