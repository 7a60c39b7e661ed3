//! What a project links is exactly what its manifest declares; a store never
//! pins bytes no server served; secrets in URLs never leak. Each test is a
//! way crp was once fooled, driven through the real binary against the
//! fault-injecting server.

use std::path::Path;
use std::time::Duration;

use crp::digest::Sha256Digest;
use crp::report::{PlanDocument, SyncDocument};

use crate::common::{Run, TestContext, bytes, files_under};
use crate::server::{Behavior, Server, Version};

/// A manifest of one unpinned resource.
fn unpinned(project: &str, name: &str, source: &str) -> String {
    format!(
        "[project]\nname = \"{project}\"\n\n[resources.{name}]\nsource = \"{source}\"\npurpose = \"testing\"\n"
    )
}

/// A manifest of one resource pinned to `digest`.
fn pinned(name: &str, source: &str, digest: &Sha256Digest) -> String {
    format!(
        "[project]\nname = \"demo\"\n\n[resources.{name}]\nsource = \"{source}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n"
    )
}

/// The sha256 an entry of `manifest` was pinned to.
fn pinned_digest(manifest: &str) -> Sha256Digest {
    let line = manifest
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .unwrap_or_else(|| panic!("not pinned:\n{manifest}"));
    line.trim_end_matches('"').parse().unwrap()
}

/// Makes a fifo at `path`.
fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// A process that holds the fifo at `path` open for writing and never
/// writes (`<>` opens without waiting for a reader).
fn idle_writer(path: &Path) -> std::process::Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<>'{}'; exec sleep 60", path.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A second project folder beside the test's.
fn project(ctx: &TestContext, name: &str, manifest: &str) -> std::path::PathBuf {
    let dir = ctx.root.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("resources.toml"), manifest).unwrap();
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

// 1. Identity: a source is its whole URL.

#[test]
fn sources_that_differ_only_in_a_secret_are_two_sources() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (a, b) = (bytes(1, 5_000), bytes(2, 5_000));
    server.route("get?key=dataset-a", a.clone(), Behavior::Normal);
    server.route("get?key=dataset-b", b.clone(), Behavior::Normal);
    let first = project(
        &ctx,
        "first",
        &unpinned("first", "data", &server.url("get?key=dataset-a")),
    );
    let second = project(
        &ctx,
        "second",
        &unpinned("second", "data", &server.url("get?key=dataset-b")),
    );
    ctx.crp_in(&first, &["sync"]).success();
    ctx.crp_in(&second, &["sync"]).success();
    // Each is pinned to what its own URL serves, and each URL was asked.
    assert_eq!(
        pinned_digest(&read(&first.join("resources.toml"))),
        Sha256Digest::of_bytes(&a)
    );
    assert_eq!(
        pinned_digest(&read(&second.join("resources.toml"))),
        Sha256Digest::of_bytes(&b)
    );
    assert_eq!(std::fs::read(second.join("resources/data")).unwrap(), b);
    let queries: Vec<Option<String>> = server
        .requests("get")
        .into_iter()
        .map(|r| r.query)
        .collect();
    assert!(
        queries.contains(&Some("key=dataset-b".into())),
        "{queries:?}"
    );
    // And neither secret is anywhere in the store.
    for file in files_under(&ctx.store) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains("dataset-a") && !text.contains("dataset-b"),
            "`{}` holds a secret:\n{text}",
            file.display()
        );
    }
}

#[test]
fn an_approval_of_one_url_does_not_cover_another_that_differs_in_a_secret() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("model.bin?token=alpha", bytes(3, 5_000), Behavior::Normal);
    server.route("model.bin?token=bravo", bytes(4, 5_000), Behavior::Normal);
    // Hosts other than the trusted one wait for a person.
    ctx.write_policy("[approval]\nunknown_source = true\ntrusted_hosts = [\"example.org\"]\n");
    let first = project(
        &ctx,
        "first",
        &unpinned("first", "model", &server.url("model.bin?token=alpha")),
    );
    let second = project(
        &ctx,
        "second",
        &unpinned("second", "model", &server.url("model.bin?token=bravo")),
    );
    ctx.crp_in(&first, &["sync"]).code(1);
    ctx.crp_in(&second, &["sync"]).code(1);
    ctx.crp_in(&first, &["approve", "model", "--by", "alice"])
        .success();
    ctx.crp_in(&first, &["sync"]).success();
    // The other URL, shown alike, is another source: it still waits, and
    // nothing was fetched for it.
    let run = ctx.crp_in(&second, &["sync", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert_eq!(
        doc.report.resources[0].status,
        crp::execute::Status::AwaitingApproval,
        "{run}"
    );
    assert!(
        server
            .requests("model.bin")
            .iter()
            .all(|r| r.query.as_deref() == Some("token=alpha"))
    );
    let ledger = read(&ctx.store.join("meta/approvals.jsonl"));
    assert!(
        !ledger.contains("alpha") && !ledger.contains("bravo"),
        "{ledger}"
    );
    assert!(ledger.contains("hmac-sha256:"), "{ledger}");
    // `crp pending` still lists it.
    let run = ctx.crp_in(&second, &["pending"]);
    assert!(run.stdout.contains("1 request awaiting approval"), "{run}");
}

// 2. Trust on first use means "what the source serves now".

#[test]
fn first_use_pins_what_the_source_serves_now() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (v1, v2) = (bytes(4, 8_000), bytes(5, 9_000));
    server.route("latest.tar", v1.clone(), Behavior::Normal);
    let first = project(
        &ctx,
        "first",
        &unpinned("first", "data", &server.url("latest.tar")),
    );
    ctx.crp_in(&first, &["sync"]).success();
    assert_eq!(
        pinned_digest(&read(&first.join("resources.toml"))),
        Sha256Digest::of_bytes(&v1)
    );

    // Upstream moves on. A second project that leaves the same source
    // unpinned gets the new version, not the store's memory of the old.
    server.route("latest.tar", v2.clone(), Behavior::Normal);
    let second = project(
        &ctx,
        "second",
        &unpinned("second", "data", &server.url("latest.tar")),
    );
    // `crp plan` says so: it will ask the source before pinning anything.
    let run = ctx.crp_in(&second, &["plan"]);
    run.success();
    assert!(run.stdout.contains("asks the source whether"), "{run}");
    let doc: PlanDocument = ctx.crp_in(&second, &["plan", "--format", "json"]).json();
    let step = doc.plan.resources[0].fetch.as_ref().unwrap();
    assert_eq!(step.remembered, Some(Sha256Digest::of_bytes(&v1)));
    ctx.crp_in(&second, &["sync"]).success();
    assert_eq!(
        pinned_digest(&read(&second.join("resources.toml"))),
        Sha256Digest::of_bytes(&v2)
    );
    let asked = server.requests("latest.tar");
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[1].if_none_match.is_some(),
        "not a conditional request"
    );
    assert_eq!(asked[1].status, 200);

    // `crp add` too: the same URL, unchanged now, is confirmed with `304`
    // and no body, and pinned to what the store has.
    let third = project(&ctx, "third", "[project]\nname = \"third\"\n");
    let run = ctx.crp_in(
        &third,
        &["add", &server.url("latest.tar"), "--purpose", "testing"],
    );
    run.success();
    assert_eq!(
        pinned_digest(&read(&third.join("resources.toml"))),
        Sha256Digest::of_bytes(&v2)
    );
    let asked = server.requests("latest.tar");
    assert_eq!((asked[2].status, asked[2].sent), (304, 0), "{asked:?}");

    // `--refresh` downloads whatever the source says.
    let fourth = project(
        &ctx,
        "fourth",
        &unpinned("fourth", "data", &server.url("latest.tar")),
    );
    ctx.crp_in(&fourth, &["sync", "--refresh"]).success();
    let asked = server.requests("latest.tar");
    assert_eq!(asked.len(), 4);
    assert_eq!(asked[3].if_none_match, None);
    assert_eq!((asked[3].status, asked[3].sent), (200, v2.len() as u64));
}

#[test]
fn first_use_of_a_changed_local_file_pins_its_new_content() {
    let ctx = TestContext::new();
    let v1 = ctx.write_file("files/data.bin", &bytes(6, 3_000));
    let first = project(
        &ctx,
        "first",
        &unpinned(
            "first",
            "data",
            &ctx.project.join("files/data.bin").display().to_string(),
        ),
    );
    ctx.crp_in(&first, &["sync"]).success();
    assert_eq!(pinned_digest(&read(&first.join("resources.toml"))), v1);
    // Rewritten in place: another size, another time.
    std::thread::sleep(Duration::from_millis(20));
    let v2 = ctx.write_file("files/data.bin", &bytes(7, 3_500));
    let second = project(
        &ctx,
        "second",
        &unpinned(
            "second",
            "data",
            &ctx.project.join("files/data.bin").display().to_string(),
        ),
    );
    ctx.crp_in(&second, &["sync"]).success();
    assert_eq!(pinned_digest(&read(&second.join("resources.toml"))), v2);
}

// 3. Resuming never splices two versions.

/// A sync of one resource; returns it with the manifest it left.
fn sync_one(ctx: &TestContext, manifest: &str) -> (Run, String) {
    ctx.write_manifest(manifest);
    let run = ctx.crp(&["sync"]);
    (run, ctx.read_manifest())
}

/// No incident was counted against the project, and no mismatch logged.
fn assert_no_incident(ctx: &TestContext) {
    let record = files_under(&ctx.store.join("meta/projects"));
    assert_eq!(record.len(), 1);
    let record: crp::store::record::ProjectRecord =
        serde_json::from_str(&read(&record[0])).unwrap();
    assert_eq!(
        record.incidents, 0,
        "a transport fault counted as an incident"
    );
    for event in ctx.events() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains("mismatch"), "{text}");
    }
}

