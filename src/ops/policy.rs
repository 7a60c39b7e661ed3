//! `crp policy check|init`: judging a manifest, and writing a policy file.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::UsageError;
use crate::manifest::Manifest;
use crate::name::Name;
use crate::policy::{self, Policy, Verdict};
use crate::progress::{Messages, Reporter};

use super::Session;

/// A resource, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedResource {
    pub name: Name,
    /// Whether the store holds it already.
    pub present: bool,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Each resource of the manifest at `manifest`, judged by the store's
/// policy: its name, whether the store holds it, and its verdict. Changes
/// nothing.
///
/// # Errors
/// An invalid manifest, or a store, policy or ledger that cannot be read.
pub fn check(
    store: Option<&Path>,
    manifest: &Path,
    approvals: &[std::path::PathBuf],
    reporter: Arc<dyn Reporter>,
    messages: &dyn Messages,
) -> anyhow::Result<(Name, Vec<CheckedResource>)> {
    let manifest = Manifest::load(manifest)?;
    let session = Session::read_only(store, reporter, messages)?;
    let plan = session.read_only_plan(&manifest, approvals)?;
    Ok((
        manifest.project.name.clone(),
        plan.resources
            .into_iter()
            .map(|r| CheckedResource {
                name: r.name,
                present: r.present,
                verdict: r.verdict,
            })
            .collect(),
    ))
}

/// The store's root and its effective policy.
///
/// # Errors
/// A store path that cannot be resolved, or a policy that does not parse.
pub fn show(store: Option<&Path>) -> anyhow::Result<(std::path::PathBuf, Policy)> {
    let store = crate::store::Store::open(store)?;
    store.check()?;
    let policy = Policy::load(store.root())?;
    Ok((store.root().to_owned(), policy))
}

/// Writes a policy file into the store at `store` (created if needed): the
/// collective's or the default, written out; refuses to replace one unless
/// `force`. Returns its path.
///
/// # Errors
/// A policy file that exists (without `force`), or a store that cannot be
/// created or written.
pub fn init(
    store: Option<&Path>,
    collective: bool,
    force: bool,
) -> anyhow::Result<std::path::PathBuf> {
    let store = crate::store::Store::open(store)?;
    let path = policy::path(store.root());
    if path.exists() && !force {
        return Err(
            UsageError::new(format!("`{}` exists already", path.display()))
                .hint("pass `--force` to replace it")
                .into(),
        );
    }
    let text = if collective {
        policy::COLLECTIVE
    } else {
        DEFAULT_FILE
    };
    // Written only if it parses: a policy crp cannot read would stop every sync.
    Policy::parse(&path, text)?;
    store.create()?;
    crate::fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// The default policy, written out so people can see and change it.
const DEFAULT_FILE: &str = r#"# crp policy: which requests crp fetches on its own, which wait for a
# person (`crp pending`, `crp approve`, `crp deny`), and the limits that no
# approval overrides. These are the defaults; `crp policy show` prints the
# effective policy and where each value comes from.

[limits]
# max_size = "100 GB"
# quota = "2 TB"
schemes = ["https", "http", "file", "magnet", "torrent"]

[approval]
larger_than = "1 GB"
unknown_source = false
trusted_hosts = []
first_request = false
# Declared executable content (`executable = true`) needs no person by
# default; executable content that is not declared is always quarantined.
executable = false
version_change = false
approval_files = true
"#;
