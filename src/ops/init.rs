//! `crp init`: a commented `resources.toml` to start from.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::error::UsageError;
use crate::fsutil;
use crate::manifest::Manifest;
use crate::name::{NAME_RULES, Name};

/// The copy of the schema `crp init` writes beside the manifest.
pub const SCHEMA_FILE: &str = "resources.schema.json";

/// What `crp init` wrote.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub name: Name,
    /// The schema beside the manifest, which its `#:schema` line names.
    pub schema: PathBuf,
    /// Whether `crp init` wrote it (else it was there already).
    pub schema_written: bool,
}

/// Writes a commented manifest at `path` for the project `name` (else the
/// folder's name, made a valid name), and beside it a copy of its JSON
/// Schema ([`SCHEMA_FILE`], unless a file has that name already), which
/// the manifest's `#:schema` line names by a relative path: the pair works
/// in every clone of the repository, and nothing in it names a path of
/// this machine. No store is needed.
///
/// # Errors
/// A file at `path` already, an invalid or underivable name, no folder to
/// write into, or a file that cannot be written.
pub fn init(path: &Path, name: Option<&str>) -> anyhow::Result<Initialized> {
    if fs_err::symlink_metadata(path).is_ok() {
        return Err(
            UsageError::new(format!("`{}` already exists", path.display()))
                .hint("edit it, or add resources with `crp add SOURCE --purpose TEXT`")
                .into(),
        );
    }
    let dir = std::path::absolute(fsutil::parent_of(path))?;
    let name = match name {
        Some(text) => text.parse::<Name>().map_err(|err| {
            UsageError::new(format!("invalid project name `{text}`: {err}")).hint(NAME_RULES)
        })?,
        None => dir
            .file_name()
            .and_then(|n| Name::sanitize(&n.to_string_lossy()))
            .ok_or_else(|| {
                UsageError::new(format!(
                    "cannot derive a project name from `{}`",
                    dir.display()
                ))
                .hint("give one with `--name NAME`")
            })?,
    };

    let text = template(SCHEMA_FILE, &name);
    // What init writes must itself be a valid manifest.
    Manifest::from_text(path, text.clone()).context("the generated manifest does not validate")?;
    if !dir.is_dir() {
        return Err(UsageError::new(format!(
            "no folder `{}` to create the manifest in",
            dir.display()
        ))
        .into());
    }
    // Editors validate the manifest against the copy beside it.
    let schema = path.with_file_name(SCHEMA_FILE);
    let schema_written = fs_err::symlink_metadata(&schema).is_err();
    if schema_written {
        fsutil::write_atomic(&schema, crate::manifest::schema::json_schema().as_bytes())
            .with_context(|| format!("failed to write `{}`", schema.display()))?;
    }
    fsutil::write_atomic(path, text.as_bytes())
        .with_context(|| format!("failed to write `{}`", path.display()))?;

    Ok(Initialized {
        name,
        schema,
        schema_written,
    })
}

fn template(schema: &str, name: &Name) -> String {
    format!(
        r#"#:schema {schema}
# Resources this project needs. `crp sync` fetches each one into the shared
# store, verifies it against its sha256 and links it into `link_dir`.

[project]
name = "{name}"  # identifies this project to the shared store
# link_dir = "resources"  # where resources appear, relative to this file
# link_mode = "symlink"   # symlink | hardlink | copy

# Add resources with `crp add SOURCE --purpose TEXT`, or by hand:
#
# [resources.example-data]
# source = "https://example.org/example-data.tar.gz"  # or sources = ["…", "…"]: mirrors tried in order
# sha256 = "…"      # leave out to pin it on the first `crp sync` (trust on first use)
# size = 123456     # bytes; enforced while downloading
# purpose = "why this project needs it"
# requested_by = "who asked for it"
"#
    )
}
