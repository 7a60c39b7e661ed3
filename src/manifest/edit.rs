//! Edits to `resources.toml` that keep the user's formatting and comments.
//!
//! Both edits work on text and return text: the caller decides when and how to
//! write it (atomically, under the project's lock, after re-reading the file).

use toml_edit::{Decor, DocumentMut, Item, Table, TableLike, Value, value};

use crate::digest::Sha256Digest;
use crate::name::Name;

/// Why an edit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the manifest is not valid TOML")]
    Syntax(#[from] toml_edit::TomlError),
    #[error("the manifest has no resource `{0}`")]
    NoSuchResource(String),
    #[error("the manifest already has a resource `{0}`")]
    Exists(String),
    #[error("there is no remote `{0}` here")]
    NoSuchRemote(String),
    #[error("there is a remote `{0}` already")]
    RemoteExists(String),
    #[error("`{0}` is not a table here; fix it by hand first")]
    NotATable(String),
}

/// A new `[resources.NAME]` entry.
#[derive(Debug, Clone)]
pub struct NewResource<'a> {
    pub name: &'a Name,
    pub source: &'a str,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub purpose: &'a str,
    pub requested_by: Option<&'a str>,
    /// Writes `executable = true`.
    pub executable: bool,
}

/// Makes `edit` on `text` without what toml_edit does not keep of how a
/// file is written — a UTF-8 byte-order mark, and CRLF line endings — and
/// gives them back, so that only the lines an edit touches change (git
/// shows those, not the whole file); a file without a newline at its end
/// stays without one. In a file that mixes line endings, each line the
/// edit kept keeps its own, and a new one takes the file's commoner one.
fn keeping_spelling(
    text: &str,
    edit: impl FnOnce(&str) -> Result<String, EditError>,
) -> Result<String, EditError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // Counted, not copied: manifests can be large.
    let (crlfs, lfs) = (body.matches("\r\n").count(), body.matches('\n').count());
    let plain = if crlfs > 0 {
        body.replace("\r\n", "\n")
    } else {
        body.to_owned()
    };
    let mut edited = edit(&plain)?;
    if !plain.is_empty() && !plain.ends_with('\n') && edited.ends_with('\n') {
        edited.pop();
    }
    if crlfs > 0 && crlfs == lfs {
        edited = edited.replace('\n', "\r\n");
    } else if crlfs > 0 {
        edited = with_endings_of(body, &edited, crlfs * 2 > lfs);
    }
    Ok(if bom {
        format!("\u{feff}{edited}")
    } else {
        edited
    })
}

