//! berth-runtime: the low-level OCI runtime.
//!
//! Owns turning an OCI bundle (config.json + rootfs) into a running process:
//! namespaces, cgroups (v1, hybrid and v2), rootfs and mounts, capabilities,
//! rlimits, seccomp, hooks, and the on-disk container state that runc's verbs
//! (create, start, state, kill, delete, exec, ...) work on. Synchronous by
//! design: the start path has no async runtime.
//!
//! Where things live: `bundle/` loads and checks config.json, `state/` keeps
//! per-container state under the runtime root, `container/` has one file
//! per verb, `launch/` clones the container process and holds all code that
//! runs between clone and execve, `rootfs/` plans and applies mounts,
//! `security/` capabilities, rlimits and seccomp, `cgroups/` the cgroup
//! manager, `hooks.rs` the hooks the runtime process runs itself.

pub mod bundle;
pub mod cgroups;
pub mod container;
pub mod driver;
mod error;
pub mod features;
pub mod hooks;
pub mod launch;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;

pub use container::{create::CreateOptions, exec::ExecOptions, run::RunOptions, Runtime};
pub use driver::{Driver, OciCli};
pub use error::Error;
pub use state::{State, Status};

/// runtime-spec version berth implements and reports.
pub const OCI_VERSION: &str = "1.2.0";
