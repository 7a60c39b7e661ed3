//! Downloads against a server that misbehaves: wrong bytes, bodies cut
//! short, errors, no range support, stalls, more bytes than declared.

use std::time::{Duration, Instant};

use crp::digest::Sha256Digest;

use crate::common::{Run, TestContext, bytes, files_under};
use crate::server::{Behavior, Server, Version};

fn manifest(
    name: &str,
    sources: &[String],
    digest: Option<&Sha256Digest>,
    size: Option<usize>,
) -> String {
    let sources = sources
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text =
        format!("[project]\nname = \"demo\"\n\n[resources.{name}]\nsources = [{sources}]\n");
    if let Some(digest) = digest {
        text.push_str(&format!("sha256 = \"{digest}\"\n"));
    }
    if let Some(size) = size {
        text.push_str(&format!("size = {size}\n"));
    }
    text.push_str("purpose = \"testing\"\n");
    text
}

/// The `ETag` the test server gives `body` by default.
fn version_etag(body: &[u8]) -> String {
    format!("\"{}\"", &Sha256Digest::of_bytes(body).hex()[..16])
}

/// Leaves a part as an interrupted run would: its bytes, and beside them the
/// response they came from (`source` is the URL, whose identity is its text
/// when it holds no secret).
fn write_part(part: &std::path::Path, bytes: &[u8], source: &str, etag: &str) {
    std::fs::write(part, bytes).unwrap();
    let origin = serde_json::json!({ "source": source, "etag": etag });
    let mut sidecar = part.as_os_str().to_owned();
    sidecar.push(".json");
    std::fs::write(sidecar, origin.to_string()).unwrap();
}

#[test]
fn a_hash_mismatch_leaves_nothing_in_the_store() {
    let ctx = TestContext::new();
    let server = Server::start();
    let wanted = bytes(1, 10_000);
    let digest = Sha256Digest::of_bytes(&wanted);
    let served = bytes(2, 10_000);
    server.route("data.bin", served.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "data",
        &[server.url("data.bin")],
        Some(&digest),
        None,
    ));

    let run = ctx.crp(&["sync"]);
    run.code(1);
    // The error names the resource, the source, and both digests side by side.
    let actual = Sha256Digest::of_bytes(&served);
    assert!(run.stderr.contains("failed to fetch `data`"), "{run}");
    assert!(
        run.stderr
            .contains(&format!("from {}: sha256 mismatch", server.url("data.bin"))),
        "{run}"
    );
    assert!(run.stderr.contains(&format!("expected {digest}")), "{run}");
    assert!(run.stderr.contains(&format!("actual   {actual}")), "{run}");
    assert!(
        run.stderr
            .contains("hint: if the source changed its content on purpose, `crp update data`"),
        "{run}"
    );
    assert!(
        ctx.objects().is_empty(),
        "a wrong download became an object"
    );
    assert!(ctx.incomplete().is_empty(), "a wrong download was kept");
    assert!(std::fs::symlink_metadata(ctx.link("data")).is_err());
    // Not retried: the bytes are wrong, not the connection.
    assert_eq!(server.requests("data.bin").len(), 1);
}

