//! Subcommand groups of the `berth` binary that translate flags into
//! library calls.

pub mod daemon;
mod daemon_malloc;
pub mod docker;
pub mod image;
