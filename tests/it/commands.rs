//! `init`, `add`, `hash`, `status`, `schema` and the help text.

use std::path::Path;

use crp::digest::Sha256Digest;
use crp::manifest::Manifest;

use crate::common::{TestContext, bytes, local_manifest};
use crate::server::{Behavior, Server};

#[test]
fn init_writes_a_valid_commented_manifest() {
    let ctx = TestContext::new();
    let run = ctx.crp(&["init"]);
    run.success();
    assert!(
        run.stdout
            .contains("created `resources.toml` for project `project`"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("and `resources.schema.json` beside it for editors"),
        "{run}"
    );
    let text = ctx.read_manifest();
    let first = text.lines().next().unwrap();
    assert_eq!(first, "#:schema resources.schema.json");
    // The schema it points at is beside it, to commit with it: nothing
    // names a path of this machine, and no store was needed.
    let schema = ctx.project.join(first.trim_start_matches("#:schema "));
    assert_eq!(
        std::fs::read_to_string(schema).unwrap(),
        crp::manifest::schema::json_schema()
    );
    for machine in [&ctx.root.path().to_path_buf(), &ctx.home, &ctx.store] {
        let machine = machine.display().to_string();
        assert!(!text.contains(&machine), "{text}");
    }
    assert!(!text.contains(" /") && !text.contains("\"/"), "{text}");
    assert!(!ctx.store.exists(), "init needs no store");
    let manifest = Manifest::from_text(Path::new("resources.toml"), text.clone()).unwrap();
    assert_eq!(manifest.project.name.as_str(), "project");
    assert!(manifest.resources.is_empty());
    assert!(text.contains("# [resources.example-data]"), "{text}");

    // Never over an existing manifest.
    let run = ctx.crp(&["init"]);
    run.code(2);
    assert!(
        run.stderr.contains("`resources.toml` already exists"),
        "{run}"
    );
    assert_eq!(ctx.read_manifest(), text);

    // Added resources go after the template's closing comments.
    ctx.write_file("notes.txt", b"notes");
    ctx.crp(&["add", "notes.txt", "--purpose", "notes"])
        .success();
    let added = ctx.read_manifest();
    assert!(added.starts_with(&text), "{added}");
    assert!(
        added[text.len()..].starts_with("\n[resources.\"notes.txt\"]\n"),
        "{added}"
    );

    let run = ctx.crp(&["init", "--manifest", "other.toml", "--name", "Bad Name"]);
    run.code(2);
    assert!(
        run.stderr.contains("invalid project name `Bad Name`"),
        "{run}"
    );
    assert!(!ctx.project.join("other.toml").exists());
}

#[test]
fn add_fetches_and_appends_keeping_comments() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(40, 12_345);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("dl/Pico-8_0.2.7.zip", content.clone(), Behavior::Normal);
    let original = "# my project\n[project]\nname = \"barkour\" # the game\n";
    ctx.write_manifest(original);

    let url = server.url("dl/Pico-8_0.2.7.zip");
    let run = ctx.crp(&[
        "add",
        &url,
        "--purpose",
        "PICO-8 for development",
        "--requested-by",
        "chat",
    ]);
    run.success();
    assert!(
        run.stdout.contains("added `pico-8_0.2.7.zip` (12.1 KiB"),
        "{run}"
    );
    let entry = format!(
        "[resources.\"pico-8_0.2.7.zip\"]\nsource = \"{url}\"\nsha256 = \"{digest}\"\nsize = 12345\npurpose = \"PICO-8 for development\"\nrequested_by = \"chat\"\n"
    );
    assert_eq!(ctx.read_manifest(), format!("{original}\n{entry}"));
    // What was written is shown, line by line.
    for line in entry.lines() {
        assert!(run.stdout.contains(&format!("\n  {line}\n")), "{run}");
    }
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    // Its lifecycle is logged like a sync's.
    let states: Vec<&str> = ctx.events().iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(
        states,
        [
            "requested",
            "evaluating",
            "approved",
            "downloading",
            "verifying",
            "available"
        ]
    );
    // It is declared and in the store: sync only links it.
    let requests = server.log().len();
    let run = ctx.crp(&["sync", "--locked"]);
    run.success();
    assert!(run.stdout.contains("linked"), "{run}");
    assert_eq!(server.log().len(), requests);

    // The same name again is refused, and nothing changes.
    let before = ctx.read_manifest();
    let run = ctx.crp(&["add", &url, "--purpose", "again"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("already has a resource `pico-8_0.2.7.zip`"),
        "{run}"
    );
    assert!(
        run.stderr.contains("`crp update pico-8_0.2.7.zip`"),
        "{run}"
    );
    assert_eq!(ctx.read_manifest(), before);

    // A program is declared as one.
    let script = b"#!/bin/sh\necho built\n".to_vec();
    server.route("build.sh", script, Behavior::Normal);
    ctx.crp(&["add", &server.url("build.sh"), "--purpose", "build script"])
        .success();
    assert!(
        ctx.read_manifest()
            .ends_with("purpose = \"build script\"\nexecutable = true\n"),
        "{}",
        ctx.read_manifest()
    );
    ctx.crp(&["sync", "--locked"]).success();
    let before = ctx.read_manifest();

    // A wrong `--sha256` fails the download and leaves the manifest alone.
    let wrong = Sha256Digest::of_bytes(b"no");
    let run = ctx.crp(&[
        "add",
        &url,
        "--name",
        "other",
        "--purpose",
        "x",
        "--sha256",
        &wrong.hex(),
    ]);
    run.code(1);
    assert!(run.stderr.contains("sha256 mismatch"), "{run}");
    assert_eq!(ctx.read_manifest(), before);

    // A local file is written relative to the manifest's folder.
    std::fs::create_dir_all(ctx.project.join("sub")).unwrap();
    let run = ctx.crp(&["add", "sub", "--purpose", "a folder"]);
    run.code(2);
    assert!(
        run.stderr.contains("is a folder; a source is one file"),
        "{run}"
    );
    ctx.write_file("data/local.bin", b"local");
    let status = ctx
        .command()
        .current_dir(ctx.project.join("sub"))
        .args([
            "--manifest",
            "../resources.toml",
            "add",
            "../data/local.bin",
            "--purpose",
            "local",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        ctx.read_manifest()
            .contains("[resources.\"local.bin\"]\nsource = \"data/local.bin\""),
        "{}",
        ctx.read_manifest()
    );
}

#[test]
fn hash_prints_what_the_manifest_expects() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("a.bin", &bytes(41, 1000));
    let run = ctx.crp(&["hash", "a.bin"]);
    run.success();
    assert_eq!(run.stdout, format!("{digest}\n"));
    let run = ctx.crp(&["hash", "missing.bin"]);
    run.code(2);
    assert!(run.stderr.contains("no file at `missing.bin`"), "{run}");
}

#[test]
fn status_shows_presence_and_links() {
    let ctx = TestContext::new();
    let a = ctx.write_file("data/a.bin", &bytes(42, 2048));
    let missing = Sha256Digest::of_bytes(b"not anywhere");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{a}\"\npurpose = \"a\"\n\n[resources.gone]\nsource = \"data/gone.bin\"\nsha256 = \"{missing}\"\nsize = 5\npurpose = \"gone\"\n\n[resources.new]\nsource = \"data/new.bin\"\npurpose = \"new\"\n"
    ));
    let run = ctx.crp(&["status"]);
    run.success();
    assert!(!ctx.store.exists(), "status must not create the store");
    ctx.crp(&["sync"]).code(1);
    let run = ctx.crp(&["status"]);
    run.success();
    assert_eq!(
        run.stdout,
        format!(
            "RESOURCE     SIZE  SHA256        STORE    LINK\n\
             a         2.0 KiB  {}  present  linked\n\
             gone          5 B  {}  missing  not linked\n\
             new             -  (not pinned)  missing  not linked\n",
            a.short(),
            missing.short()
        )
    );
}

