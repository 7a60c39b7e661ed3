//! Keeping secrets in URLs out of everything crp prints or stores.
//!
//! A URL may carry credentials in its user-info (`https://user:pass@…`, or a
//! token as the user name, as some forges take one), in query parameters of
//! signed or tokenised links (`?token=…`, `?X-Amz-Signature=…`), and, in a
//! magnet link, in its tracker URLs (private trackers put a passkey in the
//! path or the query). [`url`](fn@url) and [`magnet`] give the form for people;
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
/// `access-token`, `apiToken`, `client_secret`, `sas_token`, `sessionid`,
/// `bearer`…
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
    "hmac",
    "bearer",
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
        // `license_key`, `subscription-key`, `rlkey`…
        || key.ends_with("key")
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
///
/// The scheme is matched in any case, and values are decoded as the
/// manifest's parser decodes them (`+` is a space), so that what a client
/// would read as a tracker is what is redacted. A tracker or seed that is
/// not a URL is masked whole: nothing tells which part of it is secret.
pub fn magnet(link: &str) -> Cow<'_, str> {
    let Some(query) = link
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("magnet:?"))
        .map(|_| &link[8..])
    else {
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
            let plus_as_space = value.replace('+', " ");
            let decoded = percent_encoding::percent_decode_str(&plus_as_space).decode_utf8_lossy();
            let Ok(parsed) = Url::parse(&decoded) else {
                changed |= value != MASK;
                return format!("{raw_key}={MASK}");
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
        Cow::Owned(format!("{}{}", &link[..8], parts.join("&")))
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

/// Where a user and password may be in `value`, a URL or a host as
/// someone typed it, whether or not it parses (a secret key with `/` in it
/// breaks the parse): from after `scheme://` (or the start) to the last
/// `@`, when that stretch has a `:` (`user:password`) or, after a
/// `scheme://`, no `/` (a user alone; `https://host/pkg@1.2` is a path).
/// `None` when there is no such stretch. Byte offsets into `value`.
pub fn userinfo_span(value: &str) -> Option<std::ops::Range<usize>> {
    let at = value.rfind('@')?;
    let (start, scheme) = match value[..at].find("://") {
        Some(p) => (p + 3, true),
        None => (0, false),
    };
    let user = &value[start..at];
    (!user.is_empty() && (user.contains(':') || (scheme && !user.contains('/'))))
        .then_some(start..at)
}

/// `value` with [`userinfo_span`] replaced by `****`, for a message about
/// an endpoint or URL that did not parse.
pub fn userinfo(value: &str) -> Cow<'_, str> {
    match userinfo_span(value) {
        Some(span) => Cow::Owned(format!(
            "{}****{}",
            &value[..span.start],
            &value[span.end..]
        )),
        None => Cow::Borrowed(value),
    }
}

/// Free text with every URL in it redacted. A URL ends at whitespace, a
/// quote, `<`, `>`, a backtick or a closing bracket. Credentials written
/// before a host without a scheme (`user:pass@host`, as an HTTP client's
/// debug log names a connection) are masked too. Text with none of these
/// is returned as it is, without copying.
pub fn text(input: &str) -> Cow<'_, str> {
    let passes: [fn(&str) -> Cow<'_, str>; 4] =
        [urls, bare_userinfo, stray_pairs, encoded_userinfo];
    let mut out = Cow::Borrowed(input);
    for pass in passes {
        if let Cow::Owned(changed) = pass(&out) {
            out = Cow::Owned(changed);
        }
    }
    out
}

/// A URL percent-encoded inside another's query (`?url=https%3A%2F%2F
/// user%3Apass%40host%2F…`): its user-info, between the encoded `//` and
/// the last encoded `@` before its path, is masked.
fn encoded_userinfo(input: &str) -> Cow<'_, str> {
    let lower = input.to_ascii_lowercase();
    if !lower.contains("%2f%2f") || !lower.contains("%40") {
        return Cow::Borrowed(input);
    }
    let mut out = String::new();
    let mut done = 0;
    let mut from = 0;
    while let Some(at) = lower[from..].find("%2f%2f").map(|i| i + from) {
        let start = at + 6;
        // The authority ends at the next encoded `/`, `?` or `#`, or where
        // the query value ends.
        let rest = &lower[start..];
        let end = [
            rest.find("%2f"),
            rest.find("%3f"),
            rest.find("%23"),
            rest.find(|c: char| {
                c.is_whitespace() || matches!(c, '&' | ';' | '"' | '\'' | '<' | '>' | '`')
            }),
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(lower.len(), |e| e + start);
        if let Some(userinfo_end) = lower[start..end].rfind("%40").map(|i| i + start)
            && userinfo_end > start
            && &input[start..userinfo_end] != MASK
        {
            out.push_str(&input[done..start]);
            out.push_str(MASK);
            done = userinfo_end;
        }
        from = end.max(start);
    }
    if done == 0 {
        return Cow::Borrowed(input);
    }
    out.push_str(&input[done..]);
    Cow::Owned(out)
}

/// Query pairs cut off from their URL (a URL ends at a space or a bracket,
/// and its query may go on after it), or written percent-encoded inside
/// another (a magnet's `tr=http%3A%2F%2F…%3Fpasskey%3D…`): a credential's
/// value after `?`, `&` or `;` (or `%3F`, `%26`) is masked wherever it is.
fn stray_pairs(input: &str) -> Cow<'_, str> {
    let bytes = input.as_bytes();
    let mut out = String::new();
    let mut done = 0;
    let mut i = 0;
    while i < bytes.len() {
        // `=`, or `%3D` in an encoded query.
        let sign = match bytes[i] {
            b'=' => 1,
            b'%' if bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"3d")) =>
            {
                3
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let mut name_start = bytes[..i]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
            .map_or(0, |p| p + 1);
        // `%3F` and `%26` (an encoded `?` and `&`) end in letters and digits
        // that are no part of the name.
        let encoded = name_start > 0
            && bytes[name_start - 1] == b'%'
            && bytes
                .get(name_start..name_start + 2)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"3f") || h == b"26");
        if encoded {
            name_start += 2;
        }
        let in_query =
            encoded || (name_start > 0 && matches!(bytes[name_start - 1], b'?' | b'&' | b';'));
        // Only a credential's value is looked for: the text is read about
        // once, however many pairs it holds.
        if !(in_query && name_start < i && is_secret_param(&input[name_start..i])) {
            i += sign;
            continue;
        }
        let value_start = i + sign;
        let value_end = input[value_start..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '&' | ';' | '#' | '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ','
                    )
            })
            .map_or(bytes.len(), |e| e + value_start);
        // An encoded value ends where the next encoded pair begins.
        let value_end = if sign == 3 || encoded {
            input[value_start..value_end]
                .to_ascii_lowercase()
                .find("%26")
                .map_or(value_end, |e| e + value_start)
        } else {
            value_end
        };
        let value = &input[value_start..value_end];
        if !value.is_empty() && value != MASK {
            out.push_str(&input[done..value_start]);
            out.push_str(MASK);
            done = value_end;
            i = value_end;
        } else {
            i += sign;
        }
    }
    if done == 0 {
        return Cow::Borrowed(input);
    }
    out.push_str(&input[done..]);
    Cow::Owned(out)
}

