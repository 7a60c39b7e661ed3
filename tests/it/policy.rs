//! Policy, approvals, executable content, events, notifications and
//! metrics, through the real binary against a real HTTP server.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crp::digest::Sha256Digest;
use crp::execute::Status;
use crp::policy::{Rule, Verdict};
use crp::provenance::State;
use crp::report::SyncDocument;

use crate::common::{Run, TestContext, bytes, files_under};
use crate::server::{Behavior, Server};

/// One resource entry.
fn entry(
    name: &str,
    source: &str,
    digest: Option<&Sha256Digest>,
    size: Option<usize>,
    extra: &str,
) -> String {
    let mut text =
        format!("\n[resources.{name}]\nsource = \"{source}\"\npurpose = \"testing {name}\"\n");
    if let Some(d) = digest {
        text.push_str(&format!("sha256 = \"{d}\"\n"));
    }
    if let Some(s) = size {
        text.push_str(&format!("size = {s}\n"));
    }
    text.push_str(extra);
    text
}

fn manifest(project: &str, entries: &[String]) -> String {
    format!("[project]\nname = \"{project}\"\n{}", entries.concat())
}

/// The (from, to) transitions logged for one resource name.
fn transitions(ctx: &TestContext, name: &str) -> Vec<(Option<State>, State)> {
    ctx.events()
        .into_iter()
        .filter(|e| e.resource.as_ref().is_some_and(|n| n.as_str() == name))
        .map(|e| (e.from_state, e.to_state))
        .collect()
}

fn verdicts(run: &Run) -> Vec<(String, Verdict)> {
    let doc: serde_json::Value = run.json();
    doc["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{run}"))
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                serde_json::from_value(r.clone()).unwrap(),
            )
        })
        .collect()
}

fn rules(verdict: &Verdict) -> Vec<Rule> {
    match verdict {
        Verdict::AwaitingApproval { reasons } => reasons.iter().map(|r| r.rule).collect(),
        Verdict::Denied {
            rule: Some(rule), ..
        } => vec![*rule],
        _ => Vec::new(),
    }
}

#[test]
fn the_default_policy_holds_back_big_downloads_and_fetches_the_rest() {
    let ctx = TestContext::new();
    let server = Server::start();
    let small = bytes(1, 1000);
    server.route("small.bin", small.clone(), Behavior::Normal);
    server.route("big.bin", bytes(2, 1000), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "p",
        &[
            entry(
                "small",
                &server.url("small.bin"),
                Some(&Sha256Digest::of_bytes(&small)),
                None,
                "",
            ),
            // Declared over 1 GB: a person must say yes before a byte moves.
            entry(
                "big",
                &server.url("big.bin"),
                Some(&Sha256Digest::of_bytes(b"x")),
                Some(2_000_000_000),
                "",
            ),
        ],
    ));
    let plan = ctx.crp(&["plan"]);
    assert!(plan.stdout.contains("awaiting     big"), "{plan}");
    assert!(
        plan.stdout
            .contains("(awaiting approval: 1.9 GiB is over 1 GB)"),
        "{plan}"
    );
    assert!(plan.stdout.contains("(auto-approved)"), "{plan}");

    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert_eq!(doc.report.resources[0].status, Status::Ok);
    assert_eq!(doc.report.resources[0].verdict, Verdict::AutoApproved);
    assert_eq!(doc.report.resources[1].status, Status::AwaitingApproval);
    assert_eq!(
        rules(&doc.report.resources[1].verdict),
        vec![Rule::LargerThan]
    );
    assert!(
        server.requests("big.bin").is_empty(),
        "nothing is fetched before approval"
    );
    assert!(ctx.link("small").exists() && !ctx.link("big").exists());

    let pending = ctx.crp(&["pending"]);
    pending.success();
    assert!(
        pending.stdout.contains("big (project `p`) 1.9 GiB"),
        "{pending}"
    );
    assert!(
        pending.stdout.contains("purpose:      testing big"),
        "{pending}"
    );
    assert!(
        pending.stdout.contains("- 1.9 GiB is over 1 GB"),
        "{pending}"
    );
    assert!(
        pending.stdout.contains("1 request awaiting approval"),
        "{pending}"
    );

    let status = ctx.crp(&["status"]);
    assert!(status.stdout.contains("awaiting approval"), "{status}");

    // The text report says what waits and what to do.
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("awaiting     big"), "{run}");
    assert!(run.stderr.contains("`crp pending`"), "{run}");
}

