//! `crp request`: ask people for a resource before declaring it.

use crate::cli::{GlobalArgs, RequestArgs};
use crate::error::ExitStatus;
use crate::ops::request::{self, Request};
use crate::report::Printer;

pub(super) fn run(
    global: &GlobalArgs,
    args: &RequestArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = request::request(
        global.store.as_deref(),
        &Request {
            source: args.source.clone(),
            purpose: args.purpose.clone(),
            size: args.size,
            priority: args.priority.clone(),
            name: args.name.clone(),
            requested_by: args.requested_by.clone(),
        },
    )?;
    crate::report::request::print(printer, &path);
    Ok(ExitStatus::Success)
}
