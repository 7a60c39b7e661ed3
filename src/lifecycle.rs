//! The lifecycle of a request and of an object: the states an object
//! record holds and the event log's transitions move between (see
//! [`crate::provenance`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The lifecycle states of the collective, plus how a request can end
/// without an object (`denied`, `failed`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Requested,
    Evaluating,
    AwaitingApproval,
    Approved,
    Downloading,
    Verifying,
    #[default]
    Available,
    Seeding,
    Archived,
    Removed,
    Denied,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Evaluating => "evaluating",
            Self::AwaitingApproval => "awaiting-approval",
            Self::Approved => "approved",
            Self::Downloading => "downloading",
            Self::Verifying => "verifying",
            Self::Available => "available",
            Self::Seeding => "seeding",
            Self::Archived => "archived",
            Self::Removed => "removed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
