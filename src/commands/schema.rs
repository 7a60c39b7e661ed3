//! `crp schema`: the JSON Schema of `resources.toml`.

#![allow(clippy::print_stdout)]

use crate::error::ExitStatus;
use crate::manifest::schema::json_schema;

pub(super) fn run() -> ExitStatus {
    print!("{}", json_schema());
    ExitStatus::Success
}
