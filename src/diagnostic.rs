//! Problems found in a file the user wrote, pointing at `file:line:col`.
//!
//! A [`Diagnostic`] holds a byte span into the file; [`Report`] renders a set
//! of them as annotated snippets (via `annotate-snippets`, like rustc and
//! cargo) or as plain data for `--format json`.

use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::{Deserialize, Serialize};

/// One problem in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, as a headline: "invalid `sha256` in resource `x`".
    pub message: String,
    /// The offending bytes; `None` for problems of the whole file.
    pub span: Option<Range<usize>>,
    /// Detail shown under the offending text.
    pub label: Option<String>,
    /// Another place that explains this one ("first given here").
    pub related: Option<(Range<usize>, String)>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Self {
            message: message.into(),
            span,
            label: None,
            related: None,
            hint: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn hint_opt(mut self, hint: Option<impl Into<String>>) -> Self {
        self.hint = hint.map(Into::into);
        self
    }

    pub fn related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related = Some((span, label.into()));
        self
    }
}

/// A 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

/// A diagnostic as data, for `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticJson {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Diagnostics for one file, with the file's text to quote from.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file's path as the user gave it.
    pub path: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Every diagnostic as data.
    pub fn to_json(&self) -> Vec<DiagnosticJson> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, column) = line_col(&self.text, d.span.as_ref().map_or(0, |s| s.start));
                DiagnosticJson {
                    file: self.path.clone(),
                    line,
                    column,
                    message: d.message.clone(),
                    label: d.label.clone(),
                    hint: d.hint.clone(),
                }
            })
            .collect()
    }

    /// Every diagnostic as an annotated snippet, in file order.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        let text = mask_secret_values(&self.text);
        for d in &self.diagnostics {
            let title = Level::ERROR.primary_title(d.message.as_str());
            let mut snippet = Snippet::source(text.as_ref()).path(self.path.as_str());
            // A problem of the whole file is shown at its first line, so the
            // `file:1:1` location is still printed.
            let span = d.span.clone().unwrap_or(0..0);
            let mut primary = AnnotationKind::Primary.span(span);
            if let Some(label) = &d.label {
                primary = primary.label(label.as_str());
            }
            snippet = snippet.annotation(primary);
            if let Some((span, label)) = &d.related {
                snippet = snippet.annotation(
                    AnnotationKind::Context
                        .span(span.clone())
                        .label(label.as_str()),
                );
            }
            let mut group: Group<'_> = Group::with_title(title).element(snippet);
            if let Some(hint) = &d.hint {
                group = group.element(Level::HELP.with_name("hint").message(hint.as_str()));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        out
    }
}

/// `text` with the value of every `key = value` whose key names a
/// credential (`password`, `secret_access_key`, `token`… as
/// [`crate::redact::is_secret_param`] judges), and the user and password
/// of a URL in any string (see [`crate::redact::userinfo_span`]), replaced
/// by `*`s, byte for byte and keeping line breaks, so that a snippet never
/// shows a secret someone typed into a file and every span still points
/// where it did.
/// The value is a string of any of TOML's four kinds (a multi-line one,
/// even unclosed, to the end of the text), an inline table or array
/// (to its closing bracket), or a bare word.
fn mask_secret_values(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut masked: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'=', &bytes[i..]).map(|p| p + i) {
        i = at + 1;
        // The key before `=`, back to where a key can start: the line's
        // start, or an inline table's `{` or `,`.
        let start = bytes[..at]
            .iter()
            .rposition(|&b| matches!(b, b'\n' | b'{' | b','))
            .map_or(0, |p| p + 1);
        let mut from = at + 1;
        while from < bytes.len() && matches!(bytes[from], b' ' | b'\t') {
            from += 1;
        }
        if !is_secret_key(&text[start..at]) {
            // A URL's user and password, in a string of any key; the
            // string may be too broken for a URL parser to find them.
            if matches!(bytes.get(from), Some(b'"' | b'\'')) {
                let end = value_end(bytes, from);
                if let Some(range) = crate::redact::userinfo_span(&text[from + 1..end]) {
                    let out = masked.get_or_insert_with(|| bytes.to_vec());
                    for b in &mut out[from + 1 + range.start..from + 1 + range.end] {
                        if !matches!(*b, b'\n' | b'\r') {
                            *b = b'*';
                        }
                    }
                }
            }
            continue;
        }
        // The value, and whatever follows it on its last line: a typo in
        // a secret (`"p"ss"`) leaves some of it after the string.
        let end = value_end(bytes, from);
        let to = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |p| p + end);
        let out = masked.get_or_insert_with(|| bytes.to_vec());
        for b in &mut out[from..to] {
            if !matches!(*b, b'\n' | b'\r') {
                *b = b'*';
            }
        }
        i = to.max(i);
    }
    match masked {
        // Whole characters were replaced byte for byte: still UTF-8.
        Some(out) => {
            std::borrow::Cow::Owned(String::from_utf8(out).expect("ASCII over whole characters"))
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// Whether a TOML key (bare, quoted, dotted, mistyped with spaces, with
/// `\u` escapes) names a credential: as a whole, or any of its parts.
fn is_secret_key(key: &str) -> bool {
    let mut plain = String::new();
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {}
            c if c.is_whitespace() => {}
            '\\' if matches!(chars.peek(), Some('u' | 'U')) => {
                let digits = if chars.next() == Some('u') { 4 } else { 8 };
                let hex: String = chars.by_ref().take(digits).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => plain.push(decoded),
                    None => plain.push_str(&hex),
                }
            }
            c => plain.push(c),
        }
    }
    !plain.is_empty()
        && (crate::redact::is_secret_param(&plain)
            || plain
                .split('.')
                .any(|part| !part.is_empty() && crate::redact::is_secret_param(part)))
}

