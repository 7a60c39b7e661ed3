//! `crp sync` end to end over HTTP and local sources: what lands in the
//! store, in the project and in the records.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crp::digest::Sha256Digest;
use crp::store::record::ProjectRecord;

use crate::common::{Run, TestContext, bytes, files_under};
use crate::server::{Behavior, Server};

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> T {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn project_records(ctx: &TestContext) -> Vec<ProjectRecord> {
    files_under(&ctx.store.join("meta/projects"))
        .iter()
        .map(|p| read_json(p))
        .collect()
}

/// A project with one HTTP resource and one local file.
fn two_resources(ctx: &TestContext, server: &Server) -> (Vec<u8>, Sha256Digest, Sha256Digest) {
    let remote = bytes(1, 300_000);
    let remote_digest = Sha256Digest::of_bytes(&remote);
    server.route("pico-8.zip", remote.clone(), Behavior::Normal);
    let local_digest = ctx.write_file("data/notes.txt", b"field notes\n");
    ctx.write_manifest(&format!(
        r#"[project]
name = "barkour"

[resources.pico-8]
source = "{}"
sha256 = "{remote_digest}"
size = 300000
purpose = "PICO-8 fantasy console"
requested_by = "chat"

[resources.notes]
source = "data/notes.txt"
sha256 = "{local_digest}"
purpose = "notes"
"#,
        server.url("pico-8.zip")
    ));
    (remote, remote_digest, local_digest)
}

#[test]
fn fresh_sync_fetches_verifies_links_and_records() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (remote, remote_digest, local_digest) = two_resources(&ctx, &server);

    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stdout.contains("fetched      pico-8"), "{run}");
    assert!(run.stdout.contains("synced `barkour`: 2 fetched"), "{run}");

    // Objects: named by digest, read-only, exactly the bytes.
    for (digest, content) in [
        (remote_digest, remote.as_slice()),
        (local_digest, b"field notes\n".as_slice()),
    ] {
        let object = ctx.object(&digest);
        assert_eq!(std::fs::read(&object).unwrap(), content);
        assert_eq!(
            std::fs::metadata(&object).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }
    assert_eq!(ctx.objects().len(), 2);
    assert!(ctx.incomplete().is_empty());

    // Links: symlinks into the store, in `resources/`, which git ignores.
    assert_eq!(
        std::fs::read_link(ctx.link("pico-8")).unwrap(),
        ctx.object(&remote_digest)
    );
    assert_eq!(std::fs::read(ctx.link("notes")).unwrap(), b"field notes\n");
    assert_eq!(
        std::fs::read_to_string(ctx.project.join("resources/.gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );

    // Records: what each object is, who uses it, and what the project references.
    let record = ctx.object_record(&remote_digest);
    assert_eq!(record.size, 300_000);
    assert_eq!(record.source, server.url("pico-8.zip"));
    assert_eq!(record.purpose, "PICO-8 fantasy console");
    assert_eq!(record.requested_by.as_deref(), Some("chat"));
    assert!(record.http.as_ref().and_then(|h| h.etag.as_ref()).is_some());
    assert_eq!(record.projects.len(), 1);
    assert_eq!(record.projects[0].project.as_str(), "barkour");
    assert_eq!(record.projects[0].resource.as_str(), "pico-8");
    assert_eq!(
        record.projects[0].manifest,
        ctx.manifest_path().canonicalize().unwrap()
    );
    let projects = project_records(&ctx);
    assert_eq!(projects.len(), 1);
    let project = &projects[0];
    assert_eq!(
        project.manifest,
        ctx.manifest_path().canonicalize().unwrap()
    );
    assert_eq!(project.resources.len(), 2);
    assert_eq!(
        project
            .resources
            .values()
            .map(|r| r.sha256)
            .collect::<Vec<_>>(),
        vec![local_digest, remote_digest]
    );
}

/// A file's path, size, inode, mode, and modification and change times.
type Stamp = (std::path::PathBuf, u64, u64, u32, i64, i64, i64, i64);

/// Every entry under `dir` with its [`Stamp`], symbolic links not followed.
fn stamps(dir: &std::path::Path) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            out.push((
                entry.path(),
                meta.len(),
                meta.ino(),
                meta.mode(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn second_sync_does_nothing_and_reads_no_bytes() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (_, remote_digest, _) = two_resources(&ctx, &server);
    ctx.crp(&["sync"]).success();
    let requests = server.log().len();
    let record_path = files_under(&ctx.store.join("meta/projects"))[0].clone();
    let before = std::fs::metadata(&record_path).unwrap().modified().unwrap();
    let object_atime = std::fs::metadata(ctx.object(&remote_digest))
        .unwrap()
        .atime();

    // Every file of the store and the project as it is, and what the sync
    // opens, traced.
    let before_all = (stamps(&ctx.store), stamps(&ctx.project));
    let trace = ctx.root.path().join("trace.txt");
    let run = Run::from(
        std::process::Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
            .arg(&trace)
            .arg(ctx.command().get_program())
            .arg("sync")
            .envs(ctx.command().get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env_remove("LD_PRELOAD")
            .current_dir(&ctx.project)
            .output()
            .expect("strace runs (`.ci/run` installs it)"),
        &ctx,
    );
    run.success();
    assert_eq!(run.stdout.trim(), "synced `barkour`: 2 up to date");
    assert_eq!(server.log().len(), requests, "a no-op sync made requests");
    // No object's bytes were opened, let alone read...
    let opened = std::fs::read_to_string(&trace).unwrap();
    let objects = ctx.store.join("objects/sha256").display().to_string();
    assert!(
        !opened.contains(&objects),
        "a no-op sync opened objects:\n{opened}"
    );
    // ...and nothing anywhere was written, renamed, touched or made, but
    // the notes in the lock files it took (who holds them, for waiters).
    let unlocked = |mut stamps: Vec<Stamp>| {
        stamps.retain(|s| !s.0.starts_with(ctx.store.join("meta/locks")));
        stamps
    };
    assert_eq!(
        (unlocked(stamps(&ctx.store)), stamps(&ctx.project)),
        (unlocked(before_all.0), before_all.1),
        "a no-op sync changed files"
    );
    assert_eq!(
        std::fs::metadata(&record_path).unwrap().modified().unwrap(),
        before,
        "the record was rewritten"
    );
    assert_eq!(
        std::fs::metadata(ctx.object(&remote_digest))
            .unwrap()
            .atime(),
        object_atime
    );

    let plan = ctx.crp(&["plan"]);
    plan.success();
    assert_eq!(
        plan.stdout,
        "  up to date   pico-8\n  up to date   notes\n`barkour` is up to date (2 resources)\n"
    );
}

#[test]
fn removal_from_the_manifest_unlinks_but_keeps_the_object() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (_, remote_digest, local_digest) = two_resources(&ctx, &server);
    ctx.crp(&["sync"]).success();

    let text = ctx.read_manifest();
    let cut = text.find("[resources.notes]").unwrap();
    ctx.write_manifest(&text[..cut]);
    let plan = ctx.crp(&["plan"]);
    plan.success();
    assert!(
        plan.stdout
            .contains("  unlink       notes   resources/notes"),
        "{plan}"
    );

    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stdout.contains("unlinked     notes"), "{run}");
    assert!(std::fs::symlink_metadata(ctx.link("notes")).is_err());
    assert!(ctx.link("pico-8").exists());
    // The object stays in the shared store; the project no longer references it.
    assert!(ctx.object(&local_digest).exists());
    assert!(ctx.object_record(&local_digest).projects.is_empty());
    assert_eq!(ctx.object_record(&remote_digest).projects.len(), 1);
    let project = &project_records(&ctx)[0];
    assert_eq!(
        project
            .resources
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        ["pico-8"]
    );
}

#[test]
fn files_crp_did_not_make_are_never_touched() {
    let ctx = TestContext::new();
    let a = ctx.write_file("data/a.bin", b"a");
    let b = ctx.write_file("data/b.bin", b"b");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{a}\"\npurpose = \"a\"\n\n[resources.b]\nsource = \"data/b.bin\"\nsha256 = \"{b}\"\npurpose = \"b\"\n"
    ));
    // Someone's own file where `a` should be linked.
    ctx.write_file("resources/a", b"mine");
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("conflict     a"), "{run}");
    assert!(run.stdout.contains("a file crp did not make"), "{run}");
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), b"mine");
    assert!(ctx.object(&a).exists(), "the object is still fetched");
    assert_eq!(std::fs::read(ctx.link("b")).unwrap(), b"b");

    // `b`'s link replaced by a file, then `b` leaves the manifest: the file stays.
    std::fs::remove_file(ctx.link("b")).unwrap();
    std::fs::write(ctx.link("b"), b"edited").unwrap();
    std::fs::remove_file(ctx.link("a")).unwrap();
    let text = ctx.read_manifest();
    ctx.write_manifest(&text[..text.find("[resources.b]").unwrap()]);
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("conflict     b"), "{run}");
    assert_eq!(std::fs::read(ctx.link("b")).unwrap(), b"edited");
    assert!(ctx.link("a").exists());
    // The conflict is reported once: crp forgets a link that is no longer its own.
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("b")).unwrap(), b"edited");
}