/// `user:password@host` outside a URL: the part before `@` is masked when
/// it has a `:` (an e-mail address has none), or when a port follows the
/// host (`token@host:443`, see [`host_and_port`]).
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
        let after = &rest[at + 1..];
        if (userinfo.contains(':') || (!userinfo.is_empty() && host_and_port(after)))
            && userinfo != MASK
            && !userinfo.starts_with(&format!("{MASK}:"))
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

/// Whether `text` begins with `host:port` (a name, an IPv4 address or a
/// bracketed IPv6 one, then digits), as a connection is named in an HTTP
/// client's log: a token before its `@` is a credential, where an e-mail
/// address has no port.
fn host_and_port(text: &str) -> bool {
    let host_end = if text.starts_with('[') {
        text.find(']').map(|i| i + 1)
    } else {
        text.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
    };
    let Some(host_end) = host_end.filter(|&end| end > 0) else {
        return false;
    };
    text[host_end..]
        .strip_prefix(':')
        .is_some_and(|port| port.bytes().next().is_some_and(|b| b.is_ascii_digit()))
}

/// [`text`]'s first pass: the URLs, whatever their scheme. One pass over
/// the text, however many URLs it holds (a sync's report names thousands).
fn urls(input: &str) -> Cow<'_, str> {
    let mut finder = UrlFinder::new(input);
    if !input.contains("://") && finder.magnet.is_none() {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut done = 0;
    let mut changed = false;
    while let Some((start, body)) = finder.next(done) {
        out.push_str(&input[done..start]);
        let after = &input[start..];
        // A magnet's name may hold brackets (`dn=Film (2020)`): it ends only
        // where a link in text can end.
        let is_magnet = after[..body].eq_ignore_ascii_case("magnet:?");
        let end = after[body..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '"' | '\'' | '<' | '>' | '`')
                    || (!is_magnet && matches!(c, ')' | ']' | '}' | '\\'))
            })
            .map_or(after.len(), |i| i + body);
        let candidate = &after[..end];
        let shown: Cow<'_, str> = if is_magnet {
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
        done = start + end;
    }
    if !changed {
        return Cow::Borrowed(input);
    }
    out.push_str(&input[done..]);
    Cow::Owned(out)
}

