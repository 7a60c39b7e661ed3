//! From TOML text to validated raw types, collecting every problem.
//!
//! serde stops at the first error, but a user fixing a manifest wants all of
//! them at once. So the document is parsed into a spanned tree first, and each
//! table (`[project]`, every `[resources.NAME]`) is deserialized on its own.
//! When a table fails, the key at fault is taken out and the table is tried
//! again, until it deserializes or the error concerns the whole table. Each
//! round yields one diagnostic with the span the toml crate attached.

use std::ops::Range;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::schema::{RawProject, RawResource, known_keys};
use crate::diagnostic::Diagnostic;
use crate::name::{NAME_RULES, Name};

/// A resource table that deserialized, with the spans diagnostics need later.
#[derive(Debug)]
pub(super) struct ParsedResource {
    pub name: Name,
    /// The span of the name in the `[resources.NAME]` header.
    pub name_span: Range<usize>,
    pub raw: RawResource,
}

impl ParsedResource {
    /// The same resource with its spans moved `by` bytes on: from a piece
    /// of the manifest to the whole.
    fn shifted(mut self, by: usize) -> Self {
        fn range(span: Range<usize>, by: usize) -> Range<usize> {
            span.start + by..span.end + by
        }
        fn spanned<T>(value: Spanned<T>, by: usize) -> Spanned<T> {
            Spanned::new(range(value.span(), by), value.into_inner())
        }
        fn list<T>(value: Spanned<Vec<Spanned<T>>>, by: usize) -> Spanned<Vec<Spanned<T>>> {
            let span = range(value.span(), by);
            let items = value.into_inner().into_iter().map(|v| spanned(v, by));
            Spanned::new(span, items.collect())
        }
        self.name_span = range(self.name_span, by);
        self.raw.source = self.raw.source.map(|v| spanned(v, by));
        self.raw.sources = self.raw.sources.map(|v| list(v, by));
        self.raw.derived_from = self.raw.derived_from.map(|v| list(v, by));
        self
    }
}

#[derive(Debug)]
pub(super) struct Parsed {
    pub project: RawProject,
    pub resources: Vec<ParsedResource>,
}

/// Parses and validates a manifest's text; on failure, returns every problem found.
///
/// A valid manifest is read table by table (see [`parse_in_pieces`]), so that
/// the spanned tree of a manifest of 100,000 resources never exists whole;
/// anything that is not plainly valid that way is parsed whole, which also
/// gives every diagnostic.
pub(super) fn parse(text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    match parse_in_pieces(text) {
        Some(parsed) => Ok(parsed),
        None => parse_whole(text),
    }
}

/// The manifest read one top-level table at a time: the text before the
/// first `[resources.…]` header (the `[project]` table) and then each piece
/// between two headers are parsed as documents of their own, deserialized,
/// and dropped, so memory holds the typed resources and one piece's tree.
/// `None` when any piece has a problem, or the pieces do not make a plain
/// manifest (a table defined in two pieces, `[project]` after a resource):
/// the whole document is then parsed instead, with its exact diagnostics.
fn parse_in_pieces(text: &str) -> Option<Parsed> {
    let starts = table_starts(text);
    let first = starts
        .iter()
        .position(|&at| text[at..].starts_with("[resources"))
        .map_or(text.len(), |i| starts[i]);
    let mut diagnostics = Vec::new();
    let mut project = None;
    let mut resources = Vec::new();
    // The head: everything before the first resource, parsed where it is.
    let (head, errors) = DeTable::parse_recoverable(&text[..first]);
    if !errors.is_empty() {
        return None;
    }
    for (key, value) in head.into_inner() {
        match key.get_ref().as_ref() {
            "project" => {
                project = project_table(value, key.span(), &mut diagnostics);
            }
            _ => return None,
        }
    }
    // Each piece: one or more `[resources.NAME]` tables and nothing else.
    let mut names = std::collections::HashSet::new();
    let mut bounds: Vec<usize> = starts.into_iter().filter(|&at| at >= first).collect();
    // `[resources]` itself twice is a table defined twice, which only the
    // whole document sees.
    let defines_resources = |at: &&usize| {
        let line = text[**at..].lines().next().unwrap_or_default();
        let header: String = line
            .split(']')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '[' | '"' | '\''))
            .collect();
        header == "resources"
    };
    if bounds.iter().filter(defines_resources).count() > 1 {
        return None;
    }
    bounds.push(text.len());
    for piece in bounds.windows(2) {
        let (offset, end) = (piece[0], piece[1]);
        let (root, errors) = DeTable::parse_recoverable(&text[offset..end]);
        if !errors.is_empty() {
            return None;
        }
        for (key, value) in root.into_inner() {
            let DeValue::Table(entries) = value.into_inner() else {
                return None;
            };
            if key.get_ref().as_ref() != "resources" {
                return None;
            }
            for (name, value) in entries {
                let parsed = resource(name, value, &mut diagnostics)?;
                if !names.insert(parsed.name.clone()) {
                    return None;
                }
                resources.push(parsed.shifted(offset));
            }
        }
        if !diagnostics.is_empty() {
            return None;
        }
    }
    check_derived_from(&resources, &mut diagnostics);
    if !diagnostics.is_empty() {
        return None;
    }
    resources.sort_unstable_by_key(|r| r.name_span.start);
    Some(Parsed {
        project: project?,
        resources,
    })
}