#[test]
fn each_rule_of_the_collective_policy_both_ways() {
    let ctx = TestContext::new();
    let server = Server::start();
    let known = bytes(3, 500);
    server.route("known.bin", known.clone(), Behavior::Normal);
    let known_digest = Sha256Digest::of_bytes(&known);
    let run = ctx.crp(&[
        "policy",
        "init",
        "--collective",
        "--force",
        "--format",
        "json",
    ]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["command"], "policy init");
    assert_eq!(doc["collective"], true);
    assert!(doc["path"].as_str().unwrap().ends_with("meta/policy.toml"));
    let text = std::fs::read_to_string(ctx.store.join("meta/policy.toml")).unwrap();
    assert!(text.contains("first_request = true"));
    let check = |entries: &[String]| {
        ctx.write_manifest(&manifest("rules", entries));
        let run = ctx.crp(&["policy", "check", "--format", "json"]);
        verdicts(&run)
    };
    // Plain http is not an allowed scheme under the collective's limits.
    let v = check(&[entry(
        "a",
        &server.url("known.bin"),
        Some(&known_digest),
        Some(500),
        "",
    )]);
    assert_eq!(rules(&v[0].1), vec![Rule::Scheme]);

    // Each rule alone, both ways.
    let only = |rule: &str| {
        let base = [
            "larger_than = \"1 TB\"",
            "unknown_source = false",
            "first_request = false",
            "executable = false",
            "version_change = false",
        ];
        let key = rule.split(' ').next().unwrap_or_default();
        let kept: Vec<&str> = base
            .into_iter()
            .filter(|l| key.is_empty() || !l.starts_with(key))
            .collect();
        ctx.write_policy(&format!("[approval]\n{}\n{rule}\n", kept.join("\n")));
    };
    only("larger_than = \"1 KB\"");
    let v = check(&[
        entry("under", "data/a", None, Some(999), ""),
        entry("over", "data/a", None, Some(1001), ""),
    ]);
    assert_eq!(v[0].1, Verdict::AutoApproved);
    assert_eq!(rules(&v[1].1), vec![Rule::LargerThan]);

    only("unknown_source = true\ntrusted_hosts = [\"127.0.0.1\", \"*.example.org\"]");
    let v = check(&[
        entry("trusted", &server.url("known.bin"), None, None, ""),
        entry("local", "data/a", None, None, ""),
        entry("wildcard", "https://mirror.example.org/a", None, None, ""),
        entry("unknown", "https://example.com/a", None, None, ""),
    ]);
    assert_eq!(v[0].1, Verdict::AutoApproved);
    assert_eq!(v[1].1, Verdict::AutoApproved, "local paths are trusted");
    assert_eq!(v[2].1, Verdict::AutoApproved);
    assert_eq!(rules(&v[3].1), vec![Rule::UnknownSource]);

    only("executable = true");
    let v = check(&[
        entry("tool", "data/a", None, None, "executable = true\n"),
        entry("data", "data/a", None, None, ""),
    ]);
    assert_eq!(rules(&v[0].1), vec![Rule::Executable]);
    assert_eq!(v[1].1, Verdict::AutoApproved);

    only("first_request = true");
    let v = check(&[entry(
        "first",
        &server.url("known.bin"),
        Some(&known_digest),
        None,
        "",
    )]);
    assert_eq!(rules(&v[0].1), vec![Rule::FirstRequest]);
    // Once the project has fetched without incident, it is trusted.
    only("");
    ctx.crp(&["sync"]).success();
    only("first_request = true");
    let other = bytes(4, 100);
    server.route("other.bin", other.clone(), Behavior::Normal);
    let v = check(&[
        entry(
            "first",
            &server.url("known.bin"),
            Some(&known_digest),
            None,
            "",
        ),
        entry(
            "second",
            &server.url("other.bin"),
            Some(&Sha256Digest::of_bytes(&other)),
            None,
            "",
        ),
    ]);
    assert_eq!(v[1].1, Verdict::AutoApproved);

    only("version_change = true");
    let v = check(&[
        entry(
            "first",
            &server.url("other.bin"),
            Some(&Sha256Digest::of_bytes(&other)),
            None,
            "",
        ),
        entry(
            "fresh-name",
            &server.url("other.bin"),
            Some(&Sha256Digest::of_bytes(&other)),
            None,
            "",
        ),
    ]);
    assert_eq!(
        rules(&v[0].1),
        vec![Rule::VersionChange],
        "a known name with a new hash"
    );
    assert_eq!(v[1].1, Verdict::AutoApproved);

    // Hard limits: no approval overrides them.
    ctx.write_policy("[limits]\nmax_size = \"2 KB\"\nschemes = [\"file\", \"http\"]\n");
    let v = check(&[
        entry("fits", "data/a", None, Some(2000), ""),
        entry("huge", "data/a", None, Some(2001), ""),
        entry("secure", "https://example.com/a", None, None, ""),
    ]);
    assert_eq!(v[0].1, Verdict::AutoApproved);
    assert_eq!(rules(&v[1].1), vec![Rule::MaxSize]);
    assert_eq!(rules(&v[2].1), vec![Rule::Scheme]);
    let run = ctx.crp(&["approve", "huge", "--by", "alice"]);
    run.success();
    let v = check(&[entry("huge", "data/a", None, Some(2001), "")]);
    assert_eq!(
        rules(&v[0].1),
        vec![Rule::MaxSize],
        "an approval does not lift a hard limit"
    );
    ctx.crp(&["policy", "check"]).code(1);

    // `policy show` says where each value comes from.
    let show = ctx.crp(&["policy", "show"]);
    show.success();
    assert!(show.stdout.contains("max_size = \"2 KB\""), "{show}");
    assert!(
        show.stdout
            .contains("max_size = \"2 KB\"           # line 2"),
        "{show}"
    );
    assert!(show.stdout.contains("larger_than = \"1 GB\""), "{show}");
    assert!(show.stdout.contains("# default"), "{show}");
}

#[test]
fn a_bad_policy_is_reported_where_it_is_and_nothing_is_fetched() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("a.bin", bytes(5, 10), Behavior::Normal);
    ctx.write_policy("[approval]\nlarger_than = \"ten\"\n");
    ctx.write_manifest(&manifest(
        "p",
        &[entry("a", &server.url("a.bin"), None, None, "")],
    ));
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("policy.toml:2:15"), "{run}");
    assert!(server.log().is_empty());
}

fn elf() -> Vec<u8> {
    std::fs::read("/bin/true").expect("an ELF program to test with")
}

fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("README.txt", options).unwrap();
    zip.write_all(b"read me\n").unwrap();
    zip.start_file(name, options).unwrap();
    zip.write_all(content).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn tar_gz_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn executable_content_is_recognised_from_its_bytes() {
    let ctx = TestContext::new();
    let server = Server::start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("elf", elf()),
        ("script", b"#!/bin/sh\necho hello\n".to_vec()),
        ("zipped", zip_with("bin/tool", &elf())),
        ("tarred", tar_gz_with("run.sh", b"#!/bin/sh\nrm -rf /\n")),
        ("plain", b"just data\n".to_vec()),
        ("plain-zip", zip_with("data.csv", b"a,b\n1,2\n")),
    ];
    let mut entries = Vec::new();
    for (name, content) in &cases {
        server.route(name, content.clone(), Behavior::Normal);
        entries.push(entry(
            name,
            &server.url(name),
            Some(&Sha256Digest::of_bytes(content)),
            None,
            "",
        ));
    }
    ctx.write_manifest(&manifest("exec", &entries));
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    for (r, (name, content)) in doc.report.resources.iter().zip(&cases) {
        let executable = !name.starts_with("plain");
        let expected = if executable {
            Status::Quarantined
        } else {
            Status::Ok
        };
        assert_eq!(r.status, expected, "{name}: {r:?}");
        assert_eq!(ctx.link(name).exists(), !executable, "{name}");
        assert_eq!(
            ctx.object(&Sha256Digest::of_bytes(content)).exists(),
            !executable,
            "{name}"
        );
    }
    let message = &doc.report.resources[2].error.as_ref().unwrap().message;
    assert!(
        message.contains("an ELF program at `bin/tool`"),
        "{message}"
    );
    let message = &doc.report.resources[3].error.as_ref().unwrap().message;
    assert!(message.contains("a `#!` script at `run.sh`"), "{message}");
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 4);
    // A quarantine counts against the project.
    let record: crp::store::record::ProjectRecord = serde_json::from_slice(
        &std::fs::read(&files_under(&ctx.store.join("meta/projects"))[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(record.incidents, 4);

    // Not downloaded again to be quarantined again: denied until declared.
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert_eq!(doc.report.resources[0].status, Status::Denied);
    assert_eq!(
        rules(&doc.report.resources[0].verdict),
        vec![Rule::UndeclaredExecutable]
    );
    for (name, _) in &cases {
        assert_eq!(server.requests(name).len(), 1, "{name}");
    }
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 4);

    // Declared, they are fetched and published executable.
    let declared: Vec<String> = cases[..2]
        .iter()
        .map(|(name, content)| {
            entry(
                name,
                &server.url(name),
                Some(&Sha256Digest::of_bytes(content)),
                None,
                "executable = true\n",
            )
        })
        .collect();
    ctx.write_manifest(&manifest("exec", &declared));
    ctx.crp(&["sync"]).success();
    let digest = Sha256Digest::of_bytes(&cases[0].1);
    let mode = std::fs::metadata(ctx.object(&digest))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o555);
    assert!(ctx.object_record(&digest).executable);
    // The same object is not linked into a project that does not declare it.
    let other = ctx.root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("resources.toml"),
        manifest(
            "other",
            &[entry("elf", &server.url("elf"), Some(&digest), None, "")],
        ),
    )
    .unwrap();
    let run = ctx.crp_in(&other, &["sync"]);
    run.code(1);
    assert!(run.stdout.contains("denied"), "{run}");
    assert!(run.stdout.contains("its content is executable"), "{run}");
    assert!(!other.join("resources/elf").exists());
}

/// Two projects sharing the store and one resource over the approval limit.
struct Shared {
    ctx: TestContext,
    server: Server,
    second: PathBuf,
    digest: Sha256Digest,
}

fn shared(content: &[u8]) -> Shared {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("model.bin", content.to_vec(), Behavior::Normal);
    let digest = Sha256Digest::of_bytes(content);
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\n");
    let second = ctx.root.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    for (project, dir) in [("first", &ctx.project), ("second", &second)] {
        std::fs::write(
            dir.join("resources.toml"),
            manifest(
                project,
                &[entry(
                    "model",
                    &server.url("model.bin"),
                    Some(&digest),
                    Some(content.len()),
                    "",
                )],
            ),
        )
        .unwrap();
    }
    Shared {
        ctx,
        server,
        second,
        digest,
    }
}