#[test]
fn trust_on_first_use_pins_only_the_one_entry() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(7, 5000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("tool.tar.gz", content.clone(), Behavior::Normal);
    let pinned = ctx.write_file("data/pinned.txt", b"pinned");
    let text = format!(
        r#"# Game resources: keep this comment.
[project]
name = "barkour"   # the game

[resources.tool]
# The tool, no hash yet.
source = "{url}"   # upstream
purpose = "build tool"
requested_by = "chat"

[resources.pinned]
source = "data/pinned.txt"
sha256 = "{pinned}"
purpose = "already pinned"
"#,
        url = server.url("tool.tar.gz")
    );
    ctx.write_manifest(&text);
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "pinned       tool    sha256 = \"{digest}\", size = 5000 written to `resources.toml`"
        )),
        "{run}"
    );
    let expected = text.replace(
        "   # upstream\n",
        &format!("   # upstream\nsha256 = \"{digest}\"\nsize = 5000\n"),
    );
    assert_eq!(ctx.read_manifest(), expected);
    assert_eq!(std::fs::read(ctx.link("tool")).unwrap(), content);
    // Pinned now: a locked sync accepts it, and nothing is fetched again.
    let requests = server.log().len();
    ctx.crp(&["sync", "--locked"]).success();
    assert_eq!(server.log().len(), requests);
}

