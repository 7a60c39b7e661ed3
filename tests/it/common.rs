//! What every test needs: an isolated home, store and project, and a way to
//! run the real `crp` binary in them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crp::digest::Sha256Digest;

/// A temporary world for one test: `$HOME`, a store and a project folder.
pub struct TestContext {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    pub store: PathBuf,
    pub project: PathBuf,
}

impl TestContext {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        let home = root.path().join("home");
        let store = root.path().join("store");
        let project = root.path().join("project");
        for dir in [&home, &project] {
            std::fs::create_dir_all(dir).unwrap();
        }
        Self {
            root,
            home,
            store,
            project,
        }
    }

    /// The `crp` binary with a clean environment: its own home and store,
    /// no colours, no proxies, quick retries; run in the project folder.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crp"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("CRP_STORE", &self.store)
            .env("CRP_HTTP_TIMEOUT", "5")
            // A lock held by mistake fails a test instead of hanging it.
            .env("CRP_LOCK_TIMEOUT", "60")
            .env("NO_COLOR", "1")
            .current_dir(&self.project)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `crp ARGS` to completion.
    pub fn crp(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("crp runs"), self)
    }

    /// Runs `crp ARGS` in another project folder.
    pub fn crp_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .current_dir(dir)
                .args(args)
                .output()
                .expect("crp runs"),
            self,
        )
    }

    /// Makes the store, as an administrator would before its first sync:
    /// a folder is a store once its marker says so.
    pub fn init_store(&self) {
        let marker = self.store.join("meta/store.json");
        if !marker.exists() {
            std::fs::create_dir_all(self.store.join("meta")).unwrap();
            std::fs::write(marker, "{\"layout\": 1}\n").unwrap();
        }
    }

    /// Writes the store's `meta/policy.toml`.
    pub fn write_policy(&self, text: &str) {
        self.init_store();
        std::fs::write(self.store.join("meta/policy.toml"), text).unwrap();
    }

    /// Writes the store's `meta/config.toml`.
    pub fn write_config(&self, text: &str) {
        self.init_store();
        std::fs::write(self.store.join("meta/config.toml"), text).unwrap();
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.project.join("resources.toml")
    }

    pub fn write_manifest(&self, text: &str) {
        std::fs::write(self.manifest_path(), text).unwrap();
    }

    pub fn read_manifest(&self) -> String {
        std::fs::read_to_string(self.manifest_path()).unwrap()
    }

    /// Writes a file in the project folder and returns its digest.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Sha256Digest {
        let path = self.project.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        Sha256Digest::of_bytes(bytes)
    }

    /// Where the store keeps the object with this digest.
    pub fn object(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.hex();
        self.store.join("objects/sha256").join(&hex[..2]).join(&hex)
    }

    /// Where the store keeps the record of the object with this digest.
    pub fn record_path(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.hex();
        self.store
            .join("meta/objects/sha256")
            .join(&hex[..2])
            .join(format!("{hex}.json"))
    }

    /// The record of the object with this digest.
    pub fn object_record(&self, digest: &Sha256Digest) -> crp::store::record::ObjectRecord {
        serde_json::from_slice(&std::fs::read(self.record_path(digest)).unwrap()).unwrap()
    }

    /// Every event in the store's log, oldest first.
    pub fn events(&self) -> Vec<crp::provenance::Event> {
        std::fs::read_to_string(self.store.join("meta/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every object's record says the state its last event went to.
    #[track_caller]
    pub fn assert_records_agree_with_events(&self) {
        let events = self.events();
        for path in files_under(&self.store.join("meta/objects")) {
            let record: crp::store::record::ObjectRecord =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let last = events
                .iter()
                .rev()
                .find(|e| e.object == Some(record.sha256))
                .unwrap_or_else(|| panic!("no event for {}", record.sha256));
            assert_eq!(
                last.to_state, record.status,
                "{}: the record says {:?}, its last event {last:?}",
                record.sha256, record.status
            );
        }
    }

    /// Every object file in the store.
    pub fn objects(&self) -> Vec<PathBuf> {
        files_under(&self.store.join("objects"))
    }

    /// Every file in the store's `.incomplete/`.
    pub fn incomplete(&self) -> Vec<PathBuf> {
        files_under(&self.store.join(".incomplete"))
    }

    pub fn link(&self, name: &str) -> PathBuf {
        self.project.join("resources").join(name)
    }

    /// Replaces the temporary folder's path with `[ROOT]`, for comparing output.
    pub fn redact(&self, text: &str) -> String {
        let root = self.root.path().to_string_lossy().into_owned();
        text.replace(&root, "[ROOT]")
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A finished run of `crp`. `stdout` and `stderr` have the test's temporary
/// folder replaced by `[ROOT]`; JSON is parsed from the stdout as printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    raw_stdout: String,
}

impl Run {
    pub fn from(output: Output, ctx: &TestContext) -> Self {
        let raw_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: ctx.redact(&raw_stdout),
            stderr: ctx.redact(&String::from_utf8_lossy(&output.stderr)),
            raw_stdout,
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.raw_stdout)
            .unwrap_or_else(|err| panic!("stdout is not the expected JSON: {err}\n{self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--- exit code {} ---\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Makes a read-only object writable, flips its first byte, and makes it
/// read-only again.
pub fn corrupt(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut content = std::fs::read(path).unwrap();
    content[0] ^= 0xff;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
}

/// A manifest of local files, each pinned: `files/<name>` holding its
/// content, declared as resource `<name>`. Returns their digests.
pub fn local_manifest(ctx: &TestContext, files: &[(&str, &[u8])]) -> Vec<Sha256Digest> {
    let mut text = String::from("[project]\nname = \"life\"\n");
    let mut digests = Vec::new();
    for (name, content) in files {
        let digest = ctx.write_file(&format!("files/{name}"), content);
        text.push_str(&format!(
            "\n[resources.{name}]\nsource = \"files/{name}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n"
        ));
        digests.push(digest);
    }
    ctx.write_manifest(&text);
    digests
}

/// A loopback port that nothing listens on (found free, then let go).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Bytes that differ from test to test, `len` long.
pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}
