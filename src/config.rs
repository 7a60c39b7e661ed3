//! The store's configuration: `<store>/meta/config.toml`, overridden by
//! environment variables.
//!
//! ```toml
//! mirrors = ["https://cache.example.org/cas/", "file:///mnt/usb/cas/"]
//!
//! [[remote]]                  # see `crate::remote`; `crp remote add` writes these
//! name = "team"
//! url = "s3://crp-cache/team"
//! endpoint = "https://s3.example.org"
//!
//! [torrent]
//! rpc_url = "http://127.0.0.1:9091/transmission/rpc"  # CRP_TRANSMISSION_URL
//! user = "crp"                                          # CRP_TRANSMISSION_USER
//! password = "…"                                        # CRP_TRANSMISSION_PASSWORD
//! timeout = "30s"                                       # CRP_TRANSMISSION_TIMEOUT
//! seed = true         # keep seeding from the store after a download
//! seed_ratio = 2.0    # stop seeding at this upload ratio
//! seed_time = "7d"    # stop seeding after this long
//!
//! [[notify]]
//! command = ["notify-send", "crp"]           # run with CRP_* variables set
//! on = ["available", "failed", "awaiting-approval"]
//! timeout = "30s"
//!
//! [bridge]
//! folder = "/srv/bridge/inbox"   # Markdown messages with front matter
//! from = "crp"
//! to = "humans"
//! ```
//!
//! Every key is optional. The file belongs to whoever looks after the store;
//! crp writes it only when asked to (`crp remote add|remove`), keeping
//! everything else in it as it was.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::diagnostic::Diagnostic;
use crate::manifest::ManifestError;

/// Where transmission's RPC listens unless told otherwise.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:9091/transmission/rpc";

/// The store's configuration, as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub torrent: TorrentConfig,
    /// Commands run when a resource becomes available, fails, or starts
    /// waiting for approval.
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    /// Where bridge messages go.
    #[serde(default)]
    pub bridge: Option<BridgeConfig>,
    /// Garbage collection.
    #[serde(default)]
    pub gc: GcConfig,
    /// Content-addressed mirrors (`https://…`, `file:///…`, or a folder,
    /// relative to the store) tried, by sha256, before a pinned resource's
    /// sources, after the project's own.
    #[serde(default)]
    pub mirrors: Vec<crate::source::Mirror>,
    /// `[[remote]]`: S3-compatible remotes, tried by sha256 before mirrors
    /// and sources, and pushed to (see [`crate::remote`]).
    #[serde(
        default,
        rename = "remote",
        deserialize_with = "crate::remote::deserialize_remotes"
    )]
    pub remotes: Vec<crate::remote::RemoteConfig>,
}

/// `[gc]`: archiving objects no project needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    /// How long an object must have been unreferenced (and a stale
    /// project's references kept) before it is archived (default 30 days).
    #[serde(default, with = "humantime_serde_opt")]
    pub grace: Option<Duration>,
    /// The cold-storage folder (default `<store>/cold`); relative paths
    /// start at the store. It may be on another disk, or a remote
    /// (`s3://bucket/prefix`, checked here so that a bad one is reported
    /// at its place in the file).
    #[serde(default, deserialize_with = "cold_tier")]
    pub cold: Option<PathBuf>,
}

fn cold_tier<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    use serde::de::Error;
    let path = PathBuf::deserialize(deserializer)?;
    let text = path.to_string_lossy();
    if let Some(url) = text.strip_prefix("s3://").map(|_| text.as_ref()) {
        url.parse::<crate::remote::BucketUrl>()
            .map_err(Error::custom)?;
        return Ok(Some(path));
    }
    let neither = |why: &str| {
        Error::custom(format!(
            "`{}` {why}: `cold` is a folder (relative paths start at the store) or `s3://bucket/prefix`",
            text.escape_debug()
        ))
    };
    // A URL of another kind, or `s3://` mistyped, is not a folder name.
    let scheme = text.split_once(':').is_some_and(|(head, _)| {
        !head.is_empty()
            && head.starts_with(|c: char| c.is_ascii_alphabetic())
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if scheme {
        return Err(neither("is a URL crp cannot archive to"));
    }
    if text.trim() != text || text.is_empty() {
        return Err(neither("is empty or starts or ends with spaces"));
    }
    if text.chars().any(char::is_control) || text.starts_with('~') {
        return Err(neither(
            "holds a control character or starts with `~` (which no shell expands here)",
        ));
    }
    // Relative to the store, as written: never the store itself or what it
    // keeps (`inspect::gc::GcSettings::resolve` checks the folder it
    // resolves to).
    if path.is_relative()
        && let Some(why) = store_own_folder(&path)
    {
        return Err(neither(why));
    }
    Ok(Some(path))
}

/// Why `path`, relative to a store (`..` taken lexically), cannot hold its
/// cold storage: it is the store itself, or a folder the store keeps its
/// own files in.
pub fn store_own_folder(path: &Path) -> Option<&'static str> {
    use std::path::Component;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            // Above the store: somewhere else.
            Component::ParentDir if parts.pop().is_none() => return None,
            Component::ParentDir => {}
            Component::Normal(name) => parts.push(name),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    match parts.first() {
        None => Some("is the store itself"),
        Some(first)
            if [
                "objects",
                "meta",
                ".incomplete",
                "quarantine",
                "seeding",
                "watch",
            ]
            .iter()
            .any(|kept| *first == std::ffi::OsStr::new(kept)) =>
        {
            Some("is a folder the store keeps its own files in")
        }
        Some(_) => None,
    }
}