#[test]
fn offline_links_what_is_there_and_lists_what_is_missing() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (_, remote_digest, local_digest) = two_resources(&ctx, &server);
    let run = ctx.crp(&["sync", "--offline"]);
    run.code(1);
    assert!(run.stdout.contains("missing      pico-8"), "{run}");
    assert!(run.stdout.contains("missing      notes"), "{run}");
    assert!(server.log().is_empty(), "offline touched the network");
    assert!(ctx.objects().is_empty());

    // With one object present, offline links it and still reports the other.
    ctx.crp(&["sync"]).success();
    let requests = server.log().len();
    std::fs::remove_file(ctx.link("notes")).unwrap();
    std::fs::remove_file(ctx.link("pico-8")).unwrap();
    std::fs::remove_file(ctx.object(&remote_digest)).unwrap();
    let run = ctx.crp(&["sync", "--offline"]);
    run.code(1);
    assert!(run.stdout.contains("linked       notes"), "{run}");
    assert!(run.stdout.contains("missing      pico-8"), "{run}");
    assert!(
        run.stdout
            .contains("sync of `barkour` incomplete: 1 missing; 1 linked"),
        "{run}"
    );
    assert_eq!(
        std::fs::read_link(ctx.link("notes")).unwrap(),
        ctx.object(&local_digest)
    );
    assert_eq!(server.log().len(), requests, "offline touched the network");
}

