//! SHA-256 digests: the identity of every object in the store.
//!
//! A [`Sha256Digest`] is only ever built from 64 lowercase hex digits or from a
//! hasher that has seen every byte, so holding one means the value is
//! well-formed; whether it matches some bytes is the business of the verifying
//! writers in [`crate::fetch`].

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Size of the buffers used when hashing files: large enough that the
/// per-call overhead vanishes next to the hashing itself.
pub(crate) const READ_BUFFER: usize = 256 * 1024;

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

/// Why a string is not a SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDigest {
    #[error("a sha256 is 64 hex digits, without the `{prefix}` prefix")]
    Prefixed { prefix: String },
    #[error("expected 64 hex digits, found {found}")]
    WrongLength { found: usize },
    #[error("hex digits must be lowercase")]
    Uppercase,
    #[error("`{found}` is not a hex digit")]
    NotHex { found: char },
}

impl Sha256Digest {
    /// The digest of a finished hasher.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self(hasher.finalize().into())
    }

    /// The digest of a byte slice (for small, in-memory data).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        Self::from_hasher(hasher)
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// All 64 hex digits.
    pub fn hex(&self) -> String {
        String::from_utf8(self.hex_bytes().to_vec()).expect("hex digits are ASCII")
    }

    /// The first 12 hex digits: enough to tell objects apart in a listing.
    pub fn short(&self) -> String {
        let mut hex = self.hex();
        hex.truncate(12);
        hex
    }
}

/// Abbreviations of digests that stay unique among those shown together,
/// as git abbreviates object names: at least [`Abbrev::MIN`] hex digits,
/// more where two digests shown begin alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abbrev {
    len: usize,
}

impl Default for Abbrev {
    fn default() -> Self {
        Self { len: Self::MIN }
    }
}

impl Abbrev {
    /// The fewest hex digits shown, as [`Sha256Digest::short`] shows.
    pub const MIN: usize = 12;

    /// The abbreviation that tells every one of `digests` apart (equal
    /// digests are one).
    pub fn among<'a>(digests: impl IntoIterator<Item = &'a Sha256Digest>) -> Self {
        let mut all: Vec<&Sha256Digest> = digests.into_iter().collect();
        all.sort_unstable();
        all.dedup();
        let common = all
            .windows(2)
            .map(|pair| {
                let (a, b) = (pair[0].hex_bytes(), pair[1].hex_bytes());
                a.iter().zip(&b).take_while(|(x, y)| x == y).count()
            })
            .max()
            .unwrap_or(0);
        Self {
            len: (common + 1).clamp(Self::MIN, 64),
        }
    }

    /// `digest`'s first hex digits.
    pub fn of(&self, digest: &Sha256Digest) -> String {
        let mut hex = digest.hex();
        hex.truncate(self.len);
        hex
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Sha256Digest {
    /// The hex digits as bytes, without the formatting machinery: this runs
    /// for every resource of every plan.
    fn hex_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        out
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex_bytes();
        f.write_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

impl FromStr for Sha256Digest {
    type Err = InvalidDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The common case in one pass; the checks below only explain failures.
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if s.len() == 64 {
            let mut bytes = [0u8; 32];
            let valid =
                bytes
                    .iter_mut()
                    .zip(s.as_bytes().chunks_exact(2))
                    .all(|(byte, pair)| match (nibble(pair[0]), nibble(pair[1])) {
                        (Some(high), Some(low)) => {
                            *byte = (high << 4) | low;
                            true
                        }
                        _ => false,
                    });
            if valid {
                return Ok(Self(bytes));
            }
        }
        for prefix in ["sha256:", "sha256-", "sha256="] {
            if let Some(head) = s.get(..prefix.len())
                && head.eq_ignore_ascii_case(prefix)
            {
                return Err(InvalidDigest::Prefixed {
                    prefix: head.to_owned(),
                });
            }
        }
        if let Some(found) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(InvalidDigest::NotHex { found });
        }
        if s.len() != 64 {
            return Err(InvalidDigest::WrongLength { found: s.len() });
        }
        Err(InvalidDigest::Uppercase)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Sha256Digest {
    fn schema_name() -> Cow<'static, str> {
        "Sha256".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 of the content as 64 lowercase hex digits (`crp hash FILE` prints it)."
        })
    }
}

/// Hashes everything `reader` yields, returning the digest and the byte count.
pub fn hash_reader(mut reader: impl Read) -> io::Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((Sha256Digest::from_hasher(hasher), total))
}

/// Hashes a file's content.
pub fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    hash_reader(fs_err::File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn round_trips_and_hashes() {
        let digest: Sha256Digest = EMPTY.parse().unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(Sha256Digest::of_bytes(b""), digest);
        assert_eq!(hash_reader(&b""[..]).unwrap(), (digest, 0));
        assert_eq!(digest.short(), "e3b0c44298fc");
    }

    #[test]
    fn abbreviations_grow_until_every_digest_shown_is_told_apart() {
        let a: Sha256Digest = EMPTY.parse().unwrap();
        let twin = |from: usize| -> Sha256Digest {
            let mut hex = EMPTY.to_owned();
            let flipped = if &hex[from..=from] == "0" { "1" } else { "0" };
            hex.replace_range(from..=from, flipped);
            hex.parse().unwrap()
        };
        assert_eq!(Abbrev::among([&a]).of(&a), "e3b0c44298fc");
        assert_eq!(Abbrev::among([&a, &a]).of(&a).len(), Abbrev::MIN);
        assert_eq!(Abbrev::among([&a, &twin(5)]).of(&a).len(), Abbrev::MIN);
        let (b, c) = (twin(14), twin(30));
        let abbrev = Abbrev::among([&a, &b, &c]);
        assert_eq!(abbrev.of(&a).len(), 31);
        let shown: std::collections::BTreeSet<String> =
            [&a, &b, &c].iter().map(|d| abbrev.of(d)).collect();
        assert_eq!(shown.len(), 3);
        assert_eq!(Abbrev::among([&a, &twin(63)]).of(&a), EMPTY);
    }

    #[test]
    fn explains_what_is_wrong() {
        let upper = EMPTY.to_uppercase();
        let cases = [
            ("abc", InvalidDigest::WrongLength { found: 3 }),
            (&upper, InvalidDigest::Uppercase),
            ("xyz", InvalidDigest::NotHex { found: 'x' }),
            ("sha256é", InvalidDigest::NotHex { found: 's' }),
            (
                &format!("sha256:{EMPTY}"),
                InvalidDigest::Prefixed {
                    prefix: "sha256:".into(),
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                input.parse::<Sha256Digest>().unwrap_err(),
                expected,
                "{input}"
            );
        }
    }
}
