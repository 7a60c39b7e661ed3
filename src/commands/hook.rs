//! `crp hook torrent-done`: transmission-daemon's completion script.
//!
//! The daemon runs it with no arguments and the finished torrent in
//! `TR_TORRENT_HASH`, `TR_TORRENT_NAME` and `TR_TORRENT_DIR`. A torrent a
//! manifest asked for is verified and ingested exactly as `crp sync` would;
//! one nobody asked for (from the watch folder, or added by hand) becomes an
//! unreferenced object recording its info-hash. Either way a line goes to
//! the store's completion log.

use anyhow::Context as _;

use crate::cli::{Format, GlobalArgs};
use crate::config::Config;
use crate::error::{ExitStatus, UsageError};
use crate::report::{HookDocument, Printer, SCHEMA_VERSION};
use crate::store::Store;
use crate::torrent::ingest::{By, Ingest};
use crate::torrent::{
    CompletionLine, Daemon, TorrentSettings, enforce_seed_time, info_hash_of_file, log_completion,
};

pub(super) async fn torrent_done(
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let info_hash = std::env::var("TR_TORRENT_HASH")
        .ok()
        .filter(|h| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|h| h.to_ascii_lowercase())
        .ok_or_else(|| {
            UsageError::new("`TR_TORRENT_HASH` is not set to an info-hash")
                .hint("transmission-daemon runs this as its `script-torrent-done`; `crp torrent daemon start` sets that up")
        })?;
    let name = std::env::var("TR_TORRENT_NAME").unwrap_or_default();
    let store = Store::open(global.store.as_deref())?;
    store.create()?;
    let config = Config::load(store.root())?;
    let settings = TorrentSettings::resolve(&store, &config)?;
    let reporter = printer.reporter();
    let daemon = Daemon::connect(&settings).await?;
    let unrequested = if from_watch_folder(&store, &info_hash) {
        "watch-folder"
    } else {
        "daemon"
    };
    let ingest = Ingest {
        store: &store,
        daemon: &daemon,
        settings: &settings,
        reporter: &*reporter,
        by: By::Hook,
    };
    let _reading = store
        .lock_store_shared(&format!("ingesting torrent {info_hash}"), &*reporter)
        .await?;
    let result = ingest.run(&info_hash, unrequested).await;
    if let Err(err) = &result
        && !matches!(
            err,
            crate::torrent::ingest::IngestError::Mismatch { .. }
                | crate::torrent::ingest::IngestError::Executable { .. }
        )
    {
        // A mismatch is logged where it is found; anything else here.
        let _ = log_completion(
            &store,
            &CompletionLine {
                time: crate::store::record::Timestamp::now(),
                name: name.clone(),
                info_hash: info_hash.clone(),
                size: 0,
                result: "failed".into(),
                sha256: None,
                by: "hook".into(),
                detail: Some(err.to_string()),
            },
        );
    }
    let ingested =
        result.with_context(|| format!("failed to ingest torrent `{name}` ({info_hash})"))?;
    if let Some(limit) = settings.seed_time
        && let Err(err) = enforce_seed_time(&daemon, &store, limit).await
    {
        printer.warn(format!("could not apply `seed_time`: {err}"));
    }
    match printer.format {
        Format::Json => printer.json(&HookDocument {
            schema_version: SCHEMA_VERSION,
            command: "hook torrent-done".into(),
            info_hash,
            name,
            sha256: ingested.sha256,
            size: ingested.size,
        }),
        _ => printer.out(format!(
            "ingested `{name}` ({info_hash}) as {}",
            ingested.sha256
        )),
    }
    Ok(ExitStatus::Success)
}

/// Whether the torrent came from the store's watch folder, where the daemon
/// renames what it picked up to `*.torrent.added`.
fn from_watch_folder(store: &Store, info_hash: &str) -> bool {
    let Ok(entries) = fs_err::read_dir(store.watch_dir()) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        (name.ends_with(".torrent") || name.ends_with(".torrent.added"))
            && info_hash_of_file(&entry.path()).as_deref() == Some(info_hash)
    })
}