/// One `[[notify]]` hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The program and its arguments; no shell is involved.
    pub command: Vec<String>,
    /// The events it runs for: `available`, `failed`, `awaiting-approval`
    /// (all three when not given).
    #[serde(default)]
    pub on: Option<Vec<NoticeKind>>,
    /// How long it may run before it is stopped (default 30 s).
    #[serde(default, with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
}

/// `[bridge]`: the collective's message folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The folder messages are written into (relative paths start at the
    /// store).
    pub folder: PathBuf,
    /// `From:` of every message (default `crp`).
    #[serde(default)]
    pub from: Option<String>,
    /// `To:` of every message (default `humans`).
    #[serde(default)]
    pub to: Option<String>,
    /// Also write a message when a resource becomes available (default true).
    #[serde(default)]
    pub completions: Option<bool>,
}

/// `[torrent]`: the daemon and seeding.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorrentConfig {
    pub rpc_url: Option<Url>,
    pub user: Option<String>,
    pub password: Option<String>,
    #[serde(default, with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
    pub seed: Option<bool>,
    pub seed_ratio: Option<f64>,
    #[serde(default, with = "humantime_serde_opt")]
    pub seed_time: Option<Duration>,
}

impl fmt::Debug for TorrentConfig {
    /// The password is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TorrentConfig")
            .field(
                "rpc_url",
                &self.rpc_url.as_ref().map(crate::source::redact_url),
            )
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("timeout", &self.timeout)
            .field("seed", &self.seed)
            .field("seed_ratio", &self.seed_ratio)
            .field("seed_time", &self.seed_time)
            .finish()
    }
}

/// Durations written as people write them ("30s", "7d").
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(Some)
            .map_err(|err| serde::de::Error::custom(format!("invalid duration `{text}`: {err}")))
    }
}

/// The file's path in a store.
pub fn path(store_root: &Path) -> PathBuf {
    store_root.join("meta").join("config.toml")
}

impl Config {
    /// Reads `<store>/meta/config.toml`; a missing file is an empty one.
    /// Problems are reported like manifest problems, at `file:line:col`.
    pub fn load(store_root: &Path) -> Result<Self, ManifestError> {
        let path = path(store_root);
        match read_toml_text(&path)? {
            None => Ok(Self::default()),
            Some(text) => {
                // Two remotes of a name (the second is the one to point
                // at), and what else serde cannot tell where it is.
                if let Ok(root) = toml::de::DeTable::parse(&text)
                    && let Some(toml::de::DeValue::Array(remotes)) =
                        root.get_ref().get("remote").map(toml::Spanned::get_ref)
                {
                    let diagnostics = crate::remote::table_problems(remotes);
                    if !diagnostics.is_empty() {
                        return Err(ManifestError::Invalid(Box::new(
                            crate::diagnostic::Report {
                                path: path.display().to_string(),
                                text,
                                diagnostics,
                            },
                        )));
                    }
                }
                let mut config: Self =
                    parse_toml(&path, &text, "invalid store configuration", None)?;
                config.mirrors = std::mem::take(&mut config.mirrors)
                    .into_iter()
                    .map(|m| m.resolve(store_root))
                    .collect();
                Ok(config)
            }
        }
    }
}

/// The text of a TOML file crp reads (configuration, policy, approvals,
/// drift ignores); `None` when there is no such file.
pub(crate) fn read_toml_text(path: &Path) -> Result<Option<String>, ManifestError> {
    match crate::manifest::read_text_capped(path, MAX_SIZE) {
        Ok(text) => Ok(Some(text)),
        Err(ManifestError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The largest configuration, policy, approvals or drift-ignore file crp
/// reads: far more than any needs.
pub const MAX_SIZE: u64 = 16 << 20;

/// Parses such a file's text; a problem is reported at `file:line:col`
/// under `headline`, with `hint` when one helps.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    headline: &str,
    hint: Option<&str>,
) -> Result<T, ManifestError> {
    toml::from_str(text).map_err(|err| {
        let diagnostic = Diagnostic::new(headline, err.span())
            .label(err.message().trim_end().to_owned())
            .hint_opt(hint);
        ManifestError::Invalid(Box::new(crate::diagnostic::Report {
            path: path.display().to_string(),
            text: text.to_owned(),
            diagnostics: vec![diagnostic],
        }))
    })
}

/// The events hooks and messages are sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    Available,
    Failed,
    AwaitingApproval,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Failed => "failed",
            Self::AwaitingApproval => "awaiting-approval",
        }
    }
}
