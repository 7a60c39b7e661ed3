//! `.torrent` files: what they promise, checked before a byte is fetched.
//!
//! The checks cover every key transmission-daemon reads to place data
//! (BEP 3's `name`, `path`, `length`, `piece length`, and the `name.utf-8`
//! and `path.utf-8` that override them), on the raw metainfo: a `.utf-8`
//! key that disagrees with the plain one is refused, as are names no client
//! writes (empty, `.`/`..`, separators, control characters, duplicates, a
//! file and a folder of one name) and piece lengths that are not a power
//! of two in [`MIN_PIECE`]..=[`MAX_PIECE`] (2^40 crashes transmission 3.00).
//! Reading is bounded: files of at most [`MAX_FILE`] bytes, nested at most
//! [`MAX_DEPTH`] levels.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use lava_torrent::bencode::BencodeElem;
use lava_torrent::torrent::v1::Torrent;

/// Metainfo read from a `.torrent` file.
#[derive(Debug, Clone)]
pub struct Metainfo {
    /// The file as given, to hand to the daemon.
    pub bytes: Vec<u8>,
    /// The v1 info-hash, 40 lowercase hex digits.
    pub info_hash: String,
    /// The file's name (single-file torrent) or the top folder's.
    pub name: String,
    /// Relative paths below `name` and sizes; empty for a single file.
    pub files: Vec<(PathBuf, u64)>,
    pub total_size: u64,
}

/// The largest `.torrent` file crp reads (a torrent of a few terabytes in
/// small pieces stays well under it).
pub const MAX_FILE: u64 = 16 << 20;

/// How deeply lists and dictionaries may nest; real torrents need five.
pub const MAX_DEPTH: usize = 64;

/// The smallest piece length accepted (BEP 52's minimum).
pub const MIN_PIECE: u64 = 16 << 10;

/// The largest piece length accepted: more than any client makes.
pub const MAX_PIECE: u64 = 256 << 20;

impl Metainfo {
    /// Reads and checks the `.torrent` file at `path` (see [`MAX_FILE`]).
    pub fn read_file(path: &Path) -> Result<Self, String> {
        let bytes = crate::fsutil::read_regular(path, MAX_FILE).map_err(|err| {
            if err.kind() == std::io::ErrorKind::FileTooLarge {
                format!(
                    "the file is larger than {}, the most crp reads of a `.torrent`",
                    crate::units::ByteCount(MAX_FILE)
                )
            } else {
                err.to_string()
            }
        })?;
        Self::parse(bytes)
    }

