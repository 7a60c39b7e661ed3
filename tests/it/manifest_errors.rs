//! Every kind of manifest mistake is reported at `resources.toml:LINE:COL`,
//! all of them in one run, with exit code 2 and nothing written anywhere.

use crp::report::ErrorDocument;

use crate::common::TestContext;

const HASH: &str = "0f3c7d6a2b1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a";

/// A manifest with one mistake of each kind, and where each is reported.
fn bad_manifest() -> (String, Vec<(usize, usize, &'static str)>) {
    let text = format!(
        r#"#:schema ../../schema/resources.schema.json
[project]
name = "barkour"
link_mod = "copy"

[resources.pico-8]
source = "https://example.org/pico-8.zip"
sha256 = "0f3c"
purpose = "PICO-8"

[resources.Picotron]
source = "https://example.org/picotron.zip"
purpose = "Picotron"

[resources.voxatron]
source = "https://example.org/voxatron.zip"
purpose = "   "

[resources.mirrored]
sources = ["https://a.example.org/x.zip", "https://b.example.org/x.zip", "https://a.example.org/x.zip"]
purpose = "mirrors"

[resources.ftp]
source = "ftp://example.org/x.zip"
purpose = "old school"

[resources.typo]
source = "https://example.org/typo.zip"
sha265 = "{HASH}"
purpose = "a typo in a key"

[resources.nothing]
purpose = "no source at all"

[resources.both]
source = "https://example.org/1.zip"
sources = ["https://example.org/2.zip"]
purpose = "two ways to say it"

[resources.why]
source = "https://example.org/why.zip"
"#
    );
    let expected = vec![
        (4, 1, "unknown key `link_mod` in `[project]`"),
        (8, 10, "invalid `sha256` in resource `pico-8`"),
        (11, 12, "invalid resource name `Picotron`"),
        (17, 11, "invalid `purpose` in resource `voxatron`"),
        (20, 74, "duplicate source in resource `mirrored`"),
        (24, 10, "invalid `source` in resource `ftp`"),
        (29, 1, "unknown key `sha265` in resource `typo`"),
        (32, 12, "resource `nothing` has no source"),
        (37, 11, "resource `both` has both `source` and `sources`"),
        (40, 12, "resource `why` has no `purpose`"),
    ];
    (text, expected)
}

#[test]
fn reports_every_problem_with_its_location() {
    let ctx = TestContext::new();
    let (text, expected) = bad_manifest();
    ctx.write_manifest(&text);

    let run = ctx.crp(&["sync"]);
    run.code(2);
    for (line, col, message) in &expected {
        let location = format!("--> resources.toml:{line}:{col}");
        assert!(
            run.stderr.contains(&location),
            "missing `{location}` for {message}\n{run}"
        );
        assert!(run.stderr.contains(message), "missing `{message}`\n{run}");
    }
    // The offending text is quoted, with a hint.
    assert!(run.stderr.contains("sha256 = \"0f3c\""), "{run}");
    assert!(run.stderr.contains("hint: did you mean `sha256`?"), "{run}");
    assert!(
        run.stderr.contains("hint: did you mean `link_mode`?"),
        "{run}"
    );
    assert!(
        run.stderr.contains(&format!(
            "`resources.toml` has {} problems; nothing was changed",
            expected.len()
        )),
        "{run}"
    );

    // Nothing was written anywhere: no store, no links, the manifest as it was.
    assert!(!ctx.store.exists(), "the store was created");
    assert!(!ctx.project.join("resources").exists());
    assert_eq!(ctx.read_manifest(), text);
}

#[test]
fn json_diagnostics_carry_line_and_column() {
    let ctx = TestContext::new();
    let (text, expected) = bad_manifest();
    ctx.write_manifest(&text);

    for command in ["plan", "status", "sync"] {
        let run = ctx.crp(&[command, "--format", "json"]);
        run.code(2);
        let doc: ErrorDocument = run.json();
        assert_eq!(doc.schema_version, 1);
        assert_eq!(doc.command, command);
        assert_eq!(doc.error.kind, "invalid-input");
        let found: Vec<(usize, usize, &str)> = doc
            .error
            .diagnostics
            .iter()
            .map(|d| (d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(found, expected);
        assert!(
            doc.error
                .diagnostics
                .iter()
                .all(|d| d.file == "resources.toml")
        );
    }
}

#[test]
fn syntax_errors_point_at_the_text() {
    let ctx = TestContext::new();
    ctx.write_manifest("[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"https://e.org/a\npurpose = \"x\"\n");
    let run = ctx.crp(&["plan"]);
    run.code(2);
    assert!(run.stderr.contains("invalid TOML"), "{run}");
    assert!(run.stderr.contains("--> resources.toml:5:26"), "{run}");
}

#[test]
fn bad_values_in_project_and_sizes() {
    let ctx = TestContext::new();
    ctx.write_manifest(
        r#"[project]
name = "Demo Project"
link_mode = "softlink"
link_dir = "/abs"

[resources.a]
source = "https://e.org/a"
size = -3
purpose = "a"

[resources.b]
source = "magnet:?xt=urn:btih:nothex"
purpose = "b"
"#,
    );
    let run = ctx.crp(&["plan"]);
    run.code(2);
    for location in ["2:8", "3:13", "4:12", "8:8", "12:10"] {
        assert!(
            run.stderr.contains(&format!("resources.toml:{location}")),
            "missing {location}\n{run}"
        );
    }
    assert!(run.stderr.contains("a size cannot be negative"), "{run}");
    assert!(run.stderr.contains("`link_dir` must be relative"), "{run}");
    assert!(run.stderr.contains("invalid magnet link"), "{run}");
}

#[test]
fn a_missing_project_table_and_a_missing_manifest() {
    let ctx = TestContext::new();
    ctx.write_manifest("[resources.a]\nsource = \"a.bin\"\npurpose = \"a\"\n");
    let run = ctx.crp(&["plan"]);
    run.code(2);
    assert!(run.stderr.contains("missing `[project]` table"), "{run}");
    assert!(run.stderr.contains("--> resources.toml:1:1"), "{run}");

    std::fs::remove_file(ctx.manifest_path()).unwrap();
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(
        run.stderr.contains("no manifest at `resources.toml`"),
        "{run}"
    );
    assert!(run.stderr.contains("crp init"), "{run}");
}

#[test]
fn locked_requires_every_hash() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("data/a.bin", b"aaa");
    ctx.write_file("data/b.bin", b"bbb");
    let text = format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{digest}\"\npurpose = \"a\"\n\n[resources.b]\nsource = \"data/b.bin\"\npurpose = \"b\"\n"
    );
    ctx.write_manifest(&text);
    let run = ctx.crp(&["sync", "--locked"]);
    run.code(2);
    assert!(run.stderr.contains("--> resources.toml:9:12"), "{run}");
    assert!(run.stderr.contains("resource `b` has no `sha256`"), "{run}");
    assert!(!ctx.store.exists(), "nothing may be written");
    assert_eq!(ctx.read_manifest(), text);
}