/// Finds URLs in a text from left to right. The next magnet link is looked
/// for only once the last one found is passed, so the whole text is
/// searched for magnets about once.
struct UrlFinder<'a> {
    text: &'a str,
    /// The next `magnet:?` at or after the last place asked about.
    magnet: Option<usize>,
}

impl<'a> UrlFinder<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            magnet: find_ignore_case(text, "magnet:?"),
        }
    }

    /// The next URL starting at or after `from`: where it starts, and how
    /// long its scheme part (`https://`, `magnet:?`) is. A scheme is a
    /// letter and then letters, digits, `+`, `-` or `.` (RFC 3986, 3.1).
    fn next(&mut self, mut from: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        loop {
            if let Some(m) = self.magnet.filter(|&m| m < from) {
                self.magnet = find_ignore_case(&self.text[m + 1..], "magnet:?").map(|i| i + m + 1);
                continue;
            }
            let slash = self.text[from..].find("://").map(|i| i + from);
            let (at, is_magnet) = match (slash, self.magnet) {
                (Some(s), Some(m)) if m < s => (m, true),
                (None, Some(m)) => (m, true),
                (Some(s), _) => (s, false),
                (None, None) => return None,
            };
            if is_magnet {
                return Some((at, "magnet:?".len()));
            }
            let start = bytes[from..at]
                .iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
                .map_or(from, |i| from + i + 1);
            // The scheme must start with a letter; else look further on.
            match bytes.get(start) {
                Some(b) if start < at && b.is_ascii_alphabetic() => {
                    return Some((start, at - start + 3));
                }
                _ => from = at + 3,
            }
        }
    }
}

