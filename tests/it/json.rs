//! `--format json`: one versioned document on stdout, deserialized into the
//! library's own document types and checked field by field.

use crp::digest::Sha256Digest;
use crp::execute::{LinkOutcome, Status};
use crp::plan::{Action, FetchStep, LinkStep};
use crp::report::{AddDocument, HashDocument, PlanDocument, SyncDocument};

use crate::common::{TestContext, bytes};
use crate::server::{Behavior, Server};

#[test]
fn plan_sync_and_status_documents() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(30, 4096);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("a.bin", content.clone(), Behavior::Normal);
    ctx.write_file("data/b.txt", b"unpinned");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"{}\"\nsha256 = \"{digest}\"\nsize = 4096\npurpose = \"a\"\n\n[resources.b]\nsource = \"data/b.txt\"\npurpose = \"b\"\n",
        server.url("a.bin")
    ));

    let run = ctx.crp(&["plan", "--format", "json"]);
    run.success();
    assert!(run.stderr.is_empty(), "{run}");
    let plan: PlanDocument = run.json();
    assert_eq!((plan.schema_version, plan.command.as_str()), (1, "plan"));
    assert_eq!(plan.plan.project.name.as_str(), "demo");
    assert_eq!(plan.plan.store, ctx.store);
    let [a, b] = &plan.plan.resources[..] else {
        panic!("two resources expected")
    };
    assert_eq!(
        (a.name.as_str(), a.action, a.sha256, a.size),
        ("a", Action::Fetch, Some(digest), Some(4096))
    );
    assert_eq!(
        a.fetch,
        Some(FetchStep {
            pin: false,
            torrent: false,
            restore: false,
            remembered: None,
        })
    );
    assert_eq!(a.link, LinkStep::Create);
    assert_eq!(a.source, server.url("a.bin"));
    assert_eq!((b.action, b.sha256), (Action::FetchAndPin, None));
    assert_eq!((plan.summary.fetch, plan.summary.fetch_bytes), (2, 4096));

    // `sync --dry-run` prints the same plan.
    let dry: PlanDocument = ctx.crp(&["sync", "--dry-run", "--format", "json"]).json();
    assert_eq!(dry, plan);

    let run = ctx.crp(&["sync", "--format", "json"]);
    run.success();
    assert!(
        run.stderr.is_empty(),
        "progress must not be printed with JSON\n{run}"
    );
    let sync: SyncDocument = run.json();
    assert_eq!(
        (sync.schema_version, sync.command.as_str(), sync.ok),
        (1, "sync", true)
    );
    assert!(sync.report.manifest_updated && sync.report.record_updated);
    let [a, b] = &sync.report.resources[..] else {
        panic!("two resources expected")
    };
    assert_eq!(
        (a.status, a.link, a.pinned),
        (Status::Ok, LinkOutcome::Created, false)
    );
    assert_eq!(
        a.fetched_from.as_deref(),
        Some(server.url("a.bin").as_str())
    );
    assert_eq!(a.link_path, ctx.link("a"));
    assert_eq!(
        (b.status, b.pinned, b.sha256),
        (Status::Ok, true, Some(Sha256Digest::of_bytes(b"unpinned")))
    );
    assert_eq!(
        (
            sync.summary.fetched,
            sync.summary.pinned,
            sync.summary.linked
        ),
        (2, 1, 2)
    );
    assert_eq!(sync.summary.fetched_bytes, 4096 + 8);

    let again: SyncDocument = ctx.crp(&["sync", "--format", "json"]).json();
    assert!(again.ok && !again.report.manifest_updated && !again.report.record_updated);
    assert_eq!(again.summary.up_to_date, 2);
    assert!(
        again
            .report
            .resources
            .iter()
            .all(|r| r.link == LinkOutcome::UpToDate && r.fetched_from.is_none())
    );

    let status: PlanDocument = ctx.crp(&["status", "--format", "json"]).json();
    assert_eq!(status.command, "status");
    assert!(
        status
            .plan
            .resources
            .iter()
            .all(|r| r.present && r.action == Action::UpToDate)
    );
    assert_eq!(
        status.plan.resources[1].size,
        Some(8),
        "the size of a present object is known"
    );
}

