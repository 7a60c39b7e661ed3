//! `resources.toml`: what a project declares it needs.
//!
//! [`schema`] mirrors the file format (and generates its JSON Schema),
//! `parse` validates text into those types collecting every problem, and
//! this module turns the result into the domain model ([`Manifest`]) with
//! paths resolved. [`edit`] changes the file while keeping its formatting.

pub mod edit;
mod parse;
pub mod schema;

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use schema::LinkMode;

use crate::diagnostic::{Diagnostic, Report};
use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::source::{Source, SourceSpec};
use toml::Spanned;

/// The file name `crp` looks for when `--manifest` is not given.
pub const DEFAULT_FILE: &str = "resources.toml";

/// The manifest of the project `start` is in, as cargo finds `Cargo.toml`:
/// [`DEFAULT_FILE`] in `start` (returned as the relative
/// `resources.toml`), else in the nearest folder above it that has one
/// (returned as an absolute path, `start` being absolute). `None` when no
/// folder up to the root has one.
pub fn find(start: &Path) -> Option<PathBuf> {
    if start.join(DEFAULT_FILE).is_file() {
        return Some(PathBuf::from(DEFAULT_FILE));
    }
    start
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(DEFAULT_FILE))
        .find(|path| path.is_file())
}

/// The largest manifest crp reads: room for a few hundred thousand
/// resources, and a bound on memory whatever `--manifest` names
/// (`/dev/zero`, say).
pub const MAX_SIZE: u64 = 64 << 20;

/// The text of a file crp reads as TOML (a manifest, the store's policy and
/// configuration, approvals and drift-ignore files), at most `limit` bytes
/// of UTF-8. A missing file is [`ManifestError::NotFound`].
pub fn read_text_capped(path: &Path, limit: u64) -> Result<String, ManifestError> {
    let bytes = crate::fsutil::read_bounded(path, limit).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ManifestError::NotFound {
            path: path.to_owned(),
        },
        io::ErrorKind::FileTooLarge => ManifestError::TooLarge {
            path: path.to_owned(),
            limit,
        },
        _ => ManifestError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    String::from_utf8(bytes).map_err(|_| ManifestError::Read {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"),
    })
}

/// Replaces the manifest at `path` with `text`, atomically. A manifest
/// that is a symbolic link is edited where it points, and stays a link.
///
/// # Errors
/// The file cannot be written.
pub fn write_text(path: &Path, text: &str) -> std::io::Result<()> {
    let target = match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs_err::canonicalize(path)?,
        _ => path.to_owned(),
    };
    crate::fsutil::write_atomic(&target, text.as_bytes())
}

/// A manifest's text (see [`MAX_SIZE`]).
pub fn read_text(path: &Path) -> Result<String, ManifestError> {
    read_text_capped(path, MAX_SIZE)
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The path as the user gave it, for messages.
    pub path: PathBuf,
    /// The absolute path, for records.
    pub abs_path: PathBuf,
    /// The absolute folder holding the manifest; relative paths start here.
    pub dir: PathBuf,
    /// The text it was read from.
    pub text: String,
    pub project: Project,
    /// In the order they are declared.
    pub resources: Vec<Resource>,
}

/// The `[project]` table, resolved.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: Name,
    /// Absolute folder where resources are linked.
    pub link_dir: PathBuf,
    pub link_mode: LinkMode,
    /// Content-addressed mirrors tried before the sources of a pinned
    /// resource, folders made absolute.
    pub mirrors: Vec<crate::source::Mirror>,
    /// `[[project.remote]]`: the project's remotes.
    pub remotes: Vec<crate::remote::RemoteConfig>,
    /// Where `link_dir` is written, for diagnostics; `None` when it is not.
    pub link_dir_span: Option<Range<usize>>,
}

