//! Names of resources and projects.
//!
//! A name becomes a path component (the link in a project, the project's
//! record in the store), so only a small, portable alphabet is accepted and
//! nothing that a file system would read as structure (`/`, `..`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// The longest name accepted.
pub const MAX_LEN: usize = 64;

/// What a valid name looks like, for hints.
pub const NAME_RULES: &str = "names use lowercase letters, digits, `.`, `_` and `-`, \
     start with a letter or digit, and have at most 64 characters";

/// A validated resource or project name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name has at most {MAX_LEN} characters, this one has {found}")]
    TooLong { found: usize },
    #[error("a name must start with a lowercase letter or a digit, not `{found}`")]
    BadStart { found: char },
    #[error("`{found}` is not allowed in a name; use lowercase letters, digits, `.`, `_` and `-`")]
    BadChar { found: char },
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Derives a valid name from arbitrary text (a file name, a folder name):
    /// lowercased, with runs of other characters turned into `-`. `None` when
    /// nothing usable is left.
    pub fn sanitize(text: &str) -> Option<Self> {
        let mut out = String::new();
        for c in text.chars().flat_map(char::to_lowercase) {
            if allowed(c) {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        let mut name: String = trimmed.chars().take(MAX_LEN).collect();
        while name.ends_with('-') {
            name.pop();
        }
        name.parse().ok()
    }
}

impl FromStr for Name {
    type Err = InvalidName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let first = s.chars().next().ok_or(InvalidName::Empty)?;
        if let Some(found) = s.chars().find(|&c| !allowed(c)) {
            return Err(InvalidName::BadChar { found });
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(InvalidName::BadStart { found: first });
        }
        let found = s.chars().count();
        if found > MAX_LEN {
            return Err(InvalidName::TooLong { found });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Name {
    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$",
            "description": "Lowercase letters, digits, `.`, `_` and `-`; starts with a letter or digit; at most 64 characters."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["pico-8", "a", "0.2.7", "data_set.v1", &"x".repeat(64)] {
            assert!(ok.parse::<Name>().is_ok(), "{ok}");
        }
        let cases = [
            ("", InvalidName::Empty),
            ("..", InvalidName::BadStart { found: '.' }),
            ("-x", InvalidName::BadStart { found: '-' }),
            ("a/b", InvalidName::BadChar { found: '/' }),
            ("Pico", InvalidName::BadChar { found: 'P' }),
            ("pico 8", InvalidName::BadChar { found: ' ' }),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Name>().unwrap_err(), expected, "{input:?}");
        }
        assert_eq!(
            "x".repeat(65).parse::<Name>().unwrap_err(),
            InvalidName::TooLong { found: 65 }
        );
    }

    #[test]
    fn sanitizes_file_names() {
        let cases = [
            ("pico-8_0.2.7a6_osx.zip", "pico-8_0.2.7a6_osx.zip"),
            ("My Data (v2).tar.gz", "my-data-v2-.tar.gz"),
            ("__init", "init"),
        ];
        for (input, expected) in cases {
            assert_eq!(Name::sanitize(input).unwrap().as_str(), expected);
        }
        assert_eq!(Name::sanitize("!!!"), None);
    }
}
