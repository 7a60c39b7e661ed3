//! The machine-wide, content-addressed shared store.
//!
//! ```text
//! <store>/
//!   objects/sha256/ab/abcdef…           verified objects, read-only, named by their sha256
//!   .incomplete/                         downloads in flight (`<sha256>.part`, `src-<hash of source>.part`)
//!   meta/
//!     store.json                         {"layout": 1}: marks the folder as a crp store
//!     resources.schema.json              the manifest's JSON Schema, for editors (`crp init`)
//!     objects/sha256/ab/abcdef….json     one record per object (source, purpose, projects, times)
//!     projects/<name>-<hash>.json        one record per project (manifest path, resources, links)
//!     sources/<hash of sources>.json     what unpinned sources delivered when first fetched
//!     policy.toml, approvals.jsonl       the policy and people's decisions (see `crate::policy::approval`)
//!     events.jsonl, completion.log       what happened (see `crate::provenance`, `crate::notify`)
//!     pending/<project>/<name>.json      requests awaiting approval
//!     locks/                             lock files (objects/, sources/, projects/)
//! ```
//!
//! An object only appears under `objects/` by an atomic rename of a file whose
//! size and sha256 were verified and which was flushed to disk first, so a
//! reader never sees a partial or wrong object, whatever else is running.
//! `lib.rs` lists every file with who writes it and what guards it.
//!
//! Here: where things are and the store's identity; `publish` makes bytes
//! visible objects (durably, in batches) and moves bad ones to quarantine;
//! `meta` reads and writes the records of [`record`]; [`lock`] is the lock
//! and the locks the store hands out; [`quota`] shares one budget between
//! processes.

pub mod lock;
mod meta;
mod publish;
pub mod quota;
pub mod record;

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::fsutil;
use crate::source::IdentityKey;

use lock::LockError;
pub(crate) use meta::{read_json, write_json};
use publish::Flusher;
use record::ObjectKind;

/// How long a folder whose marker is on its way in is waited for.
const CREATION_WAIT: Duration = Duration::from_secs(2);

/// What a folder without a store marker holds.
enum Contents {
    Empty,
    /// Only `meta/`, with at most a marker being written.
    BeingMade,
    Other,
}

/// The largest record (an object's, a source's, the marker) crp reads:
/// far more than any it writes.
pub const MAX_RECORD: u64 = 16 << 20;

/// The largest project record crp reads. It grows with the manifest (a
/// hundred to a few hundred bytes a resource: 17 MiB for 100,000), so its
/// bound is that of the largest manifest's resources, not of a record.
pub const MAX_PROJECT_RECORD: u64 = 512 << 20;

/// The largest log (the ledger, the event log) crp reads whole.
pub const MAX_LOG: u64 = 512 << 20;

/// The store layout this crp reads and writes.
pub const LAYOUT: u32 = 1;

/// The environment variable naming the store.
pub const STORE_ENV: &str = crate::settings::STORE;

/// The store's place under the home folder when nothing else names one.
pub const DEFAULT_LOCATION: &str = "infrastructure/shared-resources";

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot find the home folder to put the default store in")]
    NoHome,
    #[error("`{}` is not a crp store: it is not empty and has no `meta/store.json`", path.display())]
    NotAStore { path: PathBuf },
    #[error("`{}` is not a folder, so it cannot be a store", path.display())]
    NotADirectory { path: PathBuf },
    #[error("the store's marker `{}` cannot be read", path.display())]
    UnreadableMarker {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the store's marker `{}` is damaged", path.display())]
    BadMarker {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the store at `{}` has layout {found}; this crp understands layout {LAYOUT}", path.display())]
    NewerLayout { path: PathBuf, found: u32 },
    #[error("the store's file `{}` is damaged", path.display())]
    BadRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl StoreError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoHome => Some(format!("name a store with `--store PATH` or `{STORE_ENV}`")),
            Self::NotAStore { .. } => Some(format!(
                "name an empty or new folder with `--store PATH` or `{STORE_ENV}`; to configure a store before its first sync, make it with `crp policy init --store PATH` first"
            )),
            Self::NotADirectory { .. } => Some(format!(
                "name a folder (new, empty, or a store) with `--store PATH` or `{STORE_ENV}`"
            )),
            Self::BadMarker { .. } | Self::UnreadableMarker { .. } => Some(
                "a store's `meta/store.json` holds `{\"layout\": 1}`; if this folder is a store, restore that file, else name another with `--store`".into(),
            ),
            Self::NewerLayout { .. } => Some("upgrade crp to use this store".into()),
            Self::Lock(err) => err.hint(),
            _ => None,
        }
    }

    /// Whether the user named something that cannot be a store (exit code 2).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::NoHome
                | Self::NotAStore { .. }
                | Self::NotADirectory { .. }
                | Self::BadMarker { .. }
                | Self::UnreadableMarker { .. }
                | Self::NewerLayout { .. }
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    layout: u32,
}

