//! `crp update`: asking sources whether their content changed, and
//! re-pinning what did, through the real binary and a real HTTP server.

use crp::digest::Sha256Digest;

use crate::common::{TestContext, bytes, files_under};
use crate::server::{Server, Version};

/// A project with one resource `a` served over HTTP, synced and pinned to
/// `v1`, and a comment on its pin that must survive re-pinning.
fn pinned_over_http(v1: &[u8]) -> (TestContext, Server) {
    let ctx = TestContext::new();
    let server = Server::start();
    server.versions("a.bin", vec![Version::new(v1.to_vec())]);
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n# the data\n[resources.a]\nsource = \"{}\"\npurpose = \"data\"\n\n[resources.b]\nsource = \"files/b.txt\"\npurpose = \"other\"\n",
        server.url("a.bin")
    ));
    ctx.write_file("files/b.txt", b"b\n");
    ctx.crp(&["sync"]).success();
    (ctx, server)
}

#[test]
fn update_asks_conditionally_and_repins_only_what_changed() {
    let v1 = bytes(1, 5_000);
    let v2 = bytes(2, 7_000);
    let (ctx, server) = pinned_over_http(&v1);
    let pinned = ctx.read_manifest();
    let (d1, d2) = (Sha256Digest::of_bytes(&v1), Sha256Digest::of_bytes(&v2));
    assert!(pinned.contains(&d1.hex()));

    // Unchanged upstream: one conditional request, answered 304, no body.
    let before = server.requests("/a.bin").len();
    let run = ctx.crp(&["update", "-v"]);
    run.success();
    assert!(run.stdout.contains("2 up to date"), "{run}");
    let asked = &server.requests("/a.bin")[before..];
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].if_none_match.is_some(), "{asked:?}");
    assert_eq!((asked[0].status, asked[0].sent), (304, 0));
    assert_eq!(ctx.read_manifest(), pinned);
    // Asking is not downloading, and progress says so.
    assert!(run.stderr.contains("checking a"), "{run}");
    assert!(!run.stderr.contains("fetching a"), "{run}");

    // The upstream file changes. Drift sees it and points at `crp update`.
    server.versions("a.bin", vec![Version::new(v2.clone())]);
    let run = ctx.crp(&["drift", "--upstream"]);
    assert!(run.stdout.contains("`crp update a` fetches it"), "{run}");
    // So does a sync that needs the object: its size no longer fits.
    let elsewhere = ctx.root.path().join("other-store");
    let run = ctx.crp(&["sync", "--store", elsewhere.to_str().unwrap()]);
    run.code(1);
    assert!(
        run.stdout.contains(&format!(
            "failed       a  the server announced 7000 bytes, but the manifest declares 5000 (from {})",
            server.url("a.bin")
        )),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("hint: if the source changed its content on purpose, `crp update a`"),
        "{run}"
    );

    // `--dry-run` says what changed from the first byte alone, and writes
    // nothing: not the manifest, not an object.
    let objects = ctx.objects();
    let before = server.requests("/a.bin").len();
    let run = ctx.crp(&["update", "--dry-run", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["dry_run"], true);
    let a = &doc["resources"][0];
    assert_eq!(
        (a["name"].as_str(), a["change"].as_str()),
        (Some("a"), Some("changed"))
    );
    assert_eq!(a["old"]["sha256"], d1.hex());
    assert_eq!(a["new"]["size"], 7_000);
    assert_eq!(a["verdict"]["verdict"], "auto-approved");
    assert!(
        server.requests("/a.bin")[before..]
            .iter()
            .all(|r| r.sent <= 1)
    );
    assert_eq!(ctx.read_manifest(), pinned);
    assert_eq!(ctx.objects(), objects);

    // The update downloads it, re-pins only the entry's two values, and
    // relinks; `b` (a local file, unchanged) is untouched.
    let run = ctx.crp(&["update"]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "updated      a  {} (4.9 KiB) → {} (6.8 KiB)",
            d1.short(),
            d2.short()
        )),
        "{run}"
    );
    assert!(run.stdout.contains("(auto-approved)"), "{run}");
    assert!(run.stdout.contains("relinked     a  resources/a"), "{run}");
    let expected = pinned
        .replace(&d1.hex(), &d2.hex())
        .replace("size = 5000", "size = 7000");
    assert_eq!(ctx.read_manifest(), expected);
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v2);
    assert!(ctx.object(&d1).exists(), "the old object stays for gc");
    ctx.crp(&["status", "--check"]).success();
    ctx.crp(&["sync", "--locked", "--offline"]).success();

    // Naming a resource the manifest lacks changes nothing.
    let run = ctx.crp(&["update", "nope"]);
    run.code(2);
    assert!(run.stderr.contains("has no resource `nope`"), "{run}");
    assert_eq!(ctx.read_manifest(), expected);
}