/// Where the TOML value that starts at `from` ends (see
/// [`mask_secret_values`]); generous where the text is not valid TOML.
fn value_end(bytes: &[u8], from: usize) -> usize {
    let rest = &bytes[from..];
    let find = |needle: &[u8], after: usize| {
        memchr::memmem::find(&bytes[after..], needle).map(|p| p + after)
    };
    let line_end =
        |after: usize| memchr::memchr(b'\n', &bytes[after..]).map_or(bytes.len(), |p| p + after);
    match rest {
        [q @ (b'"' | b'\''), ..] if rest.starts_with(&[*q; 3]) => {
            let close = [*q; 3];
            find(&close, from + 3).map_or(bytes.len(), |p| p + 3)
        }
        [q @ (b'"' | b'\''), ..] => {
            let mut j = from + 1;
            while j < bytes.len() && bytes[j] != *q && bytes[j] != b'\n' {
                j += if bytes[j] == b'\\' && *q == b'"' {
                    2
                } else {
                    1
                };
            }
            (j + 1).min(line_end(from))
        }
        [open @ (b'{' | b'['), ..] => {
            let close = if *open == b'{' { b'}' } else { b']' };
            let mut depth = 0usize;
            let mut j = from;
            while j < bytes.len() {
                match bytes[j] {
                    b'"' | b'\'' => {
                        j = value_end(bytes, j);
                        continue;
                    }
                    b if b == *open => depth += 1,
                    b if b == close => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            bytes.len()
        }
        _ => rest
            .iter()
            .position(|&b| matches!(b, b'\n' | b'\r' | b',' | b'}' | b']' | b'#' | b' '))
            .map_or(bytes.len(), |p| p + from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // `=` after the two-byte `é` is the fourth character of line 2.
        assert_eq!(line_col(text, text.find("= \"").unwrap()), (2, 4));
    }

    #[test]
    fn a_secret_typed_into_a_file_is_not_shown_back() {
        let text = "[[remote]]\nname = \"t\"\nsecret_access_key = \"AKIAsecrét\"\n\"password\" = 'hunter2'\nx = { token = abc123, a = 1 }\ntoken = \'\'\'lit1\nlit2\'\'\'\npassword = \"\"\"ml1\nml2\"\"\"\naws_secret_access_key = { v = \"tab1\", w = [\"tab2\"] }\nkeys = [{ name = \"r\", password = \"\"\"arr1\"\"\" }]\npurpose = \"keys\"\nsig = \"\"\"open1\nopen2\n";
        let masked = mask_secret_values(text);
        assert_eq!(masked.len(), text.len());
        let odd = "\"pass\\u0077ord\" = \"esc1\"\npassword.a = \"dot1\"\npass word = \"sp1\"\n\" password \" = \"sp2\"\npassword = \"p\"ty1\"\npassword = 'a\\'ty2'\nname = \"keep\"\n";
        let odd_masked = mask_secret_values(odd);
        for secret in ["esc1", "dot1", "sp1", "sp2", "ty1", "ty2"] {
            assert!(!odd_masked.contains(secret), "{secret}: {odd_masked}");
        }
        assert!(odd_masked.contains("name = \"keep\""), "{odd_masked}");
        assert_eq!(masked.lines().count(), text.lines().count());
        for secret in [
            "AKIAsecrét",
            "hunter2",
            "abc123",
            "lit1",
            "lit2",
            "ml1",
            "ml2",
            "tab1",
            "tab2",
            "arr1",
            "open1",
            "open2",
        ] {
            assert!(!masked.contains(secret), "{secret}: {masked}");
        }
        assert!(masked.contains("name = \"t\""), "{masked}");
        assert!(masked.contains("purpose = \"keys\""), "{masked}");
        // The rest of a secret's line goes with it.
        assert!(
            masked.contains("x = { token = ***") && !masked.contains("a = 1"),
            "{masked}"
        );
        let start = text.find("secret_access_key").unwrap();
        let report = Report {
            path: "config.toml".into(),
            text: text.into(),
            diagnostics: vec![Diagnostic::new("unknown key", Some(start..start + 17))],
        };
        let out = report.render(false);
        assert!(out.contains("config.toml:3:1"), "{out}");
        assert!(!out.contains("AKIA"), "{out}");
    }

    #[test]
    fn renders_location_and_hint() {
        let text = "[project]\nname = \"Bad Name\"\n";
        let start = text.find("\"Bad").unwrap();
        let report = Report {
            path: "resources.toml".into(),
            text: text.into(),
            diagnostics: vec![
                Diagnostic::new("invalid `name` in `[project]`", Some(start..start + 10))
                    .label("` ` is not allowed")
                    .hint("use lowercase"),
            ],
        };
        let out = report.render(false);
        assert!(out.contains("resources.toml:2:8"), "{out}");
        assert!(out.contains("name = \"Bad Name\""), "{out}");
        assert!(out.contains("hint: use lowercase"), "{out}");
        let json = report.to_json();
        assert_eq!((json[0].line, json[0].column), (2, 8));
    }
}