/// A store at a known place; nothing is touched until asked.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Folders whose new entries still need syncing (shared by clones).
    dirty_dirs: Arc<Mutex<BTreeSet<PathBuf>>>,
    /// `root/objects/sha256`, where objects are fanned out.
    objects_root: PathBuf,
    lock_timeout: Duration,
    /// The key of source identities, read once (see [`Store::identity_key`]).
    identity: Arc<std::sync::OnceLock<IdentityKey>>,
    /// Group commit of written bytes (see [`Store::flush`]), shared by clones.
    flusher: Arc<Flusher>,
}

impl Store {
    /// Where the store is: the flag, else `CRP_STORE`, else the
    /// collective's conventional place under home.
    pub fn locate(flag: Option<&Path>) -> Result<PathBuf, StoreError> {
        let path = match flag
            .map(Path::to_owned)
            .or_else(|| crate::settings::var_os(STORE_ENV).map(PathBuf::from))
        {
            Some(path) => path,
            None => std::env::home_dir()
                .filter(|h| !h.as_os_str().is_empty())
                .ok_or(StoreError::NoHome)?
                .join(DEFAULT_LOCATION),
        };
        Ok(canonical(&std::path::absolute(&path)?)?)
    }

    /// The store the command line names (see [`Store::locate`]), without
    /// changing anything on disk. A store shared by a group (its folder has
    /// the set-group-ID bit, see the README) gets files its group can write:
    /// the process's umask is relaxed to let group members write, as
    /// `git init --shared=group` and DVC's `cache.shared = group` do.
    pub fn open(flag: Option<&Path>) -> Result<Self, StoreError> {
        let store = Self::at(Self::locate(flag)?);
        if store.is_group_shared() {
            let mask = rustix::process::umask(rustix::fs::Mode::empty());
            rustix::process::umask(mask & !rustix::fs::Mode::RWXG);
        }
        Ok(store)
    }

