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

/// Words that make a query parameter a credential, looked for in its name
/// lowercased, without `-` and `_`: `private_token`, `X-API-Key`,
/// `access-token`, `apiToken`, `client_secret`, `sas_token`, `sessionid`…
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passkey",
    "apikey",
    "accesskey",
    "privatekey",
    "signature",
    "credential",
    "session",
    "auth",
    "jwt",
];

/// Names that are credentials whole (too short to look for inside others).
const SECRET_NAMES: &[&str] = &["key", "sig", "pass", "pwd", "pw", "code"];

/// Prefixes of signed-URL parameters: AWS SigV4 (`X-Amz-Signature`,
/// `X-Amz-Credential`, `X-Amz-Security-Token`…) and Google Cloud Storage's
/// (`X-Goog-Signature`…).
const SECRET_PREFIXES: &[&str] = &["xamz", "xgoog"];

/// Whether a query parameter's value is a credential. Generous on purpose:
/// masking a harmless value costs a reader little, leaking a key costs much.
pub fn is_secret_param(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_NAMES.contains(&key.as_str())
        || SECRET_PREFIXES.iter().any(|p| key.starts_with(p))
        || SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// `url` with its user-info and credential-like query (and fragment)
/// values replaced by [`MASK`].
pub fn url(url: &Url) -> String {
    redacted(url, false).unwrap_or_else(|| url.to_string())
}

/// Like [`url`], for a tracker: private trackers also put the passkey in a
/// path segment (`/<passkey>/announce`), so every segment but the last
/// (`announce`, `scrape`…) is masked, and every query value.
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
        let segments: Vec<&str> = segments.collect();
        let last = segments.len().saturating_sub(1);
        // The last keeps its name (`announce`), not parameters after `;`.
        let masked: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| match s.split_once(';') {
                _ if s.is_empty() => String::new(),
                Some((name, _)) if i == last => format!("{name};{MASK}"),
                None if i == last => (*s).to_owned(),
                _ => MASK.to_owned(),
            })
            .collect();
        if masked.iter().zip(&segments).any(|(m, s)| m != s) {
            safe.set_path(&masked.join("/"));
            changed = true;
        }
    }
    let secret = |k: &str| tracker || is_secret_param(k);
    if let Some(query) = url.query()
        && let Cow::Owned(masked) = mask_pairs(query, secret)
    {
        safe.set_query(Some(&masked));
        changed = true;
    }
    // Some services hand tokens over in the fragment (`#access_token=…`).
    if let Some(fragment) = url.fragment()
        && let Cow::Owned(masked) = mask_pairs(fragment, is_secret_param)
    {
        safe.set_fragment(Some(&masked));
        changed = true;
    }
    changed.then(|| safe.to_string())
}

