//! crp: collective resource provisioning.
//!
//! A project declares the large external resources it needs in
//! `resources.toml`; crp fetches each one once into a machine-wide,
//! content-addressed store, verifies every byte against its sha256, and links
//! it into the project.
//!
//! # Map
//!
//! The modules follow the data: manifest → plan → execute (fetch → store →
//! link) → record → report.
//!
//! | module | job |
//! |---|---|
//! | [`manifest`] | `resources.toml`: format and schema ([`manifest::schema`]), validation with `file:line:col` diagnostics, edits that keep comments ([`manifest::edit`]) |
//! | [`name`], [`source`], [`digest`] | the validated scalars: resource names, sources (and what identifies one), sha256 digests |
//! | [`redact`] | secrets in URLs kept out of everything printed or stored |
//! | [`plan`] | what a sync would do, as data, from metadata only |
//! | [`policy`], [`review`] | the store's policy, executable content ([`policy::exec`]), and each resource's verdict |
//! | [`approval`] | people's decisions: the ledger, approvals files, pending requests |
//! | [`provenance`] | lifecycle states and the event log |
//! | [`notify`] | `[[notify]]` hooks, bridge messages, the completion log |
//! | [`verify`], [`drift`], [`diff`], [`gc`] | re-hashing objects, the drift report, manifest reviews, archiving and restoring |
//! | [`execute`] | carries a plan out: fetch, link, unlink, pin, record; `execute::oversight` accounts for it (holds, restores, events, incidents, notices) |
//! | [`fetch`] | one object into the store: locks, mirrors, retries, resume, hashing while streaming |
//! | [`store`] | the store's layout, atomic publication, records ([`store::record`]) and locks ([`store::lock`]) |
//! | [`torrent`] | torrent sources through transmission-daemon: RPC, metainfo checks, waiting, ingesting, seeding, the private daemon |
//! | [`tree`] | the tree digest of a folder (a multi-file torrent's object) |
//! | [`config`] | the store's `config.toml` |
//! | [`link`] | links in a project, and telling crp's own from anyone else's |
//! | [`report`], [`progress`] | everything printed: text, JSON, progress bars |
//! | [`cli`], [`commands`] | arguments, and one thin module per subcommand |
//! | [`diagnostic`], [`error`] | problems in files, exit codes |
//! | [`settings`] | every environment variable crp reads |
//!
//! # Files crp reads and writes
//!
//! | file | written by | guarded by |
//! |---|---|---|
//! | `resources.toml` | `init`, `add`, `sync` (pinning) | atomic replace; the project lock for `add` and `sync` |
//! | `<link_dir>/<name>` | `sync` | the project lock |
//! | `<store>/objects/sha256/ab/<digest>` | fetches | written once, by rename after verification; the object lock prevents duplicate downloads |
//! | `<store>/.incomplete/*.part` | fetches | the object lock (or the source lock, before a digest is known) |
//! | `<store>/meta/objects/sha256/ab/<digest>.json` | fetches, `sync` | the object lock |
//! | `<store>/meta/projects/<id>.json` | `sync` | the project lock |
//! | `<store>/meta/sources/<key>.json` | fetches of unpinned sources | the source lock |
//! | `<store>/meta/torrents/<infohash>.json` | torrent fetches, the hook | the torrent lock |
//! | `<store>/meta/completed.jsonl` | torrent ingestion | appends of whole lines |
//! | `<store>/meta/config.toml` | people (crp only reads it) | — |
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
//! | `<store>/meta/store.json`, `resources.schema.json` | store creation, `init` | atomic replace of identical content |
//! | `<store>/cold/sha256/ab/<digest>` | `gc --apply`, `gc --remove`, restoring syncs | the store lock (exclusive for gc; restores hold it shared and take the object lock) |
//! | `<store>/meta/locks/{objects,sources,projects,torrents}/*.lock` | every lock | `flock`; never deleted |
//! | `<store>/meta/locks/store.lock` | syncs, `add`, the hook (shared); `gc`, `verify` quarantine (exclusive) | `flock` |
//!
//! Locks keep work from being done twice, and keep objects from leaving
//! the store (garbage collection, quarantine) while a sync uses them; no
//! reader ever depends on one to see an object's bytes whole.

pub mod approval;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod diff;
pub mod digest;
pub mod drift;
pub mod error;
pub mod execute;
pub mod fetch;
pub mod fsutil;
pub mod gc;
pub mod lifecycle;
pub mod link;
pub mod manifest;
pub mod name;
pub mod net;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod provenance;
pub mod redact;
pub mod report;
pub mod review;
pub mod settings;
pub mod source;
pub mod stdio;
pub mod store;
pub mod time;
pub mod torrent;
pub mod tree;
pub mod units;
pub mod verify;
