//! `crp torrent daemon start|stop`: the JSON document and the line.

use serde::{Deserialize, Serialize};

use crate::cli::Format;
use crate::torrent::daemon::DaemonState;

use super::{Printer, SCHEMA_VERSION};

/// `crp torrent daemon start|stop` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonDocument {
    pub schema_version: u32,
    pub command: String,
    /// Whether the daemon runs now.
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
}

/// Prints the daemon's state after `start` or `stop`, and `message` in
/// text.
pub fn print(printer: &Printer, state: Option<DaemonState>, running: bool, message: String) {
    match printer.format() {
        Format::Json => printer.json(&DaemonDocument {
            schema_version: SCHEMA_VERSION,
            command: printer.command().into(),
            running,
            pid: state.as_ref().map(|s| s.pid),
            rpc_url: state.map(|s| s.rpc_url.to_string()),
        }),
        _ => printer.out(message),
    }
}
