//! The `resources.toml` format, exactly as written: serde types that also
//! generate `schema/resources.schema.json` through schemars.
//!
//! Scalars are validated inside `Deserialize` by newtypes, so every error
//! carries the span of the offending value. Cross-field rules (one of
//! `source`/`sources`, no duplicate mirror) are checked in
//! `super::parse`, which turns these types into the domain model.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use crate::digest::Sha256Digest;
use crate::name::Name;
use crate::source::SourceSpec;

/// A project's declaration of the external resources it needs.
///
/// `crp sync` fetches each resource into the machine-wide shared store,
/// verifies it against its sha256 and links it into the project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "crp resources.toml")]
pub struct RawManifest {
    pub project: RawProject,
    /// The resources, by name. A name becomes the link's file name.
    #[serde(default)]
    pub resources: BTreeMap<Name, RawResource>,
}

// Optional keys are `Option`s with `#[serde(default)]` and a schema of the
// inner type: TOML has no null, so the schema must not offer one.

/// The project that declares these resources.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Project")]
pub struct RawProject {
    /// Identifies this project to the shared store.
    pub name: Name,
    /// Where resources appear, relative to the manifest's folder.
    #[serde(default)]
    #[schemars(with = "LinkDir", default = "default_link_dir")]
    pub link_dir: Option<Spanned<LinkDir>>,
    /// How resources appear in `link_dir`.
    #[serde(default)]
    #[schemars(with = "LinkMode", default = "LinkMode::default")]
    pub link_mode: Option<LinkMode>,
    /// Content-addressed mirrors tried, by sha256, before a pinned
    /// resource's sources (after this project's, the store's own).
    #[serde(default)]
    pub mirrors: Vec<crate::source::Mirror>,
    /// S3-compatible remotes (`[[project.remote]]`) this project's objects
    /// are fetched from by sha256, before mirrors and sources, and pushed
    /// to (`crp push`). Credentials never go here: they come from the
    /// environment or the AWS credential files.
    #[serde(
        default,
        rename = "remote",
        deserialize_with = "crate::remote::deserialize_remotes"
    )]
    pub remotes: Vec<crate::remote::RemoteConfig>,
}

fn default_link_dir() -> &'static str {
    DEFAULT_LINK_DIR
}

/// The `link_dir` used when a manifest does not set one.
pub const DEFAULT_LINK_DIR: &str = "resources";

/// One external resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Resource")]
#[schemars(extend("oneOf" = [{"required": ["source"]}, {"required": ["sources"]}]))]
pub struct RawResource {
    /// Where to fetch it from.
    #[serde(default)]
    #[schemars(with = "SourceSpec")]
    pub source: Option<Spanned<SourceSpec>>,
    /// Mirrors, tried in order until one delivers the right bytes.
    #[serde(default)]
    #[schemars(with = "Vec<SourceSpec>", length(min = 1), extend("uniqueItems" = true))]
    pub sources: Option<Spanned<Vec<Spanned<SourceSpec>>>>,
    /// SHA-256 of the content. Optional only until pinned: the first `crp sync`
    /// writes it (trust on first use); `crp sync --locked` requires it.
    #[serde(default)]
    #[schemars(with = "Sha256Digest")]
    pub sha256: Option<Sha256Digest>,
    /// Size in bytes; when given, enforced while downloading.
    #[serde(default)]
    #[schemars(with = "ByteSize")]
    pub size: Option<ByteSize>,
    /// Why the project needs it.
    pub purpose: Purpose,
    /// Who asked for it.
    #[serde(default)]
    #[schemars(with = "String")]
    pub requested_by: Option<String>,
    /// For torrent sources: keep seeding from the store once it is in
    /// (unless the store's configuration turns seeding off).
    #[serde(default)]
    #[schemars(with = "bool", default = "default_seed")]
    pub seed: Option<bool>,
    /// The content is meant to run (a program, a script, or an archive of
    /// them). crp recognises executable content from its bytes; content that
    /// is executable without this is quarantined, never linked.
    #[serde(default)]
    #[schemars(with = "bool", default = "default_executable")]
    pub executable: Option<bool>,
    /// Other resources of this manifest that this one was made from: edges
    /// of the store's provenance graph (`crp dag`).
    #[serde(default)]
    #[schemars(with = "Vec<Name>", extend("uniqueItems" = true))]
    pub derived_from: Option<Spanned<Vec<Spanned<Name>>>>,
}

fn default_executable() -> bool {
    false
}

fn default_seed() -> bool {
    true
}

/// How a resource appears in the project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// A symbolic link to the object in the store.
    #[default]
    Symlink,
    /// A hard link to the object (the store must be on the same file system).
    Hardlink,
    /// A private copy of the object.
    Copy,
}

impl fmt::Display for LinkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Symlink => "symlink",
            Self::Hardlink => "hardlink",
            Self::Copy => "copy",
        })
    }
}

/// A folder relative to the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDir(pub String);

impl FromStr for LinkDir {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            Err("`link_dir` cannot be empty")
        } else if s.chars().any(char::is_control) {
            Err("`link_dir` cannot contain control characters")
        } else if Path::new(s).is_absolute() {
            Err("`link_dir` must be relative to the manifest's folder")
        } else if Path::new(s)
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            Err("`link_dir` must stay inside the manifest's folder: no `..`")
        } else {
            Ok(Self(s.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for LinkDir {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for LinkDir {
    fn schema_name() -> Cow<'static, str> {
        "LinkDir".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "A folder relative to the manifest's folder."
        })
    }
}

/// Why a resource is needed: free text, but never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose(pub String);

impl<'de> Deserialize<'de> for Purpose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("`purpose` cannot be empty"));
        }
        Ok(Self(s))
    }
}

impl JsonSchema for Purpose {
    fn schema_name() -> Cow<'static, str> {
        "Purpose".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "\\S",
            "description": "Why the project needs this resource, for reviewers and the store's records."
        })
    }
}

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes (a whole number, 0 or more)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a size cannot be negative, found {v}")))
            }
        }
        deserializer.deserialize_u64(Visitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 0,
            "description": "A size in bytes."
        })
    }
}

/// The JSON Schema of `resources.toml`, as `crp schema` prints it.
pub fn json_schema() -> String {
    // `#[serde(default)]` on an `Option` shows as `"default": null`, which
    // TOML cannot express: leave it out.
    let drop_null_defaults = schemars::transform::RecursiveTransform(|schema: &mut Schema| {
        if schema
            .get("default")
            .is_some_and(serde_json::Value::is_null)
        {
            schema.remove("default");
        }
    });
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(drop_null_defaults)
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

/// The keys a table of this type accepts, read from its schema.
pub(crate) fn known_keys<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}