#[test]
fn a_new_version_behind_an_ignored_if_range_is_fetched_whole_not_spliced() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (old, new) = (bytes(8, 100_000), bytes(9, 100_000));
    // The first response is cut at 40 %; then the file changes, and the
    // server answers ranges whatever `If-Range` says.
    server.versions(
        "data.bin",
        vec![
            Version::new(old.clone())
                .behavior(Behavior::CutShort {
                    after: 40_000,
                    times: 1,
                })
                .for_requests(1),
            Version::new(new.clone()).ignore_if_range(),
        ],
    );
    let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
    run.success();
    assert_eq!(
        pinned_digest(&manifest),
        Sha256Digest::of_bytes(&new),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), new);
    let asked = server.requests("data.bin");
    // The resumed request was answered with another version's bytes; they
    // were refused, and the file fetched again from its first byte.
    assert_eq!(asked[1].range.as_deref(), Some("bytes=40000-"), "{asked:?}");
    assert!(asked[1].if_range.is_some());
    assert_eq!(asked[1].status, 206);
    assert_eq!(asked.last().unwrap().range, None);
    assert_eq!(asked.last().unwrap().status, 200);
    assert!(run.stderr.contains("another version of the file"), "{run}");
    assert_no_incident(&ctx);
}

#[test]
fn a_changed_total_or_a_200_with_a_content_range_starts_over() {
    // A server that keeps its ETag but changes the file's length.
    let ctx = TestContext::new();
    let server = Server::start();
    let (old, new) = (bytes(10, 60_000), bytes(11, 70_000));
    server.versions(
        "data.bin",
        vec![
            Version::new(old)
                .etag(Some("\"same\""))
                .behavior(Behavior::CutShort {
                    after: 20_000,
                    times: 1,
                })
                .for_requests(1),
            Version::new(new.clone()).etag(Some("\"same\"")),
        ],
    );
    let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
    run.success();
    assert_eq!(
        pinned_digest(&manifest),
        Sha256Digest::of_bytes(&new),
        "{run}"
    );
    assert!(run.stderr.contains("the file has 70000 bytes"), "{run}");
    assert_no_incident(&ctx);

    // A server that answers a range with `200` and only the slice.
    let ctx = TestContext::new();
    let content = bytes(12, 60_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.versions(
        "slice.bin",
        vec![
            Version::new(content.clone())
                .behavior(Behavior::CutShort {
                    after: 20_000,
                    times: 1,
                })
                .for_requests(1),
            Version::new(content.clone()).behavior(Behavior::SliceAs200),
        ],
    );
    let (run, _) = sync_one(&ctx, &pinned("data", &server.url("slice.bin"), &digest));
    run.success();
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    assert!(
        run.stderr.contains("answered 200 with a `Content-Range`"),
        "{run}"
    );
    assert_no_incident(&ctx);
}

#[test]
fn without_an_etag_the_modification_date_decides() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (old, new) = (bytes(13, 50_000), bytes(14, 50_000));
    server.versions(
        "data.bin",
        vec![
            Version::new(old)
                .etag(None)
                .last_modified(Some("Mon, 03 Nov 2025 10:00:00 GMT"))
                .behavior(Behavior::CutShort {
                    after: 10_000,
                    times: 1,
                })
                .for_requests(1),
            Version::new(new.clone())
                .etag(None)
                .last_modified(Some("Tue, 04 Nov 2025 10:00:00 GMT"))
                .ignore_if_range(),
        ],
    );
    let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
    run.success();
    assert_eq!(
        pinned_digest(&manifest),
        Sha256Digest::of_bytes(&new),
        "{run}"
    );
    let asked = server.requests("data.bin");
    assert_eq!(
        asked[1].if_range.as_deref(),
        Some("Mon, 03 Nov 2025 10:00:00 GMT")
    );
    assert_no_incident(&ctx);
}

#[test]
fn a_complete_part_refused_with_416_is_hashed_not_downloaded_again() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(15, 2 << 20);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("data.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&pinned("data", &server.url("data.bin"), &digest));
    ctx.crp(&["sync", "--offline"]).code(1);
    // Every byte is there; the run that fetched them did not learn the
    // length (a chunked response) and was killed before publishing.
    let part = ctx.store.join(".incomplete").join(format!("{digest}.part"));
    std::fs::write(&part, &content).unwrap();
    let etag = format!("\"{}\"", &digest.hex()[..16]);
    std::fs::write(
        format!("{}.json", part.display()),
        serde_json::json!({ "source": server.url("data.bin"), "etag": etag }).to_string(),
    )
    .unwrap();
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    let asked = server.requests("data.bin");
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].status, asked[0].sent), (416, 0));
    assert!(ctx.incomplete().is_empty(), "{:?}", ctx.incomplete());
}

// 4. Bounded time: a slow or stuck source yields.

#[test]
fn a_source_slower_than_the_floor_yields_to_the_next_mirror() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(16, 200_000);
    let digest = Sha256Digest::of_bytes(&content);
    // A byte every 50 ms: days for this file, and never a read timeout.
    server.route(
        "slow.bin",
        content.clone(),
        Behavior::Slow {
            chunk: 1,
            delay: Duration::from_millis(50),
        },
    );
    server.route("fast.bin", content.clone(), Behavior::Normal);
    let manifest = format!(
        "[project]\nname = \"demo\"\n\n[resources.data]\nsources = [\"{}\", \"{}\"]\nsha256 = \"{digest}\"\npurpose = \"testing\"\n",
        server.url("slow.bin"),
        server.url("fast.bin")
    );
    ctx.write_manifest(&manifest);
    // A second project wants the same object and waits for the first's lock.
    let other = project(&ctx, "other", &manifest.replace("\"demo\"", "\"other\""));
    let spawn = |dir: &Path| {
        ctx.command()
            .current_dir(dir)
            .env("CRP_HTTP_MIN_RATE", "1 KiB")
            .env("CRP_HTTP_MIN_RATE_TIME", "1")
            .arg("sync")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(&ctx.project), spawn(&other)];
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().unwrap(), &ctx))
        .collect();
    for run in &runs {
        run.success();
    }
    assert!(
        runs.iter()
            .any(|r| r.stderr.contains("slower than the floor of 1.0 KiB/s")),
        "{}{}",
        runs[0],
        runs[1]
    );
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    // The slow source was given up on: it never sent the whole file.
    assert!(server.requests("slow.bin").iter().all(|r| r.sent < 1_000));
}

#[test]
fn retry_after_is_honoured_up_to_a_cap() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(17, 5_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "busy.bin",
        content.clone(),
        Behavior::RetryAfter {
            status: 503,
            value: "2".into(),
            times: 1,
        },
    );
    let (run, _) = sync_one(&ctx, &pinned("data", &server.url("busy.bin"), &digest));
    run.success();
    assert!(run.stderr.contains("`Retry-After`"), "{run}");
    let asked = server.requests("busy.bin");
    assert_eq!(asked.len(), 2);
    let waited = asked[1].at - asked[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "waited only {waited:?}"
    );

    // An HTTP-date, and a wait longer than crp's cap: the source is given
    // up at once and the next one serves.
    let ctx = TestContext::new();
    let later = httpdate_in(Duration::from_secs(3600));
    server.route(
        "later.bin",
        content.clone(),
        Behavior::RetryAfter {
            status: 429,
            value: later,
            times: 99,
        },
    );
    server.route("mirror.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.data]\nsources = [\"{}\", \"{}\"]\nsha256 = \"{digest}\"\npurpose = \"testing\"\n",
        server.url("later.bin"),
        server.url("mirror.bin")
    ));
    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(server.requests("later.bin").len(), 1, "it waited an hour?");
    assert!(run.stderr.contains("asks to retry after"), "{run}");
    assert!(run.stderr.contains("longer than crp waits (60s)"), "{run}");
    // More seconds than fit in 64 bits are still much later.
    let ctx = TestContext::new();
    server.route(
        "never.bin",
        content.clone(),
        Behavior::RetryAfter {
            status: 503,
            value: "99999999999999999999".into(),
            times: 99,
        },
    );
    ctx.write_manifest(&pinned("data", &server.url("never.bin"), &digest));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert_eq!(server.requests("never.bin").len(), 1, "{run}");
}

/// An HTTP-date (IMF-fixdate) `from_now` in the future.
fn httpdate_in(from_now: Duration) -> String {
    let output = std::process::Command::new("date")
        .env("TZ", "UTC")
        .args([
            "-d",
            &format!(
                "@{}",
                (std::time::SystemTime::now() + from_now)
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
            ),
            "+%a, %d %b %Y %H:%M:%S GMT",
        ])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn redirect_loops_and_other_schemes_are_named_and_not_retried() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route(
        "a.bin",
        Vec::new(),
        Behavior::Redirect {
            location: server.url("b.bin"),
        },
    );
    server.route(
        "b.bin",
        Vec::new(),
        Behavior::Redirect {
            location: server.url("a.bin"),
        },
    );
    server.route(
        "ftp.bin",
        Vec::new(),
        Behavior::Redirect {
            location: "ftp://127.0.0.1/x.bin".into(),
        },
    );
    // A URL with no host, which the HTTP client does not even try.
    server.route(
        "file.bin",
        Vec::new(),
        Behavior::Redirect {
            location: "file:///etc/passwd".into(),
        },
    );
    let digest = Sha256Digest::of_bytes(b"x");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.looping]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n\n[resources.elsewhere]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n\n[resources.local]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n",
        server.url("a.bin"),
        server.url("ftp.bin"),
        server.url("file.bin"),
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stderr.contains("redirect loop"), "{run}");
    assert!(run.stderr.contains("non-HTTP scheme (`ftp:`)"), "{run}");
    assert!(run.stderr.contains("non-HTTP scheme (`file:`)"), "{run}");
    assert!(!run.stderr.contains("attempt 2"), "retried: {run}");
    assert_eq!(server.requests("a.bin").len(), 1);
    assert_eq!(server.requests("ftp.bin").len(), 1);
}