#[test]
fn dry_run_is_the_plan_and_writes_nothing() {
    let ctx = TestContext::new();
    let server = Server::start();
    two_resources(&ctx, &server);
    let plan = ctx.crp(&["plan"]);
    plan.success();
    let dry = ctx.crp(&["sync", "--dry-run"]);
    dry.success();
    assert_eq!(plan.stdout, dry.stdout);
    let port = server.port();
    assert_eq!(
        plan.stdout.replace(&port.to_string(), "PORT"),
        "  fetch        pico-8   293.0 KiB  http://127.0.0.1:PORT/pico-8.zip  (auto-approved)\n  fetch        notes   size unknown  data/notes.txt  (auto-approved)\nplan for `barkour`: 2 to fetch (293.0 KiB)\n"
    );
    assert!(!ctx.store.exists());
    assert!(!ctx.project.join("resources").exists());
    assert!(server.log().is_empty());
}

#[test]
fn hardlink_and_copy_modes() {
    for mode in ["hardlink", "copy"] {
        let ctx = TestContext::new();
        let digest = ctx.write_file("data/a.bin", b"content");
        ctx.write_manifest(&format!(
            "[project]\nname = \"demo\"\nlink_mode = \"{mode}\"\nlink_dir = \"deps\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{digest}\"\npurpose = \"a\"\n"
        ));
        ctx.crp(&["sync"]).success();
        let link = ctx.project.join("deps/a");
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.is_file(), "{mode}");
        let object = std::fs::metadata(ctx.object(&digest)).unwrap();
        assert_eq!(meta.ino() == object.ino(), mode == "hardlink", "{mode}");
        assert_eq!(std::fs::read(&link).unwrap(), b"content");
        let run = ctx.crp(&["sync"]);
        run.success();
        assert!(run.stdout.contains("1 up to date"), "{mode}: {run}");

        // Switching back to symlinks replaces crp's own file.
        let text = ctx
            .read_manifest()
            .replace(&format!("link_mode = \"{mode}\"\n"), "");
        ctx.write_manifest(&text);
        let run = ctx.crp(&["sync"]);
        run.success();
        assert!(run.stdout.contains("relinked     a"), "{mode}: {run}");
        assert_eq!(std::fs::read_link(&link).unwrap(), ctx.object(&digest));
    }
}

#[test]
fn a_new_hash_relinks() {
    let ctx = TestContext::new();
    let old = ctx.write_file("data/v1.bin", b"version 1");
    let new = ctx.write_file("data/v2.bin", b"version 2");
    let manifest = |file: &str, digest: &Sha256Digest| {
        format!(
            "[project]\nname = \"demo\"\n\n[resources.tool]\nsource = \"data/{file}\"\nsha256 = \"{digest}\"\npurpose = \"a tool\"\n"
        )
    };
    ctx.write_manifest(&manifest("v1.bin", &old));
    ctx.crp(&["sync"]).success();
    ctx.write_manifest(&manifest("v2.bin", &new));
    let plan = ctx.crp(&["plan"]);
    assert!(plan.stdout.contains("  fetch        tool"), "{plan}");
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stdout.contains("relinked     tool"), "{run}");
    assert_eq!(std::fs::read(ctx.link("tool")).unwrap(), b"version 2");
    assert!(ctx.object_record(&old).projects.is_empty());
    assert_eq!(ctx.object_record(&new).projects.len(), 1);
}

