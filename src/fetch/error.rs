//! Why a fetch, or one of its sources, failed.

use std::fmt;
use std::path::PathBuf;

use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::store::StoreError;
use crate::store::lock::LockError;
use crate::torrent::TorrentState;

use super::http;

/// An error and its causes, on one line.
pub(crate) fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why one source did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (`Retry-After`: {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: reqwest::StatusCode,
        /// How long the server asks to wait before trying again.
        retry_after: Option<std::time::Duration>,
    },
    #[error("HTTP {status}: the server asks to retry after {}s, longer than crp waits ({}s); try again later or use another source", wait.as_secs(), http::RETRY_AFTER_MAX.as_secs())]
    RetryTooLate {
        status: reqwest::StatusCode,
        wait: std::time::Duration,
    },
    #[error("slower than the floor of {}/s: {} in the last {}s; set `CRP_HTTP_MIN_RATE` to wait for slower sources", crate::units::ByteCount(*rate), crate::units::ByteCount(*got), window.as_secs())]
    TooSlow {
        got: u64,
        window: std::time::Duration,
        rate: u64,
    },
    #[error("{0}")]
    Redirect(String),
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Tls(String),
    #[error("sha256 mismatch:\n    expected {expected}\n    actual   {actual}")]
    HashMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error(
        "sha256 mismatch:\n    expected {expected}\n    actual   {actual}\n  the data was quarantined in `{}` and never became an object",
        quarantined.display()
    )]
    QuarantinedMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error("its content is executable ({finding}) and was quarantined in `{}`", quarantined.display())]
    Executable {
        finding: String,
        sha256: Sha256Digest,
        quarantined: PathBuf,
    },
    #[error(
        "its content ({sha256}, in the store already) is executable, and the manifest does not declare `executable = true`"
    )]
    UndeclaredExecutable { sha256: Sha256Digest },
    /// The source confirmed it still serves what was quarantined on an
    /// earlier try; nothing was downloaded.
    #[error("it still serves the executable content ({finding}) that was quarantined in `{}`, and the manifest does not declare `executable = true`", quarantined.display())]
    StillQuarantined {
        finding: String,
        quarantined: PathBuf,
    },
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("the server announced {announced} bytes, but the manifest declares {expected}")]
    AnnouncedSize { expected: u64, announced: u64 },
    #[error("the body passed the declared size of {limit} bytes; stopped reading")]
    TooLarge { limit: u64 },
    #[error("the download passed {}, the most crp fetches without a declared size under the store's policy; declare its `size` so the policy can judge it", crate::units::Size(*limit))]
    OverCap { limit: u64 },
    #[error("it would take the store over its quota of {}; refused before writing it", crate::units::Size(*quota))]
    Quota { quota: u64 },
    #[error("cannot read it: {}", crate::fsutil::without_path(source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write to the store: {0}")]
    Write(#[source] std::io::Error),
    #[error("{0}")]
    Torrent(String),
    /// A remote's fault, in words that name it.
    #[error("{0}")]
    Remote(String),
}

impl SourceError {
    /// Worth trying the same source again after a pause.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => {
                status.is_server_error()
                    || *status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// How long the server asked to wait before the next attempt.
    pub(super) fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(super) fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            Self::Status { status, .. } | Self::RetryTooLate { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The source served (or announced) other bytes than the pinned ones:
    /// from a remote or a hashed mirror, its copy is wrong.
    pub fn is_other_bytes(&self) -> bool {
        matches!(
            self,
            Self::HashMismatch { .. } | Self::SizeMismatch { .. } | Self::AnnouncedSize { .. }
        )
    }

    /// What to add to a warning about a remote's copy that failed so: how
    /// to mend a wrong copy, or nothing.
    pub(super) fn remote_mend(&self) -> &'static str {
        match self.is_other_bytes() {
            true => " (`crp push` from a store that has the object replaces it)",
            false => "",
        }
    }

    /// A failure of this machine rather than of the source: no other source
    /// would do better.
    pub(super) fn is_local(&self) -> bool {
        matches!(
            self,
            Self::Write(_) | Self::Quota { .. } | Self::OverCap { .. }
        )
    }
}

/// One source's failure.
#[derive(Debug)]
pub struct SourceFailure {
    pub source: String,
    pub error: SourceError,
    /// The source was a content-addressed mirror, not a declared one: what
    /// it did wrong does not count against the project.
    pub mirror: bool,
}

/// Why an object could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}", Failures(resource, failures))]
    Failed {
        resource: Name,
        failures: Vec<SourceFailure>,
    },
    #[error("`{resource}` is not complete yet: {state}")]
    Pending { resource: Name, state: TorrentState },
    #[error("`{resource}` holds executable content ({finding}), and the manifest does not declare `executable = true`; quarantined at `{}`", quarantined.display())]
    Executable {
        resource: Name,
        finding: String,
        sha256: Sha256Digest,
        quarantined: PathBuf,
    },
    /// New content that [`Admit`](super::Admit) kept out of the store.
    #[error("`{resource}` now serves {sha256} ({}), which may not come in: {verdict}", crate::units::ByteCount(*size))]
    Held {
        resource: Name,
        sha256: Sha256Digest,
        size: u64,
        verdict: Box<crate::policy::Verdict>,
    },
    #[error("failed to store `{resource}`")]
    Store {
        resource: Name,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
}

struct Failures<'a>(&'a Name, &'a [SourceFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to fetch `{}`", self.0)?;
        for failure in self.1 {
            write!(f, "\n  from {}: {}", failure.source, failure.error)?;
        }
        Ok(())
    }
}