// 7. Secrets never leak.

#[test]
fn secrets_in_urls_are_never_printed_or_stored() {
    let ctx = TestContext::new();
    let server = Server::start();
    let secrets = [
        "hunter2",
        "tok3n",
        "s1gnature",
        "ghp0123456789abcdef",
        "AKIAEXAMPLE",
        "r3dir3ct",
        "r3dtok",
    ];
    let content = bytes(18, 3_000);
    server.route("data.bin", content.clone(), Behavior::Normal);
    let base = server.url("data.bin");
    let with_password =
        base.replace("http://", "http://alice:hunter2@") + "?token=tok3n&sig=s1gnature";
    let with_token_user = base
        .replace("http://", "http://ghp0123456789abcdef@")
        .replace("data.bin", "missing.bin");
    let signed = format!(
        "{}?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Date=x",
        server.url("gone.bin")
    );
    // A redirect to a URL with credentials: the HTTP client's debug log
    // names the connection without its scheme.
    server.route(
        "moved.bin",
        Vec::new(),
        Behavior::Redirect {
            location: base
                .replace("http://", "http://mover:r3dir3ct@")
                .replace("data.bin", "nowhere.bin")
                + "?token=r3dtok",
        },
    );
    let moved = server.url("moved.bin");
    ctx.write_config(
        "[bridge]\nfolder = \"bridge\"\n\n[[notify]]\ncommand = [\"sh\", \"-c\", \"env >> \\\"$CRP_HOOK_OUT\\\"\"]\n",
    );
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.data]\nsource = \"{with_password}\"\npurpose = \"testing\"\n\n[resources.other]\nsources = [\"{with_token_user}\", \"{signed}\", \"{moved}\"]\npurpose = \"testing\"\n"
    ));
    let hook_out = ctx.root.path().join("hook-env.txt");
    let mut outputs = Vec::new();
    for args in [
        vec!["plan"],
        vec!["plan", "--format", "json"],
        vec!["sync", "-vv"],
        vec!["sync", "--format", "json"],
        vec!["status"],
        vec!["drift", "--upstream", "--format", "markdown"],
        vec!["diff", "/dev/null"],
    ] {
        let output = ctx
            .command()
            .env("CRP_HOOK_OUT", &hook_out)
            .args(&args)
            .output()
            .unwrap();
        outputs.push((args.join(" "), output));
    }
    // The sync did happen, and failed where it should.
    assert!(ctx.link("data").exists());
    let mut places: Vec<(String, String)> = outputs
        .into_iter()
        .flat_map(|(args, o)| {
            [
                (
                    format!("stdout of `crp {args}`"),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                ),
                (
                    format!("stderr of `crp {args}`"),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                ),
            ]
        })
        .collect();
    places.push(("the hook's environment".into(), read(&hook_out)));
    for file in files_under(&ctx.store) {
        places.push((
            file.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned(),
        ));
    }
    assert!(
        places.iter().any(|(_, text)| text.contains("****")),
        "nothing was redacted?"
    );
    for (place, text) in &places {
        assert!(
            !place.contains("hunter2") && !place.contains("tok3n"),
            "a file name holds a secret: {place}"
        );
        for secret in secrets {
            assert!(!text.contains(secret), "{place} holds `{secret}`:\n{text}");
        }
    }
}

