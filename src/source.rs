//! Where a resource's bytes can come from.
//!
//! A manifest writes a source as a string ([`SourceSpec`]): an `https://`,
//! `http://` or `file://` URL, a plain path (relative to the manifest's
//! folder), a `magnet:` link, or a `.torrent` file given by path or URL. The
//! spec is validated on its own; [`SourceSpec::resolve`] then turns it into a
//! [`Source`] with paths made absolute.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A source as written in a manifest, validated.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SourceSpec {
    text: String,
    kind: SpecKind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum SpecKind {
    Http(Url),
    FileUrl(PathBuf),
    Path(PathBuf),
    Magnet(Magnet),
}

/// A resolved source, ready to fetch from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An `http://` or `https://` URL.
    Http(Url),
    /// An absolute path on this machine.
    File(PathBuf),
    /// A magnet link.
    Magnet(Magnet),
    /// A `.torrent` file, itself reachable over HTTP or on disk.
    Torrent(Box<Source>),
}

/// The parts of a magnet link that crp relies on.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Magnet {
    /// The whole link, as written (with its trackers and web seeds).
    pub link: String,
    /// The BitTorrent v1 info-hash as 40 lowercase hex digits.
    pub info_hash: String,
    /// The `dn=` display name, when given.
    pub display_name: Option<String>,
}

/// Why a string is not a usable source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSource {
    #[error("a source cannot be empty")]
    Empty,
    #[error("a source cannot contain control characters (found {0:?})")]
    ControlCharacter(char),
    #[error("unsupported scheme `{scheme}:`")]
    UnsupportedScheme { scheme: String },
    #[error("invalid URL: {reason}")]
    BadUrl { reason: String },
    #[error("a `file://` URL must name an absolute local path")]
    BadFileUrl,
    #[error("invalid magnet link: {reason}")]
    BadMagnet { reason: String },
}

impl InvalidSource {
    /// What to do about it, for diagnostics.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::UnsupportedScheme { .. } => Some(
                "use an `https://`, `http://` or `file://` URL, a `magnet:` link, or a path relative to the manifest (`./name` for a path containing `:`)",
            ),
            Self::BadMagnet { .. } => {
                Some("a magnet link looks like `magnet:?xt=urn:btih:<40 hex or 32 base32 digits>`")
            }
            _ => None,
        }
    }
}

/// Splits `scheme:` off the front, by RFC 3986's rule for scheme characters.
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl FromStr for SourceSpec {
    type Err = InvalidSource;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(InvalidSource::Empty);
        }
        // A URL parser drops tabs and newlines silently, and a NUL ends a
        // path where the operating system reads it: neither is what was meant.
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(InvalidSource::ControlCharacter(c));
        }
        let kind = match scheme_of(text).map(str::to_ascii_lowercase).as_deref() {
            Some("http" | "https") => {
                let url = Url::parse(text).map_err(|err| InvalidSource::BadUrl {
                    reason: err.to_string(),
                })?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(InvalidSource::BadUrl {
                        reason: "the URL has no host".into(),
                    });
                }
                SpecKind::Http(url)
            }
            Some("file") => {
                let url = Url::parse(text).map_err(|err| InvalidSource::BadUrl {
                    reason: err.to_string(),
                })?;
                SpecKind::FileUrl(url.to_file_path().map_err(|()| InvalidSource::BadFileUrl)?)
            }
            Some("magnet") => SpecKind::Magnet(text.parse()?),
            Some(scheme) => {
                return Err(InvalidSource::UnsupportedScheme {
                    scheme: scheme.to_owned(),
                });
            }
            None => SpecKind::Path(PathBuf::from(text)),
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }
}

impl SourceSpec {
    /// The source exactly as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a plain path relative to some folder.
    pub fn is_relative_path(&self) -> bool {
        matches!(&self.kind, SpecKind::Path(path) if path.is_relative())
    }

    /// Whether two specs name the same place, however they are spelled.
    pub fn same_place(&self, other: &Self) -> bool {
        self.kind == other.kind
    }

