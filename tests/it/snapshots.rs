//! The text output of `plan`, `sync`, `status`, `drift` and `diff`, as
//! people read it, pinned by snapshots (`tests/it/snapshots/`). The test's
//! temporary folder, times and durations are redacted. To accept a change
//! of output on purpose: `INSTA_UPDATE=always cargo nextest run snapshots`,
//! then review the diff of the `.snap` files.

use crate::common::{Run, TestContext};

/// A run as a snapshot shows it: the exit code and what went to stdout
/// (stderr holds progress, whose order depends on timing).
fn shown(run: &Run) -> String {
    format!("exit code {}\n{}", run.code, run.stdout)
}

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]");
    settings
}

/// A project with two pinned local files.
fn project() -> TestContext {
    let ctx = TestContext::new();
    let data = ctx.write_file("files/data.bin", &[b'a'; 3000]);
    let notes = ctx.write_file("files/notes.txt", b"hello\n");
    ctx.write_manifest(&format!(
        r#"[project]
name = "snap"

[resources.data]
source = "files/data.bin"
sha256 = "{}"
size = 3000
purpose = "the data the tests read"

[resources.notes]
source = "files/notes.txt"
sha256 = "{}"
size = 6
purpose = "notes for people"
"#,
        data.hex(),
        notes.hex()
    ));
    ctx
}

#[test]
fn plan_sync_and_status_text() {
    let ctx = project();
    settings().bind(|| {
        insta::assert_snapshot!("plan", shown(&ctx.crp(&["plan"])));
        insta::assert_snapshot!("sync", shown(&ctx.crp(&["sync"])));
        insta::assert_snapshot!("status", shown(&ctx.crp(&["status"])));
        insta::assert_snapshot!("sync_nothing_to_do", shown(&ctx.crp(&["sync"])));
    });
}

#[test]
fn drift_text_and_markdown() {
    let ctx = project();
    ctx.crp(&["sync"]).success();
    std::fs::remove_file(ctx.link("notes")).unwrap();
    settings().bind(|| {
        insta::assert_snapshot!("drift", shown(&ctx.crp(&["drift"])));
        insta::assert_snapshot!(
            "drift_markdown",
            shown(&ctx.crp(&["drift", "--format", "markdown"]))
        );
    });
}

#[test]
fn diff_text_and_markdown() {
    let ctx = project();
    let base = ctx.project.join("base.toml");
    std::fs::copy(ctx.manifest_path(), &base).unwrap();
    let head = ctx
        .read_manifest()
        .replace("purpose = \"notes for people\"", "purpose = \"notes\"")
        + "\n[resources.more]\nsource = \"https://example.org/more.bin\"\nsize = 5000000\npurpose = \"more\"\n";
    ctx.write_manifest(&head);
    settings().bind(|| {
        insta::assert_snapshot!("diff", shown(&ctx.crp(&["diff", "base.toml"])));
        insta::assert_snapshot!(
            "diff_markdown",
            shown(&ctx.crp(&["diff", "base.toml", "--format", "markdown"]))
        );
    });
}

#[test]
fn help_text() {
    let ctx = TestContext::new();
    settings().bind(|| {
        for (name, args) in [
            ("help", &["--help"][..]),
            ("help_sync", &["sync", "--help"][..]),
            ("help_update", &["update", "--help"][..]),
            ("help_status", &["status", "--help"][..]),
            ("help_dag", &["dag", "-h"][..]),
        ] {
            insta::assert_snapshot!(name, shown(&ctx.crp(args)));
        }
    });
}