/// `k=v` pairs separated by `&` or `;`, with the values of secret keys (by
/// their decoded names) masked; the rest as it is, byte for byte.
fn mask_pairs(pairs: &str, secret: impl Fn(&str) -> bool) -> Cow<'_, str> {
    let mut out = String::with_capacity(pairs.len());
    let mut changed = false;
    let mut start = 0;
    for pair in pairs.split(['&', ';']) {
        if start > 0 {
            // The separator that stood here.
            out.push(char::from(pairs.as_bytes()[start - 1]));
        }
        start += pair.len() + 1;
        match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && value != MASK => {
                let name = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
                if secret(&name.replace('+', " ")) {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(MASK);
                    changed = true;
                } else {
                    out.push_str(pair);
                }
            }
            _ => out.push_str(pair),
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(pairs)
    }
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
            let Some((raw_key, value)) = part.split_once('=') else {
                return part.to_owned();
            };
            let key = percent_encoding::percent_decode_str(raw_key)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            let kind = key.split('.').next().unwrap_or_default();
            if !matches!(kind, "tr" | "ws" | "xs" | "as") {
                return part.to_owned();
            }
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            let Ok(parsed) = Url::parse(&decoded) else {
                return part.to_owned();
            };
            let shown = if kind == "tr" {
                tracker(&parsed)
            } else {
                self::url(&parsed)
            };
            if shown == parsed.as_str() {
                part.to_owned()
            } else {
                changed = true;
                format!(
                    "{raw_key}={}",
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

/// [`text`]'s first pass: the URLs, whatever their scheme.
fn urls(input: &str) -> Cow<'_, str> {
    if !input.contains("://") && !input.contains("magnet:") {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut changed = false;
    while let Some((start, body)) = next_url(rest) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after[body..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | '\\')
            })
            .map_or(after.len(), |i| i + body);
        let candidate = &after[..end];
        let shown: Cow<'_, str> = if candidate[..body].eq_ignore_ascii_case("magnet:?") {
            magnet(candidate)
        } else {
            match Url::parse(candidate) {
                Ok(parsed) => match redacted(&parsed, false) {
                    Some(safe) => Cow::Owned(safe),
                    None => Cow::Borrowed(candidate),
                },
                // Not a URL after all (a bad port, say): its user-info and
                // secret query values are masked all the same.
                Err(_) => Cow::Owned(mask_unparsed(candidate, body)),
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

/// The next URL in `text`: where it starts, and how long its scheme part
/// (`https://`, `magnet:?`) is. A scheme is a letter and then letters,
/// digits, `+`, `-` or `.` (RFC 3986, 3.1).
fn next_url(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    loop {
        let slash = text[from..].find("://").map(|i| i + from);
        let magnet = find_ignore_case(&text[from..], "magnet:?").map(|i| i + from);
        let (at, is_magnet) = match (slash, magnet) {
            (Some(s), Some(m)) if m < s => (m, true),
            (None, Some(m)) => (m, true),
            (Some(s), _) => (s, false),
            (None, None) => return None,
        };
        if is_magnet {
            return Some((at, "magnet:?".len()));
        }
        let start = bytes[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
            .map_or(0, |i| i + 1);
        // The scheme must start with a letter; else look further on.
        match bytes.get(start) {
            Some(b) if start < at && b.is_ascii_alphabetic() => {
                return Some((start, at - start + 3));
            }
            _ => from = at + 3,
        }
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let bytes = haystack.as_bytes();
    let n = needle.len();
    (0..=bytes.len().checked_sub(n)?).find(|&i| {
        haystack.is_char_boundary(i) && bytes[i..i + n].eq_ignore_ascii_case(needle.as_bytes())
    })
}

/// `scheme://user:pass@rest?k=v`, for text that does not parse as a URL:
/// the user-info and the secret query values masked.
fn mask_unparsed(candidate: &str, scheme_len: usize) -> String {
    let (head, body) = candidate.split_at(scheme_len);
    let authority_end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let body: Cow<'_, str> = match body[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{MASK}{}", &body[at..])),
        None => Cow::Borrowed(body),
    };
    let (path, query) = match body.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (&*body, None),
    };
    let mut out = format!("{head}{path}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(&mask_pairs(query, is_secret_param));
    }
    out
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
        // Keys spelled otherwise, and short or dashed passkeys in the path.
        let link = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a\
                    &%74r=http%3A%2F%2Ft%2Fshort1%2Fannounce&TR=http%3A%2F%2Ft%2F123e4567-e89b-12d3%2Fannounce\
                    &tr.1=http%3A%2F%2Ft%2Fannounce%3Bpasskey%3Dsemi";
        let shown = magnet(link);
        for secret in ["short1", "123e4567", "semi"] {
            assert!(!shown.contains(secret), "{shown}");
        }
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
        // Any scheme; URLs that do not parse; more names of secrets.
        let given = "ssh://git:h1dden@forge/x file://al:s3c@localhost/y https://b:S1@e.org:99999/x?token=T2&v=1";
        let shown = text(given);
        for secret in ["h1dden", "s3c", "S1", "T2"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("v=1"), "{shown}");
        for name in [
            "private_token",
            "X-Api-Key",
            "access-token",
            "apiToken",
            "secret_key",
            "sas_token",
            "sessionid",
            "jwt",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        assert!(!is_secret_param("version"));
        assert_eq!(
            url(&Url::parse("https://h/p?a=1;passkey=zz&b=2#access_token=fr4g").unwrap()),
            "https://h/p?a=1;passkey=****&b=2#access_token=****"
        );
        // Already redacted text stays as it is.
        let once = text(given).into_owned();
        assert_eq!(text(&once), once);
    }
}