#[test]
fn approval_flow_across_two_projects() {
    let content = bytes(6, 20_000);
    let Shared {
        ctx,
        server,
        second,
        digest,
    } = shared(&content);
    ctx.crp(&["sync"]).code(1);
    ctx.crp_in(&second, &["sync"]).code(1);
    assert!(server.log().is_empty());
    let pending = ctx.crp(&["pending", "--format", "json"]);
    let doc: serde_json::Value = pending.json();
    let projects: Vec<&str> = doc["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"].as_str().unwrap())
        .collect();
    assert_eq!(projects.len(), 2, "{pending}");
    assert!(projects.contains(&"first") && projects.contains(&"second"));
    assert_eq!(doc["pending"][0]["reasons"][0]["rule"], "larger-than");
    assert_eq!(doc["pending"][0]["requested_by"], serde_json::Value::Null);

    // A manifest named on the command line must be there, and one that
    // does not read is not passed over for another project's request; a
    // mistyped store is not made to hold the decision.
    let elsewhere = ctx.root.path().join("nowhere/resources.toml");
    let broken = ctx.root.path().join("broken.toml");
    std::fs::write(&broken, "[project\n").unwrap();
    for manifest in [&elsewhere, &broken] {
        for args in [
            &["approve", "model", "--by", "alice"][..],
            &["deny", "model", "--by", "alice", "--reason", "no"],
        ] {
            let mut all = vec!["--manifest", manifest.to_str().unwrap()];
            all.extend_from_slice(args);
            let run = ctx.crp_in(ctx.root.path(), &all);
            run.code(2);
        }
    }
    let typo = ctx.root.path().join("stroe");
    let run = ctx.crp_in(
        ctx.root.path(),
        &[
            "approve",
            &digest.to_string(),
            "--by",
            "alice",
            "--store",
            typo.to_str().unwrap(),
        ],
    );
    run.code(2);
    assert!(run.stderr.contains("no store at"), "{run}");
    assert!(!typo.exists(), "{run}");
    assert!(
        ctx.crp(&["pending"])
            .stdout
            .contains("2 requests awaiting approval")
    );

    // Approved from anywhere by its hash.
    let approve = ctx.crp_in(
        ctx.root.path(),
        &[
            "approve",
            &digest.to_string(),
            "--by",
            "alice",
            "--note",
            "reviewed",
        ],
    );
    approve.success();
    assert!(
        ctx.crp(&["pending"])
            .stdout
            .contains("0 requests awaiting approval")
    );
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.success();
    let doc: SyncDocument = run.json();
    assert!(
        matches!(&doc.report.resources[0].verdict, Verdict::Approved { by, note: Some(note), .. } if by == "alice" && note == "reviewed")
    );
    ctx.crp_in(&second, &["sync"]).success();
    assert_eq!(
        server.requests("model.bin").len(),
        1,
        "fetched once for both"
    );
    assert!(second.join("resources/model").exists());
    let record = ctx.object_record(&digest);
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].by, "alice");
    assert_eq!(record.projects.len(), 2);
    // Both pending entries are gone once synced.
    assert!(files_under(&ctx.store.join("meta/pending")).is_empty());
    // The decision is in the ledger and the event log.
    let ledger = std::fs::read_to_string(ctx.store.join("meta/approvals.jsonl")).unwrap();
    assert!(ledger.contains("\"by\":\"alice\"") && ledger.contains(&digest.hex()));
    assert!(ctx.events().iter().any(|e| e.to_state == State::Approved
        && e.from_state == Some(State::AwaitingApproval)
        && e.actor == "alice"));
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn an_approval_is_bound_to_the_hash_and_the_sources() {
    let content = bytes(7, 20_000);
    let Shared {
        ctx,
        server,
        digest,
        ..
    } = shared(&content);
    ctx.crp(&["approve", "model", "--by", "alice"]).success();
    // A new version needs a new approval, whatever the manifest says.
    let newer = bytes(8, 20_000);
    server.route("model-2.bin", newer.clone(), Behavior::Normal);
    let new_digest = Sha256Digest::of_bytes(&newer);
    ctx.write_manifest(&manifest(
        "first",
        &[entry(
            "model",
            &server.url("model-2.bin"),
            Some(&new_digest),
            Some(20_000),
            "",
        )],
    ));
    ctx.crp(&["sync"]).code(1);
    assert!(server.requests("model-2.bin").is_empty());
    // So does the same hash from other sources.
    server.route("elsewhere.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "first",
        &[entry(
            "model",
            &server.url("elsewhere.bin"),
            Some(&digest),
            Some(20_000),
            "",
        )],
    ));
    ctx.crp(&["sync"]).code(1);
    assert!(server.requests("elsewhere.bin").is_empty());
    // The manifest cannot approve anything.
    ctx.write_manifest(&manifest(
        "first",
        &[entry(
            "model",
            &server.url("elsewhere.bin"),
            Some(&digest),
            Some(20_000),
            "approved = true\n",
        )],
    ));
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("unknown key `approved`"), "{run}");
    assert!(server.log().is_empty());
    // Denied: reported with who and why, and never fetched.
    ctx.write_manifest(&manifest(
        "first",
        &[entry(
            "model",
            &server.url("model-2.bin"),
            Some(&new_digest),
            Some(20_000),
            "",
        )],
    ));
    ctx.crp(&["deny", "model", "--by", "bob", "--reason", "not licensed"])
        .success();
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("denied by bob"), "{run}");
    assert!(run.stdout.contains("not licensed"), "{run}");
    assert!(server.log().is_empty());

    // A denial after the fact takes crp's link away; the object stays.
    ctx.write_manifest(&manifest(
        "first",
        &[entry(
            "model",
            &server.url("model.bin"),
            Some(&digest),
            Some(20_000),
            "",
        )],
    ));
    ctx.crp(&["sync"]).success();
    assert!(ctx.link("model").exists());
    ctx.crp(&[
        "deny",
        &digest.to_string(),
        "--by",
        "bob",
        "--reason",
        "withdrawn",
    ])
    .success();
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stdout.contains("withdrawn; its link was removed"),
        "{run}"
    );
    assert!(!ctx.link("model").exists());
    assert!(ctx.object(&digest).exists());
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn approvals_files_travel_with_the_project_where_the_policy_trusts_them() {
    let content = bytes(9, 20_000);
    let Shared { ctx, server, .. } = shared(&content);
    let file = ctx.project.join("resources.approvals.toml");
    ctx.crp(&[
        "approve",
        "model",
        "--by",
        "carol",
        "--file",
        file.to_str().unwrap(),
    ])
    .success();
    assert!(
        !ctx.store.join("meta/approvals.jsonl").exists(),
        "the ledger is untouched"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[[approval]]") && text.contains("by = \"carol\""),
        "{text}"
    );
    // Without the file the request waits; with it, it is fetched.
    ctx.crp(&["sync"]).code(1);
    let run = ctx.crp(&[
        "sync",
        "--approvals",
        "resources.approvals.toml",
        "--format",
        "json",
    ]);
    run.success();
    let doc: SyncDocument = run.json();
    assert!(
        matches!(&doc.report.resources[0].verdict, Verdict::Approved { by, file: Some(_), .. } if by == "carol")
    );
    assert_eq!(server.requests("model.bin").len(), 1);

    // A store whose policy does not trust such files ignores them.
    let content = bytes(10, 20_000);
    let Shared { ctx, server, .. } = shared(&content);
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\napproval_files = false\n");
    let file = ctx.project.join("resources.approvals.toml");
    ctx.crp(&[
        "approve",
        "model",
        "--by",
        "carol",
        "--file",
        file.to_str().unwrap(),
    ])
    .success();
    let run = ctx.crp(&["sync", "--approvals", "resources.approvals.toml"]);
    run.code(1);
    assert!(
        run.stderr.contains("does not trust approvals files"),
        "{run}"
    );
    assert!(server.log().is_empty());
}

