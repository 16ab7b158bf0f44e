//! berth-runtime: the low-level OCI runtime.
//!
//! Owns turning an OCI bundle (config.json + rootfs) into a running process:
//! namespaces, cgroups (v1, hybrid and v2), rootfs and mounts, capabilities,
//! rlimits, seccomp, hooks, and the on-disk container state that runc's verbs
//! (create, start, state, kill, delete, exec, ...) work on. Synchronous by
//! design: the start path has no async runtime.

pub mod cgroups;