    /// Whether the store's folder is set up for a group (set-group-ID).
    pub fn is_group_shared(&self) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        fs_err::metadata(&self.root).is_ok_and(|m| m.mode() & 0o2000 != 0)
    }

    /// The store at `root`, without touching the disk.
    pub fn at(root: PathBuf) -> Self {
        Self {
            objects_root: root.join("objects").join("sha256"),
            dirty_dirs: Arc::default(),
            root,
            lock_timeout: lock::default_timeout(),
            identity: Arc::default(),
            flusher: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn marker_path(&self) -> PathBuf {
        self.root.join("meta").join("store.json")
    }

    /// Checks an existing store without changing anything. `Ok(false)` when
    /// there is no store there yet: no folder, or an empty one. A folder is
    /// a store only when `meta/store.json` says so; one that holds anything
    /// else, however much it looks like a store, is not crp's to use.
    pub fn check(&self) -> Result<bool, StoreError> {
        let marker = self.marker_path();
        // Another process may be making the store in this (empty) folder
        // right now: its marker comes first, a moment after `meta/`.
        let mut waited = Duration::ZERO;
        loop {
            match fsutil::read_bounded(&marker, MAX_RECORD) {
                Ok(bytes) => return self.check_marker(&marker, &bytes).map(|()| true),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) if err.kind() == io::ErrorKind::NotADirectory => {
                    return Err(self.not_a_directory());
                }
                // A marker that cannot be what crp writes (a folder, a
                // device, something huge): not a store crp may use.
                Err(source) => {
                    return Err(StoreError::UnreadableMarker {
                        path: marker.clone(),
                        source,
                    });
                }
            }
            match fs_err::symlink_metadata(&self.root) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(err) => return Err(err.into()),
                Ok(meta) if !meta.is_dir() && !self.root.is_dir() => {
                    return Err(self.not_a_directory());
                }
                Ok(_) => {}
            }
            match self.contents()? {
                Contents::Empty => return Ok(false),
                Contents::BeingMade if waited < CREATION_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                    waited += Duration::from_millis(20);
                }
                _ => {
                    return Err(StoreError::NotAStore {
                        path: self.root.clone(),
                    });
                }
            }
        }
    }

    fn not_a_directory(&self) -> StoreError {
        StoreError::NotADirectory {
            path: self.root.clone(),
        }
    }

    fn check_marker(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let marker: Marker =
            serde_json::from_slice(bytes).map_err(|source| StoreError::BadMarker {
                path: path.to_owned(),
                source,
            })?;
        if marker.layout > LAYOUT {
            return Err(StoreError::NewerLayout {
                path: self.root.clone(),
                found: marker.layout,
            });
        }
        Ok(())
    }

    /// What a folder without a marker holds.
    fn contents(&self) -> Result<Contents, StoreError> {
        let mut names = Vec::new();
        for entry in fs_err::read_dir(&self.root)? {
            names.push(entry?.file_name());
            if names.len() > 1 {
                return Ok(Contents::Other);
            }
        }
        match names.first() {
            None => Ok(Contents::Empty),
            // `meta/` alone, empty or holding the marker on its way in.
            Some(name) if name == "meta" => {
                let meta = self.root.join("meta");
                let making = fs_err::read_dir(&meta)?.all(|entry| {
                    entry.is_ok_and(|e| e.file_name().to_string_lossy().starts_with(".crp-tmp-"))
                });
                Ok(if making {
                    Contents::BeingMade
                } else {
                    Contents::Other
                })
            }
            Some(_) => Ok(Contents::Other),
        }
    }

    /// Creates the store if it does not exist yet; checks it if it does.
    ///
    /// A new store is built beside its place and renamed into it, so it
    /// appears whole, marker and all; an existing empty folder (a mount
    /// point, one an administrator made) gets its marker first.
    pub fn create(&self) -> Result<(), StoreError> {
        if self.check()? {
            return self.ensure_identity_key();
        }
        let marker = serde_json::to_vec_pretty(&Marker { layout: LAYOUT }).expect("serializable");
        if !self.root.exists() {
            let parent = fsutil::parent_of(&self.root);
            fs_err::create_dir_all(parent)?;
            let building = tempfile::Builder::new()
                .prefix(".crp-new-store-")
                .permissions(std::fs::Permissions::from_mode(0o777))
                .tempdir_in(parent)
                .map_err(|err| fsutil::with_path(err, parent))?;
            Self::skeleton(building.path(), &marker)?;
            match fs_err::rename(building.path(), &self.root) {
                Ok(()) => {
                    // Renamed away: nothing left to clean up.
                    let _ = building.keep();
                    fsutil::sync_dir(parent)?;
                    return self.ensure_identity_key();
                }
                // Another process made it (or an empty folder) meanwhile.
                Err(_) if self.root.exists() => {}
                Err(err) => return Err(err.into()),
            }
            if self.check()? {
                return self.ensure_identity_key();
            }
        }
        Self::skeleton(&self.root, &marker)?;
        self.ensure_identity_key()
    }

    /// The store's folders, marker first, in `root`.
    fn skeleton(root: &Path, marker: &[u8]) -> Result<(), StoreError> {
        let meta = root.join("meta");
        fs_err::create_dir_all(&meta)?;
        // Two processes making the store at once write the same marker.
        fsutil::write_atomic(&meta.join("store.json"), marker)?;
        for dir in [
            "objects/sha256",
            ".incomplete",
            "meta/objects/sha256",
            "meta/projects",
            "meta/locks",
        ] {
            fs_err::create_dir_all(root.join(dir))?;
        }
        Ok(())
    }

    fn identity_key_path(&self) -> PathBuf {
        self.root.join("meta").join("identity.key")
    }

    /// The store's key for the keyed digests that identify sources whose
    /// URL holds a secret (see [`IdentityKey`]): 32 random bytes in
    /// `meta/identity.key`, made with the store (see [`Store::create`]). A
    /// store read without one (none yet, or unreadable) gets a key of its
    /// own for this run, which matches nothing recorded — nothing recorded
    /// could have used it — and nothing is written.
    pub fn identity_key(&self) -> IdentityKey {
        self.identity
            .get_or_init(|| match self.read_identity_key() {
                Ok(Some(key)) => key,
                _ => IdentityKey::random(),
            })
            .clone()
    }

    /// Makes the store's identity key if it has none (a store made before
    /// keys were): commands that change the store call this through
    /// [`Store::create`].
    fn ensure_identity_key(&self) -> Result<(), StoreError> {
        if self.read_identity_key()?.is_none() {
            let key = self.create_identity_key()?;
            let _ = self.identity.set(key);
        }
        Ok(())
    }

    fn read_identity_key(&self) -> io::Result<Option<IdentityKey>> {
        match fsutil::read_bounded(&self.identity_key_path(), 1024) {
            Ok(bytes) => Ok(IdentityKey::from_hex(
                String::from_utf8_lossy(&bytes).trim(),
            )),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Writes a new key, unless another process wrote one first: the first
    /// one written is the store's, for good.
    fn create_identity_key(&self) -> io::Result<IdentityKey> {
        let path = self.identity_key_path();
        let key = IdentityKey::random();
        let dir = fsutil::parent_of(&path);
        // The owner and the group (a store shared by a group) read it; the
        // rest of the machine has no business checking guesses against it.
        let temp = tempfile::Builder::new()
            .prefix(".crp-tmp-")
            .permissions(std::fs::Permissions::from_mode(0o660))
            .tempfile_in(dir)
            .map_err(|err| fsutil::with_path(err, dir))?;
        fs_err::write(temp.path(), format!("{}\n", key.to_hex()))?;
        temp.as_file().sync_all()?;
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                fsutil::sync_dir(dir)?;
                Ok(key)
            }
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => self
                .read_identity_key()?
                .ok_or_else(|| io::Error::other("the store's identity key is damaged")),
            Err(err) => Err(fsutil::with_path(err.error, &path)),
        }
    }

    /// `base/ab/abcdef…suffix`, built as one string: plans call this for
    /// every resource.
    fn fanout(base: &Path, digest: &Sha256Digest, suffix: &str) -> PathBuf {
        let hex = digest.hex();
        let mut path = base.as_os_str().to_owned();
        path.reserve(hex.len() + suffix.len() + 4);
        path.push("/");
        path.push(&hex[..2]);
        path.push("/");
        path.push(&hex);
        path.push(suffix);
        PathBuf::from(path)
    }

    /// Where the object with this digest lives (whether or not it exists).
    pub fn object_path(&self, digest: &Sha256Digest) -> PathBuf {
        Self::fanout(&self.objects_root, digest, "")
    }

    /// The folder all objects live under, with symbolic links resolved
    /// (the store's own path already is; `objects/` may lead to another
    /// disk), so that what a link resolves to can be compared with it.
    pub fn objects_dir(&self) -> PathBuf {
        let dir = self.root.join("objects");
        dir.canonicalize().unwrap_or(dir)
    }

    /// Whether the object is present: one `stat`, no bytes read.
    pub fn has_object(&self, digest: &Sha256Digest) -> bool {
        self.object_stat(digest).is_some()
    }

    /// Whether a present object's content is executable: a file's execute
    /// bits (`stat`, when the caller has them, else one `stat`), a folder's
    /// record.
    pub fn object_executable(&self, digest: &Sha256Digest, stat: Option<bool>) -> bool {
        stat.or_else(|| self.object_stat(digest).and_then(|s| s.executable))
            .unwrap_or_else(|| {
                self.read_object_record(digest)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.executable)
            })
    }

    /// The stamp of a file object as it is on disk now.
    pub fn object_file_stamp(&self, digest: &Sha256Digest) -> Option<record::FileStamp> {
        let meta = fs_err::symlink_metadata(self.object_path(digest)).ok()?;
        meta.is_file().then(|| record::FileStamp::of(&meta))
    }

    /// What the object is, if it is present: one `stat`, no bytes read.
    pub fn object_stat(&self, digest: &Sha256Digest) -> Option<ObjectStat> {
        stat_object(&self.object_path(digest))
    }

    /// The folder for downloads in flight.
    pub fn incomplete_dir(&self) -> PathBuf {
        self.root.join(".incomplete")
    }

    /// The name, in [`Store::incomplete_dir`], of the download of the
    /// object `digest`.
    pub fn object_part_name(digest: &Sha256Digest) -> String {
        format!("{digest}.part")
    }

    /// The name of the download from the sources named `key` (see
    /// [`Store::source_key`]), before its digest is known.
    pub fn sources_part_name(key: &str) -> String {
        format!("src-{key}.part")
    }

    /// Joins the store's quota of `limit` bytes, shared with every other
    /// process adding to the store (see [`quota`]).
    pub fn join_quota(&self, limit: u64) -> Result<quota::Quota, StoreError> {
        Ok(quota::Quota::join(&self.root.join("meta"), limit, || {
            self.usage().map(|u| u.bytes)
        })?)
    }

    /// How much the store's objects take on disk (apparent sizes, each file
    /// counted once however many hard links it has).
    pub fn usage(&self) -> io::Result<Usage> {
        use std::os::unix::fs::MetadataExt;
        fn walk(
            dir: &Path,
            seen: &mut std::collections::HashSet<(u64, u64)>,
            usage: &mut Usage,
        ) -> io::Result<()> {
            for entry in fs_err::read_dir(dir)? {
                let entry = entry?;
                let meta = fs_err::symlink_metadata(entry.path())?;
                if meta.is_dir() {
                    walk(&entry.path(), seen, usage)?;
                } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                    usage.bytes += meta.len();
                }
            }
            Ok(())
        }
        let mut usage = Usage::default();
        let mut seen = std::collections::HashSet::new();
        let root = self.objects_root.clone();
        match fs_err::read_dir(&root) {
            Ok(fanouts) => {
                for fanout in fanouts {
                    let fanout = fanout?.path();
                    for object in fs_err::read_dir(&fanout)? {
                        let object = object?.path();
                        usage.objects += 1;
                        let meta = fs_err::symlink_metadata(&object)?;
                        if meta.is_dir() {
                            walk(&object, &mut seen, &mut usage)?;
                        } else if seen.insert((meta.dev(), meta.ino())) {
                            usage.bytes += meta.len();
                        }
                    }
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        Ok(usage)
    }

    /// Every object in the store, by walking `objects/`.
    pub fn object_digests(&self) -> io::Result<Vec<Sha256Digest>> {
        let mut digests = Vec::new();
        let fanouts = match fs_err::read_dir(&self.objects_root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(digests),
            Err(err) => return Err(err),
        };
        for fanout in fanouts {
            for entry in fs_err::read_dir(fanout?.path())? {
                if let Some(digest) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                    digests.push(digest);
                }
            }
        }
        digests.sort();
        Ok(digests)
    }
}