#[test]
fn a_folder_that_is_not_a_store_is_refused() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("data/a.bin", b"a");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{digest}\"\npurpose = \"a\"\n"
    ));
    let elsewhere = ctx.root.path().join("photos");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("holiday.jpg"), b"jpeg").unwrap();
    let run = ctx.crp(&["sync", "--store", elsewhere.to_str().unwrap()]);
    run.code(2);
    assert!(run.stderr.contains("is not a crp store"), "{run}");
    assert_eq!(files_under(&elsewhere).len(), 1);
    // Every command that reads a store refuses it, and a file, alike:
    // those that only read, too, rather than show an empty store.
    let file = elsewhere.join("holiday.jpg");
    for (path, says) in [
        (&elsewhere, "is not a crp store"),
        (&file, "is not a folder, so it cannot be a store"),
    ] {
        let store = path.to_str().unwrap();
        for args in [
            &["status"][..],
            &["verify"],
            &["pending"],
            &["remote", "list"],
            &["policy", "show"],
            &["dag"],
            &["metrics"],
            &["show", "a"],
            &["push"],
            &["status", "--remote"],
            &["hook", "torrent-done", "--info-hash", &"ab".repeat(20)],
            &["diff", "resources.toml"],
        ] {
            let run = ctx.crp(&[args, &["--store", store]].concat());
            run.code(2);
            assert!(run.stderr.contains(says), "{args:?}: {run}");
        }
    }
    assert_eq!(files_under(&elsewhere).len(), 1);
    // Nor is a store made where there was none, by the hook a daemon runs.
    let nowhere = ctx.root.path().join("nowhere");
    let run = ctx.crp(&[
        "hook",
        "torrent-done",
        "--info-hash",
        &"ab".repeat(20),
        "--store",
        nowhere.to_str().unwrap(),
    ]);
    run.code(2);
    assert!(run.stderr.contains("there is no store at"), "{run}");
    assert!(!nowhere.exists());
    // An info-hash given is checked before anything else.
    let run = ctx.crp(&["hook", "torrent-done", "--info-hash", "zz"]);
    run.code(2);
    assert!(run.stderr.contains("`zz` is not an info-hash"), "{run}");

    // The default store is the collective's conventional place under home.
    let status = ctx
        .command()
        .env_remove("CRP_STORE")
        .arg("sync")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        ctx.home
            .join("infrastructure/shared-resources")
            .join(digest_path(&digest))
            .is_file()
    );
}

fn digest_path(digest: &Sha256Digest) -> String {
    let hex = digest.hex();
    format!("objects/sha256/{}/{hex}", &hex[..2])
}

#[test]
fn resources_sharing_content_are_fetched_once_and_linked_twice() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(12, 4000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("one.bin", content.clone(), Behavior::Normal);
    server.route("two.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.one]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"one\"\n\n[resources.two]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"two\"\n",
        server.url("one.bin"),
        server.url("two.bin")
    ));
    ctx.crp(&["sync"]).success();
    assert_eq!(server.log().len(), 1);
    assert_eq!(std::fs::read(ctx.link("one")).unwrap(), content);
    assert_eq!(std::fs::read(ctx.link("two")).unwrap(), content);
    let mut uses: Vec<String> = ctx
        .object_record(&digest)
        .projects
        .iter()
        .map(|u| u.resource.to_string())
        .collect();
    uses.sort();
    assert_eq!(uses, ["one", "two"]);
}

#[test]
fn quiet_and_colour() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("data/a.bin", b"a");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"data/a.bin\"\nsha256 = \"{digest}\"\npurpose = \"a\"\n"
    ));
    let run = ctx.crp(&["sync", "-q"]);
    run.success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));

    // Errors still show with -q; colours only when asked for, off a terminal.
    ctx.write_manifest("[project]\nname = \"Bad\"\n");
    let run = ctx.crp(&["plan", "-q"]);
    run.code(2);
    assert!(run.stderr.contains("invalid `name`"), "{run}");
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
    let run = ctx.crp(&["plan", "--color", "always"]);
    assert!(run.stderr.contains("\u{1b}["), "{run}");
    let run = Run::from(
        ctx.command()
            .env_remove("NO_COLOR")
            .args(["plan", "--color", "never"])
            .output()
            .unwrap(),
        &ctx,
    );
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
}
