//! Integration tests: the real `crp` binary against real files, a real HTTP
//! server on 127.0.0.1 and concurrent real processes.

mod commands;
mod common;
mod concurrency;
mod examples;
mod http;
mod json;
mod layers;
mod lifecycle;
mod manifest_errors;
mod mirrors;
mod policy;
mod properties;
mod remotes;
mod scale;
mod server;
mod snapshots;
mod sync;
mod torrents;
mod trust;
mod update;