/// The store's size on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub objects: u64,
    pub bytes: u64,
}

/// What is at an object's path: a file (with its size) or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectStat {
    pub kind: ObjectKind,
    /// For files; a directory's size is the sum of its files, in its record.
    pub size: Option<u64>,
    /// For files: whether crp found executable content in it (it is then
    /// published with its execute bits set). A directory's is in its record.
    pub executable: Option<bool>,
}

/// The object at `path`, if there is one: one `stat`.
pub fn stat_object(path: &Path) -> Option<ObjectStat> {
    let meta = fs_err::symlink_metadata(path).ok()?;
    if meta.is_file() {
        Some(ObjectStat {
            kind: ObjectKind::File,
            size: Some(meta.len()),
            executable: Some(meta.permissions().mode() & 0o111 != 0),
        })
    } else if meta.is_dir() {
        Some(ObjectStat {
            kind: ObjectKind::Directory,
            size: None,
            executable: None,
        })
    } else {
        None
    }
}

/// `path` with every symbolic link and `..` resolved, as far as it exists;
/// the rest (a store yet to be made) appended as given. One store reached
/// by two spellings is then one store, and links into it read alike.
fn canonical(path: &Path) -> io::Result<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                let mut out = real;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Ok(path.to_owned()),
            },
        }
    }
}

/// Runs `op`, creating `path`'s folder and trying again if it is missing.
/// Folders are made on first need rather than checked before every write.
fn with_parent<T>(path: &Path, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match op() {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs_err::create_dir_all(fsutil::parent_of(path))?;
            op()
        }
        other => other,
    }
}
