//! berth-testsupport: what berth's tests stand on.
//!
//! - [`SandboxHost`]: a fresh network + mount + PID namespace and a temp root
//!   for berth's state dirs, cleaned up on drop (also on panic).
//! - [`cgroupfs`]: finding and removing test cgroups in every hierarchy.
//! - [`kernel`]: run-time probes for kernel features (link kinds, cgroup
//!   layout) so tests skip with a reason where this kernel lacks them.
//! - [`bundle`]: OCI bundles built from the host's busybox, no registry.
//! - [`images`]: docker-archive test images from the host's busybox
//!   (`busybox_docker_archive`), and builders for hostile layers.
//! - [`leaks`]: snapshots of the root namespaces and the diff between two,
//!   so a test suite can prove it left nothing behind.

pub mod bundle;
pub mod cgroupfs;
pub mod images;
pub mod kernel;
pub mod leaks;
pub mod sandbox;

pub use sandbox::{SandboxError, SandboxHost, StateDirs};