#[test]
fn a_resource_request_keeps_secrets_out_of_the_message_and_its_name() {
    let ctx = TestContext::new();
    ctx.write_manifest("[project]\nname = \"demo\"\n");
    ctx.crp(&["sync", "--offline"]).success(); // makes the store
    ctx.write_config("[bridge]\nfolder = \"bridge\"\n");
    let run = ctx.crp(&[
        "request",
        "https://bob:pa55word@example.org/corpus.tar?access_token=t0ken",
        "--purpose",
        "speech corpus",
    ]);
    run.success();
    let messages = files_under(&ctx.store.join("bridge"));
    assert_eq!(messages.len(), 1);
    let name = messages[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let text = read(&messages[0]);
    for secret in ["pa55word", "t0ken", "bob"] {
        assert!(!name.contains(secret), "{name}");
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("example.org/corpus.tar"), "{text}");

    // A scheme crp cannot fetch is refused before anything is written.
    let run = ctx.crp(&["request", "ftp://example.org/x.tar", "--purpose", "x"]);
    run.code(2);
    assert!(run.stderr.contains("unsupported scheme `ftp:`"), "{run}");
    assert_eq!(files_under(&ctx.store.join("bridge")).len(), 1);
}

// 9. The small things.

#[test]
fn a_closed_stdout_ends_quietly() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(19, 1_000);
    server.route("a.bin", content, Behavior::Normal);
    ctx.write_manifest(&unpinned("demo", "a", &server.url("a.bin")));
    ctx.crp(&["sync"]).success();
    for args in [
        ["dag", "--format", "dot"],
        ["status", "--format", "json"],
        ["schema", "-q", "-q"],
    ] {
        let args: Vec<&str> = args.iter().copied().filter(|a| *a != "-q").collect();
        let mut child = ctx
            .command()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before crp writes a byte.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let ctx = TestContext::new();
    let source = ctx.write_file("files/a.bin", &bytes(20, 100));
    let _ = source;
    ctx.write_manifest(&unpinned("demo", "a", "files/a.bin"));
    let run = Run::from(
        ctx.command()
            .env("CRP_STORE", "")
            .env("CRP_JOBS", "")
            .env("CRP_HTTP_TIMEOUT", "")
            .env("CRP_LOCK_TIMEOUT", "")
            .env("CRP_HTTP_MIN_RATE", "")
            .arg("sync")
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    // The default store, under the home folder, was used.
    assert!(
        ctx.home
            .join("infrastructure/shared-resources/meta/store.json")
            .exists(),
        "{run}"
    );
    assert!(!ctx.store.exists());

    // A value that does not parse is named, and nothing is done.
    for (name, value) in [
        ("CRP_LOCK_TIMEOUT", "soon"),
        ("CRP_JOBS", "0"),
        ("CRP_HTTP_MIN_RATE", "fast"),
        ("CRP_TRANSMISSION_TIMEOUT", "abc"),
        ("CRP_TRANSMISSION_URL", "notaurl"),
    ] {
        let run = Run::from(
            ctx.command().env(name, value).arg("sync").output().unwrap(),
            &ctx,
        );
        run.code(2);
        assert!(
            run.stderr
                .contains(&format!("`{name}={value}` is not valid")),
            "{run}"
        );
    }
}

// 5. Confinement: nothing outside the project, nothing outside the store.

/// Every file and folder under `dir`, with its bytes, for "nothing changed".
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push((path.clone(), Vec::new()));
            out.extend(tree(&path));
        } else if meta.is_file() {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        } else {
            out.push((
                path.clone(),
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn link_dir_never_leads_outside_the_project() {
    let ctx = TestContext::new();
    let outside = ctx.root.path().join("somewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let file = ctx.write_file("files/tool", b"#!/bin/sh\necho hi\n");
    let entry = format!(
        "\n[resources.tool]\nsource = \"files/tool\"\nsha256 = \"{file}\"\nexecutable = true\npurpose = \"testing\"\n"
    );
    // `link_dir`, and a symbolic link in the project that leads out of it.
    let attempts = [
        ("../somewhere", None),
        ("../../somewhere", None),
        ("links", Some(("links", outside.clone()))),
        ("data/links", Some(("data", outside.clone()))),
        (
            "dangling",
            Some(("dangling", "/nonexistent/crp-test".into())),
        ),
    ];
    for (link_dir, link) in attempts {
        if let Some((name, target)) = link {
            std::os::unix::fs::symlink::<std::path::PathBuf, _>(target, ctx.project.join(name))
                .unwrap();
        }
        ctx.write_manifest(&format!(
            "[project]\nname = \"demo\"\nlink_dir = \"{link_dir}\"\n{entry}"
        ));
        let before = tree(ctx.root.path());
        for args in [&["sync"][..], &["plan"], &["status"]] {
            let run = ctx.crp(args);
            run.code(2);
            assert!(run.stderr.contains("link_dir"), "{link_dir}: {run}");
            assert!(
                run.stderr.contains("resources.toml:3:"),
                "{link_dir}: {run}"
            );
        }
        assert_eq!(
            tree(ctx.root.path()),
            before,
            "{link_dir}: something was written"
        );
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        assert!(!ctx.store.exists());
    }
    // A folder inside, reached through a link that stays inside, is fine.
    std::fs::create_dir_all(ctx.project.join("real")).unwrap();
    std::os::unix::fs::symlink(ctx.project.join("real"), ctx.project.join("inside")).unwrap();
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\nlink_dir = \"inside\"\n{entry}"
    ));
    ctx.crp(&["sync"]).success();
    assert!(ctx.project.join("real/tool").exists());
}

#[test]
fn control_characters_and_non_stores_are_invalid_input() {
    let ctx = TestContext::new();
    ctx.write_file("files/a", b"a");
    for manifest in [
        "[project]\nname = \"demo\"\nlink_dir = \"res\\u0000ources\"\n",
        "[project]\nname = \"demo\"\nlink_dir = \"res\\nources\"\n",
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"files/a\\u0000.txt\"\npurpose = \"x\"\n",
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"https://e.org/a\\tb\"\npurpose = \"x\"\n",
    ] {
        ctx.write_manifest(manifest);
        let run = ctx.crp(&["sync"]);
        run.code(2);
        assert!(
            run.stderr.contains("control characters"),
            "{manifest}\n{run}"
        );
        assert!(!ctx.store.exists());
    }
    ctx.write_manifest(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"files/a\"\npurpose = \"x\"\n",
    );

    // A folder that only looks like a store.
    std::fs::create_dir_all(ctx.store.join("objects/sha256")).unwrap();
    std::fs::create_dir_all(ctx.store.join("meta")).unwrap();
    let before = tree(&ctx.store);
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("is not a crp store"), "{run}");
    assert_eq!(tree(&ctx.store), before);

    // A damaged marker.
    std::fs::write(ctx.store.join("meta/store.json"), "{\"lay").unwrap();
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("marker"), "{run}");

    // A file.
    let file = ctx.root.path().join("a-file");
    std::fs::write(&file, b"not a store").unwrap();
    let run = ctx.crp(&["sync", "--store", file.to_str().unwrap()]);
    run.code(2);
    assert!(run.stderr.contains("is not a folder"), "{run}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a store");
}

#[test]
fn crps_links_are_its_own_whatever_spelling_reaches_the_store() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("files/a", &bytes(21, 1000));
    let manifest = format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"files/a\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n"
    );
    ctx.write_manifest(&manifest);
    let status_of = |run: &Run| -> Vec<String> {
        let doc: SyncDocument = run.json();
        doc.report
            .resources
            .iter()
            .map(|r| format!("{:?}/{:?}", r.status, r.link))
            .collect()
    };
    // A relative spelling, then an absolute one, then one through a link.
    let run = ctx.crp(&["sync", "--format", "json", "--store", "../store"]);
    run.success();
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.success();
    assert_eq!(status_of(&run), ["Ok/UpToDate"], "{run}");
    let alias = ctx.root.path().join("store-alias");
    std::os::unix::fs::symlink(&ctx.store, &alias).unwrap();
    let run = ctx.crp(&[
        "sync",
        "--format",
        "json",
        "--store",
        alias.to_str().unwrap(),
    ]);
    run.success();
    assert_eq!(status_of(&run), ["Ok/UpToDate"], "{run}");

    // The store and the project moved together.
    let moved = ctx.root.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::rename(&ctx.project, moved.join("project")).unwrap();
    std::fs::rename(&ctx.store, moved.join("store")).unwrap();
    let run = Run::from(
        ctx.command()
            .current_dir(moved.join("project"))
            .env("CRP_STORE", moved.join("store"))
            .args(["sync", "--format", "json"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    assert_eq!(status_of(&run), ["Ok/Replaced"], "{run}");
    let link = moved.join("project/resources/a");
    assert!(
        std::fs::read_link(&link)
            .unwrap()
            .starts_with(moved.join("store"))
    );

    // The store moved alone: the project's links lead nowhere, and are crp's.
    let elsewhere = ctx.root.path().join("elsewhere");
    std::fs::rename(moved.join("store"), &elsewhere).unwrap();
    let run = Run::from(
        ctx.command()
            .current_dir(moved.join("project"))
            .env("CRP_STORE", &elsewhere)
            .args(["sync", "--format", "json"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    assert_eq!(status_of(&run), ["Ok/Replaced"], "{run}");

    // A link someone else made into somewhere else is still theirs.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let run = Run::from(
        ctx.command()
            .current_dir(moved.join("project"))
            .env("CRP_STORE", &elsewhere)
            .args(["sync"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.code(1);
    assert!(run.stdout.contains("which crp did not make"), "{run}");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/etc/hostname")
    );
}

#[test]
fn other_users_can_read_a_store_and_a_group_can_share_one() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("a.bin?token=t", bytes(22, 2000), Behavior::Normal);
    ctx.write_manifest(&unpinned("demo", "a", &server.url("a.bin?token=t")));
    ctx.crp(&["sync"]).success();
    for path in files_under(&ctx.store) {
        let mode = std::fs::metadata(&path).unwrap().mode();
        if path.ends_with("meta/identity.key") {
            // The rest of the machine has no business checking guesses.
            assert_eq!(mode & 0o007, 0, "the identity key is {mode:o}");
            continue;
        }
        assert!(
            mode & 0o004 != 0,
            "`{}` is {mode:o}: others cannot read it",
            path.display()
        );
    }
    // Really as another user, where this runs as root (as CI does).
    if rustix::process::geteuid().is_root() {
        std::fs::set_permissions(ctx.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = Run::from(
            ctx.command()
                .env("HOME", "/nonexistent")
                .args(["plan", "--store", ctx.store.to_str().unwrap()])
                .arg0_setpriv()
                .output()
                .unwrap(),
            &ctx,
        );
        run.success();
        assert!(run.stdout.contains("up to date"), "{run}");
    }

    // A store set up for a group (set-group-ID folder): what crp adds is
    // writable by the group.
    let ctx = TestContext::new();
    ctx.init_store();
    for dir in [&ctx.store, &ctx.store.join("meta")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2775)).unwrap();
    }
    ctx.write_file("files/b", &bytes(23, 100));
    ctx.write_manifest(&unpinned("demo", "b", "files/b"));
    ctx.crp(&["sync"]).success();
    for path in [
        ctx.store.join("meta/projects"),
        ctx.store.join("meta/identity.key"),
        ctx.store.join(".incomplete"),
    ] {
        let mode = std::fs::metadata(&path).unwrap().mode();
        assert!(
            mode & 0o020 != 0,
            "`{}` is {mode:o}: its group cannot write",
            path.display()
        );
    }
}

/// Runs a command as the unprivileged `nobody`, through util-linux's setpriv.
trait AsNobody {
    fn arg0_setpriv(&mut self) -> &mut Self;
}

impl AsNobody for std::process::Command {
    fn arg0_setpriv(&mut self) -> &mut Self {
        let program = self.get_program().to_owned();
        let args: Vec<_> = self.get_args().map(ToOwned::to_owned).collect();
        let mut wrapped = std::process::Command::new("setpriv");
        wrapped
            .env_clear()
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program)
            .args(args);
        for (key, value) in self.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = self.get_current_dir() {
            wrapped.current_dir(dir);
        }
        *self = wrapped;
        self
    }
}

// 6. Inspection never breaks storing.

#[test]
fn content_that_only_looks_like_an_archive_is_stored_as_data() {
    let ctx = TestContext::new();
    let noise = bytes(24, 20_000);
    let mut gzip = vec![0x1f, 0x8b];
    gzip.extend_from_slice(&noise);
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend_from_slice(&noise);
    let mut tar = vec![0u8; 2048];
    tar[257..262].copy_from_slice(b"ustar");
    tar.extend_from_slice(&noise);
    let mut text = String::from("[project]\nname = \"demo\"\n");
    for (name, content) in [("gzip", &gzip), ("zip", &zip), ("tar", &tar)] {
        let digest = ctx.write_file(&format!("files/{name}"), content);
        text.push_str(&format!(
            "\n[resources.{name}]\nsource = \"files/{name}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n"
        ));
    }
    ctx.write_manifest(&text);
    let run = ctx.crp(&["sync"]);
    run.success();
    for name in ["gzip", "zip", "tar"] {
        assert!(ctx.link(name).exists(), "{name}: {run}");
    }
}

#[test]
fn files_crp_reads_are_bounded() {
    let ctx = TestContext::new();
    for args in [
        vec!["plan", "--manifest", "/dev/zero"],
        vec!["sync", "--manifest", "/dev/zero"],
    ] {
        let run = ctx.crp(&args);
        run.code(2);
        assert!(run.stderr.contains("is larger than 64.0 MiB"), "{run}");
    }
    assert!(!ctx.store.exists());
    // The store's own files too.
    ctx.write_manifest("[project]\nname = \"demo\"\n");
    ctx.init_store();
    std::os::unix::fs::symlink("/dev/zero", ctx.store.join("meta/policy.toml")).unwrap();
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("is larger than 16.0 MiB"), "{run}");
    std::fs::remove_file(ctx.store.join("meta/policy.toml")).unwrap();
    let run = ctx.crp(&["sync", "--approvals", "/dev/zero"]);
    run.code(2);
    assert!(run.stderr.contains("is larger than"), "{run}");
    // A missing approvals file is called that, not a missing manifest.
    for args in [&["sync"][..], &["policy", "check"]] {
        let missing = ctx.root.path().join("no-approvals.toml");
        let run = ctx.crp(&[args, &["--approvals", missing.to_str().unwrap()]].concat());
        run.code(2);
        assert!(
            run.stderr.contains("there is no approvals file there")
                && !run.stderr.contains("no manifest"),
            "{run}"
        );
    }
    // Refused before anything is written: not even a new store.
    let fresh = ctx.root.path().join("fresh-store");
    let missing = ctx.root.path().join("no-approvals.toml");
    let run = ctx.crp(&[
        "sync",
        "--store",
        fresh.to_str().unwrap(),
        "--approvals",
        missing.to_str().unwrap(),
    ]);
    run.code(2);
    assert!(!fresh.exists(), "{run}");
    // Nor does removing a remote from a store not made yet make it.
    let run = ctx.crp(&[
        "remote",
        "remove",
        "team",
        "--store",
        fresh.to_str().unwrap(),
    ]);
    run.code(2);
    assert!(run.stderr.contains("team"), "{run}");
    assert!(!fresh.exists(), "{run}");
}

#[test]
fn gc_collects_unfinished_downloads_no_manifest_needs() {
    let ctx = TestContext::new();
    let content = bytes(25, 1000);
    let digest = ctx.write_file("files/a", &content);
    let wanted = Sha256Digest::of_bytes(b"still wanted");
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"files/a\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n\n[resources.later]\nsource = \"https://example.org/later\"\nsha256 = \"{wanted}\"\npurpose = \"x\"\n"
    ));
    ctx.crp(&["sync", "--offline"]).code(1);
    let incomplete = ctx.store.join(".incomplete");
    let gone = Sha256Digest::of_bytes(b"nobody wants this");
    for name in [
        format!("{gone}.part"),
        format!("{gone}.part.json"),
        "src-0123abcd.part".into(),
        format!("{wanted}.part"),
    ] {
        std::fs::write(incomplete.join(name), b"some bytes").unwrap();
    }
    // And a record a killed sync staged beside its place.
    let staged = ctx.record_path(&digest).with_file_name(".crp-tmp-staged");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"{").unwrap();
    let staged_source = ctx.store.join("meta/sources/.crp-tmp-source");
    std::fs::create_dir_all(staged_source.parent().unwrap()).unwrap();
    std::fs::write(&staged_source, b"{").unwrap();
    let run = ctx.crp(&["gc", "--grace", "0s"]);
    run.success();
    assert!(run.stdout.contains("unfinished downloads"), "{run}");
    assert!(run.stdout.contains(".crp-tmp-staged"), "{run}");
    assert!(run.stdout.contains(&format!("{gone}.part")), "{run}");
    assert!(!run.stdout.contains(&format!("{wanted}.part")), "{run}");
    // Within the grace period they stay.
    ctx.crp(&["gc", "--apply"]).success();
    assert_eq!(ctx.incomplete().len(), 4);
    assert!(staged.exists());
    ctx.crp(&["gc", "--apply", "--grace", "0s"]).success();
    assert_eq!(
        ctx.incomplete(),
        [incomplete.join(format!("{wanted}.part"))]
    );
    assert!(!staged.exists(), "a staged record left behind");
    assert!(
        !staged_source.exists(),
        "a staged source record left behind"
    );
}