    /// What identifies this source as written: its whole text (see
    /// [`IdentityKey`]). Decisions about sources bind to it.
    pub fn identity(&self, key: &IdentityKey) -> String {
        identity_of(&self.text, &self.to_string(), key)
    }

    /// Resolves relative paths against `base` (the manifest's folder).
    pub fn resolve(&self, base: &Path) -> Source {
        let plain = match &self.kind {
            SpecKind::Http(url) => Source::Http(url.clone()),
            SpecKind::FileUrl(path) => Source::File(path.clone()),
            SpecKind::Path(path) => Source::File(join_relative(base, path)),
            SpecKind::Magnet(magnet) => return Source::Magnet(magnet.clone()),
        };
        if plain.path_str().ends_with(".torrent") {
            Source::Torrent(Box::new(plain))
        } else {
            plain
        }
    }
}

/// `path` (as written in a manifest) from `base` (the manifest's folder,
/// symbolic links resolved). Leading `..` steps up from `base` are taken out
/// by text, so one file spelled `../data/a.bin` or `/srv/data/a.bin` is one
/// source; a `..` after a name stays, since that name may be a link.
fn join_relative(base: &Path, path: &Path) -> PathBuf {
    let leading = path
        .components()
        .take_while(|c| {
            matches!(
                c,
                std::path::Component::ParentDir | std::path::Component::CurDir
            )
        })
        .count();
    let later_parent = path
        .components()
        .skip(leading)
        .any(|c| c == std::path::Component::ParentDir);
    let joined = base.join(path);
    if path.is_relative() && !later_parent {
        crate::fsutil::normalize(&joined)
    } else {
        joined
    }
}

impl Source {
    fn path_str(&self) -> Cow<'_, str> {
        match self {
            Self::Http(url) => url.path().into(),
            Self::File(path) => path.to_string_lossy(),
            Self::Magnet(_) | Self::Torrent(_) => "".into(),
        }
    }

    /// What identifies this source once resolved: the whole URL, link or
    /// absolute path (see [`IdentityKey`]). What a store remembers about a
    /// source, and the locks that keep two processes from fetching it at
    /// once, go by it.
    pub fn identity(&self, key: &IdentityKey) -> String {
        match self {
            Self::Http(url) => identity_of(url.as_str(), &crate::redact::url(url), key),
            Self::File(path) => path.to_string_lossy().into_owned(),
            Self::Magnet(magnet) => {
                identity_of(&magnet.link, &crate::redact::magnet(&magnet.link), key)
            }
            Self::Torrent(inner) => format!("torrent:{}", inner.identity(key)),
        }
    }

    /// Whether fetching this source needs BitTorrent.
    pub fn is_torrent(&self) -> bool {
        matches!(self, Self::Magnet(_) | Self::Torrent(_))
    }

    /// The last path segment, for naming a resource after its source.
    pub fn file_name(&self) -> Option<String> {
        match self {
            Self::Http(url) => url.path_segments()?.rev().find(|s| !s.is_empty()).map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            }),
            Self::File(path) => Some(path.file_name()?.to_string_lossy().into_owned()),
            Self::Magnet(magnet) => magnet.display_name.clone(),
            Self::Torrent(inner) => inner
                .file_name()
                .map(|name| name.trim_end_matches(".torrent").to_owned()),
        }
    }
}

/// The key of the keyed digests that identify sources whose URL holds a
/// secret, so that the secret is never stored, not even as a plain hash a
/// guess could be checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    /// The key for files that travel with a project rather than live in a
    /// store (approvals files): public, since such a file sits beside the
    /// manifest, which holds the whole URL anyway.
    pub const PORTABLE: Self = Self(*b"crp portable source identity v1\0");

    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from the operating system's random source.
    pub fn random() -> Self {
        Self(random_bytes())
    }

    /// The key as 64 hex digits, for the store's key file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key written by [`IdentityKey::to_hex`].
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// HMAC-SHA256 (RFC 2104) of `text`, as lowercase hex.
    pub fn digest(&self, text: &str) -> String {
        use hmac::{KeyInit as _, Mac as _};
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(text.as_bytes());
        let bytes = mac.finalize().into_bytes();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(****)")
    }
}