#[test]
fn schema_matches_the_committed_file() {
    let ctx = TestContext::new();
    let run = ctx.crp(&["schema"]);
    run.success();
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/resources.schema.json"),
    )
    .expect("schema/resources.schema.json exists");
    if run.stdout != committed {
        let diff = similar::TextDiff::from_lines(&committed, &run.stdout);
        panic!(
            "schema/resources.schema.json is out of date; regenerate it with `cargo run -- schema > schema/resources.schema.json`\n{}",
            diff.unified_diff().header("committed", "generated")
        );
    }
}

#[test]
fn help_documents_exit_codes() {
    let ctx = TestContext::new();
    let run = ctx.crp(&["--help"]);
    run.success();
    assert!(
        run.stdout
            .contains("Exit codes: 0 success; 1 the work could not be completed; 2 invalid input."),
        "{run}"
    );
    let run = ctx.crp(&["sync", "--jobs", "0"]);
    run.code(2);
}

/// What bash offers after `words`, with crp's completion script loaded.
fn bash_completes(ctx: &TestContext, words: &[&str]) -> Vec<String> {
    let script = ctx.crp(&["completions", "bash"]);
    script.success();
    let path = ctx.root.path().join("crp.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let words_list = words.join(" ");
    let program = format!(
        "source {path}; COMP_WORDS=({words_list}); COMP_CWORD={cword}; _crp crp {cur} {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path = path.display(),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn completions_are_generated_for_each_shell_and_bash_completes_with_them() {
    let ctx = TestContext::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = ctx.crp(&["completions", shell]);
        run.success();
        for word in ["sync", "status", "locked", "format"] {
            assert!(
                run.stdout.contains(word),
                "{shell} completion lacks `{word}`\n{run}"
            );
        }
    }
    assert_eq!(bash_completes(&ctx, &["crp", "sy"]), ["sync"]);
    assert_eq!(bash_completes(&ctx, &["crp", "sync", "--lo"]), ["--locked"]);
    // A shell clap does not know is a usage error.
    ctx.crp(&["completions", "tcsh"]).code(2);
}

#[test]
fn the_man_page_is_roff_with_every_subcommand() {
    let ctx = TestContext::new();
    let run = ctx.crp(&["man"]);
    run.success();
    assert!(run.stdout.contains(".TH crp 1"), "{run}");
    for subcommand in ["sync", "status", "drift", "diff", "completions"] {
        assert!(
            run.stdout.contains(&format!("crp\\-{subcommand}")),
            "the man page lacks `{subcommand}`"
        );
    }
    ctx.crp(&["man", "--format", "json"]).code(2);
    // Each page the main one lists is there.
    for subcommand in ["sync", "update", "policy"] {
        let run = ctx.crp(&["man", subcommand]);
        run.success();
        assert!(
            run.stdout.contains(&format!(".TH crp-{subcommand} 1")),
            "{run}"
        );
        assert!(run.stdout.contains("\\fB\\-\\-store\\fR"), "{run}");
        assert!(run.stdout.contains("Examples:"), "{run}");
    }
    let run = ctx.crp(&["man", "bogus"]);
    run.code(2);
    assert!(run.stderr.contains("crp has no command `bogus`"), "{run}");
}

#[test]
fn without_user_or_logname_the_actor_is_the_system_user_name() {
    let ctx = TestContext::new();
    ctx.write_file("files/a.txt", b"a\n");
    ctx.write_manifest(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"files/a.txt\"\npurpose = \"x\"\n",
    );
    // The test context passes neither `USER` nor `LOGNAME`, as CI containers.
    ctx.crp(&["sync"]).success();
    let expected = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let expected = String::from_utf8(expected.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let events = ctx.events();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.actor == expected),
        "{:?}",
        events.iter().map(|e| &e.actor).collect::<Vec<_>>()
    );
}

