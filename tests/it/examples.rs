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
fn quickstart_syncs_offline_as_the_readme_shows() {
    let ctx = TestContext::new();
    // A copy laid out as in the repository, so the test leaves no links in
    // the source tree and runs the README's command from the same place.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("examples/quickstart");
    let repo = ctx.root.path().join("repo");
    let copy = repo.join("examples/quickstart");
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
    let run = ctx.crp_in(
        &repo,
        &["sync", "--manifest", "examples/quickstart/resources.toml"],
    );
    run.success();

    // The README's block, after cargo's lines, is what crp printed: the
    // report line for line, the progress in some order.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("```console\n$ cargo run --release -- sync --manifest examples/quickstart/resources.toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the quickstart block");
    let shown: Vec<&str> = block
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Running `"))
        .skip(1)
        .collect();
    let stdout: Vec<&str> = run.stdout.lines().collect();
    let stderr: Vec<&str> = run.stderr.lines().collect();
    let shown_stdout: Vec<&str> = shown
        .iter()
        .copied()
        .filter(|l| stdout.contains(l))
        .collect();
    assert_eq!(shown_stdout, stdout, "{run}");
    let mut shown_sorted = shown.clone();
    shown_sorted.sort_unstable();
    let mut printed: Vec<&str> = stdout.iter().chain(&stderr).copied().collect();
    printed.sort_unstable();
    assert_eq!(shown_sorted, printed, "{run}");

    assert_eq!(
        std::fs::read(copy.join("resources/hello.txt")).unwrap(),
        std::fs::read(source.join("files/hello.txt")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before);
    // A second run: only its last line.
    let again = ctx.crp_in(
        &repo,
        &[
            "sync",
            "--locked",
            "--manifest",
            "examples/quickstart/resources.toml",
        ],
    );
    again.success();
    assert_eq!(again.stdout, "synced `quickstart`: 3 up to date\n");
    assert!(readme.contains("``synced `quickstart`: 3 up\nto date``"));
}
