//! `crp schema`: the JSON Schema of `resources.toml`.

use crate::error::ExitStatus;
use crate::manifest::schema::json_schema;

pub(super) fn run() -> ExitStatus {
    crate::stdio::out!("{}", json_schema());
    ExitStatus::Success
}