#[test]
fn color_never_keeps_escape_codes_out_of_the_debug_log_too() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(41, 5_000);
    server.route("d.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.d]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"x\"\n",
        server.url("d.bin"),
        Sha256Digest::of_bytes(&content).hex()
    ));
    // Each run downloads into a store of its own, so there is a log to see.
    let run = |store: &str, args: &[&str]| {
        let _ = std::fs::remove_dir_all(ctx.project.join("resources"));
        let out = ctx
            .command()
            .env_remove("NO_COLOR") // which the test context sets
            .env("CRP_STORE", ctx.root.path().join(store))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // `never`, and `auto` on what is not a terminal, colour nothing.
    for (store, args) in [
        ("never", &["-vv", "--color", "never", "sync"][..]),
        ("auto", &["-vv", "sync"][..]),
    ] {
        let (stdout, stderr) = run(store, args);
        assert!(
            stderr.contains("DEBUG") || stderr.contains("TRACE"),
            "no debug log:\n{stderr}"
        );
        assert!(
            !stdout.contains('\x1b') && !stderr.contains('\x1b'),
            "{stderr}"
        );
    }
    // And `always` is obeyed.
    let (_, stderr) = run("always", &["-vv", "--color", "always", "sync"]);
    assert!(stderr.contains('\x1b'), "{stderr}");
}

