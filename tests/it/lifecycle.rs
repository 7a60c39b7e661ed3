//! The store's lifecycle: verify, drift, diff and garbage collection,
//! through the real binary.

use crp::digest::Sha256Digest;

use crate::common::{TestContext, bytes, corrupt, files_under, local_manifest};

#[test]
fn verify_quarantines_corrupted_objects_and_sync_fetches_them_again() {
    let ctx = TestContext::new();
    let a = bytes(1, 10_000);
    let b = bytes(2, 20_000);
    let digests = local_manifest(&ctx, &[("a", &a), ("b", &b)]);
    ctx.crp(&["sync"]).success();
    ctx.crp(&["verify"]).success();

    corrupt(&ctx.object(&digests[1]));
    let mut flipped = b.clone();
    flipped[0] ^= 0xff;
    let run = ctx.crp(&["verify"]);
    run.code(1);
    assert!(
        run.stdout
            .contains(&format!("corrupted {} (b)", digests[1].short())),
        "{run}"
    );
    assert!(
        run.stdout.contains(&format!("expected {}", digests[1])),
        "{run}"
    );
    assert!(
        run.stdout
            .contains(&format!("actual   {}", Sha256Digest::of_bytes(&flipped))),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("verified 2 objects (29.3 KiB): 1 corrupted"),
        "{run}"
    );
    assert!(
        !ctx.object(&digests[1]).exists(),
        "the corrupted object left the store"
    );
    let quarantined = files_under(&ctx.store.join("quarantine"));
    assert_eq!(quarantined.len(), 1);
    assert_eq!(std::fs::read(&quarantined[0]).unwrap(), flipped);
    assert_eq!(
        ctx.object_record(&digests[1]).status,
        crp::provenance::State::Failed
    );

    // The next sync fetches it again.
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stdout.contains("fetched      b"), "{run}");
    assert_eq!(std::fs::read(ctx.link("b")).unwrap(), b);
    assert_eq!(
        ctx.object_record(&digests[1]).status,
        crp::provenance::State::Available
    );
    let doc: serde_json::Value = ctx.crp(&["verify", "--all", "--format", "json"]).json();
    assert_eq!(doc["checked"], 2);
    assert_eq!(doc["corrupted"].as_array().unwrap().len(), 0);
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

fn gc_doc(ctx: &TestContext, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["gc", "--format", "json"];
    all.extend_from_slice(args);
    let run = ctx.crp(&all);
    run.success();
    run.json()
}

fn sha_list(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha256"].as_str().or(c.as_str()).unwrap().to_owned())
        .collect()
}