/// Where `needle` (ASCII, not empty) first occurs in `haystack`, ignoring
/// ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (bytes, needle) = (haystack.as_bytes(), needle.as_bytes());
    // An ASCII first byte is where a character starts.
    let first = *needle.first().filter(|b| b.is_ascii())?;
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        bytes,
    )
    .find(|&i| {
        bytes
            .get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// `scheme://user:pass@rest?k=v`, for text that does not parse as a URL:
/// the user-info and the secret query values masked.
fn mask_unparsed(candidate: &str, scheme_len: usize) -> String {
    let (candidate, fragment) = match candidate.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (candidate, None),
    };
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
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&mask_pairs(fragment, is_secret_param));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_of_broken_urls_is_found() {
        for (value, shown) in [
            (
                "https://AKIAEXAMPLE:wJalr/K7MDENG/bPxRfiCY@s3.example.org",
                "https://****@s3.example.org",
            ),
            (
                "https://u:SEC RET1@s3.example.org",
                "https://****@s3.example.org",
            ),
            ("u:SEC RET8@s3.example.org", "****@s3.example.org"),
            ("https://user@host", "https://****@host"),
            // An `@` in a path, or in words, names no one.
            (
                "https://example.org/pkg@1.2.tar.gz",
                "https://example.org/pkg@1.2.tar.gz",
            ),
            ("ask bob@example.org", "ask bob@example.org"),
            ("s3.example.org", "s3.example.org"),
        ] {
            assert_eq!(userinfo(value), shown, "{value}");
        }
    }

    #[test]
    fn query_pairs_cut_off_from_their_url_stay_hidden() {
        for (input, leaked) in [
            ("see https://h/a(b)?token=S3KRET1 for more", "S3KRET1"),
            ("GET https://h/a b?sig=S3KRET2&x=1", "S3KRET2"),
            ("(https://h/x?y=1)&api_key=S3KRET3", "S3KRET3"),
            (
                "magnet:?xt=urn:btih:aa&dn=Film (2020)&tr=udp://t/a?passkey=S3KRET4",
                "S3KRET4",
            ),
            (
                "tr=http%3A%2F%2Ft%2Fannounce%3Fpasskey%3DS3KRET5%26x%3D1",
                "S3KRET5",
            ),
            ("x;password=S3KRET6", "S3KRET6"),
            ("x=abc?token=S3KRET7", "S3KRET7"),
            (
                "http://h/f?url=https%3A%2F%2Fuser%3AS3KRET8%40internal%2Fx",
                "S3KRET8",
            ),
            ("https://h/db?license_key=S3KRET9&suffix=tar.gz", "S3KRET9"),
            ("https://h/x?subscription-key=S3KRET10", "S3KRET10"),
        ] {
            let shown = text(input);
            assert!(!shown.contains(leaked), "{input} → {shown}");
            assert!(shown.contains(MASK), "{input} → {shown}");
        }
        // Plain prose and harmless pairs are left as they are.
        for input in [
            "a key=value in prose",
            "https://h/a?page=2&sort=up",
            "token = 3",
        ] {
            assert_eq!(text(input), input);
        }
        // The encoded pair after the secret one survives.
        assert_eq!(
            text("%3Fpasskey%3DS3KRET%26x%3D1"),
            "%3Fpasskey%3D****%26x%3D1"
        );
    }

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
        // The scheme in any case, `+` read as the parser reads it (a
        // space), and a tracker that is not a URL (masked whole).
        let hash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
        for link in [
            format!("MAGNET:?xt=urn:btih:{hash}&tr=http%3A%2F%2Ft.example%2FSECa%2Fannounce"),
            format!("Magnet:?xt=urn:btih:{hash}&tr=http%3A%2F%2Fu%3ASECa%40t.example%2Fannounce"),
            format!(
                "magnet:?xt=urn:btih:{hash}&tr=+http%3A%2F%2Ft.example%2FSECa%2Fannounce%3Fpasskey%3DSECb"
            ),
            format!("magnet:?xt=urn:btih:{hash}&tr=http%3A%2F%2Ft%3A99999%2FSECa%2Fannounce"),
        ] {
            for shown in [magnet(&link), text(&format!("see `{link}` here"))] {
                assert!(!shown.contains("SEC"), "{shown}");
                assert!(shown.contains(hash), "{shown}");
            }
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
        // A token alone before a host and port is a credential too.
        assert_eq!(
            text(r#"checkout waiting for idle connection: ("http", SECtok@127.0.0.1:18080)"#),
            r#"checkout waiting for idle connection: ("http", ****@127.0.0.1:18080)"#
        );
        assert_eq!(text("ask tok3n@[::1]:8080"), "ask ****@[::1]:8080");
        // The fragment of a URL that does not parse.
        let shown = text("http://127.0.0.1:99999/x?v=1#access_token=SECf&id_token=SECg");
        assert!(!shown.contains("SEC"), "{shown}");
        assert!(shown.contains("v=1"), "{shown}");
        // Many URLs and a magnet late in a long text, in one pass.
        let mut long = "see https://e.org/a?token=SECx\n".repeat(20_000);
        long.push_str("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&tr=http%3A%2F%2Ft%2FSECy%2Fannounce");
        let shown = text(&long);
        assert!(!shown.contains("SEC"));
        assert_eq!(shown.matches("token=****").count(), 20_000);
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
            "bearer",
            "bearer_token",
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
