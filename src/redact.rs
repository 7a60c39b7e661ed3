//! Keeping secrets in URLs out of everything crp prints or stores.
//!
//! A URL may carry credentials in its user-info (`https://user:pass@…`, or a
//! token as the user name, as some forges take one), in query parameters of
//! signed or tokenised links (`?token=…`, `?X-Amz-Signature=…`), and, in a
//! magnet link, in its tracker URLs (private trackers put a passkey in the
//! path or the query). [`url`] and [`magnet`] give the form for people;
//! [`text`] finds URLs inside free text (an error message, a diff, a log
//! line) and redacts each, so that every sink can run what it writes through
//! it whatever produced the text.
//!
//! Redaction is for display and storage only: what identifies a source is
//! its whole URL (see [`crate::source::SourceSpec::identity`]).

use std::borrow::Cow;

use url::Url;

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// Query parameters whose values are credentials, compared without regard
/// to case. Parameters starting with [`SECRET_PREFIXES`] are secrets too.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "authkey",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "pass",
    "passkey",
    "credential",
    "session",
];

/// Prefixes of signed-URL parameters: AWS SigV4 (`X-Amz-Signature`,
/// `X-Amz-Credential`, `X-Amz-Security-Token`…) and Google Cloud Storage's
/// (`X-Goog-Signature`…).
const SECRET_PREFIXES: &[&str] = &["x-amz-", "x-goog-"];

/// Whether a query parameter's value is a credential.
pub fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_PARAMS.contains(&key.as_str()) || SECRET_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// `url` with its user-info and credential-like query values replaced by
/// [`MASK`].
pub fn url(url: &Url) -> String {
    redacted(url, false).unwrap_or_else(|| url.to_string())
}

/// Like [`url`], for a tracker: private trackers also put the passkey in a
/// path segment (`/<passkey>/announce`), so long opaque segments are masked
/// too.
fn tracker(url: &Url) -> String {
    redacted(url, true).unwrap_or_else(|| url.to_string())
}

/// The redacted URL, or `None` when nothing in it is secret.
fn redacted(url: &Url, tracker: bool) -> Option<String> {
    let mut safe = url.clone();
    let mut changed = false;
    if !safe.username().is_empty() {
        let _ = safe.set_username(MASK);
        changed = true;
    }
    if safe.password().is_some() {
        let _ = safe.set_password(Some(MASK));
        changed = true;
    }
    if tracker && let Some(segments) = url.path_segments() {
        let masked: Vec<&str> = segments
            .map(|s| if looks_like_key(s) { MASK } else { s })
            .collect();
        if masked.contains(&MASK) {
            safe.set_path(&masked.join("/"));
            changed = true;
        }
    }
    let secret = |k: &str| tracker || is_secret_param(k);
    if safe.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = safe
            .query_pairs()
            .map(|(k, v)| {
                let value = if secret(&k) {
                    MASK.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        safe.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    changed.then(|| safe.to_string())
}

/// A path segment that is more likely a key than a word: long, and all
/// letters and digits.
fn looks_like_key(segment: &str) -> bool {
    segment.len() >= 16 && segment.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A magnet link with the URLs in it redacted: tracker passkeys (`tr=`) and
/// credentials in web seeds and other sources (`ws=`, `xs=`, `as=`). The
/// info-hash and the display name stay.
pub fn magnet(link: &str) -> Cow<'_, str> {
    let Some(query) = link.strip_prefix("magnet:?") else {
        return Cow::Borrowed(link);
    };
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|part| {
            let Some((key, value)) = part.split_once('=') else {
                return part.to_owned();
            };
            if !matches!(key, "tr" | "ws" | "xs" | "as") && !key.starts_with("tr.") {
                return part.to_owned();
            }
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            let Ok(parsed) = Url::parse(&decoded) else {
                return part.to_owned();
            };
            let shown = if key.starts_with("tr") {
                tracker(&parsed)
            } else {
                self::url(&parsed)
            };
            if shown == parsed.as_str() {
                part.to_owned()
            } else {
                changed = true;
                format!(
                    "{key}={}",
                    percent_encoding::utf8_percent_encode(&shown, COMPONENT)
                )
            }
        })
        .collect();
    if changed {
        Cow::Owned(format!("magnet:?{}", parts.join("&")))
    } else {
        Cow::Borrowed(link)
    }
}

/// What a query value escapes (RFC 3986 leaves unreserved characters and
/// the `*` of the mask alone).
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'*');

/// Schemes whose URLs [`text`] looks for.
const SCHEMES: &[&str] = &[
    "https://", "http://", "udp://", "magnet:?", "s3://", "ftp://",
];

/// Free text with every URL in it redacted. A URL ends at whitespace, a
/// quote, `<`, `>`, a backtick or a closing bracket. Credentials written
/// before a host without a scheme (`user:pass@host`, as an HTTP client's
/// debug log names a connection) are masked too. Text with none of these
/// is returned as it is, without copying.
pub fn text(input: &str) -> Cow<'_, str> {
    match urls(input) {
        Cow::Borrowed(_) => bare_userinfo(input),
        Cow::Owned(redacted) => Cow::Owned(bare_userinfo(&redacted).into_owned()),
    }
}