/// `edited` (with LF line breaks) with each line that comes from
/// `original` ending as it did there, and every other line with CRLF when
/// `crlf`, else LF. Lines are matched in order, each looked for a little
/// way ahead of the last match: an edit changes a few lines in one place.
fn with_endings_of(original: &str, edited: &str, crlf: bool) -> String {
    const AHEAD: usize = 256;
    let lines: Vec<(&str, &str)> = original
        .split_inclusive('\n')
        .map(|line| match line.strip_suffix("\r\n") {
            Some(text) => (text, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(text) => (text, "\n"),
                None => (line, ""),
            },
        })
        .collect();
    let fresh = if crlf { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(edited.len() + edited.len() / 16);
    let mut next = 0;
    for line in edited.split_inclusive('\n') {
        let (text, broken) = match line.strip_suffix('\n') {
            Some(text) => (text, true),
            None => (line, false),
        };
        out.push_str(text);
        if !broken {
            continue;
        }
        let end = (next + AHEAD).min(lines.len());
        match lines[next..end].iter().position(|(old, _)| *old == text) {
            Some(at) => {
                let ending = lines[next + at].1;
                out.push_str(if ending.is_empty() { fresh } else { ending });
                next += at + 1;
            }
            None => out.push_str(fresh),
        }
    }
    out
}

/// Removes the entries of `names` — `[resources.NAME]` tables, with the
/// comments above them, or keys of an inline `resources` table. Nothing
/// else changes. Every name must be there, or nothing is removed.
pub fn remove_resources(text: &str, names: &[&str]) -> Result<String, EditError> {
    keeping_spelling(text, |text| remove_resources_plain(text, names))
}

fn remove_resources_plain(text: &str, names: &[&str]) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let resources_position = doc
        .get("resources")
        .and_then(Item::as_table)
        .and_then(Table::position);
    let resources = doc.get_mut("resources").and_then(Item::as_table_like_mut);
    let Some(resources) = resources else {
        return Err(EditError::NoSuchResource(
            names.first().copied().unwrap_or_default().to_owned(),
        ));
    };
    if let Some(missing) = names.iter().find(|name| !resources.contains_key(name)) {
        return Err(EditError::NoSuchResource((*missing).to_owned()));
    }
    let mut carried = Vec::new();
    // Entries written as `name = { … }` lines of `[resources]`, in order:
    // their notes move to the next such line that stays.
    let order: Vec<String> = resources.iter().map(|(k, _)| k.to_owned()).collect();
    let mut carried_keys: Vec<(String, String)> = Vec::new();
    for name in names {
        // The comment block right above an entry's header goes with it;
        // what comes before a blank line above that block (the end of the
        // entry before, the template's notes) stays, with the next table.
        if let Some(table) = resources.get(name).and_then(Item::as_table) {
            if let Some(notes) = notes_before(table.decor())
                && let Some(position) = table.position()
            {
                carried.push((position, notes));
            }
        } else if let Some(notes) = resources
            .key(name)
            .and_then(|k| notes_before(k.leaf_decor()))
        {
            carried_keys.push(((*name).to_owned(), notes));
        }
        resources.remove(name);
    }
    // Last first, as for tables.
    carried_keys.reverse();
    for (name, kept) in carried_keys {
        let mut after = order.iter().skip_while(|k| **k != name).skip(1);
        match after.find(|k| resources.contains_key(k)) {
            Some(next) => {
                let mut key = resources.key_mut(next).expect("found above");
                prepend_notes(key.leaf_decor_mut(), &kept);
            }
            // The last line of `[resources]`: before what follows it.
            None => {
                if let Some(position) = resources_position {
                    carried.push((position, kept));
                }
            }
        }
    }
    place_notes(doc, carried)
}

/// Puts the notes `carried` from removed tables (by the position of each)
/// before the table that follows it, or at the end of the file.
fn place_notes(
    mut doc: DocumentMut,
    mut carried: Vec<(isize, String)>,
) -> Result<String, EditError> {
    // Last first, so that text carried into a table that goes too moves on.
    carried.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    for (position, kept) in carried {
        match next_table(doc.as_table_mut(), position) {
            Some(next) => prepend_notes(next.decor_mut(), &kept),
            None => {
                // At the end of the file, no blank line after it.
                let old = doc.trailing().as_str().unwrap_or_default().to_owned();
                let kept = match old.trim().is_empty() {
                    true => without_last_line(&kept),
                    false => &kept,
                };
                doc.set_trailing(format!("{kept}{old}"));
            }
        }
    }
    Ok(doc.to_string())
}

/// The notes in an entry's `decor` that belong before it rather than to
/// it (see [`kept_part`]), unless they are blank lines alone: the gap
/// before the entry, which goes with it.
fn notes_before(decor: &Decor) -> Option<String> {
    let kept = kept_part(decor.prefix()?.as_str()?);
    (!kept.trim().is_empty()).then(|| kept.to_owned())
}

/// Puts `notes` (ending with a blank line) before what `decor` holds, with
/// one blank line between, not two.
fn prepend_notes(decor: &mut Decor, notes: &str) {
    let old = decor
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_owned();
    let notes = match old.starts_with('\n') {
        true => without_last_line(notes),
        false => notes,
    };
    decor.set_prefix(format!("{notes}{old}"));
}