#[test]
fn the_event_log_follows_a_fetch_a_mismatch_and_a_wait() {
    let ctx = TestContext::new();
    let server = Server::start();
    let good = bytes(11, 1000);
    server.route("good.bin", good.clone(), Behavior::Normal);
    server.route("bad.bin", bytes(12, 1000), Behavior::Normal);
    server.route("big.bin", bytes(13, 1000), Behavior::Normal);
    ctx.write_policy("[approval]\nlarger_than = \"1 KB\"\n");
    ctx.write_manifest(&manifest(
        "events",
        &[
            entry(
                "good",
                &server.url("good.bin"),
                Some(&Sha256Digest::of_bytes(&good)),
                Some(1000),
                "",
            ),
            entry(
                "bad",
                &server.url("bad.bin"),
                Some(&Sha256Digest::of_bytes(b"other")),
                Some(1000),
                "",
            ),
            entry("big", &server.url("big.bin"), None, Some(5000), ""),
        ],
    ));
    let run = ctx
        .command()
        .env("CRP_ACTOR", "ci-runner")
        .arg("sync")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    use State::*;
    assert_eq!(
        transitions(&ctx, "good"),
        vec![
            (None, Requested),
            (Some(Requested), Evaluating),
            (Some(Evaluating), Approved),
            (Some(Approved), Downloading),
            (Some(Downloading), Verifying),
            (Some(Verifying), Available),
        ]
    );
    assert_eq!(
        transitions(&ctx, "bad"),
        vec![
            (None, Requested),
            (Some(Requested), Evaluating),
            (Some(Evaluating), Approved),
            (Some(Approved), Downloading),
            (Some(Downloading), Verifying),
            (Some(Verifying), Failed),
        ]
    );
    assert_eq!(
        transitions(&ctx, "big"),
        vec![
            (None, Requested),
            (Some(Requested), Evaluating),
            (Some(Evaluating), AwaitingApproval),
        ]
    );
    let all = ctx.events();
    assert!(
        all.iter()
            .all(|e| e.actor == "ci-runner" && e.project.as_ref().unwrap().as_str() == "events")
    );
    let failed = all.iter().find(|e| e.to_state == Failed).unwrap();
    assert_eq!(failed.details["reason"], "mismatch");
    assert_eq!(
        failed.details["actual"],
        Sha256Digest::of_bytes(&bytes(12, 1000)).to_string()
    );
    let available = all.iter().find(|e| e.to_state == Available).unwrap();
    assert_eq!(available.details["size_bytes"], 1000);
    assert!(
        available.details["served_by"]
            .as_str()
            .unwrap()
            .ends_with("/good.bin")
    );
    // A second sync does not announce the same wait again.
    ctx.crp(&["sync"]).code(1);
    assert_eq!(transitions(&ctx, "big").len(), 3);
    // The record holds the state; `show` prints it and its history.
    let digest = Sha256Digest::of_bytes(&good);
    assert_eq!(ctx.object_record(&digest).status, Available);
    let show = ctx.crp(&["show", "good"]);
    show.success();
    assert!(
        show.stdout.contains(&format!("sha256          {digest}")),
        "{show}"
    );
    assert!(show.stdout.contains("status          available"), "{show}");
    assert!(show.stdout.contains("-> available"), "{show}");
    let doc: serde_json::Value = ctx
        .crp(&["show", &digest.hex()[..12], "--format", "json"])
        .json();
    assert_eq!(doc["record"]["status"], "available");
    assert_eq!(doc["record"]["size_bytes"], 1000);
    assert_eq!(doc["record"]["type"], "file");
    assert_eq!(doc["history"].as_array().unwrap().len(), 6);
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn the_dag_has_supersedes_and_derived_from_edges() {
    let ctx = TestContext::new();
    let v1 = ctx.write_file("data/v1.txt", b"one\n");
    let v2 = ctx.write_file("data/v2.txt", b"two\n");
    let index = ctx.write_file("data/index.txt", b"index of two\n");
    ctx.write_manifest(&manifest(
        "dag",
        &[entry("data", "data/v1.txt", Some(&v1), None, "")],
    ));
    ctx.crp(&["sync"]).success();
    ctx.write_manifest(&manifest(
        "dag",
        &[
            entry("data", "data/v2.txt", Some(&v2), None, ""),
            entry(
                "index",
                "data/index.txt",
                Some(&index),
                None,
                "derived_from = [\"data\"]\n",
            ),
        ],
    ));
    ctx.crp(&["sync"]).success();
    assert_eq!(ctx.object_record(&v2).supersedes, vec![v1]);
    assert_eq!(ctx.object_record(&index).derived_from, vec![v2]);
    let dot = ctx.crp(&["dag", "--format", "dot"]);
    dot.success();
    assert!(dot.stdout.starts_with("digraph crp {"), "{dot}");
    assert!(
        dot.stdout.contains(&format!(
            "\"sha256:{}\" -> \"sha256:{}\" [label=\"supersedes\", style=dashed];",
            v2.hex(),
            v1.hex()
        )),
        "{dot}"
    );
    assert!(
        dot.stdout.contains(&format!(
            "\"sha256:{}\" -> \"sha256:{}\" [label=\"derived-from\"",
            index.hex(),
            v2.hex()
        )),
        "{dot}"
    );
    // The old version is labelled as what no project names any more.
    assert!(
        dot.stdout.contains(&format!(
            "label=\"(no project names it)\\n{}\\n4 B",
            v1.short()
        )),
        "{dot}"
    );
    assert!(dot.stdout.contains("label=\"project dag\"]"), "{dot}");
    let doc: serde_json::Value = ctx.crp(&["dag", "--format", "json"]).json();
    assert_eq!(
        doc["nodes"].as_array().unwrap().len(),
        4,
        "one project, three objects"
    );
    let old = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["sha256"] == v1.hex())
        .unwrap();
    assert_eq!(old["names"], serde_json::json!([]));

    // Two projects of one name are told apart by their folders.
    let twin = ctx.root.path().join("elsewhere/dag");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::write(
        twin.join("resources.toml"),
        manifest(
            "dag",
            &[entry(
                "copy",
                &ctx.project.join("data/v1.txt").display().to_string(),
                Some(&v1),
                None,
                "",
            )],
        ),
    )
    .unwrap();
    ctx.crp_in(&twin, &["sync"]).success();
    let dot = ctx.crp(&["dag"]);
    assert!(
        dot.stdout
            .contains("label=\"project dag\\n[ROOT]/elsewhere/dag\""),
        "{dot}"
    );
    assert!(
        dot.stdout
            .contains("label=\"project dag\\n[ROOT]/project\""),
        "{dot}"
    );
    // A name that is not a resource of this manifest is an error, at its place.
    ctx.write_manifest(&manifest(
        "dag",
        &[entry(
            "index",
            "data/index.txt",
            Some(&index),
            None,
            "derived_from = [\"nope\"]\n",
        )],
    ));
    let run = ctx.crp(&["plan"]);
    run.code(2);
    assert!(run.stderr.contains("resources.toml:8:17"), "{run}");
    ctx.crp(&["metrics", "--format", "dot"]).code(2);
}

