//! Remotes: S3-compatible buckets shared by many stores, addressed by
//! content.
//!
//! A remote is a bucket and a prefix on an S3-compatible service (AWS S3,
//! SeaweedFS, Garage, MinIO, Ceph RGW, R2…). It holds objects in the
//! store's own layout:
//!
//! ```text
//! <prefix>/sha256/ab/abcdef…        the bytes of the object abcdef… (a file object),
//!                                   or its tree listing (a directory object)
//! <prefix>/sha256/ab/abcdef….json   its record: type, size, sources, purpose, projects
//! ```
//!
//! A directory object's files are objects of their own, by their own sha256;
//! its key holds the `crp-tree-v1` listing (see [`crate::tree`]), whose
//! sha256 is the tree digest, so everything a remote serves is verified by
//! the digest it is fetched by.
//!
//! Remotes are configured in `[[remote]]` tables of the store's
//! configuration and in `[[project.remote]]` tables of a manifest:
//!
//! ```toml
//! [[remote]]
//! name = "team"
//! url = "s3://crp-cache/team"            # bucket, then an optional prefix
//! endpoint = "https://s3.example.org"    # default: AWS (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`)
//! region = "eu-west-1"                   # default: `AWS_REGION`, `AWS_DEFAULT_REGION`, us-east-1
//! path_style = true                      # default: true with an `endpoint`, false for AWS
//! profile = "crp"                        # a profile of the AWS credential files
//! ```
//!
//! Credentials never go in these files: they come from the environment or
//! the standard AWS credential files (see [`crate::s3::credentials`]).
//! [`crate::s3`] speaks to a remote.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::digest::Sha256Digest;

/// `[[remote]]`: one remote, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Remote")]
pub struct RemoteConfig {
    /// What commands call it (`crp push --remote NAME`): letters, digits,
    /// `.`, `_` and `-`.
    pub name: RemoteName,
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: BucketUrl,
    /// The service's URL (`https://s3.example.org`); AWS's when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub endpoint: Option<Endpoint>,
    /// The region requests are signed for (`eu-west-1`): lowercase
    /// letters, digits and `-`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_region"
    )]
    #[schemars(with = "String")]
    pub region: Option<String>,
    /// Address the bucket in the path (`https://host/bucket/key`) rather
    /// than the host name (`https://bucket.host/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub path_style: Option<bool>,
    /// The profile of the AWS credential files to sign with.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_profile"
    )]
    #[schemars(with = "String")]
    pub profile: Option<String>,
}

/// Checks a region: it becomes part of AWS's host name and of every
/// signature, so it is 1 to 64 lowercase letters, digits and `-`.
///
/// # Errors
/// Anything else, in words.
pub fn check_region(region: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&region.len())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not a region: use lowercase letters, digits and `-`, like `eu-west-1`",
            region.escape_debug()
        )),
    }
}

/// Checks a profile name: a section name of the AWS credential files.
///
/// # Errors
/// An empty name, or one with control characters or brackets.
pub fn check_profile(profile: &str) -> Result<(), String> {
    let ok = !profile.trim().is_empty()
        && profile.len() <= 128
        && !profile.chars().any(|c| c.is_control() || "[]".contains(c));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not a profile name of the AWS credential files",
            profile.escape_debug()
        )),
    }
}

fn deserialize_region<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_region(&text).map_err(serde::de::Error::custom)?;
    Ok(Some(text))
}

fn deserialize_profile<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_profile(&text).map_err(serde::de::Error::custom)?;
    Ok(Some(text))
}

/// A remote's name: 1 to 64 of ASCII letters, digits, `.`, `_`, `-`, not
/// starting with `-` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteName(String);

impl RemoteName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RemoteName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && !text.starts_with(['-', '.'])
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        match valid {
            true => Ok(Self(text.to_owned())),
            false => Err(format!(
                "`{}` is not a remote name: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `-` or `.`",
                text.escape_debug()
            )),
        }
    }
}