#[test]
fn color_never_holds_for_clap_s_own_errors_and_help_on_a_terminal() {
    let ctx = TestContext::new();
    // On a terminal (`script` gives one), as a person sees them.
    let on_terminal = |args: &str| {
        let out = std::process::Command::new("script")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &ctx.home)
            .env("CRP_STORE", &ctx.store)
            .env("TERM", "xterm")
            .current_dir(&ctx.project)
            .args([
                "-qec",
                &format!("{} {args}", env!("CARGO_BIN_EXE_crp")),
                "/dev/null",
            ])
            .output()
            .expect("script runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for args in ["sync --bogus", "sync --help", "init --format dot"] {
        let coloured = on_terminal(args);
        assert!(coloured.contains('\x1b'), "{args}: {coloured}");
        for never in [
            format!("{args} --color never"),
            format!("--color=never {args}"),
        ] {
            let plain = on_terminal(&never);
            assert!(!plain.contains('\x1b'), "{never}: {plain}");
            assert!(plain.len() > 20, "{never}: {plain}");
        }
    }
}

/// A project of one local file, `a`, pinned; synced when `sync`.
fn one_file(content: &[u8], sync: bool) -> TestContext {
    let ctx = TestContext::new();
    local_manifest(&ctx, &[("a", content)]);
    if sync {
        ctx.crp(&["sync"]).success();
    }
    ctx
}

#[track_caller]
fn check_exits(ctx: &TestContext, code: i32) {
    let run = ctx.crp(&["status", "--check"]);
    run.code(code);
    // What fails says why, and what to do.
    assert_eq!(
        run.stderr
            .contains("note: not ready: 1 of 1 resource missing, not linked or not allowed"),
        code == 1,
        "{run}"
    );
    let json = ctx.crp(&["status", "--check", "--format", "json"]);
    json.code(code);
    let doc: serde_json::Value = json.json();
    assert_eq!(doc["ready"], serde_json::json!(code == 0), "{json}");
    // With `-q`, the exit code is the whole answer.
    let quiet = ctx.crp(&["status", "--check", "-q"]);
    quiet.code(code);
    assert!(quiet.stdout.is_empty(), "{quiet}");
    // Plain `status` only informs.
    ctx.crp(&["status"]).success();
}