    /// Parses a `.torrent` file and checks that it is safe to download.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_FILE {
            return Err(format!(
                "the file is larger than {}, the most crp reads of a `.torrent`",
                crate::units::ByteCount(MAX_FILE)
            ));
        }
        // Parsers recurse: a value nested 100,000 deep would overflow the
        // stack before any check could run.
        check_structure(&bytes)?;
        let torrent = Torrent::read_from_bytes(&bytes).map_err(|err| {
            let text = err.to_string();
            if text.contains("\".\" or \"..\"") {
                "a file name contains `.` or `..` as a path component".to_owned()
            } else {
                format!("not a valid .torrent file: {text}")
            }
        })?;
        let files: Vec<(PathBuf, u64)> = torrent
            .files
            .as_ref()
            .map(|files| {
                files
                    .iter()
                    .map(|f| (f.path.clone(), u64::try_from(f.length).unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(files) = &torrent.files {
            for file in files {
                check_link(&file.path, file.extra_fields.as_ref())?;
            }
        }
        check_piece_length(torrent.piece_length)?;
        check_raw(&bytes)?;
        let meta = Self {
            info_hash: torrent.info_hash(),
            name: torrent.name.clone(),
            total_size: u64::try_from(torrent.length).unwrap_or(0),
            files,
            bytes,
        };
        check_names(&meta.name, meta.files.iter().map(|(p, _)| p.as_path()))?;
        Ok(meta)
    }
}

/// Walks the whole file without recursing, as strictly as BEP 3 reads:
/// one dictionary, then nothing but white space; integers `i<n>e` and
/// string lengths in plain decimal (no sign on a length, no `-0`, no
/// leading zeros); nothing nested more than [`MAX_DEPTH`] levels deep; and
/// every dictionary's keys once each, sorted (with a key twice, crp's
/// parser would read the last and transmission the first). A file that
/// passes is one the parser reads exactly as written, so it can never
/// recurse deeper than this allowed.
fn check_structure(bytes: &[u8]) -> Result<(), String> {
    let bad =
        |at: usize, what: String| Err(format!("not a valid .torrent file: {what} (at byte {at})"));
    if bytes.first() != Some(&b'd') {
        return bad(0, "it does not begin with a dictionary".into());
    }
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut i = 0;
    loop {
        let Some(&byte) = bytes.get(i) else {
            return bad(i, "it ends in the middle of a value".into());
        };
        // A dictionary's key, when one is due.
        let key_due = matches!(
            stack.last(),
            Some(Frame::Dict {
                value_next: false,
                ..
            })
        );
        match byte {
            b'e' if !stack.is_empty() => {
                if !key_due && matches!(stack.last(), Some(Frame::Dict { .. })) {
                    return bad(i, "a dictionary key has no value".into());
                }
                stack.pop();
                i += 1;
                if stack.is_empty() {
                    break;
                }
                mark_value(&mut stack);
            }
            b'd' | b'l' if !key_due => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "not a valid .torrent file: values nested more than {MAX_DEPTH} levels deep"
                    ));
                }
                stack.push(if byte == b'd' {
                    Frame::Dict {
                        last: None,
                        value_next: false,
                    }
                } else {
                    Frame::List
                });
                i += 1;
            }
            b'i' if !key_due => {
                let Some(end) = bytes[i..].iter().position(|&b| b == b'e') else {
                    return bad(i, "an integer has no end".into());
                };
                let digits = &bytes[i + 1..i + end];
                let magnitude = digits.strip_prefix(b"-").unwrap_or(digits);
                if !decimal(magnitude) || digits == b"-0" {
                    return bad(
                        i,
                        format!(
                            "`i{}e` is not an integer",
                            String::from_utf8_lossy(digits).escape_debug()
                        ),
                    );
                }
                i += end + 1;
                mark_value(&mut stack);
            }
            b'0'..=b'9' => {
                let colon = bytes[i..]
                    .iter()
                    .take(20)
                    .position(|&b| b == b':')
                    .filter(|&c| decimal(&bytes[i..i + c]));
                let len = colon.and_then(|c| {
                    std::str::from_utf8(&bytes[i..i + c])
                        .ok()?
                        .parse::<usize>()
                        .ok()
                });
                let (Some(colon), Some(len)) = (colon, len) else {
                    return bad(i, "a string's length is not a plain decimal number".into());
                };
                let start = i + colon + 1;
                let Some(text) = bytes.get(start..start.saturating_add(len)) else {
                    return bad(i, "a string runs past the end of the file".into());
                };
                i = start + len;
                if let Some(Frame::Dict { last, value_next }) = stack.last_mut()
                    && !*value_next
                {
                    if last.is_some_and(|last| last >= text) {
                        return Err(format!(
                            "not a valid .torrent file: the key `{}` is repeated or out of order in a dictionary (BEP 3 wants keys once, sorted)",
                            String::from_utf8_lossy(text).escape_debug()
                        ));
                    }
                    *last = Some(text);
                    *value_next = true;
                } else {
                    mark_value(&mut stack);
                }
            }
            other => {
                return bad(
                    i,
                    format!(
                        "unexpected `{}`{}",
                        std::ascii::escape_default(other),
                        if key_due { " where a key is due" } else { "" }
                    ),
                );
            }
        }
    }
    if let Some(extra) = bytes[i..].iter().position(|b| !b.is_ascii_whitespace()) {
        return bad(i + extra, "data after the end of the torrent".into());
    }
    Ok(())
}

/// Digits with no leading zero (bar `0` itself): how BEP 3 writes numbers.
fn decimal(digits: &[u8]) -> bool {
    match digits {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    }
}

/// Where [`check_structure`] is: in a list, or in a dictionary.
enum Frame<'a> {
    List,
    /// The last key, and whether its value comes next.
    Dict {
        last: Option<&'a [u8]>,
        value_next: bool,
    },
}

/// A value was read: in a dictionary, a key comes next.
fn mark_value(stack: &mut [Frame<'_>]) {
    if let Some(Frame::Dict { value_next, .. }) = stack.last_mut() {
        *value_next = false;
    }
}

/// BEP 3: pieces are a power of two long; BEP 52 sets 16 KiB as the least.
fn check_piece_length(length: i64) -> Result<(), String> {
    let ok = u64::try_from(length)
        .is_ok_and(|l| l.is_power_of_two() && (MIN_PIECE..=MAX_PIECE).contains(&l));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`info.piece length` is {length}: it must be a power of two from {} to {}",
            crate::units::ByteCount(MIN_PIECE),
            crate::units::ByteCount(MAX_PIECE)
        ))
    }
}

