//! Every manifest shipped in `manifests/` and `examples/` is valid, and the
//! quickstart syncs with no network.

use std::path::{Path, PathBuf};

use crp::manifest::Manifest;

use crate::common::{TestContext, files_under};

fn shipped_manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found: Vec<PathBuf> = ["manifests", "examples"]
        .iter()
        .flat_map(|dir| files_under(&root.join(dir)))
        .filter(|p| p.file_name().is_some_and(|n| n == "resources.toml"))
        .collect();
    assert!(
        found.len() >= 3,
        "expected the shipped manifests, found {found:?}"
    );
    found
}

#[test]
fn shipped_manifests_validate() {
    for path in shipped_manifests() {
        let manifest =
            Manifest::load(&path).unwrap_or_else(|err| panic!("{}: {err:?}", path.display()));
        assert!(!manifest.resources.is_empty(), "{}", path.display());
        assert!(
            manifest.resources.iter().all(|r| r.sha256.is_some()),
            "{}: unpinned entry",
            path.display()
        );
        // Each one points editors at the schema file in this repository.
        let first = manifest.text.lines().next().unwrap_or_default();
        let schema = path
            .parent()
            .unwrap()
            .join(first.trim_start_matches("#:schema "));
        assert!(
            schema.is_file(),
            "{}: `{first}` does not lead to the schema",
            path.display()
        );
    }
}

#[test]
fn the_realistic_manifests_plan_as_expected() {
    let ctx = TestContext::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let barkour = root.join("manifests/barkour/resources.toml");
    let run = ctx.crp(&["plan", "--manifest", barkour.to_str().unwrap()]);
    run.success();
    assert!(
        run.stdout
            .contains("plan for `barkour`: 3 to fetch (79.6 MiB)"),
        "{run}"
    );
    let corpus = root.join("manifests/speech-corpus/resources.toml");
    let run = ctx.crp(&["plan", "--manifest", corpus.to_str().unwrap()]);
    run.success();
    // 10.2 GiB is over the default policy's 1 GB: a person must approve it.
    assert!(
        run.stdout
            .contains("awaiting     musan                                    10.2 GiB"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("(awaiting approval: 10.2 GiB is over 1 GB)"),
        "{run}"
    );
    let torrents = root.join("manifests/barkour-torrents/resources.toml");
    let run = ctx.crp(&[
        "plan",
        "--manifest",
        torrents.to_str().unwrap(),
        "--format",
        "json",
    ]);
    run.success();
    let plan: crp::report::PlanDocument = run.json();
    assert!(
        plan.plan
            .resources
            .iter()
            .all(|r| r.fetch.is_some_and(|f| f.torrent)),
        "{run}"
    );
    assert!(!ctx.store.exists());
}

#[test]
fn quickstart_syncs_offline_from_files_beside_it() {
    let ctx = TestContext::new();
    // A copy, so the test does not leave links in the source tree.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let copy = ctx.root.path().join("quickstart");
    for file in files_under(&source) {
        let rel = file.strip_prefix(&source).unwrap();
        if rel.starts_with("resources") {
            continue;
        }
        std::fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&file, copy.join(rel)).unwrap();
    }
    let manifest = copy.join("resources.toml");
    let before = std::fs::read_to_string(&manifest).unwrap();
    let run = ctx.crp(&["sync", "--locked", "--manifest", manifest.to_str().unwrap()]);
    run.success();
    assert!(
        run.stdout.contains("synced `quickstart`: 3 fetched"),
        "{run}"
    );
    assert!(run.stderr.contains("trying the next source"), "{run}");
    assert_eq!(
        std::fs::read(copy.join("resources/hello.txt")).unwrap(),
        std::fs::read(source.join("files/hello.txt")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before);
}
