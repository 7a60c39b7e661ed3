//! crp: collective resource provisioning.

pub mod cli;
pub mod commands;
pub mod diagnostic;
pub mod digest;
pub mod error;
pub mod execute;
pub mod fetch;
pub mod fsutil;
pub mod link;
pub mod manifest;
pub mod name;
pub mod plan;
pub mod progress;
pub mod report;
pub mod source;
pub mod store;
pub mod units;