#[test]
fn failures_are_data_too() {
    let ctx = TestContext::new();
    let server = Server::start();
    let digest = Sha256Digest::of_bytes(b"expected");
    server.route("a.bin", b"something else".to_vec(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsources = [\"{}\", \"{}\"]\nsha256 = \"{digest}\"\npurpose = \"a\"\n",
        server.url("a.bin"),
        server.url("gone.bin")
    ));
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert!(!doc.ok);
    let error = doc.report.resources[0].error.as_ref().unwrap();
    assert_eq!(doc.report.resources[0].status, Status::Failed);
    assert_eq!(error.failures.len(), 2);
    assert!(
        error.failures[0].error.starts_with("sha256 mismatch"),
        "{:?}",
        error.failures
    );
    assert_eq!(error.failures[1].error, "HTTP 404 Not Found");
    assert_eq!(doc.summary.failed, 1);
}

#[test]
fn a_bad_argument_is_an_error_document_under_format_json() {
    let ctx = TestContext::new();
    for (args, command, message) in [
        (
            &["sync", "--format", "json", "--bogus"][..],
            "sync",
            "unexpected argument '--bogus' found",
        ),
        (
            &["--format=json", "status", "--jobs", "2"][..],
            "status",
            "unexpected argument '--jobs' found",
        ),
        (
            &["update", "--format", "json", "--jobs", "0"][..],
            "update",
            "invalid value '0' for '--jobs <N>'",
        ),
        (
            &["--format", "json", "bogus"][..],
            "crp",
            "unrecognized subcommand 'bogus'",
        ),
        // A group without its subcommand, wherever `--format` is.
        (
            &["--format", "json", "remote"][..],
            "remote",
            "'crp remote' requires a subcommand",
        ),
        (
            &["remote", "--format", "json"][..],
            "remote",
            "'crp remote' requires a subcommand",
        ),
        // An option's value is not a command, however it is spelled.
        (
            &["--store", "add", "--format", "json", "remote"][..],
            "remote",
            "'crp remote' requires a subcommand",
        ),
        (
            &["--format", "json", "--manifest", "sync", "bogus"][..],
            "crp",
            "unrecognized subcommand 'bogus'",
        ),
        // A group's subcommand is named whole.
        (
            &["remote", "add", "--format", "json", "team"][..],
            "remote add",
            "the following required arguments were not provided",
        ),
        (
            &[
                "torrent",
                "daemon",
                "start",
                "--format",
                "json",
                "--rpc-port",
                "x",
            ][..],
            "torrent daemon start",
            "invalid value 'x' for '--rpc-port <PORT>'",
        ),
    ] {
        let run = ctx.crp(args);
        run.code(2);
        let doc: crp::report::ErrorDocument = run.json();
        assert_eq!(doc.command, command, "{run}");
        assert_eq!(doc.error.kind, "invalid-input");
        assert!(doc.error.message.starts_with(message), "{run}");
        assert!(
            doc.error
                .hint
                .unwrap()
                .ends_with("--help` lists what it takes")
        );
    }
    // Without it, clap's words on stderr, with the usage help shows.
    let run = ctx.crp(&["sync", "--store", "/x", "--bogus"]);
    run.code(2);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.stderr.contains("Usage: crp sync [OPTIONS]\n"), "{run}");
}

#[test]
fn hash_and_add_documents() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("data/x.bin", b"xyz");
    let doc: HashDocument = ctx.crp(&["hash", "data/x.bin", "--format", "json"]).json();
    assert_eq!((doc.sha256, doc.size), (digest, 3));

    ctx.crp(&["init", "--name", "demo"]).success();
    let run = ctx.crp(&["add", "data/x.bin", "--purpose", "x", "--format", "json"]);
    run.success();
    let doc: AddDocument = run.json();
    assert_eq!(
        (doc.name.as_str(), doc.sha256, doc.size, doc.source.as_str()),
        ("x.bin", digest, 3, "data/x.bin")
    );
}
