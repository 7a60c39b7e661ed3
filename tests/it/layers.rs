//! The crate's layers, as `src/lib.rs` states them, are the layers of the
//! code: every `crate::<module>` path in `src/` points to a module of the
//! same layer or below, and no two top-level modules use each other,
//! directly or through others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers table of `src/lib.rs`: module → layer.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let mut layers = BTreeMap::new();
    let section = lib
        .split("//! # Layers")
        .nth(1)
        .expect("src/lib.rs has a `# Layers` section");
    for line in section.lines().skip(1).take_while(|l| l.starts_with("//!")) {
        let cells: Vec<&str> = line.trim_start_matches("//!").split('|').collect();
        let Some(layer) = cells.get(1).and_then(|c| c.trim().parse::<usize>().ok()) else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches(['[', ']', '`']);
            layers.insert(module.to_owned(), layer);
        }
    }
    layers
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One use of another module: where, and which module.
struct Use {
    from: String,
    to: String,
    at: String,
}

/// Every `crate::<module>` path outside comments and test modules.
fn uses(src: &Path) -> Vec<Use> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut uses = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let from = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                let before = rest[..i].chars().next_back();
                rest = &rest[i + "crate::".len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let to: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if rest.starts_with('{') {
                    // `use crate::{a, b}` hides which modules are used.
                    uses.push(Use {
                        from: from.clone(),
                        to: "{".to_owned(),
                        at: format!("src/{}:{}", rel.display(), n + 1),
                    });
                } else if !to.is_empty() && to != from {
                    uses.push(Use {
                        from: from.clone(),
                        to,
                        at: format!("src/{}:{}", rel.display(), n + 1),
                    });
                }
            }
        }
    }
    uses
}

#[test]
fn no_module_uses_a_higher_layer_and_no_two_modules_use_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let layers = layers(&lib);
    assert!(
        layers.len() > 20,
        "the layers table was not read: {layers:?}"
    );
    let uses = uses(&root.join("src"));
    assert!(uses.len() > 100, "too few uses found: {}", uses.len());

    let mut problems = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in &uses {
        if u.to == "{" {
            problems.push(format!(
                "{}: write one `use crate::<module>::…` per module, so this check sees what is used",
                u.at
            ));
            continue;
        }
        let (Some(&from), Some(&to)) = (layers.get(&u.from), layers.get(&u.to)) else {
            problems.push(format!(
                "{}: `{}` or `{}` is not in the layers table of src/lib.rs",
                u.at, u.from, u.to
            ));
            continue;
        };
        if to > from {
            problems.push(format!(
                "{}: `{}` (layer {from}) uses `{}` (layer {to}), a higher layer",
                u.at, u.from, u.to
            ));
        }
        graph.entry(&u.from).or_default().insert(&u.to);
    }

    // A cycle: a module reachable from one of the modules it uses.
    for (&from, tos) in &graph {
        for &to in tos {
            let mut seen = BTreeSet::new();
            let mut stack = vec![to];
            while let Some(m) = stack.pop() {
                if m == from {
                    let at = uses
                        .iter()
                        .find(|u| u.from == from && u.to == to)
                        .map(|u| u.at.as_str())
                        .unwrap_or_default();
                    problems.push(format!(
                        "{at}: `{from}` uses `{to}`, which uses `{from}` back (a cycle)"
                    ));
                    break;
                }
                if seen.insert(m) {
                    stack.extend(graph.get(m).into_iter().flatten().copied());
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_use_of_a_higher_layer() {
    // The same reading, on a made-up tree where `store` uses `fetch`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("store.rs"),
        "use crate::fetch::Fetcher;\nuse crate::{net, tree};\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fetch.rs"),
        "// crate::nothing in a comment\nuse crate::store::Store;\n#[cfg(test)]\nuse crate::zzz;\n",
    )
    .unwrap();
    let found: Vec<(String, String)> = uses(dir.path())
        .into_iter()
        .map(|u| (u.from, u.to))
        .collect();
    assert_eq!(
        found.iter().collect::<BTreeSet<_>>(),
        [
            ("fetch".to_owned(), "store".to_owned()),
            ("store".to_owned(), "fetch".to_owned()),
            ("store".to_owned(), "{".to_owned())
        ]
        .iter()
        .collect()
    );
    let table = "//! # Layers\n//!\n//! | layer | modules | job |\n//! |---|---|---|\n//! | 0 | [`store`] | x |\n//! | 1 | [`fetch`], [`net`] | y |\n";
    let layers = layers(table);
    assert_eq!(layers["store"], 0);
    assert_eq!(layers["net"], 1);
}

#[test]
fn only_the_settings_module_reads_the_environment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut readers = Vec::new();
    for file in files {
        if file.ends_with("settings.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if ["env::var(", "env::var_os(", "env::vars("]
                .iter()
                .any(|call| line.contains(call))
            {
                readers.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        readers.is_empty(),
        "read environment variables through `crate::settings`, where each is named and documented:\n{}",
        readers.join("\n")
    );
}