#[test]
fn a_new_version_that_needs_approval_is_pinned_but_not_let_in() {
    let v1 = bytes(3, 3_000);
    let v2 = bytes(4, 3_500);
    let (ctx, server) = pinned_over_http(&v1);
    ctx.write_policy("[approval]\nversion_change = true\n");
    let (d1, d2) = (Sha256Digest::of_bytes(&v1), Sha256Digest::of_bytes(&v2));
    server.versions("a.bin", vec![Version::new(v2.clone())]);

    let run = ctx.crp(&["update", "a", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    let a = &doc["resources"][0];
    assert_eq!(a["change"], "awaiting-approval", "{doc:#}");
    assert_eq!(a["new"]["sha256"], d2.hex());
    assert_eq!(a["verdict"]["verdict"], "awaiting-approval");
    assert!(
        a["verdict"]["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a new version"),
        "{doc:#}"
    );
    // Pinned, but its bytes are not an object, nor anywhere in the store.
    assert!(ctx.read_manifest().contains(&d2.hex()));
    assert!(!ctx.object(&d2).exists());
    assert!(
        files_under(&ctx.store)
            .iter()
            .filter(|p| p.is_file())
            .all(|p| std::fs::read(p).unwrap() != v2),
        "the held bytes were not kept"
    );
    assert_eq!(
        std::fs::read(ctx.link("a")).unwrap(),
        v1,
        "the old version stays linked"
    );
    let pending = ctx.crp(&["pending"]);
    assert!(pending.stdout.contains(&d2.short()), "{pending}");

    // A person approves; the next sync fetches and links it.
    ctx.crp(&["approve", "a", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v2);
    assert!(ctx.object(&d1).exists());
}

#[test]
fn update_skips_what_has_nothing_to_ask_and_reads_local_files() {
    let ctx = TestContext::new();
    ctx.write_file("files/f.txt", b"one\n");
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.f]\nsource = \"files/f.txt\"\npurpose = \"x\"\n\n[resources.t]\nsource = \"magnet:?xt=urn:btih:{}\"\nsha256 = \"{}\"\npurpose = \"y\"\n",
        "a".repeat(40),
        "b".repeat(64)
    ));
    ctx.crp(&["sync", "--no-wait"]);
    let d2 = ctx.write_file("files/f.txt", b"two\n");
    let run = ctx.crp(&["update", "f", "t", "--dry-run"]);
    run.success();
    assert!(
        run.stdout.contains(&format!("→ {} (4 B)", d2.short())),
        "{run}"
    );
    assert!(run.stdout.contains("skipped      t"), "{run}");
    assert!(run.stdout.contains("info-hash fixes its content"), "{run}");
    let run = ctx.crp(&["drift", "--upstream"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("`files/f.txt` changed since it was fetched: sha256"),
        "{run}"
    );
    assert!(run.stdout.contains("`crp update f` fetches it"), "{run}");
    let run = ctx.crp(&["update", "f"]);
    run.success();
    assert!(ctx.read_manifest().contains(&d2.hex()));
    assert_eq!(std::fs::read(ctx.link("f")).unwrap(), b"two\n");
}

#[test]
fn a_refused_new_version_keeps_the_old_pin() {
    let v1 = bytes(5, 3_000);
    let v2 = bytes(6, 3_500);
    let (ctx, server) = pinned_over_http(&v1);
    let pinned = ctx.read_manifest();
    // The store holds 3,002 bytes: 3,500 more would pass its quota.
    ctx.write_policy("[limits]\nquota = \"5 KB\"\n");
    server.versions("a.bin", vec![Version::new(v2.clone())]);
    let run = ctx.crp(&["update"]);
    run.code(1);
    assert!(run.stdout.contains("denied       a"), "{run}");
    assert!(run.stdout.contains("over its quota"), "{run}");
    assert_eq!(ctx.read_manifest(), pinned);
    assert!(!ctx.object(&Sha256Digest::of_bytes(&v2)).exists());
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v1);
}