// 8b. Torrent metadata is checked completely, before the daemon sees it.

/// A bencoded value, for torrents no tool would write.
enum B {
    I(i64),
    S(&'static str),
    /// Bytes that are not UTF-8 (a piece hash).
    Raw(&'static [u8]),
    L(Vec<B>),
    D(Vec<(&'static str, B)>),
}

impl B {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            B::I(n) => out.extend(format!("i{n}e").into_bytes()),
            B::S(s) => B::Raw(s.as_bytes()).encode(out),
            B::Raw(bytes) => {
                out.extend(format!("{}:", bytes.len()).into_bytes());
                out.extend(*bytes);
            }
            B::L(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            B::D(entries) => {
                out.push(b'd');
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by_key(|(k, _)| *k);
                for (k, v) in sorted {
                    B::S(k).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// One file of a torrent: its path components, and keys beside `path`.
type TorrentFile = (Vec<&'static str>, Vec<(&'static str, B)>);

/// A multi-file torrent's bytes.
fn torrent_bytes(extra_info: Vec<(&'static str, B)>, files: Vec<TorrentFile>) -> Vec<u8> {
    let files = files
        .into_iter()
        .map(|(path, extra)| {
            let mut entries = vec![
                ("length", B::I(10)),
                ("path", B::L(path.into_iter().map(B::S).collect())),
            ];
            entries.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            entries.extend(extra);
            B::D(entries)
        })
        .collect();
    let mut info = vec![
        ("files", B::L(files)),
        ("name", B::S("album")),
        ("piece length", B::I(16384)),
        ("pieces", B::Raw(&[0xff; 20])),
    ];
    for (key, value) in extra_info {
        info.retain(|(k, _)| *k != key);
        info.push((key, value));
    }
    let mut out = Vec::new();
    B::D(vec![("info", B::D(info))]).encode(&mut out);
    out
}

/// Syncs a manifest whose one resource is the `.torrent` `bytes`, with a
/// "daemon" that only counts connections; returns the run and that count.
fn sync_torrent(ctx: &TestContext, bytes: &[u8]) -> (Run, usize) {
    let daemon = Server::start();
    std::fs::write(ctx.project.join("x.torrent"), bytes).unwrap();
    ctx.write_manifest(
        "[project]\nname = \"demo\"\n\n[resources.x]\nsource = \"x.torrent\"\npurpose = \"x\"\n",
    );
    let run = Run::from(
        ctx.command()
            .env("CRP_TRANSMISSION_URL", daemon.url("transmission/rpc"))
            .args(["sync", "--no-wait"])
            .output()
            .unwrap(),
        ctx,
    );
    let asked = daemon.log().len();
    (run, asked)
}

#[test]
fn every_key_the_daemon_reads_is_checked() {
    let ctx = TestContext::new();
    let utf8 = |p: Vec<&'static str>| vec![("path.utf-8", B::L(p.into_iter().map(B::S).collect()))];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "`info.name.utf-8` (`..`) disagrees with `info.name`",
            torrent_bytes(
                vec![("name.utf-8", B::S(".."))],
                vec![(vec!["a.bin"], vec![])],
            ),
        ),
        (
            "`info.files[0].path.utf-8` (`../../etc/x`) disagrees",
            torrent_bytes(
                vec![],
                vec![(vec!["a.bin"], utf8(vec!["..", "..", "etc", "x"]))],
            ),
        ),
        (
            "`info.piece length` is 1099511627776",
            torrent_bytes(
                vec![("piece length", B::I(1 << 40))],
                vec![(vec!["a.bin"], vec![])],
            ),
        ),
        (
            "`info.piece length` is 20000",
            torrent_bytes(
                vec![("piece length", B::I(20000))],
                vec![(vec!["a.bin"], vec![])],
            ),
        ),
        (
            "names a file listed before",
            torrent_bytes(
                vec![],
                vec![(vec!["a.bin"], vec![]), (vec!["a.bin"], vec![])],
            ),
        ),
        (
            "`sub` is both a file and a folder",
            torrent_bytes(
                vec![],
                vec![(vec!["sub"], vec![]), (vec!["sub", "b.bin"], vec![])],
            ),
        ),
        (
            "`info.files[0].path` holds an empty name",
            torrent_bytes(vec![], vec![(vec!["", "a.bin"], vec![])]),
        ),
        (
            "holds a control character",
            torrent_bytes(vec![], vec![(vec!["a\u{1b}[31m.bin"], vec![])]),
        ),
    ];
    for (expected, bytes) in cases {
        let (run, asked) = sync_torrent(&ctx, &bytes);
        run.code(1);
        assert!(
            run.stderr.contains(expected),
            "expected `{expected}`:\n{run}"
        );
        assert_eq!(
            asked, 0,
            "the daemon was contacted for a bad torrent:\n{run}"
        );
    }
}

#[test]
fn hostile_torrent_files_are_bounded() {
    let ctx = TestContext::new();
    // 100,000 nested lists in a key nobody reads.
    let mut deep = b"d4:infod5:extra".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 100_000));
    deep.extend(std::iter::repeat_n(b'e', 100_000));
    deep.extend(b"6:lengthi10e4:name5:album12:piece lengthi16384e6:pieces20:");
    deep.extend([0xff; 20]);
    deep.extend(b"ee");
    let (run, asked) = sync_torrent(&ctx, &deep);
    run.code(1);
    assert!(run.stderr.contains("nested more than 64 levels"), "{run}");
    assert_eq!(asked, 0);
    // After the end of a good one, which parsers may read too.
    let mut trailing = torrent_bytes(vec![], vec![(vec!["a.bin"], vec![])]);
    trailing.extend(std::iter::repeat_n(b'l', 200_000));
    trailing.extend(std::iter::repeat_n(b'e', 200_000));
    let (run, asked) = sync_torrent(&ctx, &trailing);
    run.code(1);
    assert!(run.stderr.contains("data after the end"), "{run}");
    assert_eq!(asked, 0);
    // A key twice: crp's parser would read the last, transmission the first.
    let mut twice = b"d4:infod6:lengthi10737418240e6:lengthi16384e4:name5:f.bin12:piece lengthi262144e6:pieces20:".to_vec();
    twice.extend([0xff; 20]);
    twice.extend(b"ee");
    let (run, asked) = sync_torrent(&ctx, &twice);
    run.code(1);
    assert!(run.stderr.contains("the key `length` is repeated"), "{run}");
    assert_eq!(asked, 0);
    // A file far larger than any torrent.
    let mut big = torrent_bytes(vec![], vec![(vec!["a.bin"], vec![])]);
    big.resize(17 << 20, b' ');
    let (run, asked) = sync_torrent(&ctx, &big);
    run.code(1);
    assert!(
        run.stderr.contains("the most crp reads of a `.torrent`"),
        "{run}"
    );
    assert_eq!(asked, 0);
}

#[test]
fn magnets_that_say_two_things_are_refused() {
    let ctx = TestContext::new();
    let a = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    let b = "d12fe1c06bba254a9dc9f519b335aa7c1367a88b";
    for (link, expected) in [
        (
            format!("magnet:?xt=urn:btih:{a}&xt=urn:btih:{b}"),
            "two different info-hashes",
        ),
        (
            format!("magnet:?xt=urn:btih:{a}&tr=ftp%3A%2F%2Ft.example%2Fannounce"),
            "`tr=` has the scheme `ftp:`",
        ),
        (
            format!("magnet:?xt=urn:btih:{a}&tr.1=ftp%3A%2F%2Ft.example%2Fannounce"),
            "`tr=` has the scheme `ftp:`",
        ),
        (
            format!("magnet:?xt=urn:btih:{a}&TR=ftp%3A%2F%2Ft.example%2Fannounce"),
            "`tr=` has the scheme `ftp:`",
        ),
        (
            format!("magnet:?xt=urn:btih:{a}&ws=file%3A%2F%2F%2Fetc%2Fpasswd"),
            "`ws=` has the scheme `file:`",
        ),
    ] {
        ctx.write_manifest(&format!(
            "[project]\nname = \"demo\"\n\n[resources.m]\nsource = \"{link}\"\npurpose = \"x\"\n"
        ));
        let run = ctx.crp(&["plan"]);
        run.code(2);
        assert!(run.stderr.contains(expected), "{run}");
    }
}

#[test]
fn plan_policy_check_and_diff_judge_a_local_torrent_by_its_metadata() {
    let ctx = TestContext::new();
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\n");
    // 100 files of 1 MB declared in the metadata: 100 MB, nothing to fetch.
    let files: Vec<TorrentFile> = (0..100)
        .map(|i| {
            let name: &'static str = Box::leak(format!("f{i:03}.bin").into_boxed_str());
            (vec![name], vec![("length", B::I(1_000_000))])
        })
        .collect();
    // 16 MiB pieces: six of them, each a 20-byte hash.
    let bytes = torrent_bytes(
        vec![
            ("piece length", B::I(1 << 24)),
            ("pieces", B::Raw(&[0xff; 120])),
        ],
        files,
    );
    std::fs::write(ctx.project.join("big.torrent"), &bytes).unwrap();
    let manifest = "[project]\nname = \"demo\"\n\n[resources.big]\nsource = \"big.torrent\"\npurpose = \"x\"\n";
    ctx.write_manifest(manifest);
    let doc: PlanDocument = ctx.crp(&["plan", "--format", "json"]).json();
    let r = &doc.plan.resources[0];
    assert_eq!(r.size, Some(100_000_000));
    assert!(
        matches!(r.verdict, crp::policy::Verdict::AwaitingApproval { .. }),
        "{:?}",
        r.verdict
    );
    let run = ctx.crp(&["policy", "check"]);
    run.code(1);
    assert!(run.stdout.contains("over 10 KB"), "{run}");
    let base = ctx.project.join("base.toml");
    std::fs::write(&base, "[project]\nname = \"demo\"\n").unwrap();
    let run = ctx.crp(&["diff", base.to_str().unwrap()]);
    run.success();
    assert!(run.stdout.contains("95.4 MiB"), "{run}");
    assert!(run.stdout.contains("needs a person"), "{run}");
}

// 8. Torrents and the lifecycle obey the same rules.

#[test]
fn a_version_change_keeps_its_supersedes_edge_through_the_approval() {
    let ctx = TestContext::new();
    let (v1, v2) = (bytes(26, 3000), bytes(27, 3000));
    let d1 = ctx.write_file("files/v1", &v1);
    let d2 = ctx.write_file("files/v2", &v2);
    ctx.write_policy("[approval]\nversion_change = true\n");
    let entry = |file: &str, digest: &Sha256Digest| {
        format!(
            "[project]\nname = \"demo\"\n\n[resources.model]\nsource = \"files/{file}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n"
        )
    };
    ctx.write_manifest(&entry("v1", &d1));
    ctx.crp(&["sync"]).success();
    // The new version waits for a person; the old one stays linked, and its
    // object stays protected meanwhile.
    ctx.write_manifest(&entry("v2", &d2));
    ctx.crp(&["sync"]).code(1);
    assert_eq!(std::fs::read(ctx.link("model")).unwrap(), v1);
    let run = ctx.crp(&["gc", "--grace", "0s", "--format", "json"]);
    let gc: serde_json::Value = run.json();
    assert!(gc["archive"].as_array().unwrap().is_empty(), "{run}");
    ctx.crp(&["approve", "model", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("model")).unwrap(), v2);
    let record = ctx.object_record(&d2);
    assert_eq!(
        record.supersedes,
        vec![d1],
        "the edge to the old version is lost"
    );
    assert_eq!(record.approvals.len(), 1);
    ctx.assert_records_agree_with_events();
}

#[test]
fn concurrent_syncs_share_one_quota() {
    // Each alone fits the quota; together they would pass it.
    for declared in [true, false] {
        let ctx = TestContext::new();
        let server = Server::start();
        ctx.write_policy("[limits]\nquota = \"100 KB\"\n");
        let mut dirs = Vec::new();
        for (i, name) in ["a", "b"].iter().enumerate() {
            let content = bytes(30 + i as u8, 60_000);
            server.route(
                &format!("{name}.bin"),
                content.clone(),
                Behavior::Slow {
                    chunk: 8 * 1024,
                    delay: Duration::from_millis(40),
                },
            );
            let size = if declared { "size = 60000\n" } else { "" };
            dirs.push(project(
                &ctx,
                name,
                &format!(
                    "[project]\nname = \"{name}\"\n\n[resources.{name}]\nsource = \"{}\"\nsha256 = \"{}\"\n{size}purpose = \"x\"\n",
                    server.url(&format!("{name}.bin")),
                    Sha256Digest::of_bytes(&content)
                ),
            ));
        }
        let children: Vec<_> = dirs
            .iter()
            .map(|dir| {
                ctx.command()
                    .current_dir(dir)
                    .arg("sync")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|c| Run::from(c.wait_with_output().unwrap(), &ctx))
            .collect();
        let ok = runs.iter().filter(|r| r.code == 0).count();
        assert_eq!(ok, 1, "declared {declared}:\n{}\n{}", runs[0], runs[1]);
        let refused = runs.iter().find(|r| r.code != 0).unwrap();
        assert!(refused.stderr.contains("quota of 100 KB"), "{refused}");
        let stored: u64 = ctx
            .objects()
            .iter()
            .map(|o| std::fs::metadata(o).unwrap().len())
            .sum();
        assert!(stored <= 100_000, "{stored} bytes stored");
        // Nothing is left reserved once they are done.
        let left: Vec<_> = files_under(&ctx.store.join("meta/quota"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

// 10. Every guarantee has a test that fails when it breaks.

#[test]
fn a_lock_wait_says_whom_it_waits_for_and_gives_up_when_told() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(33, 200_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "slow.bin",
        content.clone(),
        Behavior::Slow {
            chunk: 10_000,
            delay: Duration::from_millis(100),
        },
    );
    let entry = |project: &str| {
        format!(
            "[project]\nname = \"{project}\"\n\n[resources.model]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n",
            server.url("slow.bin")
        )
    };
    ctx.write_manifest(&entry("first"));
    let second = project(&ctx, "second", &entry("second"));
    let first = ctx
        .command()
        .arg("sync")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first holds the object's lock (its download has begun)...
    let part = ctx.store.join(".incomplete").join(format!("{digest}.part"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !part.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first sync did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...the second waits for it, says so, and gives up when told to.
    let run = Run::from(
        ctx.command()
            .current_dir(&second)
            .env("CRP_LOCK_TIMEOUT", "0.5")
            .arg("sync")
            .output()
            .unwrap(),
        &ctx,
    );
    run.code(1);
    let holder = format!("process {} fetching `model`", first.id());
    assert!(
        run.stderr.contains(&format!("waiting for {holder}")),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(&format!("gave up after 500ms waiting for {holder}")),
        "{run}"
    );
    assert!(run.stderr.contains("set `CRP_LOCK_TIMEOUT`"), "{run}");
    Run::from(first.wait_with_output().unwrap(), &ctx).success();
    // Without the limit, it waits its turn and finds the object there.
    let run = ctx.crp_in(&second, &["sync"]);
    run.success();
    // (The server logs a request once it has finished answering it.)
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.requests("slow.bin").len(), 1);
}

#[test]
fn an_approval_given_before_the_pin_holds_after_it() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("big.bin", bytes(34, 30_000), Behavior::Normal);
    ctx.write_policy("[approval]\nlarger_than = \"10 KB\"\n");
    ctx.write_manifest(&unpinned("demo", "big", &server.url("big.bin")));
    ctx.crp(&["sync"]).code(1);
    ctx.crp(&["approve", "big", "--by", "alice"]).success();
    ctx.crp(&["sync"]).success();
    // Pinned now: the approval is still the verdict, and no report asks for
    // a person again.
    let doc: PlanDocument = ctx.crp(&["status", "--format", "json"]).json();
    assert!(
        matches!(&doc.plan.resources[0].verdict, crp::policy::Verdict::Approved { by, .. } if by == "alice"),
        "{:?}",
        doc.plan.resources[0].verdict
    );
    ctx.crp(&["policy", "check"]).success();
    let run = ctx.crp(&["drift"]);
    run.success();
    assert!(!run.stdout.contains("policy"), "{run}");
}

#[test]
fn a_dry_run_with_refresh_says_it_downloads() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("a.bin", bytes(35, 3_000), Behavior::Normal);
    let first = project(&ctx, "first", &unpinned("first", "a", &server.url("a.bin")));
    ctx.crp_in(&first, &["sync"]).success();
    ctx.write_manifest(&unpinned("demo", "a", &server.url("a.bin")));
    let run = ctx.crp(&["sync", "--dry-run"]);
    assert!(run.stdout.contains("asks the source whether"), "{run}");
    let run = ctx.crp(&["sync", "--dry-run", "--refresh"]);
    assert!(!run.stdout.contains("asks the source whether"), "{run}");
    assert!(run.stdout.contains("fetch+pin"), "{run}");
}

#[test]
fn one_local_file_spelled_two_ways_is_one_source() {
    let ctx = TestContext::new();
    let shared = ctx.root.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("a.bin"), bytes(36, 2_000)).unwrap();
    let first = project(&ctx, "first", &unpinned("first", "a", "../shared/a.bin"));
    let second = project(
        &ctx,
        "second",
        &unpinned("second", "a", &shared.join("a.bin").display().to_string()),
    );
    ctx.crp_in(&first, &["sync"]).success();
    // The second finds what the first fetched, by the file's identity.
    let doc: PlanDocument = ctx.crp_in(&second, &["plan", "--format", "json"]).json();
    assert!(doc.plan.resources[0].fetch.unwrap().remembered.is_some());
    assert_eq!(
        doc.plan.resources[0].source,
        shared.join("a.bin").display().to_string()
    );
}

// What an attacker found after the first round of fixes.

/// A 2 MiB file whose first response is cut at half, then served by
/// `then`; returns the sync's run and the manifest it left.
fn cut_then(then: Version) -> (TestContext, Server, Run, String, Vec<u8>) {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(37, 2 << 20);
    server.versions(
        "data.bin",
        vec![
            Version::new(content.clone())
                .behavior(Behavior::CutShort {
                    after: 1 << 20,
                    times: 1,
                })
                .for_requests(1),
            then,
        ],
    );
    let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
    (ctx, server, run, manifest, content)
}

#[test]
fn a_416_or_a_short_206_never_passes_for_the_whole_file() {
    // "You have it all", when half of it is there: a transport fault, and
    // the file is fetched again whole.
    let content = bytes(37, 2 << 20);
    let (ctx, _server, run, manifest, _) =
        cut_then(Version::new(content.clone()).behavior(Behavior::Lying416));
    run.success();
    assert_eq!(
        pinned_digest(&manifest),
        Sha256Digest::of_bytes(&content),
        "{run}"
    );
    assert!(run.stderr.contains("refused to resume (HTTP 416)"), "{run}");
    assert_no_incident(&ctx);
    // A 206 of a few bytes at a time: asked for more, never pinned short.
    let (ctx, _server, run, manifest, content) =
        cut_then(Version::new(content.clone()).behavior(Behavior::ShortRanges { len: 100_000 }));
    run.success();
    assert_eq!(pinned_digest(&manifest), Sha256Digest::of_bytes(&content));
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);
}

#[test]
fn a_weak_etag_never_resumes() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (old, new) = (bytes(38, 2 << 20), bytes(39, 2 << 20));
    let date = "Mon, 30 Nov 2026 00:00:00 GMT";
    server.versions(
        "data.bin",
        vec![
            Version::new(old)
                .etag(Some("W/\"w1\""))
                .last_modified(Some(date))
                .behavior(Behavior::CutShort {
                    after: 1 << 20,
                    times: 1,
                })
                .for_requests(1),
            Version::new(new.clone())
                .etag(Some("W/\"w2\""))
                .last_modified(Some(date))
                .ignore_if_range(),
        ],
    );
    let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
    run.success();
    assert_eq!(
        pinned_digest(&manifest),
        Sha256Digest::of_bytes(&new),
        "{run}"
    );
    // A weak tag and a date leave nothing to resume by: no range was asked.
    assert!(
        server
            .requests("data.bin")
            .iter()
            .all(|r| r.range.is_none())
    );
}

#[test]
fn a_304_to_a_question_not_asked_is_no_answer() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(40, 3_000);
    server.versions(
        "plain.bin",
        vec![
            Version::new(content.clone())
                .etag(None)
                .last_modified(None)
                .for_requests(1),
            Version::new(content).behavior(Behavior::AlwaysNotModified),
        ],
    );
    let first = project(
        &ctx,
        "first",
        &unpinned("first", "a", &server.url("plain.bin")),
    );
    ctx.crp_in(&first, &["sync"]).success();
    // Nothing to ask with: the plan does not promise to ask, and the sync
    // downloads — here, a server answering 304 to everything fails it.
    ctx.write_manifest(&unpinned("demo", "a", &server.url("plain.bin")));
    let run = ctx.crp(&["plan"]);
    assert!(!run.stdout.contains("asks the source whether"), "{run}");
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(!ctx.read_manifest().contains("sha256"), "{run}");
    assert!(server.requests("plain.bin")[1].if_none_match.is_none());
}

#[test]
fn a_trickling_torrent_file_yields_too() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = Server::start();
    server.route(
        "slow.torrent",
        bytes(41, 100_000),
        Behavior::Slow {
            chunk: 1,
            delay: Duration::from_millis(50),
        },
    );
    ctx.write_manifest(&unpinned("demo", "t", &server.url("slow.torrent")));
    let run = Run::from(
        ctx.command()
            .env("CRP_HTTP_MIN_RATE_TIME", "1")
            .env("CRP_TRANSMISSION_URL", daemon.url("transmission/rpc"))
            .args(["sync", "--no-wait"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.code(1);
    assert!(run.stderr.contains("slower than the floor"), "{run}");
    assert!(daemon.log().is_empty());
}

#[test]
fn the_stores_own_files_are_read_within_bounds() {
    let ctx = TestContext::new();
    ctx.write_file("files/a", b"a");
    ctx.write_manifest(&unpinned("demo", "a", "files/a"));
    ctx.crp(&["sync"]).success();
    let zero = Path::new("/dev/zero");
    // The marker: not a store crp may use.
    let marker = ctx.store.join("meta/store.json");
    std::fs::rename(&marker, ctx.root.path().join("marker")).unwrap();
    std::os::unix::fs::symlink(zero, &marker).unwrap();
    let run = ctx.crp(&["plan"]);
    run.code(2);
    assert!(run.stderr.contains("marker"), "{run}");
    std::fs::remove_file(&marker).unwrap();
    std::fs::create_dir(&marker).unwrap();
    ctx.crp(&["plan"]).code(2);
    std::fs::remove_dir(&marker).unwrap();
    std::fs::rename(ctx.root.path().join("marker"), &marker).unwrap();
    // Logs and keys: refused past their bounds, not read for ever.
    for file in ["meta/approvals.jsonl", "meta/events.jsonl"] {
        let path = ctx.store.join(file);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(zero, &path).unwrap();
        let run = ctx.crp(&["metrics"]);
        run.code(1);
        assert!(run.stderr.contains("larger than"), "{file}: {run}");
        std::fs::remove_file(&path).unwrap();
    }
    // An approvals file to add to.
    let run = ctx.crp(&["approve", "a", "--by", "x", "--file", "/dev/zero"]);
    run.code(2);
    assert!(run.stderr.contains("larger than"), "{run}");
    // A fifo nobody writes to, as the manifest: an empty file, not a hang.
    let fifo = ctx.project.join("fifo.toml");
    mkfifo(&fifo);
    let run = ctx.crp(&["plan", "--manifest", fifo.to_str().unwrap()]);
    run.code(2);
    assert!(run.stderr.contains("missing `[project]`"), "{run}");
}

#[test]
fn secrets_in_a_manifest_that_does_not_parse_stay_hidden() {
    let ctx = TestContext::new();
    ctx.write_manifest(
        "[project]\nname = \"demo\"\n\n[resources.a]\nsource = \"https://bob:S3KRET1@example.org:99999/x?token=S3KRET2\"\npurpose = \"x\"\n\n[resources.b]\nsource = \"ssh://git:S3KRET3@forge/x\"\npurpose = \"x\"\n",
    );
    let run = ctx.crp(&["plan"]);
    run.code(2);
    for secret in ["S3KRET1", "S3KRET2", "S3KRET3"] {
        assert!(!run.stderr.contains(secret), "{run}");
    }
    assert!(run.stderr.contains("example.org:99999"), "{run}");
}

#[test]
fn a_link_folder_swapped_during_a_sync_never_sends_a_link_outside() {
    let ctx = TestContext::new();
    let digest = ctx.write_file("files/a", &bytes(42, 100));
    let inner = ctx.project.join("inner");
    let outside = ctx.root.path().join("out");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink("inner", ctx.project.join("res")).unwrap();
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\nlink_dir = \"res\"\n\n[resources.a]\nsource = \"files/a\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n"
    ));
    // Someone flips `res` between the folder inside and one outside, as
    // fast as they can, while crp syncs again and again.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, project) = (stop.clone(), ctx.project.clone());
        std::thread::spawn(move || {
            let res = project.join("res");
            let temp = project.join("res.flip");
            let mut to_outside = true;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let target = if to_outside { "../out" } else { "inner" };
                let _ = std::fs::remove_file(&temp);
                if std::os::unix::fs::symlink(target, &temp).is_ok() {
                    let _ = std::fs::rename(&temp, &res);
                }
                to_outside = !to_outside;
            }
        })
    };
    for _ in 0..60 {
        let _ = std::fs::remove_file(inner.join("a"));
        let _ = ctx.crp(&["sync", "-q"]);
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "a link was made outside the project"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
}

// What an attacker found after the second round of fixes.

#[test]
fn a_remembered_source_never_links_undeclared_executable_content() {
    let ctx = TestContext::new();
    let server = Server::start();
    let mut program = b"\x7fELF\x02\x01\x01\0".to_vec();
    program.extend(bytes(60, 10_000));
    server.route("tool", program.clone(), Behavior::Normal);
    std::fs::write(ctx.root.path().join("prog"), &program).unwrap();
    let local = ctx.root.path().join("prog").display().to_string();
    for source in [local, server.url("tool")] {
        // One project declares the program and fetches it ...
        let declares = project(
            &ctx,
            "declares",
            &format!(
                "{}executable = true\n",
                unpinned("declares", "tool", &source)
            ),
        );
        ctx.crp_in(&declares, &["sync"]).success();
        // ... and one that does not gets it quarantined, as on a first
        // fetch, not linked because its source still serves it.
        ctx.write_manifest(&unpinned("demo", "tool", &source));
        // The plan says so: a download, not a question to the source.
        let plan = ctx.crp(&["plan", "--format", "json"]);
        let doc: PlanDocument = plan.json();
        let step = doc.plan.resources[0].fetch.unwrap();
        assert_eq!(step.remembered, None, "{plan}");
        let run = ctx.crp(&["sync", "--format", "json"]);
        run.code(1);
        let doc: SyncDocument = run.json();
        assert_eq!(
            doc.report.resources[0].status,
            crp::execute::Status::Quarantined,
            "{run}"
        );
        assert!(!ctx.link("tool").exists(), "{source}");
        assert!(!ctx.read_manifest().contains("sha256"), "{source}");
        std::fs::remove_dir_all(&declares).unwrap();
    }
}

#[test]
fn bytes_that_never_verify_whole_end_the_fetch() {
    // Every response is cut off a third of the way, and the server serves
    // another file than the manifest pins, under one ETag: the pieces never
    // verify, and fetching whole never completes. The fetch ends, without
    // an incident: nothing was seen to mismatch in one response.
    let ctx = TestContext::new();
    let server = Server::start();
    let (wanted, served) = (bytes(61, 300_000), bytes(62, 300_000));
    server.route(
        "data.bin",
        served,
        Behavior::CutShort {
            after: 100_000,
            times: usize::MAX,
        },
    );
    let manifest = format!(
        "{}size = 300000\n",
        pinned(
            "data",
            &server.url("data.bin"),
            &Sha256Digest::of_bytes(&wanted)
        )
    );
    let (run, _) = sync_one(&ctx, &manifest);
    run.code(1);
    assert!(!ctx.link("data").exists());
    let asked = server.requests("data.bin");
    assert!(asked.len() < 40, "{} requests", asked.len());
    // After the combined bytes failed, whole responses only.
    let first_whole_again = asked
        .iter()
        .skip(1)
        .position(|r| r.range.is_none())
        .expect("fetched whole again")
        + 1;
    assert!(asked[first_whole_again..].iter().all(|r| r.range.is_none()));
    assert_no_incident(&ctx);
}

#[test]
fn a_body_of_unknown_length_cut_off_is_never_pinned_from_its_pieces() {
    let content = bytes(63, 300_000);
    for range in [
        // "You have it all", of another version.
        crate::server::RangeAnswer::Complete416 {
            etag: Some("\"v2\"".into()),
        },
        // A few more bytes of a file whose length no one says.
        crate::server::RangeAnswer::UnknownTotal { len: 10 },
    ] {
        let ctx = TestContext::new();
        let server = Server::start();
        server.route(
            "data.bin",
            content.clone(),
            Behavior::ChunkedCut {
                after: 100_000,
                range: range.clone(),
            },
        );
        let (run, manifest) = sync_one(&ctx, &unpinned("demo", "data", &server.url("data.bin")));
        run.code(1);
        assert!(
            !manifest.contains("sha256"),
            "{range:?}: pinned\n{manifest}"
        );
        assert!(ctx.objects().is_empty(), "{range:?}");
        assert!(run.stderr.contains("starting over"), "{range:?}: {run}");
        // Pinned, the same answers are transport faults, never incidents.
        let ctx = TestContext::new();
        let (run, _) = sync_one(
            &ctx,
            &pinned(
                "data",
                &server.url("data.bin"),
                &Sha256Digest::of_bytes(&content),
            ),
        );
        run.code(1);
        assert_no_incident(&ctx);
    }
}

#[test]
fn a_download_left_complete_is_confirmed_with_the_source_before_a_pin() {
    let ctx = TestContext::new();
    let server = Server::start();
    let (old, new) = (bytes(64, 2 << 20), bytes(65, 2 << 20));
    // All of the old file arrives, but the response never ends: the sync
    // is killed with the whole file in its part. Then the file changes.
    server.versions(
        "data.bin",
        vec![
            Version::new(old.clone())
                .behavior(Behavior::ChunkedHold {
                    pause: Duration::from_secs(60),
                })
                .for_requests(1),
            Version::new(new.clone()),
        ],
    );
    ctx.write_manifest(&format!(
        "{}size = {}\n",
        unpinned("demo", "data", &server.url("data.bin")),
        old.len()
    ));
    let mut child = ctx.command().arg("sync").spawn().unwrap();
    let started = std::time::Instant::now();
    let full = loop {
        let parts: Vec<_> = ctx
            .incomplete()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "part"))
            .collect();
        if parts
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == old.len() as u64))
        {
            break true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(full, "the part never filled");
    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(
        pinned_digest(&ctx.read_manifest()),
        Sha256Digest::of_bytes(&new),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), new);
}

