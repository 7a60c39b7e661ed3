//! `crp hook torrent-done`: transmission-daemon's completion script (see
//! [`crate::ops::hook`]).

use crate::cli::{GlobalArgs, HookArgs};
use crate::error::ExitStatus;
use crate::ops::hook;
use crate::report::Printer;

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
    crate::report::hook::print(printer, ingested);
    Ok(ExitStatus::Success)
}
