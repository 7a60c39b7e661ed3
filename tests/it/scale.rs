//! Manifests of many resources: what a sync holds open does not grow with
//! them, and a sync killed at any moment leaves a store the next one
//! finishes.

use std::process::{Command, Stdio};
use std::time::Duration;

use crp::digest::Sha256Digest;

use crate::common::{Run, TestContext, bytes};
use crate::server::{Behavior, Server};

/// Content number `i`: distinct for every `i`.
fn content(i: usize, len: usize) -> Vec<u8> {
    let mut out = format!("resource {i}\n").into_bytes();
    out.extend(bytes((i % 251) as u8, len));
    out
}

/// `count` resources served by `server`, each `len` bytes and pinned; the
/// manifest's text and the digests.
fn served(server: &Server, count: usize, len: usize) -> (String, Vec<Sha256Digest>) {
    let mut manifest = String::from("[project]\nname = \"many\"\n");
    let mut digests = Vec::new();
    for i in 0..count {
        let bytes = content(i, len);
        let digest = Sha256Digest::of_bytes(&bytes);
        server.route(&format!("r{i}.bin"), bytes, Behavior::Normal);
        manifest.push_str(&format!(
            "\n[resources.r{i}]\nsource = \"{}\"\nsha256 = \"{digest}\"\nsize = {}\npurpose = \"one of many\"\n",
            server.url(&format!("r{i}.bin")),
            len + format!("resource {i}\n").len(),
        ));
        digests.push(digest);
    }
    (manifest, digests)
}

/// `crp ARGS` run by `wrapper` (a tracer, a limit), in the test's
/// environment and project.
fn wrapped(ctx: &TestContext, mut wrapper: Command, args: &[&str]) -> Run {
    let crp = ctx.command();
    wrapper
        .arg(crp.get_program())
        .args(args)
        .env_clear()
        .envs(crp.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(&ctx.project)
        .stdin(Stdio::null());
    let output = wrapper
        .output()
        .unwrap_or_else(|err| panic!("{wrapper:?} runs (`.ci/run` installs it): {err}"));
    Run::from(output, ctx)
}

/// `crp ARGS` with at most `files` open files, soft and hard, so that crp
/// cannot raise its limit (`prlimit` is util-linux's).
fn under_limit(ctx: &TestContext, files: u32, args: &[&str]) -> Run {
    let mut prlimit = Command::new("prlimit");
    prlimit.arg(format!("--nofile={files}:{files}"));
    wrapped(ctx, prlimit, args)
}

#[test]
fn more_resources_than_open_files_sync_under_a_low_limit() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (manifest, digests) = served(&server, 2000, 2048);
    ctx.write_manifest(&manifest);
    // 256 open files, soft and hard: crp cannot raise it, and 2,000
    // resources are far more than it allows.
    let run = under_limit(&ctx, 256, &["sync", "--jobs", "16", "-q"]);
    run.success();
    assert_eq!(ctx.objects().len(), 2000, "{run}");
    for (i, digest) in digests.iter().enumerate() {
        let linked = std::fs::read(ctx.link(&format!("r{i}"))).unwrap();
        assert_eq!(Sha256Digest::of_bytes(&linked), *digest, "r{i}");
    }
}

#[test]
fn more_downloads_at_once_than_open_files_allow_are_lowered_with_a_warning() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (manifest, digests) = served(&server, 300, 1024);
    ctx.write_manifest(&manifest);
    let run = under_limit(&ctx, 64, &["sync", "--jobs", "200"]);
    run.success();
    assert!(
        run.stderr
            .contains("200 downloads at once need more open files"),
        "{run}"
    );
    assert!(run.stderr.contains("ulimit -n"), "{run}");
    assert_eq!(ctx.objects().len(), digests.len(), "{run}");
}