/// The checks on the raw `info` dictionary, where every key the daemon may
/// read is still there, as written.
fn check_raw(bytes: &[u8]) -> Result<(), String> {
    let parsed = BencodeElem::from_bytes(bytes)
        .map_err(|err| format!("not a valid .torrent file: {err}"))?;
    let Some(BencodeElem::Dictionary(top)) = parsed.first() else {
        return Err("not a valid .torrent file: it is not a dictionary".into());
    };
    let Some(BencodeElem::Dictionary(info)) = top.get("info") else {
        return Err("not a valid .torrent file: no `info` dictionary".into());
    };
    let name = text_of(info.get("name"), "info.name")?.unwrap_or_default();
    check_component(&name, "info.name")?;
    if let Some(utf8) = text_of(info.get("name.utf-8"), "info.name.utf-8")?
        && utf8 != name
    {
        return Err(format!(
            "`info.name.utf-8` (`{}`) disagrees with `info.name` (`{}`); transmission would use the first",
            utf8.escape_debug(),
            name.escape_debug()
        ));
    }
    let Some(BencodeElem::List(files)) = info.get("files") else {
        return Ok(());
    };
    let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
    for (i, file) in files.iter().enumerate() {
        let BencodeElem::Dictionary(file) = file else {
            return Err(format!("`info.files[{i}]` is not a dictionary"));
        };
        let field = format!("info.files[{i}].path");
        let path = components(file, "path", &field)?.unwrap_or_default();
        if path.is_empty() {
            return Err(format!("`{field}` is empty"));
        }
        for part in &path {
            check_component(part, &field)?;
        }
        let utf8_field = format!("{field}.utf-8");
        if let Some(utf8) = components(file, "path.utf-8", &utf8_field)?
            && utf8 != path
        {
            return Err(format!(
                "`{utf8_field}` (`{}`) disagrees with `{field}` (`{}`); transmission would use the first",
                utf8.join("/").escape_debug(),
                path.join("/").escape_debug()
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(format!(
                "`{field}` (`{}`) names a file listed before",
                path.join("/").escape_debug()
            ));
        }
    }
    // A file and a folder of one name: one path is a prefix of another.
    let mut previous: Option<&Vec<String>> = None;
    for path in &seen {
        if let Some(prev) = previous
            && path.len() > prev.len()
            && path.starts_with(prev)
        {
            return Err(format!(
                "`{}` is both a file and a folder in `info.files`",
                prev.join("/").escape_debug()
            ));
        }
        previous = Some(path);
    }
    Ok(())
}

/// A text value, if the key is there.
fn text_of(value: Option<&BencodeElem>, field: &str) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(BencodeElem::String(text)) => Ok(Some(text.clone())),
        Some(BencodeElem::Bytes(_)) => Err(format!("`{field}` is not UTF-8 text")),
        Some(_) => Err(format!("`{field}` is not a string")),
    }
}

/// A list of path components, if the key is there.
fn components(
    file: &HashMap<String, BencodeElem>,
    key: &str,
    field: &str,
) -> Result<Option<Vec<String>>, String> {
    match file.get(key) {
        None => Ok(None),
        Some(BencodeElem::List(parts)) => parts
            .iter()
            .map(|p| text_of(Some(p), field).map(Option::unwrap_or_default))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(format!("`{field}` is not a list")),
    }
}

/// One name as a client would write it: not empty, not `.` or `..`, no
/// separator, no control character.
fn check_component(part: &str, field: &str) -> Result<(), String> {
    let problem = if part.is_empty() {
        "an empty name"
    } else if part == "." || part == ".." {
        "`.` or `..`, which leaves the resource"
    } else if part.contains('/') || part.contains('\\') {
        "a path separator"
    } else if part.chars().any(char::is_control) {
        "a control character"
    } else {
        return Ok(());
    };
    Err(format!(
        "`{field}` holds {problem} (`{}`)",
        part.escape_debug()
    ))
}

/// Refuses names that would place data outside the resource: an absolute
/// path, a `..` or `.` component, an empty or separator-bearing top name.
pub fn check_names<'a>(
    name: &str,
    files: impl IntoIterator<Item = &'a Path>,
) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!(
            "the torrent's name `{}` is not a plain file name",
            name.escape_debug()
        ));
    }
    for path in files {
        let safe = !path.as_os_str().is_empty()
            && path.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(format!(
                "the file name `{}` is absolute or leaves the resource",
                path.display()
            ));
        }
    }
    Ok(())
}

