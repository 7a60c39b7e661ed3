//! Content-addressed mirrors: objects found by their sha256 under
//! `sha256/<aa>/<hex>`, over HTTP or in a folder, before the sources.

use crp::digest::Sha256Digest;

use crate::common::{TestContext, bytes};
use crate::server::{Behavior, Server};

/// `sha256/<aa>/<hex>` for `digest`.
fn key(digest: &Sha256Digest) -> String {
    let hex = digest.hex();
    format!("sha256/{}/{hex}", &hex[..2])
}

fn manifest(ctx: &TestContext, upstream: &Server, digest: &Sha256Digest, project_mirrors: &str) {
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n{project_mirrors}\n[resources.data]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n",
        upstream.url("data.bin")
    ));
}

#[test]
fn an_http_mirror_serves_by_hash_before_the_source() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let mirror = Server::start();
    let content = bytes(40, 30_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("data.bin", content.clone(), Behavior::Normal);
    mirror.route(
        &format!("cas/{}", key(&digest)),
        content.clone(),
        Behavior::Normal,
    );
    manifest(&ctx, &upstream, &digest, "");
    ctx.write_config(&format!("mirrors = [\"{}\"]\n", mirror.url("cas")));
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "from {}",
            mirror.url(&format!("cas/{}", key(&digest)))
        )),
        "{run}"
    );
    assert!(upstream.log().is_empty(), "the source was not asked");
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);
    // The record keeps the declared source, and which mirror served it.
    let record = ctx.object_record(&digest);
    assert_eq!(record.sources, vec![upstream.url("data.bin")]);
    assert!(record.served_by.unwrap().starts_with(&mirror.url("cas")));

    // A mirror that lacks an object is passed over quietly.
    let other = bytes(41, 1_000);
    let other_digest = Sha256Digest::of_bytes(&other);
    upstream.route("data.bin", other.clone(), Behavior::Normal);
    manifest(&ctx, &upstream, &other_digest, "");
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(!run.stderr.contains("warning"), "{run}");
    assert_eq!(upstream.requests("data.bin").len(), 1);
}

#[test]
fn a_folder_mirror_in_the_project_serves_an_air_gapped_sync() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let content = bytes(42, 5_000);
    let digest = Sha256Digest::of_bytes(&content);
    // A USB disk laid out like the store, named relative to the manifest.
    let usb = ctx.project.join("usb/cas").join(key(&digest));
    std::fs::create_dir_all(usb.parent().unwrap()).unwrap();
    std::fs::write(&usb, &content).unwrap();
    manifest(&ctx, &upstream, &digest, "mirrors = [\"usb/cas\"]\n");
    drop(upstream); // nothing upstream answers any more
    ctx.crp(&["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);
    // `file://` URLs in the store's configuration work the same.
    let ctx2 = TestContext::new();
    let upstream = Server::start();
    manifest(&ctx2, &upstream, &digest, "");
    ctx2.write_config(&format!(
        "mirrors = [\"file://{}\"]\n",
        ctx.project.join("usb/cas").display()
    ));
    ctx2.crp(&["sync"]).success();
    assert!(upstream.log().is_empty());
}

#[test]
fn a_wrong_object_on_a_mirror_is_reported_and_never_published() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let mirror = Server::start();
    let content = bytes(43, 8_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("data.bin", content.clone(), Behavior::Normal);
    mirror.route(
        &format!("cas/{}", key(&digest)),
        bytes(44, 8_000),
        Behavior::Normal,
    );
    manifest(&ctx, &upstream, &digest, "");
    ctx.write_config(&format!("mirrors = [\"{}\"]\n", mirror.url("cas")));
    let run = ctx.crp(&["sync"]);
    run.success();
    // Named with the mirror's URL and what was wrong; the source served it.
    assert!(
        run.stderr.contains(&format!(
            "from {}: sha256 mismatch",
            mirror.url(&format!("cas/{}", key(&digest)))
        )),
        "{run}"
    );
    assert!(
        run.stdout
            .contains(&format!("from {}", upstream.url("data.bin"))),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.object(&digest)).unwrap(), content);

    // A mirror that is not one is an error where it is written.
    ctx.write_config("mirrors = [\"magnet:?xt=urn:btih:abc\"]\n");
    let run = ctx.crp(&["sync"]);
    run.code(2);
    assert!(run.stderr.contains("config.toml:1:"), "{run}");
    assert!(run.stderr.contains("a mirror is an `https://`"), "{run}");
}

