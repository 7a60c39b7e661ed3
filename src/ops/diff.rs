//! `crp diff BASE [HEAD]`: what a manifest change brings, costs and needs,
//! for the people reviewing it.

use std::path::Path;

use anyhow::Context as _;

use crate::error::UsageError;
use crate::inspect::diff::ManifestDiff;
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::policy::approval::Ledger;
use crate::store::Store;

/// The change from `base` to `head` (the manifest at `manifest` when
/// absent), each a manifest file or a git revision of the manifest's file,
/// judged by the store's policy. Read-only.
///
/// # Errors
/// A revision or file that is not a valid manifest, or a store, policy or
/// ledger that cannot be read.
pub fn diff(
    store: Option<&Path>,
    manifest: &Path,
    base: &str,
    head: Option<&str>,
) -> anyhow::Result<ManifestDiff> {
    let (base, base_label) = load(base, manifest)?;
    let (head, head_label) = match head {
        Some(spec) => load(spec, manifest)?,
        None => (Manifest::load(manifest)?, manifest.display().to_string()),
    };
    let store = Store::open(store)?;
    let exists = store.check()?;
    let policy = Policy::load(store.root())?;
    let ledger = if exists {
        Ledger::load(&store)?
    } else {
        Ledger::default()
    };
    crate::inspect::diff::diff(
        &base,
        &head,
        (&base_label, &head_label),
        &store,
        &policy,
        &ledger,
    )
    .map_err(Into::into)
}

/// A manifest from a file, or from a git revision of the manifest's file.
fn load(spec: &str, manifest: &Path) -> anyhow::Result<(Manifest, String)> {
    if Path::new(spec).is_file() {
        return Ok((Manifest::load(Path::new(spec))?, spec.to_owned()));
    }
    let dir = manifest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let object = format!("{spec}:./{file}");
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["show", &object])
        .output()
        .context("failed to run `git`")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(UsageError::new(format!(
            "`{spec}` is neither a file nor a git revision with `{file}`: {}",
            stderr.trim()
        ))
        .hint("give two git revisions (`origin/main HEAD`) or two manifest files")
        .into());
    }
    if output.stdout.len() as u64 > crate::manifest::MAX_SIZE {
        return Err(crate::manifest::ManifestError::TooLarge {
            path: object.into(),
            limit: crate::manifest::MAX_SIZE,
        }
        .into());
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| UsageError::new(format!("`{object}` is not UTF-8 text")))?;
    // Read as the manifest at its place, so relative sources and the
    // project's identity match the working tree's.
    let parsed = Manifest::from_text(manifest, text)
        .with_context(|| format!("the manifest at revision `{spec}` is invalid"))?;
    Ok((parsed, object))
}