/// What of a table's prefix belongs before it rather than to it: every
/// line up to the last blank one.
fn kept_part(prefix: &str) -> &str {
    let mut end = 0;
    let mut at = 0;
    for line in prefix.split_inclusive('\n') {
        at += line.len();
        if line.trim().is_empty() {
            end = at;
        }
    }
    &prefix[..end]
}

/// `text` without its last line (a blank one, here).
fn without_last_line(text: &str) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    }
}

/// The table after `position` in the document, however deep.
fn next_table(table: &mut Table, position: isize) -> Option<&mut Table> {
    fn visit(
        table: &mut Table,
        position: isize,
        best: &mut Option<(isize, Vec<String>)>,
        path: &mut Vec<String>,
    ) {
        for (key, item) in table.iter_mut() {
            if let Item::Table(sub) = item {
                path.push(key.get().to_owned());
                if let Some(p) = sub.position()
                    && p > position
                    && best.as_ref().is_none_or(|(b, _)| p < *b)
                {
                    *best = Some((p, path.clone()));
                }
                visit(sub, position, best, path);
                path.pop();
            }
        }
    }
    let mut best = None;
    visit(table, position, &mut best, &mut Vec::new());
    let (_, path) = best?;
    let mut at = table;
    for key in path {
        at = at.get_mut(&key)?.as_table_mut()?;
    }
    Some(at)
}

/// Writes `sha256` and `size` into the entry of resource `name`: in place
/// of the values it has, else right after its source. Nothing else changes.
pub fn pin(text: &str, name: &str, sha256: Sha256Digest, size: u64) -> Result<String, EditError> {
    let (text, missing) = pin_all(text, &[(name, sha256, size)])?;
    match missing.into_iter().next() {
        Some(name) => Err(EditError::NoSuchResource(name)),
        None => Ok(text),
    }
}

/// [`pin`] for many resources at once: `(name, sha256, size)` each, in one
/// parse and one rewrite of the text (pinning them one by one would parse
/// and print the whole manifest once per resource). Returns the new text
/// and the names the manifest no longer has.
pub fn pin_all(
    text: &str,
    pins: &[(&str, Sha256Digest, u64)],
) -> Result<(String, Vec<String>), EditError> {
    let mut missing = Vec::new();
    let edited = keeping_spelling(text, |text| {
        let (edited, gone) = pin_all_plain(text, pins)?;
        missing = gone;
        Ok(edited)
    })?;
    Ok((edited, missing))
}

fn pin_all_plain(
    text: &str,
    pins: &[(&str, Sha256Digest, u64)],
) -> Result<(String, Vec<String>), EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let mut missing = Vec::new();
    for &(name, sha256, size) in pins {
        let Some(entry) = doc
            .get_mut("resources")
            .and_then(|r| r.get_mut(name))
            .and_then(Item::as_table_like_mut)
        else {
            missing.push(name.to_owned());
            continue;
        };
        let mut new = Vec::new();
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        for (key, pinned) in [
            ("sha256", Value::from(sha256.hex())),
            ("size", Value::from(size)),
        ] {
            match entry.get_mut(key).and_then(Item::as_value_mut) {
                // Re-pinned in place, with the spacing and comment around
                // the old value.
                Some(old) => {
                    let decor = old.decor().clone();
                    *old = pinned;
                    *old.decor_mut() = decor;
                }
                None => new.push((key, Item::Value(pinned))),
            }
        }
        insert_after_source(entry, new);
    }
    Ok((doc.to_string(), missing))
}

/// Inserts `new` keys after `sha256`, else after `source`/`sources`,
/// keeping the other keys, their order and their decoration.
fn insert_after_source(entry: &mut dyn TableLike, new: Vec<(&str, Item)>) {
    let keys: Vec<String> = entry.iter().map(|(k, _)| k.to_owned()).collect();
    // After a `sha256` the entry has (a `size` joins it), else after the
    // source.
    let split = keys
        .iter()
        .position(|k| k == "sha256")
        .or_else(|| keys.iter().position(|k| k == "source" || k == "sources"))
        .map_or(keys.len(), |i| i + 1);
    let moved: Vec<_> = keys[split..]
        .iter()
        .filter_map(|k| {
            let key = entry.key(k)?.clone();
            let item = entry.remove(k)?;
            Some((key, item))
        })
        .collect();
    for (key, item) in new {
        entry.insert(key, item);
    }
    for (key, item) in moved {
        entry.entry_format(&key).or_insert(item);
    }
}

