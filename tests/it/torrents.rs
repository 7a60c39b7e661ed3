//! Torrent sources against a real transmission-daemon on 127.0.0.1.
//!
//! Each test starts the store's own daemon with `crp torrent daemon start
//! --loopback` (and stops it when done), serves the data from the test's
//! HTTP server as a web seed (BEP 19, which needs `Range`), and, for magnet
//! links, from an `aria2c` seeder introduced by a tracker on that server:
//! two transmission daemons will not swarm over loopback.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crp::digest::Sha256Digest;
use crp::report::{DaemonDocument, PlanDocument, SyncDocument};
use crp::torrent::{Daemon, TorrentPhase, TorrentSettings, TorrentView, UrlOrigin};
use lava_torrent::bencode::BencodeElem;
use lava_torrent::torrent::v1::TorrentBuilder;

use crate::common::{Run, TestContext, bytes, closed_port, files_under};
use crate::server::{Behavior, Server};

/// The store's private daemon, stopped when dropped.
struct PrivateDaemon<'a> {
    ctx: &'a TestContext,
    url: String,
    pid: i32,
}

impl<'a> PrivateDaemon<'a> {
    fn start(ctx: &'a TestContext) -> Self {
        let run = ctx.crp(&[
            "torrent",
            "daemon",
            "start",
            "--loopback",
            "--rpc-port",
            "0",
            "--format",
            "json",
        ]);
        run.success();
        let doc: DaemonDocument = run.json();
        assert!(doc.running);
        Self {
            ctx,
            url: doc.rpc_url.expect("the daemon's URL"),
            pid: doc.pid.expect("the daemon's pid"),
        }
    }

    /// The daemon's view of a torrent, through crp's own client.
    fn get(&self, info_hash: &str) -> Option<TorrentView> {
        block_on(async {
            let daemon = Daemon::connect(&settings(&self.url))
                .await
                .expect("the daemon answers");
            daemon.get(info_hash).await.expect("torrent-get works")
        })
    }

    fn count(&self) -> usize {
        block_on(async {
            let daemon = Daemon::connect(&settings(&self.url))
                .await
                .expect("the daemon answers");
            daemon.list().await.expect("torrent-get works").len()
        })
    }
}

impl Drop for PrivateDaemon<'_> {
    fn drop(&mut self) {
        let _ = self
            .ctx
            .command()
            .args(["torrent", "daemon", "stop"])
            .output();
    }
}

