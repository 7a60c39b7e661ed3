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

#[derive(Debug)]
pub(super) struct Parsed {
    pub project: RawProject,
    pub resources: Vec<ParsedResource>,
}

/// Parses and validates a manifest's text; on failure, returns every problem found.
pub(super) fn parse(text: &str) -> Result<Parsed, Vec<Diagnostic>> {
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
                project =
                    table::<RawProject>(value, key.span(), "`[project]`", &mut diagnostics).value;
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
                .hint_opt(hint_for_key(&name))
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
        .hint_opt(hint_for_key(field))
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

fn hint_for_key(key: &str) -> Option<&'static str> {
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

    #[test]
    fn reads_missing_field_names() {
        assert_eq!(
            missing_field("missing field `purpose`").as_deref(),
            Some("purpose")
        );
        assert_eq!(missing_field("unknown field `x`"), None);
    }
}