/// One declared resource.
#[derive(Debug, Clone)]
pub struct Resource {
    pub name: Name,
    /// Tried in order.
    pub sources: Vec<SourceEntry>,
    /// `None` until pinned.
    pub sha256: Option<Sha256Digest>,
    pub size: Option<u64>,
    pub purpose: String,
    pub requested_by: Option<String>,
    /// Keep seeding torrent sources from the store (`seed`, default true).
    pub seed: bool,
    /// Declared executable (`executable = true`).
    pub executable: bool,
    /// Names of resources of this manifest this one was made from.
    pub derived_from: Vec<Name>,
    /// The name's span in `[resources.NAME]`, for diagnostics about the entry.
    pub span: Range<usize>,
}

/// A source as written and as resolved.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    pub spec: SourceSpec,
    pub source: Source,
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no manifest at `{}`", path.display())]
    NotFound { path: PathBuf },
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is larger than {}, the most crp reads", path.display(), crate::units::ByteCount(*limit))]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}", summary(.0))]
    Invalid(Box<Report>),
}

fn summary(report: &Report) -> String {
    match report.diagnostics.len() {
        1 => format!("`{}` has a problem; nothing was changed", report.path),
        n => format!("`{}` has {n} problems; nothing was changed", report.path),
    }
}

impl ManifestError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::NotFound { .. } => {
                Some("run `crp init` to create one, or point at it with `--manifest PATH`")
            }
            Self::TooLarge { .. } => Some(
                "split it into several projects, or check that the path names the file you mean",
            ),
            _ => None,
        }
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`, and checks that its
    /// `link_dir` is inside its folder on this machine (see
    /// [`Manifest::confine`]).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let manifest = Self::read(path)?;
        manifest.confine()?;
        Ok(manifest)
    }

    /// Reads and validates the manifest at `path`, as text only.
    fn read(path: &Path) -> Result<Self, ManifestError> {
        Self::from_text(path, read_text(path)?)
    }

    /// Validates `text` as the manifest found at `path`.
    pub fn from_text(path: &Path, text: String) -> Result<Self, ManifestError> {
        let parsed = match parse::parse(&text) {
            Ok(parsed) => parsed,
            Err(diagnostics) => return Err(Self::invalid(path, text, diagnostics)),
        };
        let abs_path = absolute(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = abs_path.parent().map(Path::to_owned).unwrap_or_default();
        let raw_project = parsed.project;
        let project = Project {
            name: raw_project.name,
            link_dir: dir.join(
                raw_project
                    .link_dir
                    .as_ref()
                    .map_or(schema::DEFAULT_LINK_DIR, |d| d.get_ref().0.as_str()),
            ),
            link_mode: raw_project.link_mode.unwrap_or_default(),
            mirrors: raw_project
                .mirrors
                .into_iter()
                .map(|m| m.resolve(&dir))
                .collect(),
            remotes: raw_project.remotes,
            link_dir_span: raw_project.link_dir.as_ref().map(Spanned::span),
        };
        let resources = parsed
            .resources
            .into_iter()
            .map(|parsed| {
                let raw = parsed.raw;
                let specs: Vec<SourceSpec> = match (raw.source, raw.sources) {
                    (Some(one), _) => vec![one.into_inner()],
                    (None, Some(many)) => many
                        .into_inner()
                        .into_iter()
                        .map(|s| s.into_inner())
                        .collect(),
                    (None, None) => unreachable!("validated: every resource has a source"),
                };
                Resource {
                    name: parsed.name,
                    sources: specs
                        .into_iter()
                        .map(|spec| SourceEntry {
                            source: spec.resolve(&dir),
                            spec,
                        })
                        .collect(),
                    sha256: raw.sha256,
                    size: raw.size.map(|s| s.0),
                    purpose: raw.purpose.0,
                    requested_by: raw.requested_by,
                    seed: raw.seed.unwrap_or(true),
                    executable: raw.executable.unwrap_or(false),
                    derived_from: raw
                        .derived_from
                        .map(|d| d.into_inner().into_iter().map(|n| n.into_inner()).collect())
                        .unwrap_or_default(),
                    span: parsed.name_span,
                }
            })
            .collect();
        Ok(Self {
            path: path.to_owned(),
            abs_path,
            dir,
            text,
            project,
            resources,
        })
    }

    /// The manifest as its file says now: `self` if unchanged, else read and
    /// validated again. Either way `link_dir` is checked again, since what
    /// it leads to may have changed.
    pub fn reload(self) -> Result<Self, ManifestError> {
        let text = read_text(&self.path)?;
        let manifest = if text == self.text {
            self
        } else {
            Self::from_text(&self.path, text)?
        };
        manifest.confine()?;
        Ok(manifest)
    }

    /// Checks that `link_dir`, with every symbolic link on the way to it
    /// resolved, is inside the manifest's folder: a manifest must never make
    /// crp write anywhere else (someone's `PATH`, say). What exists of the
    /// path is resolved; what does not yet exist is plain names, checked when
    /// the manifest was read.
    pub fn confine(&self) -> Result<(), ManifestError> {
        let Some(problem) = link_dir_escapes(&self.dir, &self.project.link_dir) else {
            return Ok(());
        };
        Err(self.error(vec![
            Diagnostic::new(
                format!(
                    "`link_dir` leads outside the project: {problem}",
                ),
                self.project.link_dir_span.clone(),
            )
            .label("must stay inside the manifest's folder")
            .hint(format!(
                "links are made only inside `{}`; point `link_dir` at a folder there (and not at a symbolic link that leaves it)",
                self.dir.display()
            )),
        ]))
    }

    /// An error pointing at places in this manifest.
    pub fn error(&self, diagnostics: Vec<Diagnostic>) -> ManifestError {
        Self::invalid(&self.path, self.text.clone(), diagnostics)
    }

    fn invalid(path: &Path, text: String, diagnostics: Vec<Diagnostic>) -> ManifestError {
        ManifestError::Invalid(Box::new(Report {
            path: path.display().to_string(),
            text,
            diagnostics,
        }))
    }

    /// This project's record id in the store: its name for people, and a
    /// hash of the manifest's absolute path so two checkouts stay apart.
    pub fn project_id(&self) -> String {
        let hash = Sha256Digest::of_bytes(self.abs_path.as_os_str().as_encoded_bytes());
        format!("{}-{}", self.project.name, &hash.hex()[..16])
    }

    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name.as_str() == name)
    }
}

/// Why `link_dir` is not inside `dir` once symbolic links are resolved, if
/// it is not.
fn link_dir_escapes(dir: &Path, link_dir: &Path) -> Option<String> {
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    // The deepest part of the path that exists (a dangling symbolic link
    // counts: it exists, and leads nowhere crp may go).
    let mut existing = link_dir;
    while fs_err::symlink_metadata(existing).is_err() {
        existing = existing.parent()?;
    }
    match existing.canonicalize() {
        Ok(real) if real.starts_with(&root) => None,
        Ok(real) => Some(format!(
            "`{}` resolves to `{}`",
            existing.display(),
            real.display()
        )),
        Err(_) => Some(format!(
            "`{}` is a symbolic link to `{}`, which does not exist",
            existing.display(),
            fs_err::read_link(existing)
                .map(|t| t.display().to_string())
                .unwrap_or_default()
        )),
    }
}

/// An absolute path whose folder has its symbolic links resolved, so that one
/// project reached by two paths is still one project.
fn absolute(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(parent) => Ok(parent.join(name)),
            Err(_) => Ok(abs),
        },
        _ => Ok(abs),
    }
}

impl Resource {
    /// The first source, for one-line displays.
    pub fn primary_source(&self) -> &SourceEntry {
        &self.sources[0]
    }

    /// The sources fetched directly (HTTP, files), in order: what the store
    /// remembers of an unpinned entry is keyed by them.
    pub fn direct_sources(&self) -> Vec<&Source> {
        self.sources
            .iter()
            .map(|s| &s.source)
            .filter(|s| !s.is_torrent())
            .collect()
    }

    /// Whether any source needs BitTorrent.
    pub fn needs_torrent(&self) -> bool {
        self.sources.iter().any(|s| s.source.is_torrent())
    }
}