fn settings(url: &str) -> TorrentSettings {
    TorrentSettings {
        rpc_url: url.parse().unwrap(),
        auth: None,
        timeout: Duration::from_secs(10),
        origin: UrlOrigin::Environment,
        seed: true,
        seed_ratio: None,
        seed_time: None,
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A `.torrent` for `path` (a file or a folder) with a web seed and,
/// optionally, a tracker. Returns its bytes and info-hash.
fn make_torrent(path: &Path, web_seed: &str, tracker: Option<&str>) -> (Vec<u8>, String) {
    let mut builder = TorrentBuilder::new(path, 32 * 1024)
        .set_num_threads(1)
        .add_extra_field("url-list".into(), BencodeElem::String(web_seed.into()));
    if let Some(tracker) = tracker {
        builder = builder.set_announce(Some(tracker.into()));
    }
    let torrent = builder.build().expect("a torrent builds");
    let hash = torrent.info_hash();
    (torrent.encode().expect("a torrent encodes"), hash)
}

/// Serves `file` (under the test's `seed/`) as a web seed, and returns the
/// `.torrent` written beside the manifest.
fn single_file(
    ctx: &TestContext,
    server: &Server,
    name: &str,
    content: &[u8],
    behavior: Behavior,
) -> (PathBuf, String) {
    let seed_dir = ctx.root.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    std::fs::write(seed_dir.join(name), content).unwrap();
    server.route(&format!("ws/{name}"), content.to_vec(), behavior);
    let (torrent, hash) = make_torrent(
        &seed_dir.join(name),
        &server.url(&format!("ws/{name}")),
        None,
    );
    let path = ctx.project.join(format!("{name}.torrent"));
    std::fs::write(&path, torrent).unwrap();
    (path, hash)
}

fn manifest(name: &str, source: &str, sha256: Option<&Sha256Digest>, extra: &str) -> String {
    let sha = sha256
        .map(|d| format!("sha256 = \"{d}\"\n"))
        .unwrap_or_default();
    format!(
        "[project]\nname = \"demo\"\n\n[resources.{name}]\nsource = \"{source}\"\n{sha}{extra}purpose = \"torrent test\"\n"
    )
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn completion_log(ctx: &TestContext) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ctx.store.join("meta/completed.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_torrent_file_is_fetched_verified_linked_and_seeded_from_the_store() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(50, 700_000);
    let digest = Sha256Digest::of_bytes(&content);
    let (_, hash) = single_file(&ctx, &server, "console.zip", &content, Behavior::Normal);
    ctx.write_manifest(&manifest(
        "console",
        "console.zip.torrent",
        Some(&digest),
        "size = 700000\n",
    ));

    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s", "--format", "json"]);
    run.success();
    let doc: SyncDocument = run.json();
    let resource = &doc.report.resources[0];
    assert_eq!(
        resource.fetched_from.as_deref(),
        Some(ctx.project.join("console.zip.torrent").to_str().unwrap())
    );
    assert_eq!(
        resource.torrent.as_ref().map(|t| t.phase),
        Some(TorrentPhase::Seeding)
    );
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);
    assert_eq!(std::fs::read(ctx.link("console")).unwrap(), content);
    assert!(
        files_under(&ctx.store.join(".incomplete")).is_empty(),
        "data left behind"
    );

    // The daemon seeds from the store: its data is the object, through seeding/.
    let view = daemon.get(&hash).expect("the daemon keeps the torrent");
    assert_eq!(view.download_dir, ctx.store.join("seeding").join(&hash));
    assert_eq!(
        std::fs::read_link(view.data_path()).unwrap(),
        ctx.object(&digest)
    );
    wait_for("seeding", Duration::from_secs(20), || {
        daemon
            .get(&hash)
            .is_some_and(|v| v.state().phase == TorrentPhase::Seeding)
    });
    let status: PlanDocument = ctx.crp(&["status", "--format", "json"]).json();
    assert_eq!(
        status.torrents[&"console".parse().unwrap()].phase,
        TorrentPhase::Seeding
    );

    // The object's record says where it came from.
    let record = ctx.object_record(&digest);
    assert_eq!(record.info_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(record.projects.len(), 1);
    assert_eq!(record.status, crp::provenance::State::Seeding);
    // The lifecycle reached seeding, and metrics ask the daemon for the ratio.
    let events = ctx.events();
    assert!(
        events
            .iter()
            .any(|e| e.from_state == Some(crp::provenance::State::Available)
                && e.to_state == crp::provenance::State::Seeding),
        "{events:?}"
    );
    let metrics: serde_json::Value = ctx.crp(&["metrics", "--format", "json"]).json();
    assert!(metrics["metrics"]["seeding_ratio"].is_number(), "{metrics}");
    // Only the web seed had it: upstream drift says nobody else holds it,
    // whether or not the daemon is still talking to the web seed.
    for _ in 0..3 {
        let drift = ctx.crp(&["drift", "--upstream"]);
        drift.code(1);
        assert!(
            drift.stdout.contains("has no peers: nobody else holds it"),
            "{drift}"
        );
    }

    // A second sync has nothing to do, and does not ask the daemon.
    let quiet = RpcProxy::start(&daemon.url);
    let run = Run::from(
        ctx.command()
            .env("CRP_TRANSMISSION_URL", quiet.url())
            .args(["sync", "--no-wait"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    assert!(run.stdout.contains("1 up to date"), "{run}");
    assert_eq!(
        quiet.requests(),
        0,
        "a sync with nothing to do asked the daemon"
    );

    // Once no project needs it, garbage collection leaves it while the
    // daemon seeds from it, and says so.
    ctx.write_manifest("[project]\nname = \"demo\"\n");
    ctx.crp(&["sync"]).success();
    let run = ctx.crp(&["gc", "--apply", "--grace", "0s"]);
    run.success();
    assert!(
        run.stdout
            .contains("kept while the torrent daemon seeds them"),
        "{run}"
    );
    assert!(ctx.object(&digest).exists());
    assert!(std::fs::read_link(view.data_path()).unwrap().exists());
}

#[test]
fn a_multi_file_torrent_from_a_url_is_a_directory_resource() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let album = ctx.root.path().join("seed/album");
    let files = [
        ("a.bin", bytes(51, 100_000)),
        ("sub/b.bin", bytes(52, 50_000)),
        ("sub/c d.txt", b"spaces".to_vec()),
    ];
    for (rel, content) in &files {
        std::fs::create_dir_all(album.join(rel).parent().unwrap()).unwrap();
        std::fs::write(album.join(rel), content).unwrap();
        // transmission asks a multi-file web seed for <base><name>/<path>,
        // percent-encoded.
        server.route(
            &format!("ws/album/{}", rel.replace(' ', "%20")),
            content.clone(),
            Behavior::Normal,
        );
    }
    let tree = crp::tree::hash_tree(&album).unwrap();
    let (torrent, _) = make_torrent(&album, &server.url("ws/"), None);
    server.route("album.torrent", torrent, Behavior::Normal);
    let declared = manifest(
        "album",
        &server.url("album.torrent"),
        Some(&tree.digest),
        "",
    );
    ctx.write_manifest(&declared);
    // Not seeded, so that garbage collection may archive it below.
    ctx.write_config("[torrent]\nseed = false\n");

    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.success();
    let link = ctx.link("album");
    assert_eq!(std::fs::read(link.join("sub/c d.txt")).unwrap(), b"spaces");
    let hash = ctx.crp(&["hash", link.to_str().unwrap()]);
    assert_eq!(hash.stdout.trim(), tree.digest.hex());
    assert!(ctx.object(&tree.digest).is_dir());
    // Read-only in the store, like a file object.
    assert!(
        std::fs::metadata(ctx.object(&tree.digest).join("a.bin"))
            .unwrap()
            .permissions()
            .readonly()
    );

    // Archived, its cold copy rots, and it is fetched again: available,
    // not left `failed` by the rotten copy.
    ctx.write_manifest("[project]\nname = \"demo\"\n");
    ctx.crp(&["sync"]).success();
    ctx.crp(&["gc", "--apply", "--grace", "0s"]).success();
    let cold = ctx.object_record(&tree.digest).archived.unwrap().path;
    let rotten = cold.join("a.bin");
    std::fs::set_permissions(&cold, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&rotten, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&rotten, b"rotten").unwrap();
    ctx.write_manifest(&declared);
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.success();
    assert!(run.stderr.contains("does not verify"), "{run}");
    assert_eq!(
        ctx.object_record(&tree.digest).status,
        crp::provenance::State::Available,
        "{run}"
    );
    ctx.assert_records_agree_with_events();
}

#[test]
fn a_directory_object_round_trips_through_a_remote() {
    let weed = crate::remotes::Weed::start();
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let album = ctx.root.path().join("seed/album");
    let files = [
        ("a.bin", bytes(61, 9_000_000)),
        ("sub/b.bin", bytes(62, 50_000)),
        ("sub/c d.txt", b"spaces".to_vec()),
        ("sub/same.txt", b"spaces".to_vec()),
    ];
    for (rel, content) in &files {
        std::fs::create_dir_all(album.join(rel).parent().unwrap()).unwrap();
        std::fs::write(album.join(rel), content).unwrap();
        server.route(
            &format!("ws/album/{}", rel.replace(' ', "%20")),
            content.clone(),
            Behavior::Normal,
        );
    }
    let tree = crp::tree::hash_tree(&album).unwrap();
    let (torrent, _) = make_torrent(&album, &server.url("ws/"), None);
    server.route("album.torrent", torrent, Behavior::Normal);
    let remote = format!(
        "\n[[project.remote]]\nname = \"team\"\nurl = \"s3://crp-cache/trees\"\nendpoint = \"{}\"\n",
        weed.endpoint()
    );
    ctx.write_manifest(
        &manifest(
            "album",
            &server.url("album.torrent"),
            Some(&tree.digest),
            "",
        )
        .replace("[resources", &format!("{remote}\n[resources")),
    );
    crate::remotes::crp(&ctx, &ctx.project, &["sync", "--wait", "--timeout", "120s"]).success();
    let run = crate::remotes::crp(&ctx, &ctx.project, &["push"]);
    run.success();
    assert!(run.stdout.contains("1 object uploaded"), "{run}");
    drop(daemon);
    let asked = server.log().len();

    // Another machine, no daemon: the remote serves the tree, verified.
    let other = TestContext::new();
    std::fs::copy(ctx.manifest_path(), other.manifest_path()).unwrap();
    let run = crate::remotes::crp(&other, &other.project, &["sync", "--remotes-only"]);
    run.success();
    assert!(run.stdout.contains("from remote `team`"), "{run}");
    assert_eq!(server.log().len(), asked, "nothing asked of the web seed");
    let object = other.object(&tree.digest);
    assert!(object.is_dir());
    assert_eq!(
        crp::tree::hash_tree(&object).unwrap(),
        tree,
        "files, sizes and modes"
    );
    let link = other.link("album");
    for (rel, content) in &files {
        assert_eq!(&std::fs::read(link.join(rel)).unwrap(), content);
    }
    let record = other.object_record(&tree.digest);
    assert_eq!(record.kind, crp::store::record::ObjectKind::Directory);
    assert_eq!(record.size, tree.size());
}

/// Serves `content` as `name` to a magnet: an aria2c seeder with the
/// metadata, a tracker that introduces it, and a web seed for the data.
/// Returns the magnet link, its info-hash and the seeder.
fn magnet_swarm(
    ctx: &TestContext,
    server: &Server,
    name: &str,
    content: &[u8],
) -> (String, String, KillOnDrop) {
    let seed_dir = ctx.root.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    std::fs::write(seed_dir.join(name), content).unwrap();
    server.route(&format!("ws/{name}"), content.to_vec(), Behavior::Normal);
    let peer_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A tracker that knows one peer, the daemon. transmission ignores
    // loopback peers a tracker names, but accepts connections from them:
    // the aria2c seeder learns the daemon's address here and dials it.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ctx.store.join("meta/transmission/crp-daemon.json")).unwrap(),
    )
    .unwrap();
    let daemon_port = u16::try_from(state["peer_port"].as_u64().unwrap()).unwrap();
    let mut announce = b"d8:intervali2e5:peers6:".to_vec();
    announce.extend([127, 0, 0, 1]);
    announce.extend(daemon_port.to_be_bytes());
    announce.push(b'e');
    server.route("announce", announce, Behavior::Normal);
    let web_seed = server.url(&format!("ws/{name}"));
    let (torrent, hash) = make_torrent(
        &seed_dir.join(name),
        &web_seed,
        Some(&server.url("announce")),
    );
    let torrent_path = ctx.root.path().join(format!("{name}.torrent"));
    std::fs::write(&torrent_path, &torrent).unwrap();
    let seeder = Seeder::start(&torrent_path, &seed_dir, peer_port);
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&dn={name}&tr={}&ws={}",
        encode(&server.url("announce")),
        encode(&web_seed)
    );
    (magnet, hash, seeder)
}

#[test]
fn a_magnet_link_fetches_metadata_from_a_peer_and_pins() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let content = bytes(53, 300_000);
    let digest = Sha256Digest::of_bytes(&content);
    let (magnet, _, _seeder) = magnet_swarm(&ctx, &server, "data.bin", &content);
    // No sha256: trusted on first use, and pinned.
    ctx.write_manifest(&manifest("data", &magnet, None, ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.success();
    assert!(run.stdout.contains("pinned"), "{run}");
    assert!(
        ctx.read_manifest()
            .contains(&format!("sha256 = \"{digest}\""))
    );
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);
}

#[test]
fn a_magnets_metadata_is_checked_as_soon_as_it_arrives() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(63, 200_000);
    let (magnet, hash, _seeder) = magnet_swarm(&ctx, &server, "sized.bin", &content);
    ctx.write_manifest(&manifest("sized", &magnet, None, "size = 12345\n"));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("the manifest declares 12345 bytes, but the torrent holds 200000"),
        "{run}"
    );
    // Out of the daemon, with whatever it had begun to download.
    assert!(daemon.get(&hash).is_none());
    wait_for("the data to go", Duration::from_secs(10), || {
        files_under(&ctx.store.join(".incomplete/torrents")).is_empty()
    });
    assert!(ctx.objects().is_empty());
}

/// A process the test started, killed when dropped.
struct KillOnDrop(Child);

/// An aria2c seeding one torrent on 127.0.0.1.
struct Seeder;

impl Seeder {
    fn start(torrent: &Path, dir: &Path, port: u16) -> KillOnDrop {
        let child = Command::new("aria2c")
            .args([
                "--no-conf=true",
                "--interface=127.0.0.1",
                "--disable-ipv6=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-ratio=0.0",
                "--check-integrity=true",
                "--bt-tracker-interval=1",
                "--bt-save-metadata=false",
                "--console-log-level=warn",
            ])
            .arg(format!("--dir={}", dir.display()))
            .arg(format!("--listen-port={port}"))
            .arg(format!("--stop-with-process={}", std::process::id()))
            .arg(torrent)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c runs (`apt-get install aria2`)");
        KillOnDrop(child)
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn data_that_does_not_match_is_quarantined() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(54, 200_000);
    let (_, hash) = single_file(&ctx, &server, "wrong.bin", &content, Behavior::Normal);
    let claimed = Sha256Digest::of_bytes(b"something else");
    ctx.write_manifest(&manifest("wrong", "wrong.bin.torrent", Some(&claimed), ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(run.stderr.contains(&format!("expected {claimed}")), "{run}");
    assert!(
        run.stderr
            .contains(&format!("actual   {}", Sha256Digest::of_bytes(&content))),
        "{run}"
    );
    assert!(run.stderr.contains("quarantined"), "{run}");
    assert!(ctx.objects().is_empty(), "a mismatch became an object");
    let quarantined = files_under(&ctx.store.join("quarantine"));
    assert_eq!(quarantined.len(), 1);
    assert_eq!(std::fs::read(&quarantined[0]).unwrap(), content);
    assert!(
        daemon.get(&hash).is_none(),
        "the torrent stays in the daemon"
    );
    assert!(
        completion_log(&ctx)
            .iter()
            .any(|l| l["result"] == "mismatch")
    );

    // Bytes that match but hold a program the manifest did not declare are
    // quarantined too, and never linked.
    let mut program = b"#!/bin/sh\necho from a torrent\n".to_vec();
    program.extend(bytes(59, 50_000));
    let (_, hash) = single_file(&ctx, &server, "tool.sh", &program, Behavior::Normal);
    let digest = Sha256Digest::of_bytes(&program);
    ctx.write_manifest(&manifest("tool", "tool.sh.torrent", Some(&digest), ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(run.stdout.contains("quarantined  tool"), "{run}");
    assert!(run.stdout.contains("a `#!` script"), "{run}");
    assert!(
        ctx.objects().is_empty(),
        "an undeclared program became an object"
    );
    assert!(!ctx.link("tool").exists());
    assert_eq!(files_under(&ctx.store.join("quarantine")).len(), 2);
    assert!(daemon.get(&hash).is_none());
    assert!(
        completion_log(&ctx)
            .iter()
            .any(|l| l["result"] == "executable")
    );
}

#[test]
fn no_wait_returns_and_the_hook_and_a_later_sync_finish_the_job() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let content = bytes(55, 600_000);
    let digest = Sha256Digest::of_bytes(&content);
    // Slow enough that the first sync returns long before the end.
    let slow = Behavior::Slow {
        chunk: 16 * 1024,
        delay: Duration::from_millis(60),
    };
    single_file(&ctx, &server, "slow.bin", &content, slow);
    ctx.write_manifest(&manifest("slow", "slow.bin.torrent", Some(&digest), ""));
    // People are told when it arrives, whoever finishes the job.
    let told = ctx.root.path().join("told.txt");
    ctx.write_config(&format!(
        "[bridge]\nfolder = \"bridge\"\n\n[[notify]]\ncommand = [\"sh\", \"-c\", \"echo \\\"$CRP_EVENT $CRP_NAME\\\" >> {}\"]\n",
        told.display()
    ));

    let started = Instant::now();
    let run = ctx.crp(&["sync", "--no-wait", "--format", "json"]);
    run.code(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "--no-wait waited"
    );
    let doc: SyncDocument = run.json();
    let resource = &doc.report.resources[0];
    assert_eq!(resource.status, crp::execute::Status::Downloading);
    let state = resource.torrent.as_ref().expect("the torrent's state");
    assert!(
        matches!(
            state.phase,
            TorrentPhase::Downloading | TorrentPhase::Stalled | TorrentPhase::Verifying
        ),
        "{state:?}"
    );
    assert!(!ctx.link("slow").exists());
    // Status says where the torrent is, too.
    let status: PlanDocument = ctx.crp(&["status", "--format", "json"]).json();
    let state = &status.torrents[&"slow".parse().unwrap()];
    assert!(
        state.phase != TorrentPhase::Seeding && state.percent < 100.0,
        "{state:?}"
    );

    // The daemon finishes, and its completion hook ingests the torrent.
    wait_for("the hook to ingest", Duration::from_secs(60), || {
        ctx.object(&digest).exists()
    });
    wait_for("the completion log", Duration::from_secs(10), || {
        completion_log(&ctx)
            .iter()
            .any(|l| l["by"] == "hook" && l["result"] == "ingested")
    });
    // The hook carried the lifecycle on from where the sync left it.
    let events = ctx.events();
    let states: Vec<_> = events
        .iter()
        .filter(|e| e.resource.as_ref().is_some_and(|r| r.as_str() == "slow"))
        .map(|e| e.to_state.as_str())
        .collect();
    assert_eq!(
        states,
        [
            "requested",
            "evaluating",
            "approved",
            "downloading",
            "verifying",
            "available",
            "seeding"
        ]
    );
    // The hook told people, as a sync would have: the notify hook, a bridge
    // message, the completion log.
    wait_for("the notification", Duration::from_secs(10), || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("available slow"))
    });
    let available_messages = || {
        files_under(&ctx.store.join("bridge"))
            .iter()
            .filter(|p| p.to_string_lossy().contains("resource-available"))
            .count()
    };
    assert_eq!(available_messages(), 1);
    let completions = || {
        std::fs::read_to_string(ctx.store.join("meta/completion.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("available slow"))
            .count()
    };
    assert_eq!(completions(), 1);
    // The next sync only links, and tells nobody again.
    let run = ctx.crp(&["sync", "--no-wait"]);
    run.success();
    assert!(run.stdout.contains("linked"), "{run}");
    assert_eq!(std::fs::read(ctx.link("slow")).unwrap(), content);
    assert_eq!(
        std::fs::read_to_string(&told)
            .unwrap()
            .matches("available slow")
            .count(),
        1
    );
    assert_eq!(available_messages(), 1);
    assert_eq!(completions(), 1);
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn concurrent_syncs_add_a_torrent_once() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(56, 400_000);
    let digest = Sha256Digest::of_bytes(&content);
    let (torrent, _) = single_file(&ctx, &server, "shared.bin", &content, Behavior::Normal);
    let projects: Vec<PathBuf> = (0..3)
        .map(|i| ctx.root.path().join(format!("p{i}")))
        .collect();
    for (i, dir) in projects.iter().enumerate() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(&torrent, dir.join("shared.torrent")).unwrap();
        std::fs::write(
            dir.join("resources.toml"),
            manifest("shared", "shared.torrent", Some(&digest), "")
                .replace("\"demo\"", &format!("\"p{i}\"")),
        )
        .unwrap();
    }
    // Every RPC request goes through a proxy that counts the adds: the
    // daemon keeps one torrent per info-hash whatever it is sent, so only
    // the requests tell whether the lock kept the others from adding it.
    let proxy = RpcProxy::start(&daemon.url);
    let children: Vec<_> = projects
        .iter()
        .map(|dir| {
            ctx.command()
                .current_dir(dir)
                .env("CRP_TRANSMISSION_URL", proxy.url())
                .args(["sync", "--wait", "--timeout", "120s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap(), &ctx).success();
    }
    assert_eq!(daemon.count(), 1);
    assert_eq!(proxy.adds(), 1, "the torrent was added more than once");
    for dir in &projects {
        assert_eq!(
            std::fs::read(dir.join("resources/shared")).unwrap(),
            content
        );
    }
}

#[test]
fn watch_folder_torrents_end_up_in_the_store() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let content = bytes(57, 250_000);
    let digest = Sha256Digest::of_bytes(&content);
    let (torrent, hash) = single_file(&ctx, &server, "dropped.bin", &content, Behavior::Normal);
    // Written elsewhere, then moved in, as the daemon expects.
    let watch = ctx.store.join("watch");
    std::fs::copy(&torrent, ctx.root.path().join("dropped.torrent")).unwrap();
    std::fs::rename(
        ctx.root.path().join("dropped.torrent"),
        watch.join("dropped.torrent"),
    )
    .unwrap();

    wait_for(
        "the watch folder's torrent",
        Duration::from_secs(60),
        || ctx.object(&digest).exists(),
    );
    let record_path = ctx.record_path(&digest);
    wait_for("its record", Duration::from_secs(10), || {
        record_path.exists()
    });
    let record: crp::store::record::ObjectRecord =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record.origin.as_deref(), Some("watch-folder"));
    assert_eq!(record.info_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(
        record.verification,
        crp::store::record::Verification::Unverified
    );
    assert!(record.projects.is_empty());
    wait_for("the completion log", Duration::from_secs(10), || {
        completion_log(&ctx).iter().any(|l| {
            l["info_hash"] == hash.as_str() && l["result"] == "ingested" && l["by"] == "hook"
        })
    });
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

/// A TCP proxy in front of the daemon's RPC, counting what passes.
struct RpcProxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl RpcProxy {
    fn start(daemon_url: &str) -> Self {
        use std::io::{Read, Write};
        let target = url::Url::parse(daemon_url).unwrap();
        let upstream = format!(
            "{}:{}",
            target.host_str().unwrap(),
            target.port_or_known_default().unwrap()
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/transmission/rpc", self.port)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// `torrent-add` requests sent.
    fn adds(&self) -> usize {
        self.text().matches("\"torrent-add\"").count()
    }

    /// HTTP requests sent.
    fn requests(&self) -> usize {
        self.text().matches("POST ").count()
    }
}

#[test]
fn watch_folder_torrents_are_judged_like_any_request() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    ctx.write_policy("[approval]\nlarger_than = \"100 KB\"\n");
    let told = ctx.root.path().join("told.txt");
    ctx.write_config(&format!(
        "[bridge]\nfolder = \"bridge\"\n\n[[notify]]\ncommand = [\"sh\", \"-c\", \"echo \\\"$CRP_EVENT $CRP_NAME\\\" >> {}\"]\n",
        told.display()
    ));
    let drop_in = |name: &str, content: &[u8]| {
        let (torrent, hash) = single_file(&ctx, &server, name, content, Behavior::Normal);
        let staged = ctx.root.path().join(format!("{name}.torrent"));
        std::fs::copy(&torrent, &staged).unwrap();
        std::fs::rename(
            &staged,
            ctx.store.join("watch").join(format!("{name}.torrent")),
        )
        .unwrap();
        hash
    };
    let logged = |hash: &str, result: &str| {
        completion_log(&ctx)
            .iter()
            .any(|l| l["info_hash"] == hash && l["result"] == result)
    };

    // Too big to let in without a person: held, not an object.
    let big = bytes(62, 250_000);
    let big_digest = Sha256Digest::of_bytes(&big);
    let hash = drop_in("big.bin", &big);
    wait_for("the hold", Duration::from_secs(60), || {
        logged(&hash, "held")
    });
    assert!(!ctx.object(&big_digest).exists());
    let run = ctx.crp(&["pending"]);
    assert!(
        run.stdout.contains("big.bin (project `watch-folder`)"),
        "{run}"
    );
    assert!(run.stdout.contains("over 100 KB"), "{run}");
    wait_for("the request message", Duration::from_secs(10), || {
        files_under(&ctx.store.join("bridge"))
            .iter()
            .any(|p| p.to_string_lossy().contains("resource-request"))
    });
    // Approved, and brought in by a person.
    ctx.crp(&["approve", "big.bin", "--by", "alice"]).success();
    let run = ctx.crp(&["hook", "torrent-done", "--info-hash", &hash]);
    run.success();
    assert_eq!(std::fs::read(ctx.object(&big_digest)).unwrap(), big);
    assert!(ctx.crp(&["pending"]).stdout.contains("0 requests"));
    assert!(
        std::fs::read_to_string(&told)
            .unwrap()
            .contains("available big.bin")
    );

    // Executable content nobody declared: quarantined, never an object.
    let mut script = b"#!/bin/sh\necho hello\n".to_vec();
    script.resize(20_000, b'#');
    let script_digest = Sha256Digest::of_bytes(&script);
    let hash = drop_in("tool.sh", &script);
    wait_for("the quarantine", Duration::from_secs(60), || {
        logged(&hash, "executable")
    });
    assert!(!ctx.object(&script_digest).exists());
    assert!(files_under(&ctx.store.join("quarantine")).len() == 1);
    wait_for("the daemon to let it go", Duration::from_secs(10), || {
        daemon.get(&hash).is_none()
    });

    // Past a hard limit: removed with its data.
    ctx.write_policy("[limits]\nmax_size = \"50 KB\"\n");
    let large = bytes(63, 80_000);
    let hash = drop_in("large.bin", &large);
    wait_for("the refusal", Duration::from_secs(60), || {
        logged(&hash, "refused")
    });
    assert!(!ctx.object(&Sha256Digest::of_bytes(&large)).exists());
    wait_for("the daemon to let it go", Duration::from_secs(10), || {
        daemon.get(&hash).is_none()
    });
    wait_for("the failure notice", Duration::from_secs(10), || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("failed large.bin"))
    });
    ctx.assert_records_agree_with_events();
}

#[test]
fn a_torrent_that_wins_the_race_leaves_no_part_of_the_loser() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let content = bytes(64, 300_000);
    let digest = Sha256Digest::of_bytes(&content);
    single_file(&ctx, &server, "raced.bin", &content, Behavior::Normal);
    // The direct mirror trickles: it has written some bytes when the
    // torrent wins.
    server.route(
        "mirror/raced.bin",
        content.clone(),
        Behavior::Slow {
            chunk: 4 * 1024,
            delay: Duration::from_millis(100),
        },
    );
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.raced]\nsources = [\"{}\", \"raced.bin.torrent\"]\nsha256 = \"{digest}\"\npurpose = \"raced\"\n",
        server.url("mirror/raced.bin")
    ));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s", "--format", "json"]);
    run.success();
    let doc: SyncDocument = run.json();
    assert!(
        doc.report.resources[0].torrent.is_some(),
        "the mirror won: {run}"
    );
    // The mirror had sent something (its request is logged once the
    // server notices the connection is gone).
    wait_for(
        "the mirror's request to end",
        Duration::from_secs(10),
        || {
            server
                .requests("mirror/raced.bin")
                .iter()
                .any(|r| r.sent > 0)
        },
    );
    let part = ctx.store.join(".incomplete").join(format!("{digest}.part"));
    assert!(!part.exists(), "the losing mirror's part was left behind");
    assert!(files_under(&ctx.store.join(".incomplete")).is_empty());
}

#[test]
fn an_unreachable_daemon_is_a_clear_error_not_a_hang() {
    let ctx = TestContext::new();
    let closed = closed_port();
    let url = format!("http://127.0.0.1:{closed}/transmission/rpc");
    ctx.write_manifest(&manifest(
        "film",
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=film",
        None,
        "",
    ));
    let started = Instant::now();
    let run = Run::from(
        ctx.command()
            .env("CRP_TRANSMISSION_URL", &url)
            .args(["sync", "--wait", "--timeout", "120s"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.code(1);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        run.stderr
            .contains(&format!("cannot reach transmission-daemon at {url}")),
        "{run}"
    );
    assert!(run.stderr.contains("CRP_TRANSMISSION_URL"), "{run}");

    // With nothing configured (an empty variable counts as unset), the
    // default URL is tried and the hint says how to start a daemon. (On a
    // machine where a daemon does listen on the default port — CI stops
    // Debian's — it is the one asked.)
    let default_port_free = std::net::TcpListener::bind("127.0.0.1:9091").is_ok();
    let run = Run::from(
        ctx.command()
            .env("CRP_TRANSMISSION_URL", "")
            .args(["status", "--format", "json"])
            .output()
            .unwrap(),
        &ctx,
    );
    run.success();
    let doc: PlanDocument = run.json();
    if default_port_free {
        let error = doc.daemon_error.expect("the daemon could not be asked");
        assert!(error.contains("127.0.0.1:9091"), "{error}");
        assert!(error.contains("`crp torrent daemon start`"), "{error}");
    } else {
        assert_eq!(doc.daemon_error, None, "{run}");
    }
}

#[test]
fn metadata_is_checked_before_a_byte_is_downloaded() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(58, 100_000);
    single_file(&ctx, &server, "sized.bin", &content, Behavior::Normal);
    ctx.write_manifest(&manifest(
        "sized",
        "sized.bin.torrent",
        None,
        "size = 99999\n",
    ));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("the manifest declares 99999 bytes, but the torrent holds 100000"),
        "{run}"
    );
    assert_eq!(daemon.count(), 0);

    // A hand-made torrent whose file name climbs out of the resource.
    let evil = bencode_torrent("album", &[("..", "escape.bin")], 10);
    std::fs::write(ctx.project.join("evil.torrent"), evil).unwrap();
    ctx.write_manifest(&manifest("evil", "evil.torrent", None, ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(run.stderr.contains("contains `.` or `..`"), "{run}");
    assert_eq!(daemon.count(), 0);

    // The store's quota is checked against the torrent's metadata before it
    // is added: a local `.torrent` is judged by it when the sync plans, as
    // `crp plan` shows it...
    ctx.write_policy("[limits]\nquota = \"50 KB\"\n");
    ctx.write_manifest(&manifest("sized", "sized.bin.torrent", None, ""));
    let plan = ctx.crp(&["plan"]);
    assert!(plan.stdout.contains("denied"), "{plan}");
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("97.7 KiB would take the store to 97.7 KiB, over its quota of 50 KB"),
        "{run}"
    );
    assert_eq!(daemon.count(), 0);
    // ...and one fetched from a URL as soon as it arrives.
    let torrent = std::fs::read(ctx.project.join("sized.bin.torrent")).unwrap();
    server.route("sized.torrent", torrent, Behavior::Normal);
    ctx.write_manifest(&manifest("sized", &server.url("sized.torrent"), None, ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    run.code(1);
    assert!(
        run.stderr.contains(
            "the torrent holds 100000 bytes, more than the 50000 the store's policy leaves room for"
        ),
        "{run}"
    );
    assert_eq!(daemon.count(), 0);
    assert!(
        server.requests("ws/sized.bin").is_empty(),
        "data was downloaded"
    );
}

/// A minimal multi-file `.torrent`, written by hand so it can say what no
/// tool would write.
fn bencode_torrent(name: &str, path: &[(&str, &str)], length: usize) -> Vec<u8> {
    let bstr = |s: &[u8]| [format!("{}:", s.len()).into_bytes(), s.to_vec()].concat();
    let mut file = b"d6:lengthi".to_vec();
    file.extend(format!("{length}e4:pathl").into_bytes());
    for (a, b) in path {
        file.extend(bstr(a.as_bytes()));
        file.extend(bstr(b.as_bytes()));
    }
    file.extend(b"ee");
    let mut info = b"d5:filesl".to_vec();
    info.extend(file);
    info.extend(b"e4:name");
    info.extend(bstr(name.as_bytes()));
    info.extend(b"12:piece lengthi16384e6:pieces20:");
    info.extend([0u8; 20]);
    info.push(b'e');
    let mut torrent = b"d4:info".to_vec();
    torrent.extend(info);
    torrent.push(b'e');
    torrent
}

#[test]
fn an_https_mirror_beside_a_torrent_wins_and_the_torrent_is_cancelled() {
    let ctx = TestContext::new();
    let server = Server::start();
    let daemon = PrivateDaemon::start(&ctx);
    let content = bytes(59, 150_000);
    let digest = Sha256Digest::of_bytes(&content);
    // The torrent's web seed answers 404: the torrent never gets a byte.
    let seed_dir = ctx.root.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    std::fs::write(seed_dir.join("m.bin"), &content).unwrap();
    let (torrent, hash) = make_torrent(&seed_dir.join("m.bin"), &server.url("nowhere/m.bin"), None);
    std::fs::write(ctx.project.join("m.torrent"), torrent).unwrap();
    server.route("mirror/m.bin", content.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.m]\nsources = [\"m.torrent\", \"{}\"]\nsha256 = \"{digest}\"\npurpose = \"raced\"\n",
        server.url("mirror/m.bin")
    ));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s", "--format", "json"]);
    run.success();
    let doc: SyncDocument = run.json();
    assert_eq!(
        doc.report.resources[0].fetched_from.as_deref(),
        Some(server.url("mirror/m.bin").as_str())
    );
    assert_eq!(std::fs::read(ctx.link("m")).unwrap(), content);
    // Whether or not the torrent had been added when the mirror won, it is
    // gone now, with anything it downloaded.
    assert!(
        daemon.get(&hash).is_none(),
        "the losing torrent stays in the daemon"
    );
    assert!(files_under(&ctx.store.join(".incomplete/torrents")).is_empty());
}

#[test]
fn the_private_daemon_is_wired_to_the_store_and_stops() {
    let ctx = TestContext::new();
    let daemon = PrivateDaemon::start(&ctx);
    let config = ctx.store.join("meta/transmission");
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["rpc-bind-address"], "127.0.0.1");
    assert_eq!(
        settings["watch-dir"],
        ctx.store.join("watch").to_str().unwrap()
    );
    assert_eq!(
        settings["download-dir"],
        ctx.store.join(".incomplete/torrents").to_str().unwrap()
    );
    assert_eq!(settings["script-torrent-done-enabled"], true);
    let hook = std::fs::read_to_string(settings["script-torrent-done-filename"].as_str().unwrap())
        .unwrap();
    assert!(hook.contains("hook torrent-done"), "{hook}");
    // Starting again finds it running.
    let again = ctx.crp(&["torrent", "daemon", "start", "--loopback"]);
    again.success();
    assert!(again.stdout.contains("is already running"), "{again}");

    let pid = daemon.pid;
    drop(daemon);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !cmdline.contains("transmission-daemon")
        }
    );
    let run = ctx.crp(&["torrent", "daemon", "stop"]);
    run.success();
    assert!(
        run.stdout.contains("no private transmission-daemon runs"),
        "{run}"
    );
}

#[test]
fn seeding_follows_the_manifest_and_the_stores_limits() {
    let ctx = TestContext::new();
    let server = Server::start();
    ctx.write_config("[torrent]\nseed_ratio = 1.5\nseed_time = \"2s\"\n");
    let daemon = PrivateDaemon::start(&ctx);
    let kept = bytes(60, 120_000);
    let left = bytes(61, 80_000);
    let (_, kept_hash) = single_file(&ctx, &server, "kept.bin", &kept, Behavior::Normal);
    let (_, left_hash) = single_file(&ctx, &server, "left.bin", &left, Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"demo\"\n\n[resources.kept]\nsource = \"kept.bin.torrent\"\nsha256 = \"{}\"\npurpose = \"seeded\"\n\n[resources.left]\nsource = \"left.bin.torrent\"\nsha256 = \"{}\"\nseed = false\npurpose = \"not seeded\"\n",
        Sha256Digest::of_bytes(&kept),
        Sha256Digest::of_bytes(&left)
    ));
    let first = ctx.crp(&["sync", "--wait", "--timeout", "120s"]);
    first.success();
    // `seed = false`: out of the daemon once in the store.
    assert!(daemon.get(&left_hash).is_none());
    assert_eq!(std::fs::read(ctx.link("left")).unwrap(), left);
    // The ratio limit is the daemon's to apply; the time limit is crp's.
    let view = daemon.get(&kept_hash).expect("seeding");
    assert_eq!(view.seed_ratio_limit, Some(1.5));
    wait_for("two seconds of seeding", Duration::from_secs(30), || {
        daemon
            .get(&kept_hash)
            .is_some_and(|v| v.seconds_seeding >= 2)
    });
    let run = ctx.crp(&["sync", "--no-wait"]);
    run.success();
    // On a slow machine the first sync may have outlasted the limit already.
    assert!(
        run.stderr.contains("stopped seeding `kept.bin`")
            || first.stderr.contains("stopped seeding `kept.bin`"),
        "{first}\n{run}"
    );
    // The daemon takes a moment to stop.
    wait_for("seeding to stop", Duration::from_secs(10), || {
        daemon
            .get(&kept_hash)
            .is_some_and(|v| v.state().phase == TorrentPhase::Available)
    });
    let status: PlanDocument = ctx.crp(&["status", "--format", "json"]).json();
    assert_eq!(
        status.torrents[&"kept".parse().unwrap()].phase,
        TorrentPhase::Available
    );
    // The object's record follows: seeding, then merely available.
    let digest = Sha256Digest::of_bytes(&kept);
    assert_eq!(
        ctx.object_record(&digest).status,
        crp::provenance::State::Available
    );
    assert_eq!(
        ctx.object_record(&Sha256Digest::of_bytes(&left)).status,
        crp::provenance::State::Available
    );
    // Every object's record says the state its last event went to.
    ctx.assert_records_agree_with_events();
}

#[test]
fn a_bad_store_configuration_is_reported_where_it_is() {
    let ctx = TestContext::new();
    std::fs::create_dir_all(ctx.store.join("meta")).unwrap();
    std::fs::write(ctx.store.join("meta/store.json"), "{\"layout\": 1}").unwrap();
    std::fs::write(
        ctx.store.join("meta/config.toml"),
        "[torrent]\nseed_tme = \"2s\"\n",
    )
    .unwrap();
    ctx.write_manifest(&manifest(
        "x",
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
        None,
        "",
    ));
    let run = ctx.crp(&["sync", "--no-wait"]);
    run.code(2);
    assert!(run.stderr.contains("config.toml:2:1"), "{run}");
    assert!(run.stderr.contains("unknown field `seed_tme`"), "{run}");
}

#[test]
fn a_daemon_that_wants_a_password_gets_it_and_never_shows_it() {
    let ctx = TestContext::new();
    let server = Server::start();
    // The store's daemon, restarted by hand to require a user and password.
    let url = PrivateDaemon::start(&ctx).url.clone(); // stopped again at the end of this line
    let port = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    // The first daemon must be gone, or the check below may reach it
    // instead of the one that asks for a password.
    wait_for("the first daemon to stop", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    let config = ctx.store.join("meta/transmission");
    let mut settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.join("settings.json")).unwrap()).unwrap();
    settings["rpc-authentication-required"] = true.into();
    settings["rpc-username"] = "crp".into();
    settings["rpc-password"] = "s3cret-pass".into();
    std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
    let _daemon = KillOnDrop(
        Command::new("transmission-daemon")
            .args(["-f", "-g"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the daemon", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let content = bytes(62, 90_000);
    let digest = Sha256Digest::of_bytes(&content);
    single_file(&ctx, &server, "locked.bin", &content, Behavior::Normal);
    ctx.write_manifest(&manifest("locked", "locked.bin.torrent", Some(&digest), ""));
    let with = |password: &str| {
        Run::from(
            ctx.command()
                .env("CRP_TRANSMISSION_URL", &url)
                .env("CRP_TRANSMISSION_USER", "crp")
                .env("CRP_TRANSMISSION_PASSWORD", password)
                .args(["-v", "sync", "--wait", "--timeout", "120s"])
                .output()
                .unwrap(),
            &ctx,
        )
    };
    let run = with("wrong-pass");
    run.code(1);
    assert!(
        run.stderr.contains("refused the user and password"),
        "{run}"
    );
    assert!(
        !run.stderr.contains("wrong-pass") && !run.stdout.contains("wrong-pass"),
        "{run}"
    );
    let run = with("s3cret-pass");
    run.success();
    assert!(
        !run.stderr.contains("s3cret-pass") && !run.stdout.contains("s3cret-pass"),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.link("locked")).unwrap(), content);
}

#[test]
fn a_torrent_in_the_store_is_not_handed_to_a_project_that_does_not_declare_its_program() {
    let ctx = TestContext::new();
    let server = Server::start();
    let _daemon = PrivateDaemon::start(&ctx);
    let mut program = b"\x7fELF\x02\x01\x01\0".to_vec();
    program.extend(bytes(51, 100_000));
    let (torrent, _) = single_file(&ctx, &server, "tool", &program, Behavior::Normal);
    let source = torrent.display().to_string();
    // One project declares it, and the torrent becomes an object ...
    let declares = ctx.root.path().join("declares");
    std::fs::create_dir_all(&declares).unwrap();
    std::fs::write(
        declares.join("resources.toml"),
        manifest("tool", &source, None, "executable = true\n"),
    )
    .unwrap();
    ctx.crp_in(&declares, &["sync", "--wait", "--timeout", "120s"])
        .success();
    // ... which a project that does not declare it is refused.
    ctx.write_manifest(&manifest("tool", &source, None, ""));
    let run = ctx.crp(&["sync", "--wait", "--timeout", "120s", "--format", "json"]);
    run.code(1);
    let doc: SyncDocument = run.json();
    assert_eq!(
        doc.report.resources[0].status,
        crp::execute::Status::Denied,
        "{run}"
    );
    assert!(!ctx.link("tool").exists());
    assert!(!ctx.read_manifest().contains("sha256"));
}

#[test]
fn stopping_the_daemon_of_a_store_not_made_makes_nothing() {
    let ctx = TestContext::new();
    let store = ctx.project.join("no-store-yet");
    let run = ctx.crp(&[
        "torrent",
        "daemon",
        "stop",
        "--store",
        store.to_str().unwrap(),
    ]);
    run.success();
    assert!(
        run.stdout.contains("no private transmission-daemon runs"),
        "{run}"
    );
    assert!(!store.exists(), "{run}");
}