#[test]
fn torrent_files_are_read_as_strictly_as_bep_3_writes_them() {
    let ctx = TestContext::new();
    let good = torrent_bytes(vec![], vec![(vec!["a.bin"], vec![])]);
    let mut signed = b"+1:x".to_vec();
    signed.extend(std::iter::repeat_n(b'l', 100_000));
    signed.extend(std::iter::repeat_n(b'e', 100_000));
    let mut after = good.clone();
    after.extend(b"+1:x");
    after.extend(std::iter::repeat_n(b'l', 100_000));
    let plus_key = String::from_utf8_lossy(&good).replacen("4:name", "+4:name", 1);
    for bytes in [signed, after, plus_key.into_bytes()] {
        let (run, asked) = sync_torrent(&ctx, &bytes);
        run.code(1);
        assert!(run.stderr.contains("not a valid .torrent file"), "{run}");
        assert_eq!(asked, 0);
    }
}

#[test]
fn what_is_not_a_regular_file_is_never_waited_on() {
    let ctx = TestContext::new();
    // A local source and a local `.torrent` that are fifos nobody writes.
    for (name, source) in [("data", "pipe"), ("x", "pipe.torrent")] {
        let path = ctx.project.join(source);
        mkfifo(&path);
        let mut holder = idle_writer(&path);
        ctx.write_manifest(&unpinned("demo", name, source));
        let run = ctx.crp(&["sync"]);
        assert_ne!(run.code, 0, "{run}");
        assert!(run.stderr.contains("not a regular file"), "{run}");
        assert!(ctx.objects().is_empty());
        holder.kill().unwrap();
        holder.wait().unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn magnet_passkeys_stay_hidden_however_the_link_is_spelled() {
    let ctx = TestContext::new();
    let hash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    for (i, link) in [
        format!("MAGNET:?xt=urn:btih:{hash}&tr=http%3A%2F%2Ft.example%2FSECd1%2Fannounce"),
        format!("Magnet:?xt=urn:btih:{hash}&tr=http%3A%2F%2Fu%3ASECd4%40t.example%2Fannounce"),
        format!(
            "magnet:?xt=urn:btih:{hash}&tr=+http%3A%2F%2Ft.example%2FSECd2%2Fannounce%3Fpasskey%3DSECd3"
        ),
        format!("magnet:?xt=urn:btih:{hash}&tr=http%3A%2F%2Ft%3A99999%2FSECf6%2Fannounce"),
    ]
    .iter()
    .enumerate()
    {
        ctx.write_manifest(&unpinned("demo", &format!("m{i}"), link));
        for args in [&["plan"][..], &["plan", "--format", "json"], &["sync", "--offline"]] {
            let run = ctx.crp(args);
            assert!(!run.stdout.contains("SEC"), "{link}: {run}");
            assert!(!run.stderr.contains("SEC"), "{link}: {run}");
        }
    }
    for file in files_under(&ctx.store) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains("SEC"), "{}: {text}", file.display());
    }
}