#[test]
fn a_new_version_another_project_brought_in_is_still_judged() {
    let v1 = bytes(7, 2_000);
    let v2 = bytes(8, 2_500);
    let (ctx, server) = pinned_over_http(&v1);
    ctx.write_policy("[approval]\nversion_change = true\n");
    let d2 = Sha256Digest::of_bytes(&v2);
    // Another project declares the new bytes under another name first.
    let other = ctx.root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("new.bin"), &v2).unwrap();
    std::fs::write(
        other.join("resources.toml"),
        "[project]\nname = \"other\"\n\n[resources.copy]\nsource = \"new.bin\"\npurpose = \"x\"\n",
    )
    .unwrap();
    ctx.crp_in(&other, &["sync"]).success();
    assert!(ctx.object(&d2).exists());

    server.versions("a.bin", vec![Version::new(v2.clone())]);
    let run = ctx.crp(&["update", "a"]);
    run.code(1);
    assert!(run.stdout.contains("awaiting     a"), "{run}");
    assert!(run.stdout.contains("a new version"), "{run}");
    // Pinned, but not linked until someone decides.
    assert!(ctx.read_manifest().contains(&d2.hex()));
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v1);
    ctx.crp(&["sync"]).code(1);
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v1);
    assert!(ctx.crp(&["pending"]).stdout.contains(&d2.short()));
    ctx.crp(&["approve", "a", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v2);
}

#[test]
fn updates_share_the_quota_and_refused_schemes_are_not_asked() {
    let ctx = TestContext::new();
    let server = Server::start();
    let mut entries = String::new();
    for name in ["x", "y", "z"] {
        server.versions(name, vec![Version::new(b"1\n".to_vec())]);
        entries.push_str(&format!(
            "\n[resources.{name}]\nsource = \"{}\"\npurpose = \"p\"\n",
            server.url(name)
        ));
    }
    ctx.write_manifest(&format!("[project]\nname = \"p\"\n{entries}"));
    ctx.crp(&["sync"]).success();
    // Room for two of three new versions of 800 bytes.
    ctx.write_policy("[limits]\nquota = \"2000 B\"\n");
    for (i, name) in ["x", "y", "z"].iter().enumerate() {
        server.versions(name, vec![Version::new(bytes(10 + i as u8, 800))]);
    }
    let run = ctx.crp(&["update", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    let mut changes: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    changes.sort_unstable();
    assert_eq!(changes, ["denied", "updated", "updated"], "{doc:#}");
    let stored: u64 = files_under(&ctx.store.join("objects"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(stored <= 2000, "{stored} bytes in a store of 2000");

    // A scheme the policy refuses is not even asked.
    ctx.write_policy("[limits]\nschemes = [\"https\"]\n");
    let before = server.log().len();
    let run = ctx.crp(&["update", "x"]);
    run.code(1);
    assert!(run.stdout.contains("denied       x"), "{run}");
    let run = ctx.crp(&["update", "x", "--dry-run"]);
    assert!(run.stdout.contains("denied       x"), "{run}");
    assert_eq!(server.log().len(), before, "no request was made");
}

#[test]
fn update_reports_link_conflicts_and_asks_before_quarantining_again() {
    let v1 = bytes(20, 1_000);
    let (ctx, server) = pinned_over_http(&v1);
    // Someone else's file where `b`'s link goes: every update says so.
    std::fs::remove_file(ctx.link("b")).unwrap();
    std::fs::write(ctx.link("b"), b"mine").unwrap();
    for _ in 0..2 {
        let run = ctx.crp(&["update", "--format", "json"]);
        run.code(1);
        let doc: serde_json::Value = run.json();
        let b = &doc["resources"][1];
        assert_eq!(
            (b["name"].as_str(), b["change"].as_str()),
            (Some("b"), Some("not-linked")),
            "{doc:#}"
        );
        assert_eq!(doc["ok"], false);
    }
    std::fs::remove_file(ctx.link("b")).unwrap();

    // New content that is a program the entry does not declare: quarantined
    // once, then refused after a conditional request, without a download.
    server.versions(
        "a.bin",
        vec![Version::new(b"#!/bin/sh\necho hi\n".to_vec())],
    );
    let run = ctx.crp(&["update", "a"]);
    run.code(1);
    assert!(run.stdout.contains("failed       a"), "{run}");
    let quarantined = files_under(&ctx.store.join("quarantine")).len();
    assert_eq!(quarantined, 1);
    let before = server.requests("a.bin").len();
    let run = ctx.crp(&["update", "a"]);
    run.code(1);
    assert!(
        run.stdout.contains("still serves the executable content"),
        "{run}"
    );
    let asked = &server.requests("a.bin")[before..];
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].status, asked[0].sent), (304, 0));
    assert_eq!(
        files_under(&ctx.store.join("quarantine")).len(),
        quarantined
    );
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v1);
}