#[test]
fn a_sync_killed_at_any_moment_leaves_only_whole_objects() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (manifest, digests) = served(&server, 300, 16 * 1024);
    ctx.write_manifest(&manifest);
    // Moments spread over a sync's life, from start-up to linking; the
    // seed is shown when an assertion fails.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        | 1;
    let mut state = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for round in 0..8 {
        let delay = Duration::from_millis(u64::from(20 + next() % 700));
        let mut child = ctx
            .command()
            .args(["sync", "--jobs", "8", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        // SIGKILL: nothing of crp's runs after it.
        let _ = child.kill();
        child.wait().unwrap();
        let why = format!("seed {seed}, round {round}, killed after {delay:?}");
        // Every object is whole and what its name says.
        for object in ctx.objects() {
            let name = object.file_name().unwrap().to_str().unwrap();
            let actual = Sha256Digest::of_bytes(&std::fs::read(&object).unwrap());
            assert_eq!(actual.hex(), name, "a torn object: {why}");
        }
        // No record of an object that is not there.
        for record in crate::common::files_under(&ctx.store.join("meta/objects")) {
            let name = record.file_name().unwrap().to_str().unwrap();
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            let digest: Sha256Digest = hex.parse().unwrap();
            assert!(
                ctx.object(&digest).exists(),
                "a record without its object, {name}: {why}"
            );
        }
    }
    let run = ctx.crp(&["sync", "--jobs", "8"]);
    run.success();
    assert_eq!(ctx.objects().len(), 300, "{run}");
    for (i, digest) in digests.iter().enumerate() {
        let linked = std::fs::read(ctx.link(&format!("r{i}"))).unwrap();
        assert_eq!(Sha256Digest::of_bytes(&linked), *digest, "r{i}");
    }
    // And the next sync has nothing left to do.
    let again = ctx.crp(&["sync", "--format", "json"]);
    again.success();
    let doc: crp::report::SyncDocument = again.json();
    assert_eq!(doc.summary.fetched, 0, "{again}");
}

#[test]
fn objects_become_visible_only_after_one_flush_covers_their_bytes() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (manifest, _) = served(&server, 60, 8 * 1024);
    ctx.write_manifest(&manifest);
    let trace = ctx.root.path().join("trace.txt");
    let mut strace = Command::new("strace");
    strace
        .args([
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=fsync,fdatasync,syncfs,fchmod,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace);
    wrapped(&ctx, strace, &["sync", "--jobs", "8"]).success();
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Where each part was sealed, each flush ran, and each object appeared.
    let hex_in = |text: &str| {
        let start = text.find("/.incomplete/").map(|i| i + 13)?;
        text.get(start..start + 64).map(str::to_owned)
    };
    let mut sealed = std::collections::HashMap::new();
    let mut flushes: Vec<(usize, usize)> = Vec::new();
    let mut started: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut published = Vec::new();
    let mut sealing = std::collections::HashMap::new();
    let mut renaming = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let pid = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if line.contains("fchmod(") && line.contains(".part>") {
            let hex = hex_in(line).unwrap();
            if line.contains("<unfinished") {
                sealing.insert(pid, hex);
            } else {
                sealed.insert(hex, i);
            }
        } else if line.contains("fchmod resumed") {
            if let Some(hex) = sealing.remove(&pid) {
                sealed.insert(hex, i);
            }
        } else if line.contains("syncfs(") && line.contains("<unfinished") {
            started.insert(pid, i);
        } else if line.contains("syncfs(") && line.ends_with("= 0") {
            flushes.push((i, i));
        } else if line.contains("syncfs resumed") && line.ends_with("= 0") {
            flushes.push((started.remove(&pid).unwrap(), i));
        } else if line.contains("rename")
            && line.contains(".part\"")
            && line.contains("/objects/sha256/")
        {
            let hex = hex_in(line).unwrap();
            if line.contains("<unfinished") {
                renaming.insert(pid, hex);
            } else if line.ends_with("= 0") {
                published.push((hex, i));
            }
        } else if line.contains("rename")
            && line.contains("resumed>")
            && let Some(hex) = renaming.remove(&pid).filter(|_| line.ends_with("= 0"))
        {
            published.push((hex, i));
        }
        assert!(
            !(line.contains("fsync(") && line.contains(".part>")),
            "a part flushed by itself: {line}"
        );
    }
    assert_eq!(published.len(), 60, "{}", lines.join("\n"));
    for (hex, at) in &published {
        let sealed_at = sealed[hex];
        assert!(
            flushes
                .iter()
                .any(|&(start, end)| start > sealed_at && end < *at),
            "{hex} appeared without a flush after its bytes:\n{}",
            lines.join("\n")
        );
    }
    // One flush serves many objects.
    assert!(
        flushes.len() < 60,
        "{} flushes for 60 objects",
        flushes.len()
    );
}

#[test]
fn a_project_record_of_a_large_manifest_is_read() {
    let ctx = TestContext::new();
    ctx.write_file("files/a", b"a");
    ctx.write_manifest(
        "[project]\nname = \"big\"\n\n[resources.a]\nsource = \"files/a\"\npurpose = \"x\"\n",
    );
    ctx.crp(&["sync"]).success();
    // What 100,000 resources make (about 17 MiB): more than a record's
    // bound, well within a project's.
    let records = crate::common::files_under(&ctx.store.join("meta/projects"));
    assert_eq!(records.len(), 1);
    let mut text = std::fs::read(&records[0]).unwrap();
    text.resize(text.len() + (20 << 20), b' ');
    std::fs::write(&records[0], text).unwrap();
    ctx.crp(&["plan"]).success();
    ctx.crp(&["status"]).success();
    ctx.crp(&["sync"]).success();
}