/// Where each line that opens a top-level table (`[…]` or `[[…]]`) starts:
/// brackets at the start of a line outside strings, comments, arrays and
/// inline tables. It only has to be right for valid TOML; a piece cut
/// wrongly fails to parse, and the whole document is parsed instead.
fn table_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let (mut i, mut depth, mut line_start) = (0, 0usize, true);
    // The index just past the end of a string that opens at `i`.
    let string_end = |i: usize| -> usize {
        let quote = bytes[i];
        let triple = bytes.get(i..i + 3) == Some(&[quote; 3][..]);
        let mut j = i + if triple { 3 } else { 1 };
        while j < bytes.len() {
            match bytes[j] {
                b'\\' if quote == b'"' => j += 2,
                b'\n' if !triple => return j,
                b if b == quote && !triple => return j + 1,
                b if b == quote && bytes.get(j..j + 3) == Some(&[quote; 3][..]) => {
                    // Up to two more quotes may close a multi-line string.
                    let mut k = j + 3;
                    while bytes.get(k) == Some(&quote) && k < j + 5 {
                        k += 1;
                    }
                    return k;
                }
                _ => j += 1,
            }
        }
        bytes.len()
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i = string_end(i);
                line_start = false;
            }
            b'[' if depth == 0 && line_start => {
                starts.push(i);
                // The header's own brackets and quotes end with its line.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                line_start = false;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                line_start = false;
                i += 1;
            }
            _ => {
                line_start = false;
                i += 1;
            }
        }
    }
    starts
}

/// The whole document parsed at once: the way every problem is found.
fn parse_whole(text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // Later checks would only report the fallout of broken syntax.
        return Err(errors
            .iter()
            .map(|err| {
                Diagnostic::new("invalid TOML", err.span())
                    .label(err.message().trim_end().to_owned())
            })
            .collect());
    }

    let mut diagnostics = Vec::new();
    let mut project = None;
    let mut saw_project = false;
    let mut resources = Vec::new();
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "project" => {
                saw_project = true;
                project = project_table(value, key.span(), &mut diagnostics);
            }
            "resources" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Table(entries) => {
                        for (name, value) in entries {
                            resources.extend(resource(name, value, &mut diagnostics));
                        }
                    }
                    other => diagnostics.push(
                        Diagnostic::new("`resources` must be a table", Some(span))
                            .label(format!("found {}", other.type_str()))
                            .hint("declare each resource as `[resources.NAME]`"),
                    ),
                }
            }
            other => diagnostics.push(unknown_key(
                other,
                key.span(),
                "at the top level",
                &["project".into(), "resources".into()],
            )),
        }
    }
    if !saw_project {
        diagnostics.push(Diagnostic::new("missing `[project]` table", None).hint(
            "start the manifest with `[project]` and `name = \"…\"`, or create one with `crp init`",
        ));
    }
    check_derived_from(&resources, &mut diagnostics);
    diagnostics.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    // Tables come back sorted by key; the manifest's own order is the one
    // people expect in every listing.
    resources.sort_unstable_by_key(|r| r.name_span.start);
    match project {
        Some(project) if diagnostics.is_empty() => Ok(Parsed { project, resources }),
        _ => Err(diagnostics),
    }
}

