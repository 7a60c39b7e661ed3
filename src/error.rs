//! Exit codes, and the errors that decide them.
//!
//! Commands return `anyhow::Result<ExitStatus>`; an error's class decides the
//! exit code: invalid input (a manifest, a flag, a `--locked` violation, a
//! folder that is not a store) is 2, anything else that stopped the work is 1.

use std::process::ExitCode;

use crate::manifest::ManifestError;
use crate::store::StoreError;
use crate::store::lock::LockError;
use crate::torrent::TorrentError;
use crate::torrent::daemon::DaemonError;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done.
    Success,
    /// The work could not be completed: a fetch or verification failed,
    /// something is missing in `--offline`, a link conflicts.
    Failure,
    /// Invalid input: the manifest, flags or a `--locked` violation.
    Input,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => Self::SUCCESS,
            ExitStatus::Failure => Self::from(1),
            ExitStatus::Input => Self::from(2),
        }
    }
}

/// Invalid input that is not a manifest's content: a flag, a name, a file
/// that already exists.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The exit status for an error that stopped a command.
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    let input = err.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<crate::settings::InvalidSetting>()
            || cause.is::<ManifestError>()
            || cause.is::<DaemonError>()
                && matches!(
                    cause.downcast_ref::<DaemonError>(),
                    Some(DaemonError::Configured { .. })
                )
            || matches!(
                cause.downcast_ref::<TorrentError>(),
                Some(TorrentError::BadUrl { .. })
            )
            || cause
                .downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_input_error)
            // Credentials the environment or the AWS files name and that
            // cannot be used.
            || matches!(
                cause.downcast_ref::<crate::s3::RemoteError>(),
                Some(crate::s3::RemoteError::NoCredentials { .. })
            )
    });
    if input {
        ExitStatus::Input
    } else {
        ExitStatus::Failure
    }
}

/// What to do about an error, when crp knows.
pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<UsageError>() {
            e.hint.clone()
        } else if let Some(e) = cause.downcast_ref::<crate::settings::InvalidSetting>() {
            Some(e.hint())
        } else if let Some(e) = cause.downcast_ref::<ManifestError>() {
            e.hint().map(str::to_owned)
        } else if let Some(e) = cause.downcast_ref::<StoreError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<LockError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<TorrentError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<DaemonError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<crate::s3::RemoteError>() {
            e.hint()
        } else {
            cause
                .downcast_ref::<crate::plan::review::NotAllowed>()
                .map(|e| e.hint().to_owned())
        }
    })
}
