//! `.torrent` files: what they promise, checked before a byte is fetched.

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

impl Metainfo {
    /// Parses a `.torrent` file and checks that it is safe to download.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, String> {
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
