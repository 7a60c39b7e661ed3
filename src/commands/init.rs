//! `crp init`: a commented `resources.toml` to start from.

use crate::cli::{Format, GlobalArgs, InitArgs};
use crate::error::ExitStatus;
use crate::fsutil::display_path;
use crate::ops::init;
use crate::report::{InitDocument, Printer, SCHEMA_VERSION};

pub(super) fn run(
    global: &GlobalArgs,
    args: &InitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = &global.manifest;
    let name = init::init(global.store.as_deref(), path, args.name.as_deref())?;
    match printer.format {
        Format::Json => printer.json(&InitDocument {
            schema_version: SCHEMA_VERSION,
            command: "init".into(),
            manifest: path.clone(),
            project: name,
        }),
        _ => printer.out(format!(
            "created `{}` for project `{name}`; add resources with `crp add SOURCE --purpose TEXT`",
            display_path(path)
        )),
    }
    Ok(ExitStatus::Success)
}