impl fmt::Display for RemoteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `s3://bucket[/prefix]`: where a remote's objects are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl BucketUrl {
    /// Whether every key under `other` is under this one too: the same
    /// bucket, and this prefix empty, equal to `other`'s, or a folder of it.
    pub fn holds(&self, other: &BucketUrl) -> bool {
        self.bucket == other.bucket
            && (self.prefix.is_empty()
                || other.prefix == self.prefix
                || other
                    .prefix
                    .strip_prefix(&self.prefix)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

impl FromStr for BucketUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(format!(
                "`{}`: a remote's URL is `s3://bucket` or `s3://bucket/prefix`",
                text.escape_debug()
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // The bucket naming rules of S3 (lowercase letters, digits, `.` and
        // `-`, 3 to 63 of them, a letter or digit at each end).
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c))
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
            // Nor two dots together, an IP address, or the prefix S3
            // keeps for itself.
            && !bucket.contains("..")
            && bucket.parse::<std::net::Ipv4Addr>().is_err()
            && !bucket.starts_with("xn--");
        if !bucket_ok {
            return Err(format!(
                "`{}` is not a bucket name: 3 to 63 lowercase letters, digits, `.` or `-`, starting and ending with a letter or digit, without `..`, not an IP address and not starting with `xn--`",
                bucket.escape_debug()
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        let prefix_ok = prefix.split('/').all(|segment| {
            !matches!(segment, "." | "..")
                && !segment
                    .chars()
                    .any(|c| c.is_control() || "?#\\".contains(c))
        }) && (prefix.is_empty() || prefix.split('/').all(|s| !s.is_empty()));
        if !prefix_ok {
            return Err(format!(
                "`{}`: a prefix is `/`-separated names, without `.`, `..`, empty names, `?`, `#`, `\\` or control characters",
                prefix.escape_debug()
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.is_empty() {
            true => write!(f, "s3://{}", self.bucket),
            false => write!(f, "s3://{}/{}", self.bucket, self.prefix),
        }
    }
}

/// A service's base URL: `http://` or `https://`, with no credentials,
/// query or fragment in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(pub Url);

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(
                "an empty endpoint: give the service's `https://` or `http://` URL, or leave `endpoint` out for AWS"
                    .into(),
            );
        }
        const CREDENTIALS: &str = "credentials never go in an endpoint; set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or name a `profile` of the AWS credential files";
        let as_typed = || {
            crate::redact::userinfo(&crate::redact::text(&text.escape_debug().to_string()))
                .into_owned()
        };
        // A user and password, even where they break the URL (a secret
        // with `/` in it) or pass for its scheme (`key:secret@host`).
        let parsed = Url::parse(text);
        let http = parsed
            .as_ref()
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !http && crate::redact::userinfo_span(text).is_some() {
            return Err(format!("`{}`: {CREDENTIALS}", as_typed()));
        }
        let url = parsed.map_err(|err| {
            format!(
                "`{}` is not an `https://` or `http://` URL ({err})",
                as_typed()
            )
        })?;
        if !http || url.host_str().is_none() {
            return Err(format!(
                "`{}`: an endpoint is an `https://` or `http://` URL",
                shown(&url)
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{}`: {CREDENTIALS}", shown(&url)));
        }
        if url.query().is_some() || url.fragment().is_some() {
            // What follows is not shown: it is refused, and may be a secret.
            let mut bare = url.clone();
            bare.set_query(None);
            bare.set_fragment(None);
            return Err(format!(
                "`{}` followed by `?` or `#` (not shown): an endpoint has no `?` or `#`",
                shown(&bare)
            ));
        }
        if url.path() != "/" {
            return Err(format!(
                "`{}`: an endpoint is the service's address, without a path; the bucket and prefix go in `url`",
                shown(&url)
            ));
        }
        Ok(Self(url))
    }
}

/// An endpoint that is refused, as its message shows it: what may be a
/// user and password masked even where the URL parser found none (a
/// scheme that is not `http`, say).
fn shown(url: &Url) -> String {
    crate::redact::userinfo(&crate::redact::url(url)).into_owned()
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

macro_rules! string_serde {
    ($($ty:ty: $name:literal, $description:literal;)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $description, "minLength": 1 })
            }
        }
    )*};
}

string_serde! {
    RemoteName: "RemoteName", "A remote's name: letters, digits, `.`, `_` and `-`";
    BucketUrl: "BucketUrl", "`s3://bucket` or `s3://bucket/prefix`";
    Endpoint: "Endpoint", "An S3-compatible service's `https://` or `http://` URL";
}

/// Where a configured remote came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `[[project.remote]]` of the manifest.
    Project,
    /// `[[remote]]` of the store's configuration.
    Store,
}

/// A remote ready to use: its configuration with the defaults applied.
#[derive(Debug, Clone)]
pub struct Remote {
    pub name: RemoteName,
    pub url: BucketUrl,
    pub endpoint: Url,
    pub region: String,
    pub path_style: bool,
    pub profile: Option<String>,
    pub origin: Origin,
}