#[test]
fn status_check_fails_for_every_state_that_is_not_ready() {
    // Ready: in the store, linked, allowed.
    let ctx = one_file(b"ready\n", true);
    check_exits(&ctx, 0);

    // Not linked.
    std::fs::remove_file(ctx.link("a")).unwrap();
    check_exits(&ctx, 1);
    // In conflict: someone else's file where the link goes.
    std::fs::write(ctx.link("a"), b"mine").unwrap();
    check_exits(&ctx, 1);

    // Missing from the store.
    let ctx = one_file(b"missing\n", false);
    check_exits(&ctx, 1);

    // Awaiting approval, then denied.
    let ctx = one_file(b"a resource over the limit\n", false);
    ctx.write_policy("[approval]\nlarger_than = \"1 B\"\n");
    ctx.crp(&["sync"]).code(1);
    check_exits(&ctx, 1);
    ctx.crp(&["deny", "a", "--by", "bob", "--reason", "no"])
        .success();
    check_exits(&ctx, 1);

    // Quarantined: executable content the manifest does not declare.
    let ctx = one_file(b"#!/bin/sh\necho hi\n", false);
    ctx.crp(&["sync"]).code(1);
    check_exits(&ctx, 1);
}

#[test]
fn a_format_a_command_lacks_is_named_with_those_it_has_in_words() {
    let ctx = TestContext::new();
    for (command, has) in [
        ("init", "text, json"),
        ("status", "text, json"),
        ("dag", "dot, text, json"),
        ("man", "text"),
    ] {
        // After the command, clap knows its formats.
        let run = ctx.crp(&[command, "--format", "markdown"]);
        run.code(2);
        assert!(run.stdout.is_empty(), "{run}");
        assert!(
            run.stderr
                .contains("invalid value 'markdown' for '--format <FORMAT>'"),
            "{run}"
        );
        assert!(
            run.stderr.contains(&format!("[possible values: {has}]")),
            "{run}"
        );
        // Before it, crp does.
        let run = ctx.crp(&["--format", "markdown", command]);
        run.code(2);
        assert!(run.stdout.is_empty(), "{run}");
        assert!(
            run.stderr
                .contains(&format!("`crp {command}` cannot write `--format markdown`")),
            "{run}"
        );
        let listed: Vec<String> = has.split(", ").map(|f| format!("`{f}`")).collect();
        assert!(
            run.stderr
                .contains(&format!("it writes {}", listed.join(", "))),
            "{run}"
        );
    }
    assert!(!ctx.manifest_path().exists(), "nothing was written");
}

#[test]
fn each_command_helps_with_its_own_formats_examples_and_no_required_global() {
    let ctx = TestContext::new();
    let cli = crp::cli::command(crp::cli::ColorChoice::Never);
    let mut paths: Vec<Vec<String>> = Vec::new();
    for sub in cli.get_subcommands() {
        let top = sub.get_name().to_owned();
        paths.push(vec![top.clone()]);
        for nested in sub.get_subcommands() {
            paths.push(vec![top.clone(), nested.get_name().to_owned()]);
        }
    }
    assert!(paths.len() > 25, "{paths:?}");
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = ctx.crp(&args);
        run.success();
        let help = &run.stdout;
        let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
        for global in ["--manifest", "--store", "--format", "--color", "--quiet"] {
            assert!(!usage.contains(global), "{path:?}: {usage}");
        }
        // `--format`'s entry names the formats the command writes, and no
        // other.
        if path.len() == 1 {
            assert!(help.contains("\nExamples:\n  crp "), "{path:?}: {help}");
        }
        assert!(help.contains("\nGlobal options:\n"), "{path:?}: {help}");
        let writes = crp::cli::formats(&path[0]);
        if writes.len() == 1 {
            assert!(!help.contains("--format"), "{path:?}: {help}");
            continue;
        }
        let start = help.find("--format <FORMAT>").expect("a --format entry");
        let end = start + help[start..].find("--quiet").unwrap();
        let entry =
            help[start..end].replace("Output format; `json` prints one versioned document", "");
        for format in [
            crp::cli::Format::Text,
            crp::cli::Format::Json,
            crp::cli::Format::Dot,
            crp::cli::Format::Prometheus,
            crp::cli::Format::Markdown,
        ] {
            let name = crp::cli::format_name(format);
            if writes.len() > 1 {
                assert_eq!(
                    entry.contains(name),
                    writes.contains(&format),
                    "{path:?}, {name}: {entry}"
                );
            } else {
                assert!(!entry.contains("possible values"), "{path:?}: {entry}");
            }
        }
    }
}