#[test]
fn a_manifest_fifo_whose_writer_never_writes_is_an_error_not_a_hang() {
    let ctx = TestContext::new();
    let fifo = ctx.project.join("fifo.toml");
    mkfifo(&fifo);
    let mut holder = idle_writer(&fifo);
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let run = ctx.crp(&["plan", "--manifest", fifo.to_str().unwrap()]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    run.code(2);
    assert!(run.stderr.contains("wrote nothing"), "{run}");
    assert!(started.elapsed() < Duration::from_secs(40), "{run}");
}

#[test]
fn links_planted_where_the_store_keeps_its_files_are_never_written_through() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(41, 300_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("a.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest("[project]\nname = \"demo\"\n");
    ctx.crp(&["sync"]).success();
    ctx.write_manifest(&pinned("a", &server.url("a.bin"), &digest));
    // Another user of a shared store plants links where crp writes: the
    // object's lock, its download, the event log.
    let victim = ctx.root.path().join("victim");
    let planted = [
        format!("meta/locks/objects/{}.lock", digest.hex()),
        format!(".incomplete/{digest}.part"),
        "meta/events.jsonl".to_owned(),
    ];
    for file in &planted {
        std::fs::write(&victim, b"precious").unwrap();
        let path = ctx.store.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let run = ctx.crp(&["sync"]);
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"precious",
            "written through {file}: {run}"
        );
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            // Refused, saying which file is not crp's own: the object's
            // work stops; the event log is only warned about.
            assert!(run.stderr.contains("not a regular file"), "{file}: {run}");
            if file.ends_with(".jsonl") {
                run.success();
                std::fs::remove_file(ctx.object(&digest)).unwrap();
            } else {
                assert_ne!(run.code, 0, "{file}: {run}");
                assert!(ctx.objects().is_empty(), "{file}: {run}");
            }
            std::fs::remove_file(&path).unwrap();
        } else {
            // Replaced by a file of crp's own.
            run.success();
            assert_eq!(std::fs::read(ctx.link("a")).unwrap(), content);
            std::fs::remove_file(ctx.object(&digest)).unwrap();
        }
    }
}