#[test]
fn gc_archives_only_unreferenced_objects_and_sync_restores_them_offline() {
    let ctx = TestContext::new();
    let server = crate::server::Server::start();
    let a = bytes(3, 30_000);
    let a_digest = Sha256Digest::of_bytes(&a);
    server.route("a.bin", a.clone(), crate::server::Behavior::Normal);
    let b_digest = ctx.write_file("files/b", &bytes(4, 5000));
    let with_a = format!(
        "[project]\nname = \"gc\"\n\n[resources.a]\nsource = \"{}\"\nsha256 = \"{a_digest}\"\npurpose = \"t\"\n\n[resources.b]\nsource = \"files/b\"\nsha256 = \"{b_digest}\"\npurpose = \"t\"\n",
        server.url("a.bin")
    );
    let without_a = format!(
        "[project]\nname = \"gc\"\n\n[resources.b]\nsource = \"files/b\"\nsha256 = \"{b_digest}\"\npurpose = \"t\"\n"
    );
    ctx.write_manifest(&with_a);
    ctx.crp(&["sync"]).success();
    ctx.write_manifest(&without_a);
    ctx.crp(&["sync"]).success();
    assert!(ctx.object_record(&a_digest).unreferenced_since.is_some());

    // Within the default 30 days it is kept; a referenced object is never listed.
    let doc = gc_doc(&ctx, &[]);
    assert_eq!(sha_list(&doc["keep"]), vec![a_digest.to_string()]);
    assert!(doc["archive"].as_array().unwrap().is_empty());
    assert_eq!(doc["referenced"], 1);
    assert_eq!(doc["store_bytes"], 35_000);
    let doc = gc_doc(&ctx, &["--grace", "0s"]);
    assert_eq!(sha_list(&doc["archive"]), vec![a_digest.to_string()]);
    assert!(ctx.object(&a_digest).exists(), "planning changes nothing");

    let run = ctx.crp(&["gc", "--grace", "0s", "--apply"]);
    run.success();
    assert!(
        run.stdout.contains("archived 1 object, removed 0 objects"),
        "{run}"
    );
    assert!(!ctx.object(&a_digest).exists());
    assert!(
        ctx.object(&b_digest).exists(),
        "a referenced object is never touched"
    );
    let cold = ctx
        .store
        .join("cold/sha256")
        .join(&a_digest.hex()[..2])
        .join(a_digest.hex());
    assert_eq!(std::fs::read(&cold).unwrap(), a);
    let record = ctx.object_record(&a_digest);
    assert_eq!(record.status, crp::provenance::State::Archived);
    assert_eq!(record.archived.as_ref().unwrap().path, cold);

    // Back in the manifest: restored from cold storage, with no network.
    drop(server);
    ctx.write_manifest(&with_a);
    // It was let in once: coming back from cold storage needs no new approval.
    std::fs::write(
        ctx.store.join("meta/policy.toml"),
        "[approval]\nlarger_than = \"1 KB\"\n",
    )
    .unwrap();
    let plan = ctx.crp(&["plan"]);
    assert!(
        plan.stdout
            .contains("29.3 KiB  cold storage  (auto-approved)"),
        "{plan}"
    );
    let status = ctx.crp(&["status"]);
    assert!(status.stdout.contains("archived"), "{status}");
    let run = ctx.crp(&["sync", "--offline"]);
    run.success();
    assert!(
        run.stderr.contains("restored `a` from cold storage"),
        "{run}"
    );
    // Said among what the sync did, and counted.
    assert!(
        run.stdout.contains("restored") && run.stdout.contains("from cold storage"),
        "{run}"
    );
    assert!(run.stdout.contains("1 restored"), "{run}");
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), a);
    assert!(!cold.exists());
    let record = ctx.object_record(&a_digest);
    assert_eq!(record.status, crp::provenance::State::Available);
    assert!(record.archived.is_none() && record.unreferenced_since.is_none());
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn stale_projects_protect_their_objects_for_the_grace_period() {
    let ctx = TestContext::new();
    let other = ctx.root.path().join("other");
    std::fs::create_dir_all(other.join("files")).unwrap();
    let content = bytes(5, 1000);
    std::fs::write(other.join("files/c"), &content).unwrap();
    let digest = Sha256Digest::of_bytes(&content);
    std::fs::write(
        other.join("resources.toml"),
        format!("[project]\nname = \"gone\"\n\n[resources.c]\nsource = \"files/c\"\nsha256 = \"{digest}\"\npurpose = \"t\"\n"),
    )
    .unwrap();
    let run = ctx
        .command()
        .current_dir(&other)
        .arg("sync")
        .output()
        .unwrap();
    assert!(run.status.success());
    std::fs::remove_file(other.join("resources.toml")).unwrap();

    let doc = gc_doc(&ctx, &["--grace", "1h"]);
    assert_eq!(doc["stale_projects"][0]["name"], "gone");
    assert_eq!(
        sha_list(&doc["keep"]),
        vec![digest.to_string()],
        "protected for an hour"
    );
    let run = ctx.crp(&["gc", "--grace", "1h"]);
    assert!(
        run.stdout
            .contains("stale projects (their manifest is gone):"),
        "{run}"
    );
    assert!(run.stdout.contains("gone"), "{run}");
    let doc = gc_doc(&ctx, &["--grace", "0s"]);
    assert_eq!(sha_list(&doc["archive"]), vec![digest.to_string()]);
}

#[test]
fn removal_from_cold_storage_needs_yes_and_is_recorded() {
    let ctx = TestContext::new();
    let digests = local_manifest(&ctx, &[("a", &bytes(6, 1000))]);
    ctx.crp(&["sync"]).success();
    ctx.write_manifest("[project]\nname = \"life\"\n");
    ctx.crp(&["sync"]).success();
    ctx.crp(&["gc", "--grace", "0s", "--apply"]).success();
    let cold = ctx.object_record(&digests[0]).archived.unwrap().path;

    let run = ctx.crp(&["gc", "--remove", "--older-than", "0s"]);
    run.code(2);
    assert!(run.stderr.contains("needs `--yes`"), "{run}");
    assert!(run.stdout.contains("to remove from cold storage"), "{run}");
    assert!(cold.exists());
    // A consent with nothing to consent to is a mistake.
    ctx.crp(&["gc", "--yes"]).code(2);
    // Not old enough: nothing to remove, and no consent to give.
    let run = ctx.crp(&["gc", "--remove", "--older-than", "1h"]);
    run.success();
    assert!(!run.stderr.contains("needs `--yes`"), "{run}");
    let doc = gc_doc(&ctx, &["--remove", "--older-than", "1h", "--yes"]);
    assert!(doc["removed"].as_array().unwrap().is_empty());
    assert!(cold.exists());

    let run = ctx
        .command()
        .env("CRP_ACTOR", "carol")
        .args(["gc", "--remove", "--older-than", "0s", "--yes"])
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(!cold.exists());
    let record = ctx.object_record(&digests[0]);
    assert_eq!(record.status, crp::provenance::State::Removed);
    assert_eq!(record.removed.unwrap().by, "carol");
    // `show` says the path is empty, and why.
    let run = ctx.crp(&["show", &digests[0].hex()]);
    run.success();
    assert!(
        run.stdout.contains("(not there: removed by carol at "),
        "{run}"
    );
}