#[test]
fn remove_takes_entries_and_links_out_and_leaves_objects_and_the_rest() {
    let ctx = TestContext::new();
    let a = ctx.write_file("files/a.txt", b"a\n");
    ctx.write_file("files/b.txt", b"b\n");
    ctx.write_file("files/c.txt", b"c\n");
    let manifest = "# top\n[project]\nname = \"p\" # mine\n\n# the a\n[resources.a]\nsource = \"files/a.txt\"\npurpose = \"x\"\n\n# the b\n[resources.b]\nsource = \"files/b.txt\"\npurpose = \"y\"\n\n[resources.c]\nsource = \"files/c.txt\"\npurpose = \"z\"\nderived_from = [\"b\"]\n";
    ctx.write_manifest(manifest);
    ctx.crp(&["sync"]).success();
    let pinned = ctx.read_manifest();

    // Unknown names, and a name another entry derives from: nothing changes.
    let run = ctx.crp(&["remove", "a", "nope"]);
    run.code(2);
    assert!(run.stderr.contains("has no resource `nope`"), "{run}");
    let run = ctx.crp(&["remove", "b"]);
    run.code(2);
    assert!(run.stderr.contains("`c` is derived from `b`"), "{run}");
    assert!(run.stderr.contains("remove `c` too"), "{run}");
    assert_eq!(ctx.read_manifest(), pinned);
    assert!(ctx.link("a").exists() && ctx.link("b").exists());

    // A link the user deleted is made again on the way, and said so.
    std::fs::remove_file(ctx.link("b")).unwrap();
    let run = ctx.crp(&["remove", "a", "a"]);
    run.success();
    assert!(run.stdout.contains("unlinked     a  resources/a"), "{run}");
    assert!(run.stdout.contains("linked       b  resources/b"), "{run}");
    assert!(
        run.stdout
            .contains("removed `a` from `resources.toml`; its object stays"),
        "{run}"
    );
    // Only the entry's lines (and the comment above it) are gone.
    let expected = pinned.replace(
        &pinned[pinned.find("# the a").unwrap()..pinned.find("# the b").unwrap()],
        "",
    );
    assert_eq!(ctx.read_manifest(), expected);
    assert!(!ctx.link("a").exists());
    assert!(ctx.link("b").exists() && ctx.link("c").exists());
    assert!(ctx.object(&a).exists(), "the object stays for gc");
    ctx.crp(&["status", "--check"]).success();

    // Someone else's file where a link was is left alone.
    std::fs::remove_file(ctx.link("c")).unwrap();
    std::fs::write(ctx.link("c"), b"mine").unwrap();
    let run = ctx.crp(&["remove", "c", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["removed"], serde_json::json!(["c"]));
    assert_eq!(std::fs::read(ctx.link("c")).unwrap(), b"mine");
}

#[test]
fn gc_suggests_the_command_with_the_options_given() {
    let ctx = one_file(b"old\n", true);
    ctx.crp(&["remove", "a"]).success();
    let run = ctx.crp(&["gc", "--grace", "0s"]);
    run.success();
    assert!(
        run.stdout
            .contains("run `crp gc --apply --grace 0s` to collect them"),
        "{run}"
    );
    // With the store given, the suggestion names it too.
    let store = ctx.store.display().to_string();
    let run = ctx.crp(&["gc", "--store", &store, "--grace", "0s"]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "`crp gc --apply --store {} --grace 0s`",
            ctx.redact(&store)
        )),
        "{run}"
    );
}