#[test]
fn hooks_and_bridge_messages_tell_people() {
    let ctx = TestContext::new();
    let server = Server::start();
    let good = bytes(14, 1000);
    server.route("good.bin", good.clone(), Behavior::Normal);
    server.route("big.bin", bytes(15, 10), Behavior::Normal);
    let log = ctx.root.path().join("hook.log");
    ctx.write_config(&format!(
            r#"[[notify]]
command = ["sh", "-c", "echo \"$CRP_EVENT $CRP_NAME $CRP_STATE $CRP_PROJECT $CRP_SIZE $CRP_SHA256 $CRP_PATH\" >> {}"]

[[notify]]
command = ["false"]
on = ["available"]

[bridge]
folder = "bridge"
to = "operators"
"#,
            log.display()
        ),
    );
    ctx.write_policy("[approval]\nlarger_than = \"1 KB\"\n");
    let digest = Sha256Digest::of_bytes(&good);
    ctx.write_manifest(&manifest(
        "notes",
        &[
            entry(
                "good",
                &server.url("good.bin"),
                Some(&digest),
                Some(1000),
                "",
            ),
            entry(
                "big",
                &server.url("big.bin"),
                None,
                Some(5000),
                "requested_by = \"agent-7\"\n",
            ),
        ],
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("the notify hook `false` failed for `good`"),
        "{run}"
    );
    assert!(
        ctx.link("good").exists(),
        "a failing hook does not undo the sync"
    );
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        lines.contains(&format!(
            "available good available notes 1000 {} {}",
            digest.hex(),
            ctx.object(&digest).display()
        )),
        "{lines}"
    );
    assert!(
        lines.contains("awaiting-approval big awaiting-approval notes 5000"),
        "{lines}"
    );

    let messages = files_under(&ctx.store.join("bridge"));
    assert_eq!(messages.len(), 2, "{messages:?}");
    let request = messages
        .iter()
        .find(|m| m.to_string_lossy().contains("resource-request"))
        .unwrap();
    let text = std::fs::read_to_string(request).unwrap();
    assert!(
        text.starts_with(
            "---\nType: resource-request\nFrom: crp\nTo: operators\nPriority: normal\nDate: "
        ),
        "{text}"
    );
    assert!(
        text.contains("\n---\n\n# Resource request: `big`\n"),
        "{text}"
    );
    assert!(text.contains("- **Purpose:** testing big"), "{text}");
    assert!(text.contains("- **Requested by:** agent-7"), "{text}");
    assert!(
        text.contains("## Why it needs approval\n\n- 4.9 KiB is over 1 KB"),
        "{text}"
    );
    let done = messages
        .iter()
        .find(|m| m.to_string_lossy().contains("resource-available"))
        .unwrap();
    let text = std::fs::read_to_string(done).unwrap();
    assert!(
        text.starts_with(
            "---\nType: resource-available\nFrom: crp\nTo: operators\nPriority: low\n"
        ),
        "{text}"
    );

    let completion = std::fs::read_to_string(ctx.store.join("meta/completion.log")).unwrap();
    assert_eq!(completion.lines().count(), 1, "{completion}");
    assert!(
        completion.contains("available good (project notes)"),
        "{completion}"
    );

    // An agent can ask before it declares.
    let run = ctx.crp(&[
        "request",
        "https://example.org/corpus.tar",
        "--purpose",
        "speech training",
        "--size",
        "3 GB",
        "--priority",
        "high",
    ]);
    run.success();
    let messages = files_under(&ctx.store.join("bridge"));
    let asked = messages
        .iter()
        .find(|m| m.to_string_lossy().contains("corpus.tar"))
        .unwrap();
    let text = std::fs::read_to_string(asked).unwrap();
    assert!(
        text.starts_with("---\nType: resource-request\nFrom: crp\nTo: operators\nPriority: high\n"),
        "{text}"
    );
    assert!(
        text.contains("- **Size:** 2.8 GiB (3000000000 bytes)"),
        "{text}"
    );
}