#[test]
fn a_local_source_with_the_wrong_bytes_is_refused() {
    let ctx = TestContext::new();
    let wanted = Sha256Digest::of_bytes(b"what the manifest means");
    let actual = ctx.write_file("files/data.bin", b"what is on the disk");
    ctx.write_manifest(&manifest(
        "data",
        &["files/data.bin".to_owned()],
        Some(&wanted),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stderr.contains(&format!("expected {wanted}")), "{run}");
    assert!(run.stderr.contains(&format!("actual   {actual}")), "{run}");
    assert!(ctx.objects().is_empty());
    assert!(ctx.incomplete().is_empty());
    assert!(std::fs::symlink_metadata(ctx.link("data")).is_err());
    // A mismatch counts against the project.
    let record = files_under(&ctx.store.join("meta/projects"));
    let record: crp::store::record::ProjectRecord =
        serde_json::from_slice(&std::fs::read(&record[0]).unwrap()).unwrap();
    assert_eq!(record.incidents, 1);
}

#[test]
fn resumes_a_killed_download_with_a_range_request() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(3, 2 * 1024 * 1024);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "big.bin",
        content.clone(),
        Behavior::Slow {
            chunk: 16 * 1024,
            delay: Duration::from_millis(20),
        },
    );
    ctx.write_manifest(&manifest(
        "big",
        &[server.url("big.bin")],
        Some(&digest),
        Some(content.len()),
    ));

    let mut child = ctx.command().arg("sync").spawn().unwrap();
    let part = ctx.store.join(".incomplete").join(format!("{digest}.part"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 300 * 1024 {
        assert!(Instant::now() < deadline, "the download did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(ctx.objects().is_empty());

    // Full speed for the rest.
    server.route("big.bin", content.clone(), Behavior::Normal);
    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    assert!(ctx.incomplete().is_empty());
    let requests = server.requests("big.bin");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let resumed = &requests[1];
    assert_eq!(resumed.range, Some(format!("bytes={kept}-")));
    assert_eq!(resumed.status, 206);
    assert_eq!(
        resumed.sent,
        content.len() as u64 - kept,
        "more than the remaining bytes were fetched"
    );
}

#[test]
fn a_body_cut_short_is_retried_from_where_it_stopped() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(4, 100_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "cut.bin",
        content.clone(),
        Behavior::CutShort {
            after: 30_000,
            times: 1,
        },
    );
    ctx.write_manifest(&manifest(
        "cut",
        &[server.url("cut.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stderr.contains("retrying"), "{run}");
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    let requests = server.requests("cut.bin");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(requests[1].sent, 70_000);
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(5, 1000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "flaky.bin",
        content.clone(),
        Behavior::FailFirst {
            status: 500,
            times: 2,
        },
    );
    ctx.write_manifest(&manifest(
        "flaky",
        &[server.url("flaky.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(
        server
            .requests("flaky.bin")
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(
        run.stderr
            .contains("HTTP 500 Internal Server Error; attempt 2 of 4"),
        "{run}"
    );
    // The backoff doubles: 0.25 s, then 0.5 s.
    let at: Vec<_> = server.requests("flaky.bin").iter().map(|r| r.at).collect();
    assert!(
        at[1] - at[0] >= Duration::from_millis(240),
        "{:?}",
        at[1] - at[0]
    );
    assert!(
        at[2] - at[1] >= Duration::from_millis(490),
        "{:?}",
        at[2] - at[1]
    );
    assert!(run.stderr.contains("attempt 2 of 4 in 0.2s"), "{run}");
    assert!(run.stderr.contains("attempt 3 of 4 in 0.5s"), "{run}");

    // 408 and 429 are worth another try too.
    for status in [408, 429] {
        let ctx = TestContext::new();
        let path = format!("busy-{status}.bin");
        server.route(
            &path,
            content.clone(),
            Behavior::FailFirst { status, times: 1 },
        );
        ctx.write_manifest(&manifest("busy", &[server.url(&path)], Some(&digest), None));
        let run = ctx.crp(&["sync"]);
        run.success();
        let statuses: Vec<u16> = server.requests(&path).iter().map(|r| r.status).collect();
        assert_eq!(statuses, [status, 200], "{run}");
    }

    // Always 503: four attempts, then an error that says what happened.
    let ctx = TestContext::new();
    server.route("down.bin", content.clone(), Behavior::Status(503));
    ctx.write_manifest(&manifest(
        "down",
        &[server.url("down.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert_eq!(server.requests("down.bin").len(), 4);
    assert!(run.stderr.contains("HTTP 503 Service Unavailable"), "{run}");

    // 404: once, no retry.
    let ctx = TestContext::new();
    ctx.write_manifest(&manifest(
        "gone",
        &[server.url("nowhere.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert_eq!(server.requests("nowhere.bin").len(), 1);
    assert!(run.stderr.contains("HTTP 404 Not Found"), "{run}");
}

#[test]
fn mirrors_are_tried_in_order() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(6, 5000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("wrong.bin", bytes(9, 5000), Behavior::Normal);
    server.route("good.bin", content.clone(), Behavior::Normal);
    let sources = [
        server.url("missing.bin"),
        server.url("wrong.bin"),
        server.url("good.bin"),
    ];
    ctx.write_manifest(&manifest("mirrored", &sources, Some(&digest), None));
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.success();
    let doc: crp::report::SyncDocument = run.json();
    assert_eq!(
        doc.report.resources[0].fetched_from.as_deref(),
        Some(sources[2].as_str())
    );
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    let record = ctx.object_record(&digest);
    assert_eq!(record.source, sources[0]);
    assert_eq!(record.served_by.as_deref(), Some(sources[2].as_str()));
    assert_eq!(record.sources, sources);
    for path in ["missing.bin", "wrong.bin", "good.bin"] {
        assert_eq!(server.requests(path).len(), 1, "{path}");
    }

    // Every mirror failing: each failure is listed.
    let ctx = TestContext::new();
    ctx.write_manifest(&manifest("mirrored", &sources[..2], Some(&digest), None));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stderr
            .contains(&format!("from {}: HTTP 404 Not Found", sources[0])),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(&format!("from {}: sha256 mismatch", sources[1])),
        "{run}"
    );
}

#[test]
fn without_range_support_an_interrupted_download_starts_over() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(7, 50_000);
    let digest = Sha256Digest::of_bytes(&content);
    let version = Version::new(content.clone()).behavior(Behavior::NoRange);
    let etag = version_etag(&content);
    server.versions("plain.bin", vec![version]);
    ctx.write_manifest(&manifest(
        "plain",
        &[server.url("plain.bin")],
        Some(&digest),
        None,
    ));
    // What an interrupted run leaves behind, in a store made by an offline
    // sync: the first bytes, and the response they came from.
    ctx.crp(&["sync", "--offline"]).code(1);
    let part = ctx.store.join(".incomplete").join(format!("{digest}.part"));
    write_part(&part, &content[..20_000], &server.url("plain.bin"), &etag);

    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    let requests = server.requests("plain.bin");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=20000-"));
    assert_eq!(requests[0].if_range.as_deref(), Some(etag.as_str()));
    assert_eq!((requests[0].status, requests[0].sent), (200, 50_000));
    assert!(ctx.incomplete().is_empty(), "{:?}", ctx.incomplete());
}

#[test]
fn bytes_of_unknown_origin_are_never_resumed() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(8, 50_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("plain.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "plain",
        &[server.url("plain.bin")],
        Some(&digest),
        None,
    ));
    ctx.crp(&["sync", "--offline"]).code(1);
    let incomplete = ctx.store.join(".incomplete");
    // Bytes with no record of the response they came from, and bytes that
    // came from another source: neither can be combined with this one's.
    std::fs::write(
        incomplete.join(format!("{digest}.part")),
        &content[..20_000],
    )
    .unwrap();
    ctx.crp(&["sync"]).success();
    let requests = server.requests("plain.bin");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range, None, "{requests:?}");
    assert_eq!((requests[0].status, requests[0].sent), (200, 50_000));

    let other = bytes(9, 50_000);
    let other_digest = Sha256Digest::of_bytes(&other);
    server.route("other.bin", other.clone(), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "other",
        &[server.url("other.bin")],
        Some(&other_digest),
        None,
    ));
    write_part(
        &incomplete.join(format!("{other_digest}.part")),
        &other[..20_000],
        &server.url("a-mirror-that-served-it.bin"),
        &version_etag(&other),
    );
    ctx.crp(&["sync"]).success();
    let requests = server.requests("other.bin");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range, None, "{requests:?}");
    assert_eq!(std::fs::read(ctx.object(&other_digest)).unwrap(), other);
}

#[test]
fn a_stalled_response_times_out_and_resumes() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(8, 80_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "stall.bin",
        content.clone(),
        Behavior::Stall {
            after: 20_000,
            pause: Duration::from_secs(20),
            times: 1,
        },
    );
    ctx.write_manifest(&manifest(
        "stall",
        &[server.url("stall.bin")],
        Some(&digest),
        None,
    ));
    let started = Instant::now();
    let run = Run::from(
        ctx.command()
            .env("CRP_HTTP_TIMEOUT", "0.5")
            .arg("sync")
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stall was waited out"
    );
    assert!(run.stderr.contains("retrying"), "{run}");
    // The stalled request is logged only when its response ends; the resumed
    // one has finished already.
    let resumed = server
        .requests("stall.bin")
        .into_iter()
        .find(|r| r.range.is_some())
        .expect("a resumed request");
    assert_eq!(resumed.range.as_deref(), Some("bytes=20000-"));
    assert_eq!(resumed.sent, 60_000);
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
}

#[test]
fn more_bytes_than_declared_are_cut_off() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(9, 10_000);
    let digest = Sha256Digest::of_bytes(&content);
    // No length announced: the body runs on past the declared size, far
    // longer than any socket buffer holds.
    server.route(
        "endless.bin",
        content.clone(),
        Behavior::Oversize { extra: 256 << 20 },
    );
    ctx.write_manifest(&manifest(
        "endless",
        &[server.url("endless.bin")],
        Some(&digest),
        Some(10_000),
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("passed the declared size of 10000 bytes"),
        "{run}"
    );
    assert!(ctx.objects().is_empty());
    assert!(ctx.incomplete().is_empty());
    // Cut off at once: the server could send only what the sockets' buffers
    // took before crp hung up, a small part of the quarter gigabyte.
    let sent = server.requests("endless.bin")[0].sent;
    assert!(sent < 64 << 20, "crp read on: the server sent {sent} bytes");

    // An announced length that disagrees is refused before the body.
    let ctx = TestContext::new();
    server.route("bigger.bin", bytes(9, 20_000), Behavior::Normal);
    ctx.write_manifest(&manifest(
        "bigger",
        &[server.url("bigger.bin")],
        Some(&digest),
        Some(10_000),
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("the server announced 20000 bytes, but the manifest declares 10000"),
        "{run}"
    );
    assert!(ctx.objects().is_empty());
}

#[test]
fn a_refused_connection_is_retried_then_the_next_mirror_serves() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(10, 3000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route("ok.bin", content.clone(), Behavior::Normal);
    // A port that nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "http://127.0.0.1:{}/x.bin",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    ctx.write_manifest(&manifest(
        "m",
        &[dead.clone(), server.url("ok.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync", "-v"]);
    run.success();
    assert!(run.stderr.contains(&format!("`m` from {dead}")), "{run}");
    assert!(
        run.stderr.contains("attempt 4 of 4"),
        "connection errors are retried\n{run}"
    );
    assert!(run.stderr.contains("trying the next source"), "{run}");
    // `-v` shows the requests.
    assert!(run.stderr.contains("GET"), "{run}");
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
}

#[test]
fn https_with_a_trusted_certificate_and_without() {
    let ctx = TestContext::new();
    let server = Server::start_tls();
    let content = bytes(11, 70_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "secure.bin",
        content.clone(),
        Behavior::CutShort {
            after: 20_000,
            times: 1,
        },
    );
    ctx.write_manifest(&manifest(
        "secure",
        &[server.url("secure.bin")],
        Some(&digest),
        None,
    ));
    assert!(server.url("secure.bin").starts_with("https://"));

    // The test CA is not trusted by default: the handshake fails, once (a
    // certificate does not get better by retrying), and nothing is stored.
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(run.stderr.to_lowercase().contains("certificate"), "{run}");
    assert!(!run.stderr.contains("retrying"), "{run}");
    assert!(ctx.objects().is_empty());

    // Trusted through `SSL_CERT_FILE`: downloaded, resumed after the cut, verified.
    let run = Run::from(
        ctx.command()
            .env("SSL_CERT_FILE", Server::ca_file())
            .arg("sync")
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    let resumed = server
        .requests("secure.bin")
        .into_iter()
        .find(|r| r.range.is_some())
        .expect("a resumed request");
    assert_eq!((resumed.status, resumed.sent), (206, 50_000));
}

#[test]
fn an_error_names_each_resource_that_shares_the_failed_object() {
    let ctx = TestContext::new();
    let server = Server::start();
    server.route("gone.bin", b"x".to_vec(), Behavior::Status(404));
    let digest = Sha256Digest::of_bytes(b"wanted");
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.first]\nsource = \"{url}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n\n[resources.second]\nsource = \"{url}\"\nsha256 = \"{digest}\"\npurpose = \"y\"\n",
        url = server.url("gone.bin")
    ));
    let run = ctx.crp(&["sync", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    let message = |i: usize| {
        doc["resources"][i]["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(message(0), "failed to fetch `first`");
    assert_eq!(
        message(1),
        "failed to fetch `second` (it shares its object with `first`)"
    );
    let run = ctx.crp(&["sync"]);
    assert!(
        run.stderr.contains("error: failed to fetch `second`"),
        "{run}"
    );
    assert_eq!(server.requests("gone.bin").len(), 2, "one fetch per sync");
}

#[test]
fn a_redirect_does_not_get_round_the_policy_s_schemes() {
    let ctx = TestContext::new();
    let plain = Server::start();
    let secure = Server::start_tls();
    let content = bytes(12, 3_000);
    plain.route("data.bin", content.clone(), Behavior::Normal);
    secure.route(
        "data.bin",
        b"".to_vec(),
        Behavior::Redirect {
            location: plain.url("data.bin"),
        },
    );
    ctx.write_manifest(&manifest(
        "redirected",
        &[secure.url("data.bin")],
        Some(&Sha256Digest::of_bytes(&content)),
        None,
    ));
    ctx.write_policy("[limits]\nschemes = [\"https\"]\n");
    let sync = || {
        Run::from(
            ctx.command()
                .env("SSL_CERT_FILE", Server::ca_file())
                .arg("sync")
                .output()
                .unwrap(),
            &ctx,
        )
    };
    let run = sync();
    run.code(1);
    assert!(
        run.stderr.contains("a redirect to plain `http:`") && run.stderr.contains("`schemes`"),
        "{run}"
    );
    assert!(
        plain.requests("data.bin").is_empty(),
        "never asked over http"
    );
    assert!(ctx.objects().is_empty());
    // Where the policy allows http, the same redirect is followed.
    ctx.write_policy("[limits]\nschemes = [\"https\", \"http\"]\n");
    sync().success();
}

/// `crp sync` run under a limit on the size of the files it writes, as
/// `ulimit -f` sets one: the kernel then refuses every write past
/// `kib` KiB with `EFBIG`, a real disk-side fault on demand.
fn sync_with_file_size_limit(ctx: &TestContext, kib: u64) -> Run {
    let template = ctx.command();
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear();
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    // `ulimit -f` counts 512-byte blocks in POSIX sh; an ignored
    // `SIGXFSZ` stays ignored across `exec`, so writes fail instead of
    // killing the process.
    let script = format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" sync", kib * 2);
    cmd.args(["-c", &script, env!("CARGO_BIN_EXE_crp")])
        .current_dir(&ctx.project)
        .stdin(std::process::Stdio::null());
    Run::from(cmd.output().expect("sh runs"), ctx)
}

#[test]
fn a_download_that_cannot_be_written_is_refused_whole_and_fetched_later() {
    let ctx = TestContext::new();
    let server = Server::start();
    // One body small enough to be written as it arrives, one written by a
    // thread of its own: a write error fails both the same way.
    let small = bytes(3, 200 * 1024);
    let large = bytes(4, 2 << 20);
    server.route("small.bin", small.clone(), Behavior::Normal);
    server.route("large.bin", large.clone(), Behavior::Normal);
    let (small_digest, large_digest) = (
        Sha256Digest::of_bytes(&small),
        Sha256Digest::of_bytes(&large),
    );
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n\
         [resources.small]\nsource = \"{}\"\nsha256 = \"{small_digest}\"\nsize = {}\npurpose = \"testing\"\n\n\
         [resources.large]\nsource = \"{}\"\nsha256 = \"{large_digest}\"\nsize = {}\npurpose = \"testing\"\n",
        server.url("small.bin"),
        small.len(),
        server.url("large.bin"),
        large.len()
    ));

    let run = sync_with_file_size_limit(&ctx, 64);
    run.code(1);
    for name in ["small", "large"] {
        assert!(
            run.stderr.contains(&format!("failed to fetch `{name}`")),
            "{run}"
        );
    }
    assert_eq!(
        run.stderr.matches("File too large").count(),
        2,
        "each failure says why: {run}"
    );
    assert!(ctx.objects().is_empty(), "a part became an object: {run}");
    assert!(ctx.incomplete().is_empty(), "a part that failed was kept");
    assert!(std::fs::symlink_metadata(ctx.link("small")).is_err());
    assert!(std::fs::symlink_metadata(ctx.link("large")).is_err());

    // With room to write, the next sync completes.
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("small")).unwrap(), small);
    assert_eq!(std::fs::read(ctx.link("large")).unwrap(), large);
}

#[test]
fn a_small_body_cut_short_every_time_leaves_no_part() {
    let ctx = TestContext::new();
    let server = Server::start();
    let content = bytes(6, 100_000);
    let digest = Sha256Digest::of_bytes(&content);
    server.route(
        "cut.bin",
        content.clone(),
        Behavior::CutShort {
            after: 5_000,
            times: usize::MAX,
        },
    );
    ctx.write_manifest(&manifest(
        "cut",
        &[server.url("cut.bin")],
        Some(&digest),
        None,
    ));
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(server.requests("cut.bin").len() > 1, "{run}");
    // Too small to be worth resuming in a later run, it is not kept: the
    // next run starts over either way.
    assert!(ctx.objects().is_empty(), "{run}");
    assert!(ctx.incomplete().is_empty(), "{:?}", ctx.incomplete());
}