#[test]
fn pinning_adding_removing_and_updating_keep_crlf_and_the_byte_order_mark() {
    let ctx = TestContext::new();
    let a = ctx.write_file("files/a.txt", b"a\n");
    let b = ctx.write_file("files/b.txt", b"b\n");
    let original = "\u{feff}# mine\r\n[project]\r\nname = \"p\"\r\n\r\n[resources.a]\r\nsource = \"files/a.txt\"\r\npurpose = \"x\" # keep\r\n";
    ctx.write_manifest(original);
    ctx.crp(&["sync"]).success();
    let pinned = ctx.read_manifest();
    assert_eq!(
        pinned,
        original.replace(
            "source = \"files/a.txt\"\r\n",
            &format!(
                "source = \"files/a.txt\"\r\nsha256 = \"{}\"\r\nsize = 2\r\n",
                a.hex()
            )
        )
    );
    ctx.crp(&["add", "files/b.txt", "--name", "b", "--purpose", "y"])
        .success();
    let added = ctx.read_manifest();
    assert!(added.starts_with(&pinned), "{added:?}");
    assert!(added.contains(&b.hex()));
    assert!(!added.replace("\r\n", "").contains('\n'), "{added:?}");
    ctx.crp(&["remove", "b"]).success();
    assert_eq!(ctx.read_manifest(), pinned);
    // And update: only the two values change.
    let a2 = ctx.write_file("files/a.txt", b"a, again\n");
    ctx.crp(&["update"]).success();
    assert_eq!(
        ctx.read_manifest(),
        pinned
            .replace(&a.hex(), &a2.hex())
            .replace("size = 2\r\n", "size = 9\r\n")
    );
}

#[test]
fn a_manifest_that_is_a_symbolic_link_is_edited_where_it_points() {
    let ctx = TestContext::new();
    ctx.write_file("files/a.txt", b"a\n");
    ctx.write_file("files/b.txt", b"b\n");
    let real = ctx.project.join("real.toml");
    std::fs::write(
        &real,
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"files/a.txt\"\npurpose = \"x\"\n\n[resources.b]\nsource = \"files/b.txt\"\npurpose = \"y\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("real.toml", ctx.manifest_path()).unwrap();
    ctx.crp(&["sync"]).success();
    ctx.crp(&["remove", "b"]).success();
    let link = std::fs::symlink_metadata(ctx.manifest_path()).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the manifest is still a link"
    );
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.contains("sha256 = "), "pinned where it points: {text}");
    assert!(
        !text.contains("[resources.b]"),
        "removed where it points: {text}"
    );
}

#[test]
fn gc_quotes_a_store_path_the_shell_would_split() {
    let ctx = one_file(b"old\n", false);
    let store = ctx.root.path().join("my st'ore");
    let store = store.display().to_string();
    ctx.crp(&["sync", "--store", &store]).success();
    ctx.crp(&["remove", "a", "--store", &store]).success();
    let run = ctx.crp(&["gc", "--store", &store, "--grace", "0s"]);
    run.success();
    let quoted = format!("'{}'", ctx.redact(&store).replace('\'', r"'\''"));
    assert!(
        run.stdout
            .contains(&format!("`crp gc --apply --store {quoted} --grace 0s`")),
        "{run}"
    );
    // The shell reads the suggestion back as the same path.
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("crp gc --apply"))
        .unwrap();
    let command = line
        .split('`')
        .nth(1)
        .unwrap()
        .replace("[ROOT]", &ctx.root.path().display().to_string());
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "set -- {}; printf '%s' \"$4\"",
                command.trim_start_matches("crp ")
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), store);
}

