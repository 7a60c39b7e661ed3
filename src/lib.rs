//! crp: collective resource provisioning.
//!
//! A project declares the large external resources it needs in
//! `resources.toml`; crp fetches each one once into a machine-wide,
//! content-addressed store, verifies every byte against its sha256, and links
//! it into the project.
//!
//! # Layers
//!
//! The modules follow the data — manifest → plan → execute (fetch → store →
//! link) → record → report — and stand in layers: a module uses modules of
//! its own layer or below, never above, and no two modules use each other
//! (`tests/it/layers.rs` reads this table and checks every `crate::` path in
//! `src/` against it).
//!
//! | layer | modules | job |
//! |---|---|---|
//! | 0 | [`units`], [`name`], [`digest`], [`time`], [`lifecycle`], [`diagnostic`], [`redact`], [`settings`], [`fsutil`], [`stdio`], [`tree`], [`source`], [`remote`], [`net`], [`progress`] | shared scalars and helpers: sizes, names, sha256 digests, timestamps, lifecycle states, `file:line:col` problems, secrets kept out of URLs, every environment variable, safe file operations, redacted printing, a folder's tree digest, sources and what identifies one, remotes and where their objects are, failed requests in words, progress |
//! | 1 | [`manifest`], [`config`] | what people declare: `resources.toml` (format, schema, validation, edits that keep comments) and the store's `config.toml` |
//! | 2 | [`store`] | the content-addressed store: layout, atomic publication, records ([`store::record`]), locks ([`store::lock`]), the quota; torrent records and the seeding and watch folders are [`torrent`]'s `impl Store` |
//! | 3 | [`policy`], [`provenance`], [`link`], [`notify`] | the rules and people's decisions ([`policy::exec`], [`policy::approval`]), the event log, links in a project, hooks and bridge messages |
//! | 4 | [`torrent`], [`s3`], [`fetch`] | sources: transmission-daemon (RPC, metainfo, ingesting, seeding) and the one door that turns sources into verified objects (http, local files, resume, quarantine), and remotes' S3 API (credentials, requests, resumable pushes); `torrent` and `s3` never use `fetch` |
//! | 5 | [`plan`] | what a sync would do, as data, and each resource's verdict ([`plan::review`]) |
//! | 6 | [`inspect`] | verify, drift, diff, gc: looking at and curating the store |
//! | 7 | [`execute`] | carries a plan out: fetch, link, unlink, pin, record; `execute::oversight` holds back what may not go ahead, restores archived objects (through [`inspect::gc`]), and accounts for it (events, incidents, notices) |
//! | 8 | [`ops`], [`error`] | the only code that wires stages together (a [`ops::Session`] per operation: the store, its locks, the one fetcher builder), and exit codes and hints |
//! | 9 | [`report`], [`cli`] | everything printed (text, JSON), the arguments |
//! | 10 | [`commands`] | one module per subcommand: arguments → [`ops`] → [`report`] |

//! # Files crp reads and writes
//!
//! | file | written by | guarded by |
//! |---|---|---|
//! | `resources.toml` | `init`, `add`, `remove`, `update`, `sync` (pinning) | atomic replace; the project lock for all but `init` |
//! | `<link_dir>/<name>` | `sync` | the project lock |
//! | `<link_dir>/.gitignore` | `sync`, when it makes the link folder | made once, with the folder |
//! | `<store>/objects/sha256/ab/<digest>` | fetches | written once, by rename after verification; the object lock prevents duplicate downloads |
//! | `<store>/.incomplete/*.part`, `*.part.json` (where a part of 1 MiB or more came from) | fetches | the object lock (or the source lock, before a digest is known) |
//! | `<store>/meta/objects/sha256/ab/<digest>.json` | fetches, `sync` | the object lock |
//! | `<store>/meta/projects/<id>.json` | `sync` | the project lock |
//! | `<store>/meta/sources/<key>.json` | fetches of unpinned sources | the source lock |
//! | `<store>/meta/torrents/<infohash>.json` | torrent fetches, the hook | the torrent lock |
//! | `<store>/meta/completed.jsonl` | torrent ingestion | appends of whole lines |
//! | `<store>/meta/config.toml` | people, `remote add`, `remote remove` | atomic replace |
//! | `<store>/.incomplete/upload-<key hash>.json` | `push` (a multipart upload's id, until it completes) | the upload lock |
//! | `<store>/meta/policy.toml` | people, `policy init` | atomic replace |
//! | `<store>/meta/approvals.jsonl` | `approve`, `deny` | appends of whole lines |
//! | `<store>/meta/events.jsonl` | every transition | appends of whole lines, batched by one writer thread |
//! | `<store>/meta/completion.log` | `sync` | appends of whole lines |
//! | `<store>/meta/pending/<project>/<name>.json` | `sync` | the project lock |
//! | `<store>/meta/quarantined/<digest>.json` | `sync` | atomic replace |
//! | `resources.approvals.toml` (any path) | `approve --file` | atomic replace |
//! | `<bridge folder>/*.md` | `sync`, `request` | atomic writes of unique names |
//! | `<store>/meta/transmission/` | `torrent daemon start`, and the daemon itself | — |
//! | `<store>/seeding/<infohash>/<name>` | torrent ingestion | the torrent lock |
//! | `<store>/quarantine/` | verification failures | unique names |
//! | `<store>/meta/store.json` | store creation | atomic replace of identical content |
//! | `resources.schema.json` (beside the manifest) | `init`, when absent | atomic write |
//! | `<store>/cold/sha256/ab/<digest>` | `gc --apply`, `gc --remove`, restoring syncs | the store lock (exclusive for gc; restores hold it shared and take the object lock) |
//! | `<store>/meta/locks/{objects,sources,projects,torrents}/*.lock` | every lock | `flock`; never deleted |
//! | `<store>/meta/quota/<pid>-<n>.json`, `meta/quota/committed` | each process that joins the quota (see [`store::quota`]) | `meta/locks/quota.lock` |
//! | `<store>/watch/` | people (`.torrent` files to fetch) | — |
//! | `<store>/meta/locks/store.lock` | syncs, `add`, the hook (shared); `gc`, `verify` quarantine (exclusive) | `flock` |
//!
//! Locks keep work from being done twice, and keep objects from leaving
//! the store (garbage collection, quarantine) while a sync uses them; no
//! reader ever depends on one to see an object's bytes whole.

pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod digest;
pub mod error;
pub mod execute;
pub mod fetch;
pub mod fsutil;
pub mod inspect;
pub mod lifecycle;
pub mod link;
pub mod manifest;
pub mod name;
pub mod net;
pub mod notify;
pub mod ops;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod provenance;
pub mod redact;
pub mod remote;
pub mod report;
pub mod s3;
pub mod settings;
pub mod source;
pub mod stdio;
pub mod store;
pub mod time;
pub mod torrent;
pub mod tree;
pub mod units;
