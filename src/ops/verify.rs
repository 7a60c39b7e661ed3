//! `crp verify`: re-hash objects, and quarantine the corrupted ones.

use std::path::Path;
use std::sync::Arc;

use crate::digest::Sha256Digest;
use crate::inspect::verify::{self, Check, Corrupted};
use crate::manifest::Manifest;
use crate::progress::Reporter;
use crate::provenance::EventLog;
use crate::store::Store;

/// Which objects to re-hash.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every object in the store.
    All,
    /// The objects the manifest at this path declares, as far as present.
    Manifest(&'a Path),
}

/// What re-hashing found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Objects re-hashed, and their bytes.
    pub checked: usize,
    pub bytes: u64,
    /// What was corrupted or unreadable, and where it went.
    pub corrupted: Vec<Corrupted>,
}

/// Re-hashes the objects of `scope` on every core, and quarantines each
/// corrupted or unreadable one (the next sync that needs it fetches it
/// again).
///
/// # Errors
/// A store or manifest that cannot be read, or a quarantine that fails.
pub async fn verify(
    store: Option<&Path>,
    scope: Scope<'_>,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Verified> {
    let store = Store::open(store)?;
    // A folder that is not a store is refused here; no store at all has no
    // objects to check, and nothing is quarantined out of it.
    let exists = store.check()?;
    let manifest = match scope {
        Scope::Manifest(path) => Some(Manifest::load(path)?),
        Scope::All => None,
    };
    if !exists {
        return Ok(Verified {
            checked: 0,
            bytes: 0,
            corrupted: Vec::new(),
        });
    }
    let digests: Vec<Sha256Digest> = match manifest {
        None => store.object_digests()?,
        Some(manifest) => {
            let mut digests: Vec<Sha256Digest> = manifest
                .resources
                .iter()
                .filter_map(|r| r.sha256)
                .filter(|d| store.has_object(d))
                .collect();
            digests.sort();
            digests.dedup();
            digests
        }
    };
    let checks = tokio::task::block_in_place(|| verify::rehash(&store, &digests));
    let events = EventLog::open(&store);
    let mut corrupted = Vec::new();
    let mut bytes = 0;
    let mut checked = 0;
    for (digest, check) in digests.iter().zip(checks) {
        match check {
            Check::Intact { bytes: b } => {
                checked += 1;
                bytes += b;
            }
            Check::Gone => {}
            Check::Corrupted { bytes: b, .. } => {
                checked += 1;
                bytes += b;
                corrupted.extend(verify::quarantine(&store, digest, &events, &*reporter).await?);
            }
            Check::Unreadable { .. } => {
                checked += 1;
                corrupted.extend(verify::quarantine(&store, digest, &events, &*reporter).await?);
            }
        }
    }
    events.flush();
    Ok(Verified {
        checked,
        bytes,
        corrupted,
    })
}