/// BEP 47: a file marked as a symbolic link (`attr` with `l`) is refused;
/// one whose target leaves the resource is named as such.
fn check_link(
    path: &Path,
    extra: Option<&lava_torrent::torrent::v1::Dictionary>,
) -> Result<(), String> {
    let Some(extra) = extra else { return Ok(()) };
    let is_link =
        matches!(extra.get("attr"), Some(BencodeElem::String(attr)) if attr.contains('l'));
    if !is_link {
        return Ok(());
    }
    let target: Vec<String> = match extra.get("symlink path") {
        Some(BencodeElem::List(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                BencodeElem::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let depth = path.components().count().saturating_sub(1);
    let mut level: isize = depth as isize;
    let escapes = target.first().is_some_and(|t| t.starts_with('/'))
        || target.iter().any(|part| {
            level += if part == ".." { -1 } else { 1 };
            level < 0
        });
    if escapes {
        Err(format!(
            "`{}` is a link to `{}`, outside the resource",
            path.display(),
            target.join("/")
        ))
    } else {
        Err(format!(
            "`{}` is a symbolic link; links inside resources are not supported",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_the_whole_file_and_wants_keys_once_and_sorted() {
        let ok = b"d4:infod6:lengthi1e4:name1:aee";
        assert_eq!(check_structure(ok), Ok(()));
        // Anything after the end of the torrent, which parsers may read too.
        let mut trailing = ok.to_vec();
        trailing.extend(std::iter::repeat_n(b'l', 100));
        trailing.extend(std::iter::repeat_n(b'e', 100));
        assert!(
            check_structure(&trailing)
                .unwrap_err()
                .contains("after the end")
        );
        let mut spaced = ok.to_vec();
        spaced.extend(b"\n");
        assert_eq!(check_structure(&spaced), Ok(()));
        // Numbers as BEP 3 writes them, and nothing else.
        for bad in [
            &b"+1:xd4:infod6:lengthi1e4:name1:aee"[..],
            b"d4:infod6:lengthi1e+4:name1:aee",
            b"d4:infod6:lengthi01e4:name1:aee",
            b"d4:infod6:lengthi-0e4:name1:aee",
            b"d4:infod6:lengthi+1e4:name1:aee",
            b"d4:infod6:lengthie4:name1:aee",
            b"d4:infod6:lengthi1e04:name1:aee",
            b"d4:infod6:lengthi1e4:name1:ae",
            b"d4:infod6:lengthi1e4:namee",
            b"d4:infod6:lengthi1e4:name9:aee",
            b"l4:infoe",
            b"d4:infox6:lengthi1e4:name1:aee",
        ] {
            assert!(
                check_structure(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(check_structure(b"d1:ai-12e1:bi0ee"), Ok(()));
        // A key twice: one parser reads the first, another the last.
        let twice = b"d4:infod6:lengthi10737418240e6:lengthi16384e4:name1:aee";
        assert!(
            check_structure(twice)
                .unwrap_err()
                .contains("`length` is repeated")
        );
        let unsorted = b"d4:infod4:name1:a6:lengthi1eee";
        assert!(
            check_structure(unsorted)
                .unwrap_err()
                .contains("out of order")
        );
    }

    #[test]
    fn refuses_unsafe_names() {
        let ok = [Path::new("a/b.bin"), Path::new("c")];
        assert!(check_names("album", ok).is_ok());
        assert!(check_names("..", []).is_err());
        assert!(check_names("a/b", []).is_err());
        assert!(check_names("album", [Path::new("/etc/passwd")]).is_err());
        assert!(check_names("album", [Path::new("x/../../y")]).is_err());
    }

    #[test]
    fn refuses_links_and_names_escaping_ones() {
        let link = |target: &[&str]| {
            let mut extra = lava_torrent::torrent::v1::Dictionary::new();
            extra.insert("attr".into(), BencodeElem::String("l".into()));
            extra.insert(
                "symlink path".into(),
                BencodeElem::List(
                    target
                        .iter()
                        .map(|t| BencodeElem::String((*t).into()))
                        .collect(),
                ),
            );
            extra
        };
        let err = check_link(
            Path::new("sub/link"),
            Some(&link(&["..", "..", "etc", "passwd"])),
        )
        .unwrap_err();
        assert!(err.contains("outside the resource"), "{err}");
        let err = check_link(Path::new("sub/link"), Some(&link(&["..", "other.bin"]))).unwrap_err();
        assert!(
            err.contains("links inside resources are not supported"),
            "{err}"
        );
        assert!(check_link(Path::new("plain.bin"), None).is_ok());
    }
}