/// Appends a `[resources.NAME]` table at the end of the manifest.
pub fn append_resource(text: &str, new: &NewResource<'_>) -> Result<String, EditError> {
    keeping_spelling(text, |text| append_resource_plain(text, new))
}

fn append_resource_plain(text: &str, new: &NewResource<'_>) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let resources = doc
        .entry("resources")
        .or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_like_mut()
        .expect("`resources` is a table in a validated manifest");
    if resources.contains_key(new.name.as_str()) {
        return Err(EditError::Exists(new.name.to_string()));
    }
    let mut table = Table::new();
    table.insert("source", value(new.source));
    table.insert("sha256", value(new.sha256.hex()));
    table.insert("size", value(i64::try_from(new.size).unwrap_or(i64::MAX)));
    table.insert("purpose", value(new.purpose));
    if let Some(who) = new.requested_by {
        table.insert("requested_by", value(who));
    }
    if new.executable {
        table.insert("executable", value(true));
    }
    resources.insert(new.name.as_str(), Item::Table(table));
    // Comments at the end of the file belong to what they follow: they stay
    // above the new table, which comes after a blank line, as people write it.
    let trailing = doc.trailing().as_str().unwrap_or_default().to_owned();
    doc.set_trailing("");
    let mut prefix = trailing;
    if !prefix.is_empty() && !prefix.ends_with('\n') {
        prefix.push('\n');
    }
    if !prefix.ends_with("\n\n") {
        prefix.push('\n');
    }
    if let Some(table) = doc
        .get_mut("resources")
        .and_then(|r| r.get_mut(new.name.as_str()))
        .and_then(Item::as_table_mut)
    {
        table.decor_mut().set_prefix(prefix);
    }
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Sha256Digest {
        Sha256Digest::of_bytes(b"x")
    }

    #[test]
    fn pinning_many_at_once_is_pinning_each_in_turn() {
        let mut text = String::from("[project]\nname = \"p\"\n");
        for i in 0..50 {
            text.push_str(&format!(
                "\n[resources.r{i}] # {i}\nsource = \"r{i}.bin\"\npurpose = \"r\"\n"
            ));
        }
        let names: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        let mut pins: Vec<(&str, Sha256Digest, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), Sha256Digest::of_bytes(n.as_bytes()), i as u64))
            .collect();
        let mut one_by_one = text.clone();
        for &(name, digest, size) in &pins {
            one_by_one = pin(&one_by_one, name, digest, size).unwrap();
        }
        pins.push(("gone", digest(), 1));
        let (at_once, missing) = pin_all(&text, &pins).unwrap();
        assert_eq!(at_once, one_by_one);
        assert_eq!(missing, ["gone"]);
    }

    #[test]
    fn pins_only_the_one_entry_after_its_source() {
        let text = r#"# top comment
[project]
name = "p"

[resources.a]
source = "a.bin"   # the A file
# why
purpose = "a"

[resources.b]
source = "b.bin"
purpose = "b"
"#;
        let out = pin(text, "a", digest(), 1).unwrap();
        let expected = format!(
            r#"# top comment
[project]
name = "p"

[resources.a]
source = "a.bin"   # the A file
sha256 = "{}"
size = 1
# why
purpose = "a"

[resources.b]
source = "b.bin"
purpose = "b"
"#,
            digest()
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn repins_in_place_keeping_comments_and_order() {
        let old = "0".repeat(64);
        let text = format!(
            "[project]\nname = \"p\"\n\n[resources.a]\npurpose = \"a\"\nsize = 5  # bytes\nsource = \"a.bin\"\nsha256 = \"{old}\"   # v1\n\n[resources.b]\nsource = \"b.bin\"\nsha256 = \"{old}\"\nsize = 5\npurpose = \"b\"\n"
        );
        let out = pin(&text, "a", digest(), 7).unwrap();
        let expected = text
            .replacen("size = 5  # bytes", "size = 7  # bytes", 1)
            .replacen(
                &format!("\"{old}\"   # v1"),
                &format!("\"{}\"   # v1", digest()),
                1,
            );
        assert_eq!(out, expected, "only entry `a`'s two values change");
    }

    #[test]
    fn a_size_joins_the_sha256_an_entry_has() {
        let old = "0".repeat(64);
        let text = format!(
            "[project]\nname = \"p\"\n[resources.a]\nsource = \"a.bin\"\npurpose = \"a\"\nsha256 = \"{old}\"\n"
        );
        let out = pin(&text, "a", digest(), 7).unwrap();
        assert!(
            out.ends_with(&format!(
                "purpose = \"a\"\nsha256 = \"{}\"\nsize = 7\n",
                digest()
            )),
            "{out}"
        );
    }

    #[test]
    fn removing_an_entry_keeps_the_comments_that_end_the_one_before() {
        let text = "[project]\nname = \"p\"\n# link_dir = \"x\"\n\n# notes for later\n\n[resources.a]\nsource = \"a\"\npurpose = \"a\"\n# TODO(a): mirror it\n\n# the b\n[resources.b]\nsource = \"b\"\npurpose = \"b\"\n\n[resources.c]\nsource = \"c\"\npurpose = \"c\"\n";
        let out = remove_resources(text, &["b"]).unwrap();
        assert_eq!(
            out,
            text.replace(
                "# the b\n[resources.b]\nsource = \"b\"\npurpose = \"b\"\n\n",
                ""
            ),
        );
        // The first entry: the notes above it stay, even with the next
        // one gone too.
        let out = remove_resources(text, &["a", "b"]).unwrap();
        assert!(
            out.contains("# link_dir = \"x\"\n\n# notes for later\n\n"),
            "{out}"
        );
        assert!(
            out.contains("# TODO(a): mirror it\n\n[resources.c]"),
            "{out}"
        );
        assert!(
            !out.contains("the b") && !out.contains("[resources.a]"),
            "{out}"
        );
        // The last, with the blank line before it.
        let out = remove_resources(text, &["c"]).unwrap();
        assert_eq!(
            out,
            text.replace("\n[resources.c]\nsource = \"c\"\npurpose = \"c\"\n", "")
        );
        // Notes that end the one before the last stay, at the end.
        let noted = text.replace("\n[resources.c]", "# after b\n\n[resources.c]");
        let out = remove_resources(&noted, &["c"]).unwrap();
        assert!(out.ends_with("purpose = \"b\"\n# after b\n"), "{out}");
    }

    #[test]
    fn a_file_that_mixes_line_endings_keeps_each_line_s() {
        // Mostly CRLF, with one LF line (a paste from elsewhere).
        let text = "# top\r\n[project]\r\nname = \"p\"\n\r\n[resources.a]\r\nsource = \"a.bin\"\r\npurpose = \"a\"\r\n\r\n[resources.b]\r\nsource = \"b.bin\"\r\npurpose = \"b\"\r\n";
        let out = pin(text, "a", digest(), 3).unwrap();
        assert_eq!(
            out,
            text.replace(
                "source = \"a.bin\"\r\n",
                &format!(
                    "source = \"a.bin\"\r\nsha256 = \"{}\"\r\nsize = 3\r\n",
                    digest()
                )
            )
        );
        let out = remove_resources(text, &["b"]).unwrap();
        assert_eq!(
            out,
            text.replace(
                "\r\n[resources.b]\r\nsource = \"b.bin\"\r\npurpose = \"b\"\r\n",
                ""
            )
        );
    }

    #[test]
    fn removing_an_inline_entry_keeps_the_notes_of_the_one_before() {
        let text = "[project]\nname = \"p\"\n\n[resources]\na = { source = \"a\", purpose = \"a\" }\n# TODO(a): mirror it\n\n# about b\nb = { source = \"b\", purpose = \"b\" }\nc = { source = \"c\", purpose = \"c\" }\n";
        let out = remove_resources(text, &["b"]).unwrap();
        assert_eq!(
            out,
            text.replace("# about b\nb = { source = \"b\", purpose = \"b\" }\n", "")
        );
        // The last entry of `[resources]`: its notes for the one before stay.
        let out = remove_resources(text, &["b", "c"]).unwrap();
        assert!(out.contains("# TODO(a): mirror it\n"), "{out}");
        assert!(!out.contains("about b") && !out.contains("b = {"), "{out}");
    }

    #[test]
    fn pins_inline_tables() {
        let text =
            "[project]\nname = \"p\"\n[resources]\na = { source = \"a.bin\", purpose = \"a\" }\n";
        let out = pin(text, "a", digest(), 3).unwrap();
        assert!(
            out.contains(&format!(
                "a = {{ source = \"a.bin\", sha256 = \"{}\", size = 3, purpose = \"a\" }}",
                digest()
            )),
            "{out}"
        );
    }

    #[test]
    fn appends_after_trailing_comments() {
        let text = "[project]\nname = \"p\"  # the project\n# link_dir = \"x\"\n\n# more notes\n";
        let name: Name = "new".parse().unwrap();
        let new = NewResource {
            name: &name,
            source: "a.bin",
            sha256: digest(),
            size: 1,
            purpose: "p",
            requested_by: None,
            executable: false,
        };
        let out = append_resource(text, &new).unwrap();
        assert_eq!(
            out,
            format!(
                "{text}\n[resources.new]\nsource = \"a.bin\"\nsha256 = \"{}\"\nsize = 1\npurpose = \"p\"\n",
                digest()
            )
        );
    }

    #[test]
    fn appends_a_table() {
        let text = "[project]\nname = \"p\" # mine\n";
        let name: Name = "new".parse().unwrap();
        let out = append_resource(
            text,
            &NewResource {
                name: &name,
                source: "https://e.org/x",
                sha256: digest(),
                size: 5,
                purpose: "testing",
                requested_by: None,
                executable: false,
            },
        )
        .unwrap();
        assert_eq!(
            out,
            format!(
                "[project]\nname = \"p\" # mine\n\n[resources.new]\nsource = \"https://e.org/x\"\nsha256 = \"{}\"\nsize = 5\npurpose = \"testing\"\n",
                digest()
            )
        );
        assert!(matches!(
            append_resource(
                &out,
                &NewResource {
                    name: &name,
                    source: "x",
                    sha256: digest(),
                    size: 1,
                    purpose: "p",
                    requested_by: None,
                    executable: false,
                }
            ),
            Err(EditError::Exists(_))
        ));
    }

    #[test]
    fn removes_entries_and_keeps_everything_else() {
        let text = "# my project\n[project]\nname = \"p\" # the name\n\n# the data\n[resources.a]\nsource = \"a\"\npurpose = \"x\"\n\n# the notes\n[resources.b] # keep me\nsource = \"b\"\npurpose = \"y\"\n";
        let out = remove_resources(text, &["a"]).unwrap();
        assert_eq!(
            out,
            "# my project\n[project]\nname = \"p\" # the name\n\n# the notes\n[resources.b] # keep me\nsource = \"b\"\npurpose = \"y\"\n"
        );
        let inline = "[project]\nname = \"p\"\n[resources]\na = { source = \"a\", purpose = \"x\" }\nb = { source = \"b\", purpose = \"y\" } # b\n";
        assert_eq!(
            remove_resources(inline, &["a"]).unwrap(),
            "[project]\nname = \"p\"\n[resources]\nb = { source = \"b\", purpose = \"y\" } # b\n"
        );
        assert!(matches!(
            remove_resources(text, &["b", "nope"]),
            Err(EditError::NoSuchResource(name)) if name == "nope"
        ));
    }

    /// A manifest spelled as editors on Windows leave it: a byte-order
    /// mark, CRLF, an inline table, a multi-line array with comments, and
    /// no newline at the end.
    const SPELLED: &str = "\u{feff}# top\r\n[project]\r\nname = \"p\"\r\n\r\n[resources.a]\r\nsources = [\r\n  \"https://one.example/a\", # first\r\n  \"https://two.example/a\",  # second\r\n]\r\npurpose = \"x\"\r\n\r\n[resources.b]\r\nsource = \"b\"\r\npurpose = \"y\"\r\nmeta = { kind = \"z\" } # inline";

    /// The lines of `text` (split at CRLF), for comparing edits.
    fn lines(text: &str) -> Vec<&str> {
        text.split("\r\n").collect()
    }

    #[test]
    fn edits_keep_the_byte_order_mark_crlf_and_every_other_line() {
        let digest = Sha256Digest::of_bytes(b"a");
        let pinned = pin(SPELLED, "a", digest, 1).unwrap();
        assert!(pinned.starts_with('\u{feff}'));
        assert!(!pinned.replace("\r\n", "").contains('\n'), "{pinned:?}");
        let sha = format!("sha256 = \"{}\"", digest.hex());
        let mut expected = lines(SPELLED);
        // After the multi-line `sources` array.
        expected.insert(9, "size = 1");
        expected.insert(9, &sha);
        assert_eq!(lines(&pinned), expected);

        let removed = remove_resources(SPELLED, &["a"]).unwrap();
        let mut expected = lines(SPELLED);
        // The table's lines, and the blank line that set it apart.
        expected.drain(3..10);
        assert_eq!(lines(&removed), expected);
        assert!(removed.starts_with('\u{feff}'));

        let name: Name = "c".parse().unwrap();
        let appended = append_resource(
            SPELLED,
            &NewResource {
                name: &name,
                source: "c",
                sha256: digest,
                size: 1,
                purpose: "z",
                requested_by: None,
                executable: false,
            },
        )
        .unwrap();
        assert!(appended.starts_with(SPELLED), "{appended:?}");
        assert!(!appended.replace("\r\n", "").contains('\n'), "{appended:?}");
        // A plain LF file stays LF, without a mark.
        let plain = SPELLED.trim_start_matches('\u{feff}').replace("\r\n", "\n");
        let pinned = pin(&plain, "a", digest, 1).unwrap();
        assert!(!pinned.contains('\r') && !pinned.starts_with('\u{feff}'));
    }
}

/// Appends a `[[remote]]` table to a TOML text: `at` is where the array of
/// tables lives (`["remote"]` in a store's configuration, `["project",
/// "remote"]` in a manifest).
///
/// # Errors
/// Text that is not TOML, a remote of that name already there, or a key on
/// the way that is not a table.
pub fn add_remote(
    text: &str,
    at: &[&str],
    remote: &crate::remote::RemoteConfig,
) -> Result<String, EditError> {
    keeping_spelling(text, |text| {
        let mut doc: DocumentMut = text.parse()?;
        let (last, parents) = at.split_last().expect("a path");
        let mut table = doc.as_table_mut();
        for key in parents {
            let item = table.entry(key).or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            });
            table = item
                .as_table_mut()
                .ok_or_else(|| EditError::NotATable((*key).to_owned()))?;
        }
        let array = table
            .entry(last)
            .or_insert_with(|| Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
            .as_array_of_tables_mut()
            .ok_or_else(|| EditError::NotATable(at.join(".")))?;
        if array
            .iter()
            .any(|t| t.get("name").and_then(Item::as_str) == Some(remote.name.as_str()))
        {
            return Err(EditError::RemoteExists(remote.name.to_string()));
        }
        let mut new = Table::new();
        new.insert("name", value(remote.name.as_str()));
        new.insert("url", value(remote.url.to_string()));
        if let Some(endpoint) = &remote.endpoint {
            new.insert("endpoint", value(endpoint.to_string()));
        }
        if let Some(region) = &remote.region {
            new.insert("region", value(region.as_str()));
        }
        if let Some(path_style) = remote.path_style {
            new.insert("path_style", value(path_style));
        }
        if let Some(profile) = &remote.profile {
            new.insert("profile", value(profile.as_str()));
        }
        // Appended as text at the end of the file: between a table's keys
        // and the commented-out keys after them (`crp init`'s template) it
        // would take those keys when someone uncomments them.
        let mut tables = toml_edit::ArrayOfTables::new();
        tables.push(new);
        // `[[a.b.c]]` alone: the array under implicit tables `a` and `a.b`.
        let mut item = Item::ArrayOfTables(tables);
        for i in (1..at.len()).rev() {
            let mut t = Table::new();
            t.set_implicit(true);
            t.insert(at[i], item);
            item = Item::Table(t);
        }
        let mut alone = DocumentMut::new();
        alone.insert(at[0], item);
        let rendered = alone.to_string();
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&rendered);
        Ok(out)
    })
}

