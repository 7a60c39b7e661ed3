//! The store's policy: what crp fetches on its own, what waits for a
//! person's yes, and the limits no approval overrides.
//!
//! The policy lives in `<store>/meta/policy.toml`; every key is optional,
//! and a missing file is the default policy (friendly to one person and to
//! CI). `crp policy init --collective` writes the full rule set of a shared
//! machine. [`Policy::limit`] and [`Policy::reasons`] judge one request; the
//! decisions of people come from the [`crate::policy::approval`] ledger.

pub mod approval;
pub mod exec;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::digest::Sha256Digest;
use crate::manifest::{ManifestError, SourceEntry};
use crate::name::Name;
use crate::source::Source;
use crate::time::Timestamp;
use crate::units::{ByteCount, Size};

/// The policy file's path in a store.
pub fn path(store_root: &Path) -> PathBuf {
    store_root.join("meta").join("policy.toml")
}

/// Resources larger than this need a person's yes under the default policy.
pub const DEFAULT_LARGER_THAN: u64 = 1_000_000_000;

/// The collective's full rule set, as `crp policy init --collective` writes it.
pub const COLLECTIVE: &str = r#"# crp policy of a shared machine: which requests crp fetches on its own,
# which wait for a person (`crp pending`, `crp approve`, `crp deny`), and the
# limits that no approval overrides. Every key is optional; `crp policy show`
# prints the effective policy and where each value comes from.

[limits]
# No single resource may be larger.
max_size = "200 GB"
# The store's objects may not grow past this (uncomment to set).
# quota = "2 TB"
# The only kinds of source crp may fetch from.
schemes = ["https", "file", "magnet", "torrent"]

[approval]
# A person must approve a request when any of these holds:
# the resource is larger than this,
larger_than = "1 GB"
# a source's host is not trusted (local paths always are),
unknown_source = true
trusted_hosts = [
    "github.com",
    "objects.githubusercontent.com",
    "*.lexaloffle.com",
    "huggingface.co",
    "zenodo.org",
]
# the requesting project has not fetched before without incident,
first_request = true
# the content is executable (declared with `executable = true`; executable
# content that is not declared is quarantined whatever the policy says),
executable = true
# or the store knows the resource's name with another sha256 (a new version).
version_change = true

# Approvals checked in beside a manifest (`crp sync --approvals FILE`) count
# only when this is true; on a shared machine, the store's ledger decides.
approval_files = false
"#;

/// Why content in the store is not linked into a project.
pub const UNDECLARED_EXECUTABLE: &str =
    "its content is executable, and the manifest does not declare `executable = true`";

/// A kind of source, as the policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Https,
    Http,
    File,
    Magnet,
    Torrent,
}

impl Scheme {
    pub const ALL: [Self; 5] = [
        Self::Https,
        Self::Http,
        Self::File,
        Self::Magnet,
        Self::Torrent,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
            Self::File => "file",
            Self::Magnet => "magnet",
            Self::Torrent => "torrent",
        }
    }

    /// The schemes a source uses: a `.torrent` fetched over HTTPS uses both.
    fn of(source: &Source) -> Vec<Self> {
        match source {
            Source::Http(url) if url.scheme() == "https" => vec![Self::Https],
            Source::Http(_) => vec![Self::Http],
            Source::File(_) => vec![Self::File],
            Source::Magnet(_) => vec![Self::Magnet],
            Source::Torrent(inner) => {
                let mut schemes = vec![Self::Torrent];
                schemes.extend(Self::of(inner));
                schemes
            }
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    approval: RawApproval,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_size: Option<Spanned<Size>>,
    quota: Option<Spanned<Size>>,
    schemes: Option<Spanned<Vec<Scheme>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    larger_than: Option<Spanned<Size>>,
    unknown_source: Option<Spanned<bool>>,
    trusted_hosts: Option<Spanned<Vec<String>>>,
    first_request: Option<Spanned<bool>>,
    executable: Option<Spanned<bool>>,
    version_change: Option<Spanned<bool>>,
    approval_files: Option<Spanned<bool>>,
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum Origin {
    /// crp's default: no policy file, or the file does not set it.
    Default,
    /// The policy file, at this line.
    File { path: PathBuf, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// The effective policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Hard limits: no approval overrides them.
    pub limits: Limits,
    /// When a person must approve.
    pub approval: ApprovalRules,
    /// The file the policy was read from, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Where each value comes from, by key (`limits.max_size`).
    pub origins: BTreeMap<String, Origin>,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    pub schemes: Vec<Scheme>,
}

/// `[approval]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub larger_than: Option<u64>,
    pub unknown_source: bool,
    pub trusted_hosts: Vec<String>,
    pub first_request: bool,
    pub executable: bool,
    pub version_change: bool,
    pub approval_files: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            limits: Limits {
                max_size: None,
                quota: None,
                schemes: Scheme::ALL.to_vec(),
            },
            approval: ApprovalRules {
                larger_than: Some(DEFAULT_LARGER_THAN),
                unknown_source: false,
                trusted_hosts: Vec::new(),
                first_request: false,
                executable: false,
                version_change: false,
                approval_files: true,
            },
            file: None,
            origins: BTreeMap::new(),
        }
    }
}

