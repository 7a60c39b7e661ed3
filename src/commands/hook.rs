//! `crp hook torrent-done`: transmission-daemon's completion script (see
//! [`crate::ops::hook`]).

use crate::cli::{Format, GlobalArgs, HookArgs};
use crate::error::ExitStatus;
use crate::ops::hook;
use crate::report::{HookDocument, Printer, SCHEMA_VERSION};

pub(super) async fn torrent_done(
    global: &GlobalArgs,
    args: &HookArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let ingested = hook::torrent_done(
        global.store.as_deref(),
        args.info_hash.clone(),
        printer.reporter(),
        printer,
    )
    .await?;
    let hook::Ingested {
        info_hash,
        name,
        sha256,
        size,
    } = ingested;
    match printer.format {
        Format::Json => printer.json(&HookDocument {
            schema_version: SCHEMA_VERSION,
            command: "hook torrent-done".into(),
            info_hash,
            name,
            sha256,
            size,
        }),
        _ => printer.out(format!("ingested `{name}` ({info_hash}) as {}", sha256)),
    }
    Ok(ExitStatus::Success)
}