/// Takes the `[[remote]]` table named `name` out of a TOML text (see
/// [`add_remote`] for `at`).
///
/// # Errors
/// Text that is not TOML, or no remote of that name there.
pub fn remove_remote(text: &str, at: &[&str], name: &str) -> Result<String, EditError> {
    keeping_spelling(text, |text| {
        let mut doc: DocumentMut = text.parse()?;
        let missing = || EditError::NoSuchRemote(name.to_owned());
        let (last, parents) = at.split_last().expect("a path");
        let mut table = doc.as_table_mut();
        for key in parents {
            table = table
                .get_mut(key)
                .and_then(Item::as_table_mut)
                .ok_or_else(missing)?;
        }
        let empty = match table.get_mut(last).ok_or_else(missing)? {
            Item::ArrayOfTables(array) => {
                let index = array
                    .iter()
                    .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
                    .ok_or_else(missing)?;
                array.remove(index);
                array.is_empty()
            }
            // `remote = [{ name = "…", … }]`, written inline.
            Item::Value(Value::Array(array)) => {
                let index = array
                    .iter()
                    .position(|v| {
                        v.as_inline_table()
                            .and_then(|t| t.get("name"))
                            .and_then(Value::as_str)
                            == Some(name)
                    })
                    .ok_or_else(missing)?;
                array.remove(index);
                array.is_empty()
            }
            _ => return Err(missing()),
        };
        if empty {
            table.remove(last);
        }
        Ok(doc.to_string())
    })
}