#[test]
fn the_manifest_is_found_in_the_nearest_folder_above() {
    let ctx = TestContext::new();
    let digests = local_manifest(&ctx, &[("a", b"a\n")]);
    let deeper = ctx.project.join("src/deeper");
    std::fs::create_dir_all(&deeper).unwrap();

    // From a subfolder, every command works on the project's manifest, and
    // links land in the project's link folder, not the current one.
    ctx.crp_in(&deeper, &["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), b"a\n");
    assert!(!deeper.join("resources").exists());
    let run = ctx.crp_in(&deeper, &["status", "--check", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["resources"][0]["sha256"], digests[0].hex());

    // `--manifest` still wins, and `init` writes where it runs.
    let run = ctx.crp_in(&deeper, &["status", "--manifest", "resources.toml"]);
    run.code(2);
    ctx.crp_in(&deeper, &["init", "--name", "inner"]).success();
    assert!(deeper.join("resources.toml").exists());
    assert!(ctx.read_manifest().contains("[resources.a]"));

    // Nowhere to be found: the hint says where crp looked.
    let lonely = tempfile::tempdir().unwrap();
    let run = ctx.crp_in(lonely.path(), &["status"]);
    run.code(2);
    assert!(
        run.stderr.contains(&format!(
            "crp looked for `resources.toml` in `{}` and every folder above it",
            lonely.path().display()
        )),
        "{run}"
    );
}

#[test]
fn short_hashes_grow_until_those_shown_are_told_apart() {
    let ctx = TestContext::new();
    let twin = |last: char| format!("{}{last}", "ab".repeat(31) + "c");
    let (a, b) = (twin('1'), twin('2'));
    let other = Sha256Digest::of_bytes(b"other").hex();
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"a.bin\"\nsha256 = \"{a}\"\npurpose = \"x\"\n\n[resources.b]\nsource = \"b.bin\"\nsha256 = \"{b}\"\npurpose = \"x\"\n"
    ));
    let run = ctx.crp(&["status"]);
    run.success();
    // Alike to their last digit: shown whole.
    assert!(run.stdout.contains(&a) && run.stdout.contains(&b), "{run}");
    // Told apart early: twelve digits.
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"a.bin\"\nsha256 = \"{a}\"\npurpose = \"x\"\n\n[resources.o]\nsource = \"o.bin\"\nsha256 = \"{other}\"\npurpose = \"x\"\n"
    ));
    let run = ctx.crp(&["status"]);
    assert!(run.stdout.contains(&format!("{}  ", &a[..12])), "{run}");
    assert!(!run.stdout.contains(&a[..13]), "{run}");
    assert!(
        run.stdout.contains(&other[..12]) && !run.stdout.contains(&other[..13]),
        "{run}"
    );
    // JSON always has the whole digest.
    let doc: serde_json::Value = ctx.crp(&["status", "--format", "json"]).json();
    assert_eq!(doc["resources"][0]["sha256"], a);
}

#[test]
fn removing_what_was_added_to_an_init_manifest_keeps_its_notes() {
    let ctx = TestContext::new();
    ctx.crp(&["init"]).success();
    let template = ctx.read_manifest();
    ctx.write_file("x.txt", b"x");
    ctx.write_file("y.txt", b"y");
    ctx.crp(&["add", "x.txt", "--purpose", "x"]).success();
    ctx.crp(&["add", "y.txt", "--purpose", "y"]).success();
    ctx.crp(&["remove", "x.txt"]).success();
    let text = ctx.read_manifest();
    assert!(text.starts_with(&template), "{text}");
    assert!(text.contains("[resources.\"y.txt\"]"), "{text}");
    ctx.crp(&["remove", "y.txt"]).success();
    assert_eq!(ctx.read_manifest(), template);
}

#[test]
fn commands_that_look_at_a_manifest_if_there_refuse_a_named_one_that_is_not() {
    let ctx = TestContext::new();
    local_manifest(&ctx, &[("a", b"alpha\n")]);
    ctx.crp(&["sync"]).success();
    // Each works from the store alone: without `--manifest`, from a folder
    // with no manifest, each succeeds.
    let elsewhere = ctx.root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let commands: [&[&str]; 3] = [
        &["show", "a"],
        &["verify", "--all"],
        &["drift", "--all-projects"],
    ];
    for args in commands {
        ctx.crp_in(&elsewhere, args).success();
    }
    // A manifest asked for by name is never quietly passed over, missing
    // or broken.
    std::fs::write(elsewhere.join("broken.toml"), "[project\n").unwrap();
    for named in ["missing.toml", "broken.toml"] {
        for args in commands {
            let args = [args, &["--manifest", named]].concat();
            let run = ctx.crp_in(&elsewhere, &args);
            run.code(2);
            assert!(run.stderr.contains(named), "{args:?}: {run}");
        }
    }
}