#[test]
fn metrics_from_a_known_history() {
    let content = bytes(16, 20_000);
    let Shared {
        ctx,
        server,
        second,
        ..
    } = shared(&content);
    let small = bytes(17, 100);
    server.route("small.bin", small.clone(), Behavior::Normal);
    std::fs::write(
        second.join("resources.toml"),
        manifest(
            "second",
            &[entry(
                "small",
                &server.url("small.bin"),
                Some(&Sha256Digest::of_bytes(&small)),
                None,
                "",
            )],
        ),
    )
    .unwrap();
    ctx.crp_in(&second, &["sync"]).success(); // one auto-approved fetch
    ctx.crp(&["sync"]).code(1); // one wait
    ctx.crp(&["approve", "model", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success(); // one approved fetch
    let doc: serde_json::Value = ctx.crp(&["metrics", "--format", "json"]).json();
    let m = &doc["metrics"];
    assert_eq!(m["requested"], 3, "{m}");
    assert_eq!(m["fulfilled"], 2, "{m}");
    assert_eq!(m["auto_approved"], 1, "{m}");
    assert_eq!(m["awaiting_approval"], 1, "{m}");
    assert_eq!(m["approvals"], 1, "{m}");
    assert_eq!(m["denials"], 0, "{m}");
    assert_eq!(m["storage_total_bytes"], 20_100, "{m}");
    assert_eq!(m["storage_bytes"]["available"], 20_100, "{m}");
    assert_eq!(m["download_seconds"]["under-1MB"]["count"], 2, "{m}");
    let rate = m["auto_approval_rate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{m}");
    let prom = ctx.crp(&["metrics", "--format", "prometheus"]);
    prom.success();
    assert!(
        prom.stdout
            .contains("# TYPE crp_requests_total counter\ncrp_requests_total 3\n"),
        "{prom}"
    );
    assert!(
        prom.stdout
            .contains("crp_human_decisions_total{decision=\"approve\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.stdout
            .contains("crp_store_bytes{state=\"available\"} 20100\n"),
        "{prom}"
    );
    let text = ctx.crp(&["metrics"]);
    assert!(
        text.stdout
            .contains("auto-approval   33 % (1 of 3 requests; 1 waited for a person)"),
        "{text}"
    );
}

#[test]
fn the_quota_is_refused_before_any_byte_is_written() {
    let ctx = TestContext::new();
    let server = Server::start();
    let first = bytes(18, 6000);
    let second = bytes(19, 6000);
    let third = bytes(20, 6000);
    for (name, content) in [("first", &first), ("second", &second), ("third", &third)] {
        server.route(name, content.clone(), Behavior::Normal);
    }
    ctx.write_policy("[limits]\nquota = \"10 KB\"\n");
    ctx.write_manifest(&manifest(
        "quota",
        &[
            entry(
                "first",
                &server.url("first"),
                Some(&Sha256Digest::of_bytes(&first)),
                Some(6000),
                "",
            ),
            entry(
                "second",
                &server.url("second"),
                Some(&Sha256Digest::of_bytes(&second)),
                Some(6000),
                "",
            ),
        ],
    ));
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert_eq!(doc.report.resources[0].status, Status::Ok);
    assert_eq!(doc.report.resources[1].status, Status::Denied);
    assert_eq!(rules(&doc.report.resources[1].verdict), vec![Rule::Quota]);
    assert!(
        server.requests("second").is_empty(),
        "refused before the request"
    );
    // Without a declared size, the server's announced length decides
    // before a byte is written.
    ctx.write_manifest(&manifest(
        "quota",
        &[
            entry(
                "first",
                &server.url("first"),
                Some(&Sha256Digest::of_bytes(&first)),
                Some(6000),
                "",
            ),
            entry("third", &server.url("third"), None, None, ""),
        ],
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("quota of 10 KB; refused before writing it"),
        "{run}"
    );
    assert_eq!(ctx.objects().len(), 1);
    assert!(ctx.incomplete().is_empty(), "{:?}", ctx.incomplete());
}

#[test]
fn crp_add_is_judged_like_a_declared_resource() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("big.bin", bytes(21, 5000), Behavior::Normal);
    server.route("tool", elf(), Behavior::Normal);
    ctx.write_manifest("[project]\nname = \"agent\"\n");
    let before = ctx.read_manifest();

    // An undeclared size is held to the approval limit as the bytes arrive.
    ctx.write_policy("[approval]\nlarger_than = \"4 KB\"\n");
    let run = ctx.crp(&["add", &server.url("big.bin"), "--purpose", "data"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("passed 4 KB, the most crp fetches without a declared size"),
        "{run}"
    );
    assert_eq!(ctx.read_manifest(), before);
    assert!(ctx.objects().is_empty() && ctx.incomplete().is_empty());

    // A rule that wants a person stops it before a byte moves.
    ctx.write_policy("[approval]\nfirst_request = true\n");
    let requests = server.log().len();
    let run = ctx.crp(&["add", &server.url("big.bin"), "--purpose", "data"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("does not let `big.bin` in without a person"),
        "{run}"
    );
    assert!(run.stderr.contains("`crp pending`"), "{run}");
    assert_eq!(server.log().len(), requests);
    assert_eq!(ctx.read_manifest(), before);

    // Executable content that the policy wants a person for is quarantined.
    ctx.write_policy("[approval]\nexecutable = true\n");
    let run = ctx.crp(&["add", &server.url("tool"), "--purpose", "a tool"]);
    run.code(1);
    assert!(run.stderr.contains("an ELF program"), "{run}");
    assert_eq!(ctx.read_manifest(), before);
    assert!(ctx.objects().is_empty());
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 1);
}

#[test]
fn an_unpinned_source_of_quarantined_content_is_asked_not_downloaded_again() {
    let ctx = TestContext::new();
    let server = Server::start();
    let script = b"#!/bin/sh\necho hello\n".to_vec();
    server.route("tool.sh", script.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "exec",
        &[entry("tool", &server.url("tool.sh"), None, None, "")],
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("quarantined  tool"), "{run}");
    assert!(
        run.stderr
            .contains("hint: if `tool` is meant to run, declare `executable = true` in its entry"),
        "{run}"
    );
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 1);

    // The source is asked whether it changed; it did not, so nothing is
    // downloaded and nothing more is quarantined.
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("denied       tool"), "{run}");
    assert!(
        run.stdout.contains("still serves the executable content"),
        "{run}"
    );
    assert!(run.stderr.contains("declare `executable = true`"), "{run}");
    let asked = server.requests("tool.sh");
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[1].if_none_match.is_some(), "{asked:?}");
    assert_eq!((asked[1].status, asked[1].sent), (304, 0));
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 1);
    assert!(
        ctx.read_manifest().find("sha256").is_none(),
        "nothing pinned"
    );

    // Once the source serves something else, it is downloaded and judged.
    server.route("tool.sh", b"plain data\n".to_vec(), Behavior::Normal);
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("tool")).unwrap(), b"plain data\n");

    // Declared executable, what is served is fetched and linked.
    server.route("tool.sh", script.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "exec",
        &[entry(
            "tool",
            &server.url("tool.sh"),
            None,
            None,
            "executable = true\n",
        )],
    ));
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("tool")).unwrap(), script);
}