/// 32 bytes from the operating system's random source.
fn random_bytes() -> [u8; 32] {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    fs_err::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("the system's random source is readable");
    bytes
}

/// What identifies a source written as `text`: the text itself when it
/// holds no secret, else `hmac-sha256:` and the keyed digest of the whole
/// text. Two sources that differ anywhere, a secret query value included,
/// never share an identity.
fn identity_of(text: &str, shown: &str, key: &IdentityKey) -> String {
    if text == shown {
        text.to_owned()
    } else {
        format!("hmac-sha256:{}", key.digest(text))
    }
}

/// A URL with its credentials masked, for everything crp prints or records
/// (see [`crate::redact`]).
pub fn redact_url(url: &Url) -> String {
    crate::redact::url(url)
}

impl fmt::Display for Source {
    /// The redacted form: safe to print and to record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => f.write_str(&crate::redact::url(url)),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Magnet(magnet) => write!(f, "magnet:?xt=urn:btih:{}", magnet.info_hash),
            Self::Torrent(inner) => inner.fmt(f),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({self})")
    }
}

impl fmt::Display for SourceSpec {
    /// The redacted form of the source as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SpecKind::Http(url) => f.write_str(&crate::redact::url(url)),
            SpecKind::Magnet(_) => f.write_str(&crate::redact::magnet(&self.text)),
            _ => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceSpec({self})")
    }
}

impl Serialize for SourceSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for SourceSpec {
    fn schema_name() -> Cow<'static, str> {
        "Source".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "An `https://`, `http://` or `file://` URL, a path relative to the manifest's folder, a `magnet:` link, or a `.torrent` file (path or URL)."
        })
    }
}

