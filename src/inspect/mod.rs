//! Looking at the store and at manifests, and curating the store, without
//! changing what a project declares: re-hashing objects and quarantining
//! bad ones ([`verify`]), the drift report ([`drift`]), what a manifest
//! change brings ([`diff`]), and archiving what nothing references, and
//! restoring it ([`gc`]).

pub mod diff;
pub mod drift;
pub mod gc;
pub mod verify;