/// The rule of the policy behind a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    LargerThan,
    UnknownSource,
    FirstRequest,
    Executable,
    VersionChange,
    MaxSize,
    Quota,
    Scheme,
    UndeclaredExecutable,
}

/// Why a request needs a person, or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the policy and the people say about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// No rule asks for a person.
    AutoApproved,
    /// A person said yes to exactly this hash and these sources.
    Approved {
        by: String,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// The approvals file that carried the decision, when not the ledger.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<PathBuf>,
    },
    /// Not fetched until a person approves.
    AwaitingApproval { reasons: Vec<Reason> },
    /// Refused: by a person (`by`), or by a hard limit of the policy.
    Denied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<Rule>,
        reason: String,
    },
}

impl Verdict {
    /// Whether crp may fetch and link the resource.
    pub fn allows(&self) -> bool {
        matches!(self, Self::AutoApproved | Self::Approved { .. })
    }

    /// A denial by the policy itself.
    pub fn refused(rule: Rule, reason: impl Into<String>) -> Self {
        Self::Denied {
            by: None,
            at: None,
            rule: Some(rule),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AutoApproved => f.write_str("auto-approved"),
            Self::Approved { by, at, note, file } => {
                write!(f, "approved by {by} at {at}")?;
                if let Some(file) = file {
                    write!(f, " (in `{}`)", file.display())?;
                }
                if let Some(note) = note {
                    write!(f, ": {note}")?;
                }
                Ok(())
            }
            Self::AwaitingApproval { reasons } => {
                f.write_str("awaiting approval: ")?;
                let reasons: Vec<&str> = reasons.iter().map(|r| r.message.as_str()).collect();
                f.write_str(&reasons.join("; "))
            }
            Self::Denied { by, at, reason, .. } => match (by, at) {
                (Some(by), Some(at)) => write!(f, "denied by {by} at {at}: {reason}"),
                (Some(by), None) => write!(f, "denied by {by}: {reason}"),
                _ => write!(f, "denied by the policy: {reason}"),
            },
        }
    }
}

/// One request, as the policy sees it before anything is downloaded.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub name: &'a Name,
    pub sha256: Option<Sha256Digest>,
    /// Declared, or known from the store.
    pub size: Option<u64>,
    pub sources: &'a [SourceEntry],
    /// `executable = true` in the manifest.
    pub executable: bool,
    /// The pinned version this request would replace (`crp update`): a new
    /// version even while its digest is unknown.
    pub replaces: Option<Sha256Digest>,
}

/// What the store knows that some rules need.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The requesting project has synced before and had no incident (no
    /// hash mismatch, no quarantined content).
    pub project_trusted: bool,
    /// Every resource name the store's projects use, with its digests and
    /// the project that uses each.
    pub known: BTreeMap<Name, Vec<(Sha256Digest, Name)>>,
}