#[test]
fn gc_racing_several_syncs_loses_nothing() {
    let ctx = TestContext::new();
    let shared = bytes(7, 50_000);
    let churn = bytes(8, 40_000);
    let dirs: Vec<std::path::PathBuf> = (0..3)
        .map(|i| ctx.root.path().join(format!("p{i}")))
        .collect();
    let source = ctx.root.path().join("sources");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("shared"), &shared).unwrap();
    std::fs::write(source.join("churn"), &churn).unwrap();
    let entry = |name: &str, content: &[u8]| {
        format!(
            "\n[resources.{name}]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"t\"\n",
            source.join(name).display(),
            Sha256Digest::of_bytes(content)
        )
    };
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("resources.toml"),
            format!("[project]\nname = \"p{i}\"\n{}", entry("shared", &shared)),
        )
        .unwrap();
    }
    // One project keeps adding and dropping a resource that only it uses,
    // so garbage collection has something to archive and sync to restore.
    let churner = ctx.root.path().join("churner");
    std::fs::create_dir_all(&churner).unwrap();
    let with = format!("[project]\nname = \"churner\"\n{}", entry("churn", &churn));
    let without = "[project]\nname = \"churner\"\n".to_owned();

    let ctx = &ctx;
    let churning = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for dir in &dirs {
            handles.push(scope.spawn(move || {
                (0..4).all(|_| {
                    ctx.command()
                        .current_dir(dir)
                        .arg("sync")
                        .output()
                        .unwrap()
                        .status
                        .success()
                })
            }));
        }
        let (with, without, churner, churn) = (&with, &without, &churner, &churn);
        let churning = &churning;
        handles.push(scope.spawn(move || {
            let ok = (0..6).all(|round| {
                std::fs::write(
                    churner.join("resources.toml"),
                    if round % 2 == 0 { with } else { without },
                )
                .unwrap();
                let mut ok = ctx
                    .command()
                    .current_dir(churner)
                    .arg("sync")
                    .output()
                    .unwrap()
                    .status
                    .success();
                // What a sync reports linked is there when it returns.
                if round % 2 == 0 {
                    ok &= std::fs::read(churner.join("resources/churn"))
                        .ok()
                        .as_deref()
                        == Some(&churn[..]);
                }
                // A moment for garbage collection to find it unreferenced.
                std::thread::sleep(std::time::Duration::from_millis(150));
                ok
            });
            churning.store(false, std::sync::atomic::Ordering::SeqCst);
            ok
        }));
        handles.push(scope.spawn(move || {
            let mut ok = true;
            while churning.load(std::sync::atomic::Ordering::SeqCst) {
                ok &= ctx
                    .command()
                    .args(["gc", "--grace", "0s", "--apply"])
                    .output()
                    .unwrap()
                    .status
                    .success();
            }
            ok
        }));
        for handle in handles {
            assert!(handle.join().unwrap(), "a sync or gc failed");
        }
    });
    std::fs::write(churner.join("resources.toml"), &with).unwrap();
    for dir in dirs.iter().chain([&churner]) {
        assert!(
            ctx.command()
                .current_dir(dir)
                .arg("sync")
                .output()
                .unwrap()
                .status
                .success()
        );
    }
    for dir in &dirs {
        assert_eq!(std::fs::read(dir.join("resources/shared")).unwrap(), shared);
    }
    assert_eq!(
        std::fs::read(churner.join("resources/churn")).unwrap(),
        churn
    );
    ctx.crp(&["verify", "--all"]).success();
    // Garbage collection did archive, and syncs did restore, meanwhile.
    let events = ctx.events();
    assert!(
        events
            .iter()
            .any(|e| e.to_state == crp::provenance::State::Archived),
        "nothing was archived"
    );
    assert!(
        events
            .iter()
            .any(|e| e.details.contains_key("restored_from")),
        "nothing was restored"
    );
}

/// Every path under `root` with what identifies its state: kind, size,
/// modification time, permissions, link target and a digest of the bytes.
fn snapshot(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else {
                format!(
                    "file {}",
                    Sha256Digest::of_bytes(&std::fs::read(&path).unwrap())
                )
            };
            out.push(format!(
                "{} {what} {} {} {:o}",
                path.display(),
                meta.len(),
                meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
                meta.mode()
            ));
        }
    }
    out.sort();
    out
}