#[test]
fn an_approval_before_the_pin_binds_the_file_a_relative_path_names() {
    let ctx = TestContext::new();
    ctx.init_store();
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\n");
    let projects: Vec<std::path::PathBuf> = ["pc", "pd"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let dir = ctx.root.path().join(name);
            std::fs::create_dir_all(dir.join("files")).unwrap();
            // The same relative path, different bytes.
            std::fs::write(dir.join("files/big"), bytes(70 + i as u8, 20_000)).unwrap();
            std::fs::write(
                dir.join("resources.toml"),
                format!("[project]\nname = \"{name}\"\n\n[resources.big]\nsource = \"files/big\"\nsize = 20000\npurpose = \"t\"\n"),
            )
            .unwrap();
            ctx.crp_in(&dir, &["sync"]).code(1);
            dir
        })
        .collect();
    // By name alone, from no project, the two requests are told apart.
    let run = ctx.crp_in(ctx.root.path(), &["approve", "big", "--by", "alice"]);
    run.code(2);
    assert!(run.stderr.contains("names 2 different requests"), "{run}");
    assert!(
        run.stderr
            .contains("run this in the project of the one you mean"),
        "{run}"
    );
    // Approved in one project, it lets in that project's file only.
    ctx.crp_in(&projects[0], &["approve", "big", "--by", "alice"])
        .success();
    ctx.crp_in(&projects[1], &["sync"]).code(1);
    ctx.crp_in(&projects[0], &["sync"]).success();
    let pending = ctx.crp(&["pending", "--format", "json"]);
    let doc: serde_json::Value = pending.json();
    assert_eq!(doc["pending"].as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(doc["pending"][0]["project"], "pd", "{pending}");
}

#[test]
fn pending_says_when_there_is_no_store() {
    let ctx = TestContext::new();
    let missing = ctx.root.path().join("stroe");
    let run = ctx.crp(&["pending", "--store", missing.to_str().unwrap()]);
    run.success();
    assert!(run.stderr.contains("there is no store at"), "{run}");
    assert!(run.stdout.contains("0 requests awaiting approval"), "{run}");
    assert!(!missing.exists());
    ctx.init_store();
    let run = ctx.crp(&["pending"]);
    assert!(!run.stderr.contains("there is no store at"), "{run}");
}

#[test]
fn a_denial_of_bytes_holds_whatever_source_names_them() {
    let ctx = TestContext::new();
    ctx.init_store();
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\n");
    let digest = ctx.write_file("files/big", &bytes(80, 20_000));
    let manifest = |source: &str| {
        format!(
            "[project]\nname = \"p\"\n\n[resources.big]\nsource = \"{source}\"\nsha256 = \"{digest}\"\nsize = 20000\npurpose = \"t\"\n"
        )
    };
    let unpinned = manifest("files/big").replace(&format!("sha256 = \"{digest}\"\n"), "");
    // Approved before it was pinned: its first use pins it.
    ctx.write_manifest(&unpinned);
    ctx.crp(&["sync"]).code(1);
    ctx.crp(&["approve", "big", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success();
    assert_eq!(ctx.read_manifest(), manifest("files/big"));
    ctx.crp(&["deny", "big", "--by", "bob", "--reason", "bad licence"])
        .success();
    ctx.crp(&["sync"]).code(1);
    assert!(!ctx.link("big").exists());
    // Unpinned again, the approval made before the first pin brings the
    // same bytes: still denied, not linked, not pinned.
    ctx.write_manifest(&unpinned);
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stdout.contains("denied by bob"), "{run}");
    assert!(!ctx.link("big").exists(), "{run}");
    assert_eq!(ctx.read_manifest(), unpinned);
    // The same file spelled otherwise, or the same bytes from elsewhere:
    // still denied, though the store holds them.
    for source in ["./files/big", "http://127.0.0.1:9/other"] {
        ctx.write_manifest(&manifest(source));
        let run = ctx.crp(&["sync"]);
        run.code(1);
        assert!(run.stdout.contains("denied by bob"), "{source}: {run}");
        assert!(!ctx.link("big").exists(), "{source}: {run}");
    }
    // Approved again by a person, it is let in.
    ctx.crp(&["approve", "big", "--by", "carol"]).success();
    ctx.crp(&["sync"]).success();
}