impl Policy {
    /// Reads `<store>/meta/policy.toml`; no file is the default policy.
    /// Problems are reported at `file:line:col`, like manifest problems.
    pub fn load(store_root: &Path) -> Result<Self, ManifestError> {
        let path = path(store_root);
        match crate::config::read_toml_text(&path)? {
            None => Ok(Self::default()),
            Some(text) => Self::parse(&path, &text),
        }
    }

    /// Parses a policy file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let raw: RawPolicy = crate::config::parse_toml(
            path,
            text,
            "invalid policy",
            Some("see `crp policy show` for the keys and their defaults"),
        )?;
        let mut policy = Self {
            file: Some(path.to_owned()),
            ..Self::default()
        };
        let mut origins = BTreeMap::new();
        let mut take = |key: &str, span: std::ops::Range<usize>| {
            let line = crate::diagnostic::line_col(text, span.start).0;
            origins.insert(
                key.to_owned(),
                Origin::File {
                    path: path.to_owned(),
                    line,
                },
            );
        };
        macro_rules! set {
            ($raw:expr, $key:literal, $target:expr, $map:expr) => {
                if let Some(value) = $raw {
                    take($key, value.span());
                    $target = $map(value.into_inner());
                }
            };
        }
        let (limits, approval) = (raw.limits, raw.approval);
        set!(
            limits.max_size,
            "limits.max_size",
            policy.limits.max_size,
            |s: Size| Some(s.0)
        );
        set!(
            limits.quota,
            "limits.quota",
            policy.limits.quota,
            |s: Size| Some(s.0)
        );
        set!(
            limits.schemes,
            "limits.schemes",
            policy.limits.schemes,
            |s| s
        );
        set!(
            approval.larger_than,
            "approval.larger_than",
            policy.approval.larger_than,
            |s: Size| Some(s.0)
        );
        set!(
            approval.unknown_source,
            "approval.unknown_source",
            policy.approval.unknown_source,
            |b| b
        );
        set!(
            approval.trusted_hosts,
            "approval.trusted_hosts",
            policy.approval.trusted_hosts,
            |h| h
        );
        set!(
            approval.first_request,
            "approval.first_request",
            policy.approval.first_request,
            |b| b
        );
        set!(
            approval.executable,
            "approval.executable",
            policy.approval.executable,
            |b| b
        );
        set!(
            approval.version_change,
            "approval.version_change",
            policy.approval.version_change,
            |b| b
        );
        set!(
            approval.approval_files,
            "approval.approval_files",
            policy.approval.approval_files,
            |b| b
        );
        policy.origins = origins;
        Ok(policy)
    }

    /// Where `key`'s value comes from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// The effective settings as `(key, value as TOML, origin)`, in file order.
    pub fn settings(&self) -> Vec<(&'static str, String, Origin)> {
        let size =
            |s: Option<u64>| s.map_or_else(|| "none".to_owned(), |s| format!("\"{}\"", Size(s)));
        let list = |items: Vec<String>| {
            let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let (l, a) = (&self.limits, &self.approval);
        [
            ("limits.max_size", size(l.max_size)),
            ("limits.quota", size(l.quota)),
            (
                "limits.schemes",
                list(l.schemes.iter().map(ToString::to_string).collect()),
            ),
            ("approval.larger_than", size(a.larger_than)),
            ("approval.unknown_source", a.unknown_source.to_string()),
            ("approval.trusted_hosts", list(a.trusted_hosts.clone())),
            ("approval.first_request", a.first_request.to_string()),
            ("approval.executable", a.executable.to_string()),
            ("approval.version_change", a.version_change.to_string()),
            ("approval.approval_files", a.approval_files.to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key, value, self.origin(key)))
        .collect()
    }

    /// Whether a host is on the trusted list: exact names, or `*.domain`
    /// for every name under `domain`.
    pub fn trusts_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.approval.trusted_hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.')),
                None => host == pattern,
            }
        })
    }

    /// Whether every scheme `source` uses is among the allowed `schemes`.
    pub fn allows_scheme_of(&self, source: &Source) -> bool {
        Scheme::of(source)
            .iter()
            .all(|s| self.limits.schemes.contains(s))
    }

    /// Why the allowed `schemes` rule out `remote`, if they do: a remote is
    /// asked through its endpoint, like a source of the endpoint's scheme.
    /// The reason reads "the policy's `schemes` do not allow `http:`".
    pub fn refuses_remote(&self, remote: &crate::remote::Remote) -> Option<String> {
        (!self.allows_scheme_of(&Source::Http(remote.endpoint.clone()))).then(|| {
            format!(
                "the policy's `schemes` do not allow `{}:`",
                remote.endpoint.scheme()
            )
        })
    }

    /// Whether a source is trusted: a local path, or a URL (of the data or
    /// of its `.torrent`) whose host is on the list. A magnet link names no
    /// host, so it is never trusted by host.
    fn trusts(&self, source: &Source) -> bool {
        match source {
            Source::File(_) => true,
            Source::Http(url) => url.host_str().is_some_and(|h| self.trusts_host(h)),
            Source::Torrent(inner) => self.trusts(inner),
            Source::Magnet(_) => false,
        }
    }

    /// The hard limits a request breaks, before anything is downloaded.
    /// `store_used` is what the store holds plus what this run has already
    /// committed to fetch.
    pub fn limit(&self, request: &Request<'_>, store_used: Option<u64>) -> Option<Verdict> {
        for entry in request.sources {
            if let Some(scheme) = Scheme::of(&entry.source)
                .into_iter()
                .find(|s| !self.limits.schemes.contains(s))
            {
                return Some(Verdict::refused(
                    Rule::Scheme,
                    format!(
                        "source `{}` uses `{scheme}`, which the policy does not allow",
                        entry.spec
                    ),
                ));
            }
        }
        if let (Some(max), Some(size)) = (self.limits.max_size, request.size)
            && size > max
        {
            return Some(Verdict::refused(
                Rule::MaxSize,
                format!(
                    "{} is over the policy's maximum resource size of {}",
                    ByteCount(size),
                    Size(max)
                ),
            ));
        }
        if let (Some(quota), Some(size), Some(used)) = (self.limits.quota, request.size, store_used)
            && used.saturating_add(size) > quota
        {
            return Some(Verdict::refused(
                Rule::Quota,
                format!(
                    "{} would take the store to {}, over its quota of {}",
                    ByteCount(size),
                    ByteCount(used + size),
                    Size(quota)
                ),
            ));
        }
        None
    }

    /// The most bytes a fetch with this verdict may write when the size
    /// was not known beforehand: the maximum size, and for an auto-approved
    /// request, the size above which a person must approve.
    pub fn cap(&self, verdict: &Verdict) -> Option<u64> {
        let approval = match verdict {
            Verdict::AutoApproved => self.approval.larger_than,
            _ => None,
        };
        match (self.limits.max_size, approval) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Which approval rules a request meets: an empty list means it is
    /// auto-approved.
    pub fn reasons(&self, request: &Request<'_>, history: &History, project: &Name) -> Vec<Reason> {
        let rules = &self.approval;
        let mut reasons = Vec::new();
        // An undeclared size is checked while the bytes stream: the fetch
        // stops at the limit (see `Policy::cap`).
        if let (Some(limit), Some(size)) = (rules.larger_than, request.size)
            && size > limit
        {
            reasons.push(Reason {
                rule: Rule::LargerThan,
                message: format!("{} is over {}", ByteCount(size), Size(limit)),
            });
        }
        if rules.unknown_source
            && let Some(entry) = request.sources.iter().find(|s| !self.trusts(&s.source))
        {
            reasons.push(Reason {
                rule: Rule::UnknownSource,
                message: format!("source `{}` is not on the trusted list", entry.spec),
            });
        }
        if rules.first_request && !history.project_trusted {
            reasons.push(Reason {
                rule: Rule::FirstRequest,
                message: format!("project `{project}` has not fetched before without incident"),
            });
        }
        if rules.executable && request.executable {
            reasons.push(Reason {
                rule: Rule::Executable,
                message: "the content is executable".into(),
            });
        }
        // Unknown content that replaces a pinned version is new too.
        let new_version = |d: &Sha256Digest| match request.sha256 {
            Some(digest) => *d != digest,
            None => request.replaces.is_some(),
        };
        if rules.version_change
            && let Some(known) = history.known.get(request.name)
            && let Some((old, user)) = known.iter().find(|(d, _)| new_version(d))
            && !known.iter().any(|(d, _)| Some(*d) == request.sha256)
        {
            reasons.push(Reason {
                rule: Rule::VersionChange,
                message: format!(
                    "a new version: the store knows `{}` as {} (project `{user}`)",
                    request.name,
                    old.short()
                ),
            });
        }
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceSpec;

    fn policy(text: &str) -> Policy {
        Policy::parse(Path::new("/store/meta/policy.toml"), text).unwrap()
    }

    fn sources(specs: &[&str]) -> Vec<SourceEntry> {
        specs
            .iter()
            .map(|text| {
                let spec: SourceSpec = text.parse().unwrap();
                SourceEntry {
                    source: spec.resolve(Path::new("/project")),
                    spec,
                }
            })
            .collect()
    }

    fn request<'a>(name: &'a Name, size: Option<u64>, sources: &'a [SourceEntry]) -> Request<'a> {
        Request {
            name,
            sha256: None,
            size,
            sources,
            executable: false,
            replaces: None,
        }
    }

    fn rules(reasons: &[Reason]) -> Vec<Rule> {
        reasons.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn trusted_hosts_match_exactly_or_under_a_wildcard_domain() {
        let p = policy("[approval]\ntrusted_hosts = [\"data.example.org\", \"*.mirror.net\"]\n");
        assert!(p.trusts_host("data.example.org"));
        assert!(p.trusts_host("DATA.Example.org"));
        assert!(p.trusts_host("eu.mirror.net"));
        assert!(p.trusts_host("a.b.mirror.net"));
        assert!(
            !p.trusts_host("mirror.net"),
            "the wildcard needs a subdomain"
        );
        assert!(
            !p.trusts_host("evilmirror.net"),
            "a suffix is not a subdomain"
        );
        assert!(!p.trusts_host("example.org"));
    }

    #[test]
    fn hard_limits_refuse_by_scheme_then_size_then_quota() {
        let name: Name = "r".parse().unwrap();
        let p = policy("[limits]\nschemes = [\"https\"]\nmax_size = \"1 MB\"\nquota = \"10 MB\"\n");
        let http = sources(&["http://example.org/r"]);
        let https = sources(&["https://example.org/r"]);
        let refused_by = |v: Option<Verdict>| match v {
            Some(Verdict::Denied { rule, by: None, .. }) => rule,
            other => panic!("not refused by a limit: {other:?}"),
        };
        assert_eq!(
            refused_by(p.limit(&request(&name, Some(10), &http), None)),
            Some(Rule::Scheme)
        );
        assert_eq!(
            refused_by(p.limit(&request(&name, Some(2_000_000), &https), None)),
            Some(Rule::MaxSize)
        );
        assert_eq!(
            refused_by(p.limit(&request(&name, Some(900_000), &https), Some(9_500_000))),
            Some(Rule::Quota)
        );
        assert_eq!(
            p.limit(&request(&name, Some(900_000), &https), Some(9_000_000)),
            None
        );
        // An unknown size is capped while it streams instead.
        assert_eq!(
            p.limit(&request(&name, None, &https), Some(9_999_999)),
            None
        );
    }

    #[test]
    fn the_cap_of_an_unknown_size_is_the_smaller_limit_for_what_no_person_approved() {
        let p = policy("[limits]\nmax_size = \"5 GB\"\n[approval]\nlarger_than = \"1 GB\"\n");
        assert_eq!(p.cap(&Verdict::AutoApproved), Some(1_000_000_000));
        let approved = Verdict::Approved {
            by: "alice".into(),
            at: Timestamp::now(),
            note: None,
            file: None,
        };
        assert_eq!(p.cap(&approved), Some(5_000_000_000));
        assert_eq!(policy("").cap(&approved), None);
    }

    #[test]
    fn each_approval_rule_gives_its_reason() {
        let name: Name = "model".parse().unwrap();
        let project: Name = "p".parse().unwrap();
        let p = policy(
            "[approval]\nlarger_than = \"1 MB\"\nunknown_source = true\nfirst_request = true\nexecutable = true\nversion_change = true\ntrusted_hosts = [\"good.org\"]\n",
        );
        let good = sources(&["https://good.org/m", "files/m.bin"]);
        let other = sources(&["https://other.org/m"]);
        let old = Sha256Digest::of_bytes(b"old");
        let new = Sha256Digest::of_bytes(b"new");
        let trusted = History {
            project_trusted: true,
            known: BTreeMap::new(),
        };
        // Nothing to say: small, trusted, a trusted project, not executable.
        assert!(
            p.reasons(&request(&name, Some(10), &good), &trusted, &project)
                .is_empty()
        );

        let mut r = request(&name, Some(2_000_000), &other);
        r.executable = true;
        r.sha256 = Some(new);
        let history = History {
            project_trusted: false,
            known: BTreeMap::from([(name.clone(), vec![(old, "q".parse().unwrap())])]),
        };
        assert_eq!(
            rules(&p.reasons(&r, &history, &project)),
            [
                Rule::LargerThan,
                Rule::UnknownSource,
                Rule::FirstRequest,
                Rule::Executable,
                Rule::VersionChange
            ]
        );
        // A version the store knows already is no change; off, nothing is asked.
        r.sha256 = Some(old);
        assert!(!rules(&p.reasons(&r, &history, &project)).contains(&Rule::VersionChange));
        assert!(policy("").reasons(&r, &history, &project).is_empty());
    }

    #[test]
    fn magnets_are_never_trusted_by_host_and_local_files_always_are() {
        let p = policy("[approval]\nunknown_source = true\ntrusted_hosts = [\"*\"]\n");
        let name: Name = "t".parse().unwrap();
        let history = History {
            project_trusted: true,
            ..History::default()
        };
        let magnet = sources(&["magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"]);
        let file = sources(&["files/t.bin"]);
        assert_eq!(
            rules(&p.reasons(&request(&name, None, &magnet), &history, &name)),
            [Rule::UnknownSource]
        );
        assert!(
            p.reasons(&request(&name, None, &file), &history, &name)
                .is_empty()
        );
    }

    #[test]
    fn settings_say_where_they_come_from() {
        let p = policy("[limits]\n\nmax_size = \"2 GB\"\n");
        assert_eq!(
            p.origin("limits.max_size"),
            Origin::File {
                path: "/store/meta/policy.toml".into(),
                line: 3
            }
        );
        assert_eq!(p.origin("approval.larger_than"), Origin::Default);
        assert_eq!(p.limits.max_size, Some(2_000_000_000));
    }

    #[test]
    fn an_unknown_key_is_an_error_at_its_line() {
        let text = "[approval]\nlarger = \"1 GB\"\n";
        let Err(ManifestError::Invalid(report)) = Policy::parse(Path::new("policy.toml"), text)
        else {
            panic!("an unknown key was accepted");
        };
        let problem = &report.diagnostics[0];
        let label = problem.label.as_deref().unwrap_or_default();
        assert!(label.contains("unknown field `larger`"), "{problem:?}");
        let at = problem.span.clone().expect("a place in the file");
        assert_eq!(crate::diagnostic::line_col(text, at.start).0, 2);
    }
}