fn categories(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["category"].as_str().unwrap().to_owned(),
                i["name"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

#[test]
fn drift_finds_each_category_and_changes_nothing() {
    let ctx = TestContext::new();
    let server = crate::server::Server::start();
    let a = bytes(9, 3000);
    server.route("a.bin", a.clone(), crate::server::Behavior::Normal);
    let file = |name: &str, content: &[u8]| ctx.write_file(&format!("files/{name}"), content);
    let b = file("b", &bytes(10, 2000));
    let c = file("c", &bytes(11, 2000));
    let f = file("f", &bytes(12, 2000));
    let g = file("g", b"#!/bin/sh\necho g\n");
    let h = file("h", &bytes(13, 1234));
    let entry = |name: &str, source: &str, digest: &Sha256Digest, extra: &str| {
        format!(
            "\n[resources.{name}]\nsource = \"{source}\"\nsha256 = \"{digest}\"\npurpose = \"t\"\n{extra}"
        )
    };
    let base = [
        entry("a", &server.url("a.bin"), &Sha256Digest::of_bytes(&a), ""),
        entry("b", "files/b", &b, ""),
        entry("c", "files/c", &c, ""),
        format!(
            "\n[resources.f]\nsources = [\"{}\", \"files/f\"]\nsha256 = \"{f}\"\npurpose = \"t\"\n",
            server.url("gone.bin")
        ),
        entry("g", "files/g", &g, "executable = true\n"),
    ]
    .concat();
    ctx.write_manifest(&format!(
        "[project]\nname = \"drifty\"\n{base}{}",
        entry("h", "files/h", &h, "")
    ));
    ctx.crp(&["sync"]).success();
    ctx.write_manifest(&format!("[project]\nname = \"drifty\"\n{base}"));
    ctx.crp(&["sync"]).success();
    let run = ctx.crp(&["drift"]);
    run.success();
    assert!(run.stdout.contains("drift of `drifty`: no drift"), "{run}");

    // Another project syncs, then its manifest goes.
    let other = ctx.root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("resources.toml"),
        format!(
            "[project]\nname = \"gone\"\n{}",
            entry(
                "b",
                &ctx.project.join("files/b").display().to_string(),
                &b,
                ""
            )
        ),
    )
    .unwrap();
    assert!(
        ctx.command()
            .current_dir(&other)
            .arg("sync")
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::remove_file(other.join("resources.toml")).unwrap();

    // Reality drifts.
    let e = file("e", b"never synced\n");
    ctx.write_manifest(&format!(
        "[project]\nname = \"drifty\"\n{base}{}",
        entry("e", "files/e", &e, "")
    ));
    corrupt(&ctx.object(&b));
    std::fs::remove_file(ctx.link("c")).unwrap();
    std::fs::write(ctx.link("c"), b"my own file").unwrap();
    server.route("a.bin", bytes(14, 3500), crate::server::Behavior::Normal);
    ctx.write_policy("[approval]\nexecutable = true\n");

    let before = (snapshot(&ctx.store), snapshot(&ctx.project));
    let run = ctx.crp(&["drift", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    let found = categories(&doc);
    for expected in [
        ("missing", "e"),
        ("corrupted", "b"),
        ("modified-in-project", "c"),
        ("policy", "g"),
    ] {
        assert!(
            found.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} not in {found:?}"
        );
    }
    assert!(
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["suspect"] == true),
        "without --verify, suspected"
    );
    assert!(
        !found
            .iter()
            .any(|(c, _)| c == "upstream" || c == "orphaned"),
        "{found:?}"
    );

    let doc: serde_json::Value = ctx
        .crp(&[
            "drift",
            "--verify",
            "--upstream",
            "--all-projects",
            "--format",
            "json",
        ])
        .json();
    let found = categories(&doc);
    for expected in [
        ("upstream", "a"),
        ("upstream", "f"),
        ("orphaned", "-"),
        ("stale-project", "-"),
    ] {
        assert!(
            found.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} not in {found:?}"
        );
    }
    let items = doc["items"].as_array().unwrap();
    let detail = |cat: &str, name: &str| {
        items
            .iter()
            .find(|i| i["category"] == cat && i["name"] == name)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(detail("corrupted", "b").starts_with(&format!("expected {b}, actual ")));
    assert!(detail("upstream", "a").contains("now has 3500 bytes, not 3000"));
    assert!(detail("upstream", "f").contains("answers HTTP 404"));
    let orphan = items.iter().find(|i| i["category"] == "orphaned").unwrap();
    assert_eq!(orphan["sha256"], h.to_string());
    assert_eq!(orphan["size"], 1234);
    assert!(orphan["since"].is_string());
    let stale = items
        .iter()
        .find(|i| i["category"] == "stale-project")
        .unwrap();
    assert_eq!(stale["project"], "gone");

    // A checked-in ignore file silences accepted drift.
    std::fs::write(
        ctx.project.join("drift-ignore.toml"),
        "[[ignore]]\ncategory = \"upstream\"\nname = \"a\"\nreason = \"the vendor republishes nightly\"\n",
    )
    .unwrap();
    let doc: serde_json::Value = ctx.crp(&["drift", "--upstream", "--format", "json"]).json();
    assert!(!categories(&doc).contains(&("upstream".into(), "a".into())));
    assert_eq!(
        doc["ignored"][0]["reason"],
        "the vendor republishes nightly"
    );
    let md = ctx.crp(&["drift", "--upstream", "--format", "markdown"]);
    md.code(1);
    assert!(md.stdout.starts_with("### crp drift: "), "{md}");
    assert!(
        md.stdout
            .contains("| category | project | resource | detail |\n|---|---|---|---|\n"),
        "{md}"
    );
    assert!(
        md.stdout
            .contains("| modified-in-project | drifty | c | `resources/c` is "),
        "{md}"
    );
    assert!(
        md.stdout.contains("<details><summary>1 ignored</summary>"),
        "{md}"
    );
    std::fs::write(
        ctx.project.join("drift-ignore.toml"),
        "[[ignore]]\ncategory = \"upstreem\"\n",
    )
    .unwrap();
    ctx.crp(&["drift"]).code(2);
    std::fs::remove_file(ctx.project.join("drift-ignore.toml")).unwrap();

    // Read-only, whatever it was asked.
    assert_eq!((snapshot(&ctx.store), snapshot(&ctx.project)), before);
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn diff_between_two_git_revisions_for_review() {
    let ctx = TestContext::new();
    let a1 = ctx.write_file("files/a1", &bytes(20, 4000));
    let a2 = ctx.write_file("files/a2", &bytes(21, 6000));
    let b = ctx.write_file("files/b", &bytes(22, 3000));
    let c = ctx.write_file("files/c", &bytes(23, 1000));
    let d = ctx.write_file("files/d", &bytes(24, 50_000));
    let entry = |name: &str, file: &str, digest: &Sha256Digest, size: usize, purpose: &str| {
        format!(
            "\n[resources.{name}]\nsource = \"files/{file}\"\nsha256 = \"{digest}\"\nsize = {size}\npurpose = \"{purpose}\"\n"
        )
    };
    let v1 = format!(
        "[project]\nname = \"review\"\n{}{}{}",
        entry("a", "a1", &a1, 4000, "data"),
        entry("b", "b", &b, 3000, "old data"),
        entry("c", "c", &c, 1000, "notes"),
    );
    let v2 = format!(
        "[project]\nname = \"review\"\n{}{}# the big one\n{}",
        entry("a", "a2", &a2, 6000, "data"),
        entry("c", "c", &c, 1000, "field notes"),
        entry("d", "d", &d, 50_000, "new corpus"),
    );
    git(&ctx.project, &["init", "-q", "-b", "main"]);
    ctx.write_manifest(&v1);
    git(&ctx.project, &["add", "resources.toml"]);
    git(&ctx.project, &["commit", "-q", "-m", "v1"]);
    ctx.crp(&["sync"]).success();
    std::fs::write(
        ctx.store.join("meta/policy.toml"),
        "[approval]\nlarger_than = \"10 KB\"\n",
    )
    .unwrap();
    ctx.write_manifest(&v2);
    git(&ctx.project, &["commit", "-q", "-am", "v2"]);

    let run = ctx.crp(&["diff", "HEAD~1", "HEAD", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    let by_name = |name: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let a = by_name("a");
    assert_eq!(a["change"], "changed");
    assert_eq!(
        a["fields"],
        serde_json::json!(["sha256", "size", "sources"])
    );
    assert_eq!(a["verdict"]["verdict"], "auto-approved");
    assert_eq!(a["bytes_added"], 6000);
    assert_eq!(a["bytes_freed"], 4000);
    let a_text = a["text_diff"].as_str().unwrap();
    assert!(
        a_text.contains(&format!("\n-sha256 = \"{a1}\"\n")),
        "{a_text}"
    );
    assert!(
        a_text.contains(&format!("\n+sha256 = \"{a2}\"\n")),
        "{a_text}"
    );
    assert!(a_text.contains("\n [resources.a]\n"), "{a_text}");
    assert_eq!(by_name("b")["change"], "removed");
    assert_eq!(by_name("b")["bytes_freed"], 3000);
    let c_diff = by_name("c");
    assert_eq!(c_diff["fields"], serde_json::json!(["purpose"]));
    assert!(
        c_diff["verdict"].is_null(),
        "no new content, nothing to judge"
    );
    let d_diff = by_name("d");
    assert_eq!(d_diff["change"], "added");
    assert_eq!(d_diff["verdict"]["verdict"], "awaiting-approval");
    assert!(
        d_diff["text_diff"]
            .as_str()
            .unwrap()
            .contains("+purpose = \"new corpus\"")
    );
    assert_eq!(doc["bytes_added"], 56_000);
    assert_eq!(doc["bytes_freed"], 7000);
    assert_eq!(doc["need_approval"], 1);

    // HEAD defaults to the working tree; Markdown for a pull request.
    let md = ctx.crp(&["diff", "HEAD~1", "--format", "markdown"]);
    md.success();
    assert!(
        md.stdout.starts_with(
            "### Resources: `review`\n\n| change | resource | what | size | policy |\n"
        ),
        "{md}"
    );
    assert!(
        md.stdout.contains(
            "| added | `d` | 48.8 KiB new | +48.8 KiB | needs a person: 48.8 KiB is over 10 KB |"
        ),
        "{md}"
    );
    assert!(
        md.stdout
            .contains("| removed | `b` | 2.9 KiB no longer needed | −2.9 KiB |"),
        "{md}"
    );
    assert!(
        md.stdout
            .contains("```diff\n--- HEAD~1:./resources.toml\n+++ resources.toml\n"),
        "{md}"
    );
    let text = ctx.crp(&["diff", "HEAD~1"]);
    assert!(
        text.stdout.contains("  changed  a  a new version ("),
        "{text}"
    );
    assert!(text.stdout.contains("storage: +54.7 KiB to fetch, -6.8 KiB no longer referenced; 1 need a person's approval, 0 denied"), "{text}");
    // Two files work too; a revision that does not exist is invalid input.
    std::fs::write(ctx.root.path().join("old.toml"), &v1).unwrap();
    let files = ctx.crp(&[
        "diff",
        ctx.root.path().join("old.toml").to_str().unwrap(),
        "resources.toml",
        "--format",
        "json",
    ]);
    files.success();
    assert_eq!(
        files.json::<serde_json::Value>()["resources"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let run = ctx.crp(&["diff", "no-such-rev"]);
    run.code(2);
    assert!(
        run.stderr.contains("neither a file nor a git revision"),
        "{run}"
    );
    // Nothing was fetched or changed by looking.
    assert!(!ctx.object(&d).exists());
}

#[test]
fn over_its_quota_gc_proposes_the_least_recently_used_first() {
    let ctx = TestContext::new();
    let digests = local_manifest(
        &ctx,
        &[
            ("x", &bytes(30, 4000)),
            ("y", &bytes(31, 4000)),
            ("z", &bytes(32, 4000)),
        ],
    );
    ctx.crp(&["sync"]).success();
    let only = |names: &[usize]| {
        let mut text = String::from("[project]\nname = \"life\"\n");
        for &i in names {
            let name = ["x", "y", "z"][i];
            text.push_str(&format!("\n[resources.{name}]\nsource = \"files/{name}\"\nsha256 = \"{}\"\npurpose = \"testing\"\n", digests[i]));
        }
        ctx.write_manifest(&text);
        ctx.crp(&["sync"]).success();
    };
    only(&[1, 2]); // x unreferenced first
    std::thread::sleep(std::time::Duration::from_millis(1100));
    only(&[2]); // then y
    std::fs::write(
        ctx.store.join("meta/policy.toml"),
        "[limits]\nquota = \"10 KB\"\n",
    )
    .unwrap();
    let doc = gc_doc(&ctx, &[]);
    assert_eq!(doc["store_bytes"], 12_000);
    assert_eq!(doc["quota"], 10_000);
    assert_eq!(
        sha_list(&doc["archive"]),
        vec![digests[0].to_string()],
        "the older one goes"
    );
    assert_eq!(doc["archive"][0]["why"], "quota");
    assert_eq!(sha_list(&doc["keep"]), vec![digests[1].to_string()]);
    let run = ctx.crp(&["gc"]);
    assert!(
        run.stdout.contains("over the quota, least recently used"),
        "{run}"
    );
}

/// A project's one resource archived by `crp gc` to cold storage on
/// /dev/shm, a tmpfs: another file system than the store's. Returns the
/// cold folder (removed when dropped), the digest, and the archived copy.
fn archived_on_another_disk(
    ctx: &TestContext,
    content: &[u8],
) -> (tempfile::TempDir, Sha256Digest, std::path::PathBuf) {
    let cold = tempfile::tempdir_in("/dev/shm").expect("a folder on /dev/shm");
    ctx.write_config(&format!(
        "[gc]\ncold = \"{}\"\ngrace = \"0s\"\n",
        cold.path().display()
    ));
    let digest = local_manifest(ctx, &[("a", content)])[0];
    ctx.crp(&["sync"]).success();
    ctx.write_manifest("[project]\nname = \"life\"\n");
    ctx.crp(&["sync"]).success();
    let run = ctx.crp(&["gc", "--apply"]);
    run.success();
    // Its counts are those it started from, and say so.
    assert!(
        run.stdout.contains("store before this gc: 1 object")
            && run.stdout.contains("` before this gc: 0 objects"),
        "{run}"
    );
    let archived = cold
        .path()
        .join("sha256")
        .join(&digest.hex()[..2])
        .join(digest.hex());
    (cold, digest, archived)
}

#[test]
fn a_cold_copy_that_rotted_is_never_restored() {
    let ctx = TestContext::new();
    let content = bytes(41, 9000);
    let (_cold, digest, archived) = archived_on_another_disk(&ctx, &content);
    corrupt(&archived);

    // The rotten copy is quarantined, and the object comes from its source.
    local_manifest(&ctx, &[("a", &content)]);
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(
        run.stderr
            .contains("could not restore `a` from cold storage"),
        "{run}"
    );
    assert!(
        run.stderr.contains("does not verify; it was moved to `")
            && !run.stderr.contains("the original was kept"),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 1);
    assert!(!archived.exists());
    ctx.assert_records_agree_with_events();
}

#[test]
fn cold_storage_on_another_file_system_is_copied_and_verified() {
    let ctx = TestContext::new();
    let content = bytes(40, 9000);
    let (_cold, digest, archived) = archived_on_another_disk(&ctx, &content);
    let digests = [digest];
    assert_eq!(std::fs::read(&archived).unwrap(), content);
    assert!(!ctx.object(&digests[0]).exists());
    // Really another file system: the archive was a copy, not a rename.
    {
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            std::fs::metadata(&archived).unwrap().dev(),
            std::fs::metadata(&ctx.store).unwrap().dev()
        );
    }

    local_manifest(&ctx, &[("a", &content)]);
    std::fs::remove_file(ctx.project.join("files/a")).unwrap();
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(
        run.stderr.contains("restored `a` from cold storage"),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), content);
    assert!(!archived.exists());
}

#[test]
fn an_archived_object_fetched_back_keeps_its_cold_copy_accounted() {
    let ctx = TestContext::new();
    let content = bytes(9, 3000);
    let digests = local_manifest(&ctx, &[("a", &content)]);
    ctx.crp(&["sync"]).success();
    ctx.write_manifest("[project]\nname = \"life\"\n");
    ctx.crp(&["sync"]).success();
    ctx.crp(&["gc", "--grace", "0s", "--apply"]).success();
    let cold = ctx.object_record(&digests[0]).archived.unwrap().path;
    assert!(cold.exists());
    // Added again by its source (first use): downloaded, not restored.
    ctx.crp(&["add", "files/a", "--purpose", "again"]).success();
    let record = ctx.object_record(&digests[0]);
    assert_eq!(record.status, crp::provenance::State::Available);
    assert!(ctx.store.join("objects").exists());
    // The cold copy is still there, and gc still counts it.
    let doc = gc_doc(&ctx, &[]);
    assert_eq!(doc["cold_objects"], 1, "{doc}");
    assert_eq!(doc["cold_bytes"], content.len(), "{doc}");
    // Removing it takes the cold copy only: the store keeps its own.
    let doc = gc_doc(&ctx, &["--remove", "--older-than", "0s", "--yes"]);
    assert_eq!(sha_list(&doc["removed"]), [digests[0].to_string()], "{doc}");
    assert!(!cold.exists());
    let record = ctx.object_record(&digests[0]);
    assert_eq!(record.status, crp::provenance::State::Available);
    assert!(record.archived.is_none());
    assert_eq!(gc_doc(&ctx, &[])["cold_objects"], 0);
    ctx.crp(&["verify"]).success();
    // Dropped from the manifest again, it is archived again.
    ctx.write_manifest("[project]\nname = \"life\"\n");
    ctx.crp(&["sync"]).success();
    ctx.crp(&["gc", "--grace", "0s", "--apply"]).success();
    assert_eq!(
        ctx.object_record(&digests[0]).status,
        crp::provenance::State::Archived
    );
    assert_eq!(std::fs::read(&cold).unwrap(), content);
    // And restored from there, which the sync's JSON says.
    local_manifest(&ctx, &[("a", &content)]);
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(
        doc["resources"][0]["restored_from"],
        cold.display().to_string(),
        "{run}"
    );
    assert!(doc["resources"][0].get("fetched_from").is_none(), "{run}");
    assert_eq!(doc["summary"]["restored"], 1, "{run}");
    assert_eq!(doc["summary"]["fetched"], 0, "{run}");
    ctx.assert_records_agree_with_events();
}

#[test]
fn drift_follows_an_unpinned_resource_to_the_object_its_sync_took() {
    let ctx = TestContext::new();
    let content = bytes(14, 2500);
    let digest = ctx.write_file("files/u", &content);
    ctx.write_manifest(
        "[project]\nname = \"life\"\n\n[resources.u]\nsource = \"files/u\"\npurpose = \"t\"\n",
    );
    ctx.init_store();
    let drift = |ctx: &TestContext| {
        let run = ctx.crp(&["drift", "--format", "json"]);
        let doc: serde_json::Value = run.json();
        (run.code, doc)
    };
    // Declared and never synced: missing, as `status --check` says.
    let (code, doc) = drift(&ctx);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(categories(&doc), [("missing".to_owned(), "u".to_owned())]);
    assert!(
        doc["items"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("never synced"),
        "{doc}"
    );
    ctx.crp(&["status", "--check"]).code(1);
    // Synced (which pins it), then its pin taken out again: it is the
    // object that sync took, and present.
    let unpinned = ctx.read_manifest();
    ctx.crp(&["sync"]).success();
    assert!(ctx.read_manifest().contains(&digest.to_string()));
    ctx.write_manifest(&unpinned);
    let (code, doc) = drift(&ctx);
    assert_eq!((code, categories(&doc)), (0, vec![]), "{doc}");
    // Its object gone from the store: missing, named by its digest.
    crp::fsutil::remove_all(&ctx.object(&digest)).unwrap();
    let (code, doc) = drift(&ctx);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(categories(&doc), [("missing".to_owned(), "u".to_owned())]);
    assert_eq!(doc["items"][0]["sha256"], digest.to_string(), "{doc}");
}

#[test]
fn cold_copies_survive_removal_corruption_and_a_new_cold_folder() {
    use std::os::unix::fs::PermissionsExt as _;
    let ctx = TestContext::new();
    let empty = "[project]\nname = \"life\"\n";
    let archive = |ctx: &TestContext| {
        ctx.write_manifest(empty);
        ctx.crp(&["sync"]).success();
        ctx.crp(&["gc", "--grace", "0s", "--apply"]).success();
    };
    let a = bytes(20, 2100);
    let digests = local_manifest(&ctx, &[("a", &a)]);
    ctx.crp(&["sync"]).success();
    archive(&ctx);
    let cold = ctx.object_record(&digests[0]).archived.unwrap().path;

    // Removed for good, then downloaded back: no cold copy is claimed.
    ctx.crp(&["gc", "--remove", "--older-than", "0s", "--yes"])
        .success();
    assert!(!cold.exists());
    ctx.crp(&["add", "files/a", "--purpose", "again"]).success();
    let doc = gc_doc(&ctx, &[]);
    assert_eq!(doc["cold_objects"], 0, "{doc}");
    let doc = gc_doc(&ctx, &["--remove", "--older-than", "0s", "--yes"]);
    assert!(doc["removed"].as_array().unwrap().is_empty(), "{doc}");

    // Archived again, downloaded back, and the store's copy then rots: the
    // cold copy, which still verifies, is what archiving keeps.
    archive(&ctx);
    assert_eq!(std::fs::read(&cold).unwrap(), a);
    ctx.crp(&["add", "files/a", "--purpose", "again"]).success();
    let object = ctx.object(&digests[0]);
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&object, bytes(21, 2100)).unwrap();
    archive(&ctx);
    assert_eq!(std::fs::read(&cold).unwrap(), a, "the good copy is kept");
    assert!(!object.exists());
    let record = ctx.object_record(&digests[0]);
    assert_eq!(record.status, crp::provenance::State::Archived);
    assert_eq!(record.archived.unwrap().path, cold);

    // With cold storage moved elsewhere, the copy already there is kept
    // and still accounted, not left behind unnamed.
    ctx.crp(&["add", "files/a", "--purpose", "again"]).success();
    let elsewhere = ctx.root.path().join("elsewhere-cold");
    ctx.write_config(&format!("[gc]\ncold = \"{}\"\n", elsewhere.display()));
    archive(&ctx);
    assert_eq!(ctx.object_record(&digests[0]).archived.unwrap().path, cold);
    assert_eq!(gc_doc(&ctx, &[])["cold_objects"], 1);

    // A cold copy deleted by hand is not counted, and stops no removal.
    crp::fsutil::remove_all(&cold).unwrap();
    assert_eq!(gc_doc(&ctx, &[])["cold_objects"], 0);
    let doc = gc_doc(&ctx, &["--remove", "--older-than", "0s", "--yes"]);
    assert!(doc["removed"].as_array().unwrap().is_empty(), "{doc}");
    // Nor do plan, status and drift promise to restore it.
    local_manifest(&ctx, &[("a", &a)]);
    let run = ctx.crp(&["status"]);
    assert!(
        run.stdout.contains("missing") && !run.stdout.contains("archived"),
        "{run}"
    );
    let run = ctx.crp(&["plan"]);
    assert!(!run.stdout.contains("cold storage"), "{run}");
    let run = ctx.crp(&["drift"]);
    assert!(
        run.stdout.contains("is not in the store") && !run.stdout.contains("cold storage"),
        "{run}"
    );
    // The sync brings it from its source.
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.object(&digests[0])).unwrap(), a);
    ctx.assert_records_agree_with_events();
}

#[test]
fn an_object_whose_copy_to_another_disk_does_not_verify_stays_and_the_rest_are_archived() {
    let ctx = TestContext::new();
    let cold = tempfile::tempdir_in("/dev/shm").expect("a folder on /dev/shm");
    ctx.write_config(&format!(
        "[gc]\ncold = \"{}\"\ngrace = \"0s\"\n",
        cold.path().display()
    ));
    let digests = local_manifest(
        &ctx,
        &[
            ("a", &bytes(50, 9000)),
            ("b", &bytes(51, 9000)),
            ("c", &bytes(52, 9000)),
        ],
    );
    ctx.crp(&["sync"]).success();
    ctx.write_manifest("[project]\nname = \"life\"\n");
    ctx.crp(&["sync"]).success();
    // The store's copy of `b` rotted: its copy cannot verify.
    corrupt(&ctx.object(&digests[1]));

    let run = ctx.crp(&["gc", "--apply"]);
    run.code(1);
    assert!(
        run.stdout.contains(&format!(
            "not archived  {}: the store's copy of",
            digests[1]
        )) && run
            .stdout
            .contains("does not verify, so it was not archived; `crp verify` quarantines it"),
        "{run}"
    );
    // Listed as archived are only those that were.
    let archived = run.stdout.split("\narchived (").nth(1).unwrap();
    let listed = archived.lines().skip(1).take_while(|l| l.starts_with("  "));
    assert_eq!(listed.count(), 2, "{run}");
    assert!(
        run.stdout
            .contains("archived 2 objects, removed 0 objects; 1 object left in the store"),
        "{run}"
    );
    for (i, digest) in digests.iter().enumerate() {
        let cold_copy = cold
            .path()
            .join("sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex());
        assert_eq!(cold_copy.exists(), i != 1, "{i}: {run}");
        assert_eq!(ctx.object(digest).exists(), i == 1, "{i}: {run}");
    }
    assert_eq!(
        ctx.object_record(&digests[1]).status,
        crp::lifecycle::State::Available
    );

    // JSON says which, and why.
    let run = ctx.crp(&["gc", "--apply", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["failed"][0]["sha256"], digests[1].to_string(), "{run}");
    assert!(
        doc["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{run}"
    );
    ctx.assert_records_agree_with_events();
}