/// `user:password@host` outside a URL: the part before `@` is masked when
/// it has a `:` (an e-mail address has none).
fn bare_userinfo(input: &str) -> Cow<'_, str> {
    if !input.contains('@') {
        return Cow::Borrowed(input);
    }
    let stop = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '(' | ')' | '<' | '>' | '[' | ']' | ',' | '/' | '`' | '{' | '}' | '='
            )
    };
    let mut out = String::with_capacity(input.len());
    let mut changed = false;
    let mut rest = input;
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        let start = before.rfind(stop).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let userinfo = &before[start..];
        out.push_str(&before[..start]);
        if userinfo.contains(':') && userinfo != MASK && !userinfo.starts_with(&format!("{MASK}:"))
        {
            out.push_str(MASK);
            changed = true;
        } else {
            out.push_str(userinfo);
        }
        out.push('@');
        rest = &rest[at + 1..];
    }
    if !changed {
        return Cow::Borrowed(input);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// [`text`]'s first pass: the URLs.
fn urls(input: &str) -> Cow<'_, str> {
    if !input.contains("://") && !input.contains("magnet:") {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut changed = false;
    while let Some((start, scheme)) = next_url(rest) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after[scheme.len()..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | '\\')
            })
            .map_or(after.len(), |i| i + scheme.len());
        let candidate = &after[..end];
        let shown: Cow<'_, str> = if scheme == "magnet:?" {
            magnet(candidate)
        } else {
            match Url::parse(candidate) {
                Ok(parsed) => match redacted(&parsed, false) {
                    Some(safe) => Cow::Owned(safe),
                    None => Cow::Borrowed(candidate),
                },
                // Not a URL after all; a user-info part is masked anyway.
                Err(_) => mask_userinfo(candidate, scheme),
            }
        };
        changed |= shown != candidate;
        out.push_str(&shown);
        rest = &after[end..];
    }
    if !changed {
        return Cow::Borrowed(input);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The first URL in `text`: where it starts and its scheme.
fn next_url(text: &str) -> Option<(usize, &'static str)> {
    SCHEMES
        .iter()
        .filter_map(|scheme| {
            // Case-insensitive without allocating for the common case.
            let pos = find_ignore_case(text, scheme)?;
            Some((pos, *scheme))
        })
        .min_by_key(|(pos, _)| *pos)
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let bytes = haystack.as_bytes();
    let n = needle.len();
    (0..=bytes.len().checked_sub(n)?).find(|&i| {
        haystack.is_char_boundary(i) && bytes[i..i + n].eq_ignore_ascii_case(needle.as_bytes())
    })
}

/// `scheme://user:pass@rest` → `scheme://****@rest`, for text that does not
/// parse as a URL.
fn mask_userinfo<'a>(candidate: &'a str, scheme: &str) -> Cow<'a, str> {
    let body = &candidate[scheme.len()..];
    let authority_end = body.find('/').unwrap_or(body.len());
    match body[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{scheme}{MASK}{}", &body[at..])),
        None => Cow::Borrowed(candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info_and_secret_parameters() {
        let cases = [
            (
                "https://u:secret@e.org/a?X-Amz-Signature=abc&v=1",
                "https://****:****@e.org/a?X-Amz-Signature=****&v=1",
            ),
            (
                "https://ghp_0123456789abcdef@forge.example/o/r.tar.gz",
                "https://****@forge.example/o/r.tar.gz",
            ),
            (
                "https://e.org/get?key=dataset-a&x-goog-credential=me&page=2",
                "https://e.org/get?key=****&x-goog-credential=****&page=2",
            ),
            (
                "https://e.org/a?Access_Token=t&client_secret=s&api_key=k&sig=1&signature=2&password=p",
                "https://e.org/a?Access_Token=****&client_secret=****&api_key=****&sig=****&signature=****&password=****",
            ),
            ("https://e.org/plain.zip?v=1", "https://e.org/plain.zip?v=1"),
        ];
        for (given, shown) in cases {
            assert_eq!(url(&Url::parse(given).unwrap()), shown, "{given}");
        }
    }

    #[test]
    fn redacts_tracker_passkeys_in_magnets() {
        let link = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=x\
                    &tr=http%3A%2F%2Ft.example%2F0123456789abcdef0123%2Fannounce\
                    &tr=https%3A%2F%2Fu.example%2Fannounce.php%3Fpasskey%3Ds3cr3t\
                    &tr=udp%3A%2F%2Fopen.example%3A1337%2Fannounce";
        let shown = magnet(link);
        assert!(!shown.contains("0123456789abcdef0123"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("open.example"), "{shown}");
        assert!(shown.contains("c12fe1c06bba254a9dc9f519b335aa7c1367a88a"));
        // Nothing secret: the link is left as it is.
        let plain = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=x";
        assert!(matches!(magnet(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn finds_urls_in_text() {
        let given = "error: `https://u:p@e.org/a?token=t` moved to <http://h/b?sig=s>; see https://docs.example/x.";
        assert_eq!(
            text(given),
            "error: `https://****:****@e.org/a?token=****` moved to <http://h/b?sig=****>; see https://docs.example/x."
        );
        assert!(matches!(text("no links here"), Cow::Borrowed(_)));
        // An HTTP client's debug log names connections without a scheme.
        assert_eq!(
            text(r#"pooling idle connection for ("http", u:s3cret@127.0.0.1:8765)"#),
            r#"pooling idle connection for ("http", ****@127.0.0.1:8765)"#
        );
        assert!(matches!(text("mail alice@example.org"), Cow::Borrowed(_)));
        // Already redacted text stays as it is.
        let once = text(given).into_owned();
        assert_eq!(text(&once), once);
    }
}