impl FromStr for Magnet {
    type Err = InvalidSource;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| InvalidSource::BadMagnet {
            reason: reason.to_owned(),
        };
        let query = text
            .get("magnet:".len()..)
            .and_then(|rest| rest.strip_prefix('?'))
            .ok_or_else(|| bad("expected `magnet:?` followed by parameters"))?;
        let mut info_hash = None;
        let mut display_name = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            // `tr.1`, `TR`, `%74r`: clients read these as trackers too
            // (transmission's magnet.c takes `tr.N`), so they are checked
            // alike.
            let key = key.to_ascii_lowercase();
            let kind = key.split('.').next().unwrap_or_default().to_owned();
            match kind.as_str() {
                "xt" => {
                    let Some(hash) = value.strip_prefix("urn:btih:") else {
                        return Err(bad("only BitTorrent `xt=urn:btih:` links are supported"));
                    };
                    let hash = parse_info_hash(hash).ok_or_else(|| {
                        bad("the info-hash must be 40 hex digits or 32 base32 characters")
                    })?;
                    // A reviewer reads the first; a client may take the last.
                    if info_hash.as_ref().is_some_and(|first| *first != hash) {
                        return Err(bad("it names two different info-hashes (`xt=` twice)"));
                    }
                    info_hash = Some(hash);
                }
                "dn" => display_name = Some(value.into_owned()),
                "tr" | "ws" => {
                    let key = kind.as_str();
                    // The value is not shown: in a tracker that does not
                    // parse, nothing tells which part is a passkey.
                    let url = Url::parse(&value).map_err(|err| InvalidSource::BadMagnet {
                        reason: format!("a `{key}=` value is not a URL: {err}"),
                    })?;
                    // Trackers announce over HTTP or UDP (BEP 3, BEP 15);
                    // web seeds are HTTP (BEP 19).
                    let allowed: &[&str] = if key == "tr" {
                        &["http", "https", "udp"]
                    } else {
                        &["http", "https"]
                    };
                    if !allowed.contains(&url.scheme()) {
                        return Err(InvalidSource::BadMagnet {
                            reason: format!(
                                "`{key}=` has the scheme `{}:`; {} must be {}",
                                url.scheme(),
                                if key == "tr" {
                                    "a tracker"
                                } else {
                                    "a web seed"
                                },
                                allowed
                                    .iter()
                                    .map(|s| format!("`{s}:`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            link: text.to_owned(),
            info_hash: info_hash.ok_or_else(|| bad("missing `xt=urn:btih:…`"))?,
            display_name,
        })
    }
}

/// Normalises a v1 info-hash given as hex or base32 to lowercase hex.
fn parse_info_hash(text: &str) -> Option<String> {
    match text.len() {
        40 if text.chars().all(|c| c.is_ascii_hexdigit()) => Some(text.to_ascii_lowercase()),
        32 => {
            let mut bits = 0u64;
            let mut nbits = 0;
            let mut hex = String::with_capacity(40);
            for c in text.chars() {
                let value = match c.to_ascii_uppercase() {
                    c @ 'A'..='Z' => c as u64 - 'A' as u64,
                    c @ '2'..='7' => c as u64 - '2' as u64 + 26,
                    _ => return None,
                };
                bits = (bits << 5) | value;
                nbits += 5;
                while nbits >= 4 {
                    nbits -= 4;
                    hex.push(char::from_digit(((bits >> nbits) & 0xf) as u32, 16)?);
                }
            }
            Some(hex)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        let base = Path::new("/p");
        let cases = [
            ("https://e.org/a.zip", "https://e.org/a.zip", false),
            ("file:///d/a.bin", "/d/a.bin", false),
            ("data/a.bin", "/p/data/a.bin", false),
            ("../q/a.bin", "/q/a.bin", false),
            ("./data/a.bin", "/p/data/a.bin", false),
            ("data/link/../a.bin", "/p/data/link/../a.bin", false),
            ("/abs/a.bin", "/abs/a.bin", false),
            ("https://e.org/a.torrent", "https://e.org/a.torrent", true),
            ("x/a.torrent", "/p/x/a.torrent", true),
        ];
        for (text, shown, torrent) in cases {
            let source = text.parse::<SourceSpec>().unwrap().resolve(base);
            assert_eq!(source.to_string(), shown);
            assert_eq!(source.is_torrent(), torrent, "{text}");
        }
    }

    #[test]
    fn rejects_bad_sources() {
        assert_eq!(
            "ftp://e.org/x".parse::<SourceSpec>().unwrap_err(),
            InvalidSource::UnsupportedScheme {
                scheme: "ftp".into()
            }
        );
        assert_eq!("".parse::<SourceSpec>().unwrap_err(), InvalidSource::Empty);
        assert!(matches!(
            "https://".parse::<SourceSpec>().unwrap_err(),
            InvalidSource::BadUrl { .. }
        ));
        assert!(matches!(
            "magnet:?dn=x".parse::<SourceSpec>().unwrap_err(),
            InvalidSource::BadMagnet { .. }
        ));
    }

    #[test]
    fn parses_magnets() {
        let hex = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
        let magnet: Magnet = format!(
            "magnet:?xt=urn:btih:{hex}&dn=big+file&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce"
        )
        .parse()
        .unwrap();
        assert_eq!(magnet.info_hash, hex);
        assert_eq!(magnet.display_name.as_deref(), Some("big file"));
        // The same hash in base32.
        let magnet: Magnet = "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"
            .parse()
            .unwrap();
        assert_eq!(magnet.info_hash, hex);
    }

    #[test]
    fn a_source_is_its_whole_url() {
        let key = IdentityKey::new([7; 32]);
        let spec = |t: &str| t.parse::<SourceSpec>().unwrap();
        let a = spec("http://h/get?key=dataset-a");
        let b = spec("http://h/get?key=dataset-b");
        // Shown alike, identified apart, and the secret is not in either.
        assert_eq!(a.to_string(), b.to_string());
        assert_ne!(a.identity(&key), b.identity(&key));
        assert!(!a.identity(&key).contains("dataset-a"));
        let base = Path::new("/p");
        assert_ne!(
            a.resolve(base).identity(&key),
            b.resolve(base).identity(&key)
        );
        // Another store's key gives other digests.
        assert_ne!(a.identity(&key), a.identity(&IdentityKey::new([8; 32])));
        // A source without secrets is its own identity.
        assert_eq!(
            spec("https://e.org/a.zip").identity(&key),
            "https://e.org/a.zip"
        );
        // A magnet's tracker passkey is part of its identity, and hidden.
        let m1 = spec(
            "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&tr=http%3A%2F%2Ft%2Fannounce%3Fpasskey%3Done",
        );
        let m2 = spec(
            "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&tr=http%3A%2F%2Ft%2Fannounce%3Fpasskey%3Dtwo",
        );
        assert_ne!(m1.identity(&key), m2.identity(&key));
        assert!(!m1.to_string().contains("one"), "{m1}");
    }
}

/// A content-addressed mirror: a base under which the object with sha256
/// `<hex>` is at `sha256/<hex[..2]>/<hex>`, the store's own layout (Nix's
/// hashed mirrors, Bazel's distdir). Written as an `https://` or `http://`
/// URL, a `file://` URL, or a path (absolute; in a manifest, relative to
/// its folder too).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Mirror {
    Http(Url),
    Folder(PathBuf),
}

impl Mirror {
    /// Where the object `sha256` would be on this mirror, as a source to
    /// fetch from; `None` for a folder that is not absolute (resolve it
    /// first) or a path no URL can name.
    pub fn source_of(&self, sha256: &crate::digest::Sha256Digest) -> Option<(SourceSpec, Source)> {
        let hex = sha256.hex();
        match self {
            Self::Http(base) => {
                let url = base.join(&format!("sha256/{}/{hex}", &hex[..2])).ok()?;
                let spec: SourceSpec = url.as_str().parse().ok()?;
                Some((spec, Source::Http(url)))
            }
            Self::Folder(dir) => {
                let path = dir.join("sha256").join(&hex[..2]).join(&hex);
                // Percent-encoded, so a `#`, `?` or `%` in a folder's name
                // names that folder.
                let url = Url::from_file_path(&path).ok()?;
                let spec: SourceSpec = url.as_str().parse().ok()?;
                Some((spec, Source::File(path)))
            }
        }
    }

    /// A folder mirror given by a relative path, made absolute from `base`.
    #[must_use]
    pub fn resolve(self, base: &Path) -> Self {
        match self {
            Self::Folder(dir) if dir.is_relative() => Self::Folder(join_relative(base, &dir)),
            other => other,
        }
    }
}

impl FromStr for Mirror {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.chars().any(char::is_control) {
            return Err("a mirror has no control characters".into());
        }
        if let Some(rest) = text.strip_prefix("file://") {
            return match rest.starts_with('/') {
                true => Ok(Self::Folder(PathBuf::from(rest))),
                false => Err(format!("`{text}` is not a `file:///absolute/path` URL")),
            };
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            let mut url = Url::parse(text).map_err(|err| format!("`{text}`: {err}"))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "a mirror's URL is a base, without `?` or `#`: `{text}`"
                ));
            }
            // A base: objects are found below it.
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(Self::Http(url));
        }
        // Any other scheme, or a URL mistyped (`file:/mnt`, `https:host`),
        // is not taken for a folder.
        let scheme_like = text.split_once(':').is_some_and(|(head, _)| {
            !head.is_empty()
                && !head.contains('/')
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        });
        if scheme_like {
            return Err(format!(
                "`{text}`: a mirror is an `https://`, `http://` or `file://` URL, or a folder"
            ));
        }
        if text.trim().is_empty() {
            return Err(
                "a mirror is an `https://`, `http://` or `file://` URL, or a folder".into(),
            );
        }
        Ok(Self::Folder(PathBuf::from(text)))
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => f.write_str(&crate::redact::url(url)),
            Self::Folder(dir) => write!(f, "{}", dir.display()),
        }
    }
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mirror({self})")
    }
}

impl<'de> Deserialize<'de> for Mirror {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Mirror {
    fn schema_name() -> Cow<'static, str> {
        "Mirror".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A content-addressed mirror: an `https://`, `http://` or `file://` URL, or a folder (relative to the manifest's), holding objects at `sha256/<first two hex digits>/<sha256>`",
            "minLength": 1
        })
    }
}