/// `[project]`. Each `[[project.remote]]` is deserialized on its own
/// first: serde gives a problem inside an array of tables no span of its
/// own, which would put every one at `[project]`'s header. A second remote
/// of a name is reported at that name.
fn project_table(
    value: Spanned<DeValue<'_>>,
    header: Range<usize>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<RawProject> {
    let span = value.span();
    let value = match value.into_inner() {
        DeValue::Table(mut entries) => {
            let before = diagnostics.len();
            if let Some(DeValue::Array(remotes)) = entries.get("remote").map(Spanned::get_ref) {
                for item in remotes.clone() {
                    let at = item.span();
                    table::<crate::remote::RemoteConfig>(
                        item,
                        at,
                        "`[[project.remote]]`",
                        diagnostics,
                    );
                }
                // Beside any other problem in the tables: a second name is
                // a problem of its own, and so is a style that cannot work.
                diagnostics.extend(crate::remote::table_problems(remotes));
            }
            if diagnostics.len() > before {
                entries.remove("remote");
            }
            DeValue::Table(entries)
        }
        other => other,
    };
    table::<RawProject>(
        Spanned::new(span, value),
        header,
        "`[project]`",
        diagnostics,
    )
    .value
}

fn resource(
    key: Spanned<toml::de::DeString<'_>>,
    value: Spanned<DeValue<'_>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ParsedResource> {
    let name_span = key.span();
    let text = key.into_inner();
    let context = format!("resource `{}`", text.escape_debug());
    let name = match text.parse::<Name>() {
        Ok(name) => Some(name),
        Err(err) => {
            diagnostics.push(
                Diagnostic::new(
                    format!("invalid resource name `{}`", text.escape_debug()),
                    Some(name_span.clone()),
                )
                .label(err.to_string())
                .hint(NAME_RULES),
            );
            None
        }
    };
    // `[resources.hello.txt]` is resource `hello` with a table `txt`: a
    // name with a dot must be quoted. Say so rather than "no purpose".
    if let DeValue::Table(entries) = value.get_ref()
        && let Some((inner, _)) = entries.iter().find(|(_, v)| v.get_ref().is_table())
    {
        let dotted = format!("{text}.{}", inner.get_ref());
        diagnostics.push(
            Diagnostic::new(
                format!("resource `{}` has a table inside", text.escape_debug()),
                Some(inner.span()),
            )
            .label("read as a table in resource `".to_owned() + &text + "`")
            .hint(format!(
                "quote a name that contains `.`: `[resources.\"{dotted}\"]`"
            )),
        );
        return None;
    }
    let table = table::<RawResource>(value, name_span.clone(), &context, diagnostics);
    let raw = table.value?;
    let before = diagnostics.len();
    // With an invalid source taken out, "no source" would be a second report
    // of the same problem.
    if !table
        .removed
        .iter()
        .any(|k| k == "source" || k == "sources")
    {
        check_sources(&raw, &name_span, &context, diagnostics);
    }
    (table.removed.is_empty() && diagnostics.len() == before).then_some(ParsedResource {
        name: name?,
        name_span,
        raw,
    })
}

/// `derived_from` names other resources of the same manifest.
fn check_derived_from(resources: &[ParsedResource], diagnostics: &mut Vec<Diagnostic>) {
    for resource in resources {
        let Some(parents) = &resource.raw.derived_from else {
            continue;
        };
        for parent in parents.get_ref() {
            let name = parent.get_ref();
            let problem = if name == &resource.name {
                "a resource cannot be derived from itself"
            } else if resources.iter().any(|r| &r.name == name) {
                continue;
            } else {
                "no resource of this manifest has that name"
            };
            diagnostics.push(
                Diagnostic::new(
                    format!("invalid `derived_from` in resource `{}`", resource.name),
                    Some(parent.span()),
                )
                .label(problem)
                .hint("`derived_from` lists the names of other resources in this manifest"),
            );
        }
    }
}

/// A table that deserialized once its faulty keys were taken out.
struct Table<T> {
    /// `None` when the table is wrong as a whole (a required key missing).
    value: Option<T>,
    /// The keys taken out, each reported.
    removed: Vec<String>,
}

/// The rules serde cannot express: exactly one of `source` and `sources`, a
/// non-empty list, each mirror listed once.
fn check_sources(
    raw: &RawResource,
    name_span: &Range<usize>,
    context: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    match (&raw.source, &raw.sources) {
        (None, None) => diagnostics.push(
            Diagnostic::new(format!("{context} has no source"), Some(name_span.clone()))
                .hint("add `source = \"https://…\"`, or `sources = [\"…\", \"…\"]` for mirrors tried in order"),
        ),
        (Some(_), Some(sources)) => diagnostics.push(
            Diagnostic::new(format!("{context} has both `source` and `sources`"), Some(sources.span()))
                .label("`sources` given here")
                .hint("keep one: `source` for a single place, `sources` for mirrors tried in order"),
        ),
        (None, Some(sources)) if sources.get_ref().is_empty() => diagnostics.push(
            Diagnostic::new(format!("{context} has an empty `sources` list"), Some(sources.span()))
                .hint("list at least one source"),
        ),
        (None, Some(sources)) => {
            let sources = sources.get_ref();
            for (i, later) in sources.iter().enumerate() {
                if let Some(first) = sources[..i].iter().find(|s| s.get_ref().same_place(later.get_ref())) {
                    diagnostics.push(
                        Diagnostic::new(format!("duplicate source in {context}"), Some(later.span()))
                            .label("listed again here")
                            .related(first.span(), "first listed here")
                            .hint("list each mirror once"),
                    );
                }
            }
        }
        (Some(_), None) => {}
    }
}

/// Deserializes one table, collecting a diagnostic per faulty key.
///
/// `header` is the span of the table's name, where problems of the whole table
/// (a missing key) are reported.
fn table<T: DeserializeOwned + JsonSchema>(
    value: Spanned<DeValue<'_>>,
    header: Range<usize>,
    context: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Table<T> {
    let span = value.span();
    let mut entries = match value.into_inner() {
        DeValue::Table(entries) => entries,
        other => {
            diagnostics.push(
                Diagnostic::new(format!("{context} must be a table"), Some(span))
                    .label(format!("found {}", other.type_str())),
            );
            return Table {
                value: None,
                removed: Vec::new(),
            };
        }
    };
    let mut removed: Vec<String> = Vec::new();
    loop {
        let attempt = Spanned::new(span.clone(), DeValue::Table(entries.clone()));
        let err = match T::deserialize(ValueDeserializer::from(attempt)) {
            Ok(value) => {
                return Table {
                    value: Some(value),
                    removed,
                };
            }
            Err(err) => err,
        };
        let at_fault = err.span().and_then(|span| {
            entries.iter().find_map(|(k, v)| {
                let key_level = k.span() == span;
                (key_level || contains(&v.span(), &span)).then(|| (k.clone(), key_level))
            })
        });
        let Some((key, key_level)) = at_fault else {
            // A problem of the whole table: a missing key. When that key was
            // taken out for being invalid, it has been reported already.
            if let Some(field) = missing_field(err.message()) {
                if !removed.contains(&field) {
                    diagnostics.push(missing(context, &field, header));
                }
            } else {
                diagnostics.push(
                    Diagnostic::new(format!("invalid {context}"), Some(header))
                        .label(err.message()),
                );
            }
            return Table {
                value: None,
                removed,
            };
        };
        let name = key.get_ref().to_string();
        diagnostics.push(if key_level {
            unknown_key(
                &name,
                key.span(),
                &format!("in {context}"),
                &known_keys::<T>(),
            )
        } else {
            Diagnostic::new(format!("invalid `{name}` in {context}"), err.span())
                .label(err.message().trim_end().to_owned())
                .hint_opt(hint_for_key(context, &name))
        });
        entries.remove(&key);
        removed.push(name);
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn missing(context: &str, field: &str, header: Range<usize>) -> Diagnostic {
    Diagnostic::new(format!("{context} has no `{field}`"), Some(header))
        .hint_opt(hint_for_key(context, field))
}

fn unknown_key(key: &str, span: Range<usize>, place: &str, known: &[String]) -> Diagnostic {
    let closest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match closest {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => format!(
            "the keys allowed here are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Diagnostic::new(
        format!("unknown key `{}` {place}", key.escape_debug()),
        Some(span),
    )
    .label("unknown key")
    .hint(hint)
}

/// The hint for a key of a resource or `[project]` (a remote's keys say
/// what they take in their own messages).
fn hint_for_key(context: &str, key: &str) -> Option<&'static str> {
    if context.contains(".remote") {
        return None;
    }
    Some(match key {
        "sha256" => {
            "`crp hash FILE` prints a file's sha256; or leave the key out and the first `crp sync` pins it"
        }
        "source" | "sources" => {
            "use an `https://`, `http://` or `file://` URL, a `magnet:` link, or a path relative to the manifest"
        }
        "purpose" => {
            "say why the project needs it, e.g. `purpose = \"test fixtures for the parser\"`"
        }
        "size" => "give the size in bytes as a whole number, or leave it out",
        "name" => NAME_RULES,
        "link_dir" => "give a folder relative to the manifest, e.g. `link_dir = \"resources\"`",
        "link_mode" => "use one of `symlink`, `hardlink` or `copy`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces and the whole document read a valid manifest the same way,
    /// spans included.
    #[track_caller]
    fn same_in_pieces(text: &str) {
        let pieces = parse_in_pieces(text).expect("read in pieces");
        let whole = parse_whole(text).expect("valid");
        assert_eq!(format!("{pieces:?}"), format!("{whole:?}"), "{text}");
    }

    #[test]
    fn pieces_read_what_the_whole_document_says() {
        same_in_pieces(
            "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"https://x/a\"\npurpose = \"a\"\n",
        );
        // Brackets in comments, strings, multi-line strings and arrays that
        // start lines; quoted names; CRLF; indented headers.
        let tricky = concat!(
            "\u{feff}# [resources.no]\r\n[project]\r\nname = \"p\" # [x]\r\n\r\n",
            "  [resources.\"a.b\"]\r\nsources = [\r\n  \"https://x/[1]\",\r\n",
            "  \"https://y/a\", # ]\r\n]\r\npurpose = '''\r\n[resources.fake]\r\n",
            "source = \"x\"\r\n'''\r\n",
            "[resources.c] # [y]\r\nsource = \"https://x/c\"\r\n",
            "purpose = \"\"\"say \\\"\"\"[not]\\\"\"\" \"\"\"\r\nderived_from = [\"a.b\"]\r\n",
        );
        same_in_pieces(tricky);
        // A `[resources]` table of inline tables beside `[resources.NAME]`.
        same_in_pieces(
            "[project]\nname = \"p\"\n[resources]\na = { source = \"s\", purpose = \"a\" }\n[resources.b]\nsource = \"t\"\npurpose = \"b\"\n",
        );
        let parsed = parse_in_pieces(tricky).unwrap();
        let names: Vec<_> = parsed
            .resources
            .iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["a.b", "c"]);
        // Every bundled manifest.
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests")).unwrap() {
            let path = entry.unwrap().path().join("resources.toml");
            same_in_pieces(&std::fs::read_to_string(&path).unwrap());
        }
    }

    #[test]
    fn what_pieces_cannot_say_is_left_to_the_whole_document() {
        for text in [
            // A name twice, a table split over two pieces, `[project]`
            // after a resource, arrays of tables.
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"s\"\npurpose = \"a\"\n[resources.a]\nsource = \"t\"\npurpose = \"a\"\n",
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"s\"\npurpose = \"a\"\n[resources.a.more]\nx = 1\n",
            "[resources.a]\nsource = \"s\"\npurpose = \"a\"\n[project]\nname = \"p\"\n",
            "[project]\nname = \"p\"\n[[resources]]\nsource = \"s\"\n",
            "[project]\nname = \"p\"\n[resources]\na = { source = \"s\", purpose = \"a\" }\n[ \"resources\" ]\nb = { source = \"t\", purpose = \"b\" }\n",
            // Problems of any kind.
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"s\"\n",
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"s\"\npurpose = \"a\"\nderived_from = [\"b\"]\n",
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"s\n",
        ] {
            assert!(parse_in_pieces(text).is_none(), "{text}");
        }
        // The whole document still takes the ones that are valid.
        assert!(
            parse("[resources.a]\nsource = \"s\"\npurpose = \"a\"\n[project]\nname = \"p\"\n")
                .is_ok()
        );
    }

    #[test]
    fn reads_missing_field_names() {
        assert_eq!(
            missing_field("missing field `purpose`").as_deref(),
            Some("purpose")
        );
        assert_eq!(missing_field("unknown field `x`"), None);
    }
}