#[test]
fn mirrors_are_read_as_written_and_bound_by_the_policy() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let mirror = Server::start();
    let content = bytes(45, 4_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("data.bin", content.clone(), Behavior::Normal);
    manifest(&ctx, &upstream, &digest, "");
    // A folder relative to the store, with a `#` in its name.
    let folder = ctx.store.join("usb #1").join(key(&digest));
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    std::fs::write(&folder, &content).unwrap();
    ctx.write_config("mirrors = [\"usb #1\"]\n");
    ctx.crp(&["sync"]).success();
    assert!(upstream.log().is_empty(), "served by the folder");
    std::fs::remove_dir_all(ctx.project.join("resources")).unwrap();
    std::fs::remove_dir_all(ctx.store.join("objects")).unwrap();

    // An http mirror where the policy allows only https and files: not
    // asked; the declared source (a local file here) serves.
    mirror.route(
        &format!("cas/{}", key(&digest)),
        content.clone(),
        Behavior::Normal,
    );
    std::fs::write(ctx.project.join("data.bin"), &content).unwrap();
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[resources.data]\nsource = \"data.bin\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n"
    ));
    ctx.write_config(&format!("mirrors = [\"{}\"]\n", mirror.url("cas")));
    ctx.write_policy("[limits]\nschemes = [\"https\", \"file\"]\n");
    ctx.crp(&["sync"]).success();
    assert!(mirror.log().is_empty(), "the policy refuses plain http");
    std::fs::remove_dir_all(ctx.project.join("resources")).unwrap();
    std::fs::remove_dir_all(ctx.store.join("objects")).unwrap();
    // Allowed, it is asked first.
    ctx.write_policy("[limits]\nschemes = [\"http\", \"file\"]\n");
    ctx.crp(&["sync"]).success();
    assert_eq!(mirror.log().len(), 1);

    // Mistyped URLs are errors, not folders.
    for bad in ["file:/mnt/cas", "https:host/cas", "ftp://host/cas"] {
        ctx.write_config(&format!("mirrors = [\"{bad}\"]\n"));
        let run = ctx.crp(&["sync"]);
        run.code(2);
        assert!(
            run.stderr.contains("a mirror is an `https://`"),
            "{bad}: {run}"
        );
    }
}

#[test]
fn a_mirror_that_sends_too_much_or_the_wrong_bytes_is_not_the_project_s_fault() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let mirror = Server::start();
    let content = bytes(46, 2_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("data.bin", content.clone(), Behavior::Normal);
    // More than crp fetches without a person's approval.
    mirror.route(
        &format!("cas/{}", key(&digest)),
        bytes(47, 3_000_000),
        Behavior::Normal,
    );
    manifest(&ctx, &upstream, &digest, "");
    ctx.write_config(&format!("mirrors = [\"{}\"]\n", mirror.url("cas")));
    ctx.write_policy("[approval]\nlarger_than = \"1 MB\"\n");
    let run = ctx.crp(&["sync"]);
    run.success();
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);

    // Wrong bytes on the mirror and nothing upstream: the sync fails, the
    // report leads with the declared source, and no incident is counted.
    let other = bytes(48, 2_000);
    let other_digest = Sha256Digest::of_bytes(&other);
    mirror.route(
        &format!("cas/{}", key(&other_digest)),
        bytes(49, 2_000),
        Behavior::Normal,
    );
    upstream.route("data.bin", b"".to_vec(), Behavior::Status(403));
    manifest(&ctx, &upstream, &other_digest, "");
    let run = ctx.crp(&["sync"]);
    run.code(1);
    assert!(
        run.stdout.contains(&format!(
            "HTTP 403 Forbidden (from {})",
            upstream.url("data.bin")
        )),
        "{run}"
    );
    let record: crp::store::record::ProjectRecord = serde_json::from_slice(
        &std::fs::read(&crate::common::files_under(&ctx.store.join("meta/projects"))[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(record.incidents, 0);
}

#[test]
fn a_folder_mirror_that_cannot_serve_is_said_once_and_left_out() {
    let ctx = TestContext::new();
    let upstream = Server::start();
    let content = bytes(43, 4_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("data.bin", content.clone(), Behavior::Normal);
    // A store used as a mirror whole, where its `objects/` was meant.
    let store_like = ctx.project.join("other-store/objects").join(key(&digest));
    std::fs::create_dir_all(store_like.parent().unwrap()).unwrap();
    std::fs::write(&store_like, &content).unwrap();
    manifest(
        &ctx,
        &upstream,
        &digest,
        "mirrors = [\"unmounted/cas\", \"other-store\"]\n",
    );
    let run = ctx.crp(&["sync", "--remotes-only"]);
    run.code(1);
    assert_eq!(
        run.stderr.matches("warning: hashed mirror `").count(),
        2,
        "each said once: {run}"
    );
    assert!(
        run.stderr
            .contains("unmounted/cas` is not a folder that is there"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("it looks like a crp store, whose mirror is its `objects` folder"),
        "{run}"
    );
    // The failure names them, not "none is configured".
    assert!(
        run.stdout
            .contains("no remote is configured; hashed mirror `"),
        "{run}"
    );
    // Pointed at the objects folder, it serves.
    manifest(
        &ctx,
        &upstream,
        &digest,
        "mirrors = [\"other-store/objects\"]\n",
    );
    ctx.crp(&["sync", "--remotes-only"]).success();
    assert_eq!(std::fs::read(ctx.link("data")).unwrap(), content);
}