impl Remote {
    /// Whether `other` is the same service, bucket and signer: what one
    /// of them gets for an answer (unreachable, credentials refused, no
    /// bucket), the other gets too, whatever their prefixes.
    pub fn same_service(&self, other: &Remote) -> bool {
        self.endpoint == other.endpoint
            && self.url.bucket == other.url.bucket
            && self.region == other.region
            && self.profile == other.profile
    }

    /// Applies the defaults the AWS tools apply: the endpoint from
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, else AWS's for the
    /// region; the region from `AWS_REGION` or `AWS_DEFAULT_REGION`, else
    /// `us-east-1`; path-style addressing with an endpoint of its own.
    pub fn new(config: &RemoteConfig, origin: Origin) -> Result<Self, String> {
        use crate::settings::{
            AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_REGION, var as env,
        };
        let region = config
            .region
            .clone()
            .or_else(|| env(AWS_REGION))
            .or_else(|| env(AWS_DEFAULT_REGION))
            .unwrap_or_else(|| "us-east-1".to_owned());
        check_region(&region).map_err(|err| match &config.region {
            Some(_) => format!("remote `{}`: {err}", config.name),
            None => format!(
                "remote `{}` (its region from `AWS_REGION` or `AWS_DEFAULT_REGION`): {err}",
                config.name
            ),
        })?;
        // The variable an endpoint came from, when not from the file.
        let mut from_env = None;
        let endpoint = match &config.endpoint {
            Some(endpoint) => Some(endpoint.0.clone()),
            None => match env(AWS_ENDPOINT_URL_S3)
                .map(|v| (AWS_ENDPOINT_URL_S3, v))
                .or_else(|| env(AWS_ENDPOINT_URL).map(|v| (AWS_ENDPOINT_URL, v)))
            {
                Some((name, text)) => {
                    from_env = Some(name);
                    Some(
                        text.parse::<Endpoint>()
                            .map_err(|err| format!("`{name}`: {err}"))?
                            .0,
                    )
                }
                None => None,
            },
        };
        let path_style = config.path_style.unwrap_or(endpoint.is_some());
        if !path_style
            && let Some(url) = &endpoint
            && matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
        {
            return Err(format!(
                "remote `{}`{}: an endpoint named by its IP address cannot address the bucket in the host name; leave `path_style` on",
                config.name,
                from_env
                    .map(|name| format!(" (its endpoint from `{name}`)"))
                    .unwrap_or_default()
            ));
        }
        let endpoint = match endpoint {
            Some(url) => url,
            None => Url::parse(&format!("https://s3.{region}.amazonaws.com"))
                .map_err(|err| format!("region `{region}`: {err}"))?,
        };
        Ok(Self {
            name: config.name.clone(),
            url: config.url.clone(),
            endpoint,
            region,
            path_style,
            profile: config.profile.clone(),
            origin,
        })
    }

    /// The key of object `sha256`: `<prefix>/sha256/<aa>/<hex>`.
    pub fn key_of(&self, sha256: &Sha256Digest) -> String {
        let hex = sha256.hex();
        match self.url.prefix.is_empty() {
            true => format!("sha256/{}/{hex}", &hex[..2]),
            false => format!("{}/sha256/{}/{hex}", self.url.prefix, &hex[..2]),
        }
    }

    /// The key of the record beside object `sha256`.
    pub fn record_key_of(&self, sha256: &Sha256Digest) -> String {
        format!("{}.json", self.key_of(sha256))
    }

    /// `s3://bucket/key`: how people are shown an object of this remote.
    pub fn show_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.url.bucket)
    }

    /// How messages name the remote and one of its objects.
    pub fn label_of(&self, sha256: &Sha256Digest) -> String {
        format!(
            "remote `{}` ({})",
            self.name,
            self.show_key(&self.key_of(sha256))
        )
    }
}

/// The remotes a project uses: its manifest's, then the store's; a store's
/// remote of the same name as a project's takes its place, so a machine can
/// point the team's remote at a nearer endpoint.
///
/// # Errors
/// A remote whose defaults cannot be applied (a bad `AWS_ENDPOINT_URL`).
pub fn configured(project: &[RemoteConfig], store: &[RemoteConfig]) -> Result<Vec<Remote>, String> {
    let mut remotes = Vec::new();
    for config in project {
        let (config, origin) = match store.iter().find(|s| s.name == config.name) {
            Some(local) => (local, Origin::Store),
            None => (config, Origin::Project),
        };
        remotes.push(Remote::new(config, origin)?);
    }
    for config in store {
        if !project.iter().any(|p| p.name == config.name) {
            remotes.push(Remote::new(config, Origin::Store)?);
        }
    }
    Ok(remotes)
}