#[test]
fn a_denial_of_a_new_version_binds_every_source_torrents_included() {
    let ctx = TestContext::new();
    let server = Server::start();
    let v1 = bytes(30, 1_000);
    let v2 = bytes(31, 1_200);
    server.versions("t.bin", vec![Version::new(v1.clone())]);
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.r]\nsources = [\"{}\", \"magnet:?xt=urn:btih:{}\"]\nsha256 = \"{}\"\npurpose = \"x\"\n",
        server.url("t.bin"),
        "c".repeat(40),
        Sha256Digest::of_bytes(&v1)
    ));
    // The direct source wins the race against the torrent.
    ctx.crp(&["sync", "--no-wait"]).success();
    let pinned = ctx.read_manifest();
    ctx.write_policy("[approval]\nversion_change = true\n");
    server.versions("t.bin", vec![Version::new(v2.clone())]);
    ctx.crp(&["update"]).code(1);
    ctx.crp(&["deny", "r", "--by", "bob", "--reason", "no"])
        .success();
    // Back to the old pin, the same new version is asked about again: the
    // denial holds, and the old pin stays.
    ctx.write_manifest(&pinned);
    ctx.crp(&["sync", "--no-wait"]).success();
    let run = ctx.crp(&["update"]);
    run.code(1);
    assert!(run.stdout.contains("denied       r"), "{run}");
    assert_eq!(ctx.read_manifest(), pinned);
    assert_eq!(std::fs::read(ctx.link("r")).unwrap(), v1);
}

#[test]
fn update_restores_an_archived_object_instead_of_fetching_it_whole() {
    let v1 = bytes(3, 5_000);
    let (ctx, server) = pinned_over_http(&v1);
    let pinned = ctx.read_manifest();
    let digest = Sha256Digest::of_bytes(&v1);
    ctx.write_config("[gc]\ngrace = \"0s\"\n");
    // `a` is dropped, synced away and archived, then declared again.
    ctx.write_manifest(
        "[project]\nname = \"p\"\n\n[resources.b]\nsource = \"files/b.txt\"\npurpose = \"other\"\n",
    );
    ctx.crp(&["sync"]).success();
    ctx.crp(&["gc", "--apply"]).success();
    assert!(!ctx.object(&digest).exists());
    ctx.write_manifest(&pinned);

    // The archived copy comes back, and the source is only asked whether
    // it changed: a 304, no body.
    let before = server.requests("/a.bin").len();
    let run = ctx.crp(&["update"]);
    run.success();
    assert!(
        run.stderr.contains("restored `a` from cold storage"),
        "{run}"
    );
    assert!(run.stdout.contains("2 up to date"), "{run}");
    let asked = &server.requests("/a.bin")[before..];
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].status, asked[0].sent), (304, 0), "{asked:?}");
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), v1);
    assert_eq!(ctx.read_manifest(), pinned);
    // Nothing is left in cold storage to count.
    let doc: serde_json::Value = ctx.crp(&["gc", "--format", "json"]).json();
    assert_eq!(doc["cold_objects"], 0);
    ctx.assert_records_agree_with_events();
}