#[cfg(test)]
mod remote_tests {
    use super::*;

    #[test]
    fn adds_and_removes_remotes_keeping_the_rest() {
        let text = "# notes\r\n[project]\r\nname = \"p\"  # mine\r\n\r\n[resources]\r\n";
        let remote: crate::remote::RemoteConfig = toml::from_str(
            "name = \"team\"\nurl = \"s3://bucket/x\"\nendpoint = \"http://127.0.0.1:9000\"",
        )
        .unwrap();
        let added = add_remote(text, &["project", "remote"], &remote).unwrap();
        assert!(
            added.starts_with("# notes\r\n[project]\r\nname = \"p\"  # mine\r\n"),
            "{added}"
        );
        assert!(added.contains("[[project.remote]]\r\nname = \"team\"\r\nurl = \"s3://bucket/x\"\r\nendpoint = \"http://127.0.0.1:9000\"\r\n"), "{added}");
        assert!(matches!(
            add_remote(&added, &["project", "remote"], &remote),
            Err(EditError::RemoteExists(_))
        ));
        let removed = remove_remote(&added, &["project", "remote"], "team").unwrap();
        assert!(!removed.contains("remote"), "{removed}");
        assert!(removed.contains("name = \"p\"  # mine"), "{removed}");
        assert!(matches!(
            remove_remote(&removed, &["project", "remote"], "team"),
            Err(EditError::NoSuchRemote(_))
        ));
        let store = add_remote("", &["remote"], &remote).unwrap();
        assert!(store.starts_with("[[remote]]\nname = \"team\""), "{store}");
    }
}