/// Reads a list of `[[remote]]` tables, refusing two of one name.
///
/// # Errors
/// A table that is not a remote, and a name given twice.
/// What serde cannot point at in `[[remote]]` tables (`remotes`, as
/// parsed), each at the value to change: the second of two remotes that
/// share a name (at its `name`), and `path_style = false` beside an
/// endpoint named by its IP address (at `path_style`), which could not
/// address the bucket in the host name.
pub fn table_problems(
    remotes: &[toml::Spanned<toml::de::DeValue<'_>>],
) -> Vec<crate::diagnostic::Diagnostic> {
    use crate::diagnostic::Diagnostic;
    use toml::de::DeValue;
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in remotes {
        let DeValue::Table(table) = item.get_ref() else {
            continue;
        };
        if let Some(name) = table.get("name")
            && let DeValue::String(text) = name.get_ref()
            // A name that is not one is reported as such, once.
            && text.parse::<RemoteName>().is_ok()
            && !seen.insert(text.to_string())
        {
            problems.push(
                Diagnostic::new(format!("a second remote named `{text}`"), Some(name.span()))
                    .label("named like one above")
                    .hint("give each remote its own name"),
            );
        }
        if let Some(style) = table.get("path_style")
            && let DeValue::Boolean(false) = style.get_ref()
            && let Some(endpoint) = table.get("endpoint")
            && let DeValue::String(text) = endpoint.get_ref()
            && let Ok(url) = Url::parse(text)
            && matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
        {
            problems.push(
                Diagnostic::new(
                    "an endpoint named by its IP address cannot address the bucket in the host name",
                    Some(style.span()),
                )
                .label("the bucket would go in the host name")
                .hint("leave `path_style` out (it is on with an endpoint), or name the endpoint by a host name"),
            );
        }
    }
    problems
}

pub fn deserialize_remotes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RemoteConfig>, D::Error> {
    let remotes = Vec::<RemoteConfig>::deserialize(deserializer)?;
    for (i, remote) in remotes.iter().enumerate() {
        if remotes[..i].iter().any(|o| o.name == remote.name) {
            return Err(serde::de::Error::custom(format!(
                "two remotes are named `{}`; give each its own name",
                remote.name
            )));
        }
    }
    Ok(remotes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls() {
        let url: BucketUrl = "s3://crp-cache/team/x/".parse().unwrap();
        assert_eq!(url.bucket, "crp-cache");
        assert_eq!(url.prefix, "team/x");
        assert_eq!(url.to_string(), "s3://crp-cache/team/x");
        let root: BucketUrl = "s3://crp-cache".parse().unwrap();
        assert_eq!(root.prefix, "");
        let at = |text: &str| text.parse::<BucketUrl>().unwrap();
        assert!(root.holds(&url) && url.holds(&url) && at("s3://crp-cache/team").holds(&url));
        assert!(!url.holds(&root) && !at("s3://crp-cache/te").holds(&url));
        assert!(!at("s3://other/team").holds(&url));
        for bad in [
            "https://crp-cache/x",
            "s3://Caps/x",
            "s3://ab",
            "s3://-bucket",
            "s3://bucket/a//b",
            "s3://bucket/../b",
            "s3://bucket/a?b",
            "s3://bucket/a\nb",
            "s3://bench..x",
            "s3://192.168.1.1",
            "s3://xn--bench",
        ] {
            assert!(bad.parse::<BucketUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_refuse_credentials() {
        let err = "https://key:secret@s3.example.org"
            .parse::<Endpoint>()
            .unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert!("ftp://s3.example.org".parse::<Endpoint>().is_err());
        assert!("http://127.0.0.1:8333".parse::<Endpoint>().is_ok());
    }

    #[test]
    fn names() {
        assert!("team-cache.1".parse::<RemoteName>().is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(65)] {
            assert!(bad.parse::<RemoteName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_follow_the_store_layout() {
        let config: RemoteConfig =
            toml::from_str("name = \"t\"\nurl = \"s3://bucket/p/q\"\nendpoint = \"http://h:1\"")
                .unwrap();
        let remote = Remote::new(&config, Origin::Store).unwrap();
        assert!(remote.path_style);
        let digest = Sha256Digest::of_bytes(b"x");
        let hex = digest.hex();
        assert_eq!(
            remote.key_of(&digest),
            format!("p/q/sha256/{}/{hex}", &hex[..2])
        );
        assert_eq!(
            remote.record_key_of(&digest),
            format!("p/q/sha256/{}/{hex}.json", &hex[..2])
        );
    }
}
