//! The container's root filesystem.
//!
//! [`plan`] turns config.json's `mounts`, `linux.devices`, masked and
//! read-only paths, sysctls and `root` into a [`RootfsPlan`]: a list of
//! operations with every string already a C string, built before clone.
//! [`apply`] carries the plan out in the child between clone and execve,
//! with raw syscalls only.

pub mod apply;
mod cgroupfs;
mod copyup;
mod devices;
mod idmap;
pub mod options;
mod plan;
pub mod resolve;

use std::ffi::{c_ulong, CString};

pub use plan::{plan, PlanInput, RootfsError};

/// A path relative to the rootfs (no leading `/`), NUL-terminated; the
/// empty path stands for the rootfs itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    bytes: Vec<u8>,
}

impl RelPath {
    /// From a cleaned absolute container path (`/dev/pts` → `dev/pts`).
    pub fn from_clean(abs: &std::path::Path) -> RelPath {
        use std::os::unix::ffi::OsStrExt;
        let s = abs.as_os_str().as_bytes();
        let trimmed = s.strip_prefix(b"/").unwrap_or(s);
        let mut bytes: Vec<u8> = trimmed.iter().copied().filter(|&b| b != 0).collect();
        bytes.push(0);
        RelPath { bytes }
    }

    /// Bytes before the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len().saturating_sub(1)]
    }

    /// The container path, for messages.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// What must exist at a mount target before mounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Dir,
    File,
    /// A bind whose source did not exist when planning (an earlier mount
    /// of the same config makes it): the child looks at the source when
    /// it gets there, as runc does.
    FromSource,
}

/// One step of building the rootfs, in config order.
#[derive(Debug)]
pub enum Op {
    /// mount(2) onto `dest` (created if missing, resolved inside the rootfs).
    Mount {
        dest: RelPath,
        kind: TargetKind,
        source: Option<CString>,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
        /// For bind mounts with flags: the MS_BIND|MS_REMOUNT flags to
        /// apply after the bind (a bind ignores most flags).
        remount: Option<c_ulong>,
        /// Propagation changes applied after mounting.
        propagation: Vec<c_ulong>,
        /// A detached copy of the bind source (open_tree, made by the
        /// parent; one of [`RootfsPlan::source_fds`]) to attach instead of
        /// binding by path; -1 for none.
        tree: std::ffi::c_int,
    },
    /// A symlink at `link` pointing to `target`.
    Symlink { target: CString, link: RelPath },
    /// A device node (or, in a user namespace, a bind of the host's node).
    Device {
        path: RelPath,
        /// File type bits | permission bits, as mknod wants them.
        mode: u32,
        dev: libc::dev_t,
        uid: u32,
        gid: u32,
        /// Host node to bind when mknod is not allowed (user namespace).
        host: Option<CString>,
    },
    /// A directory to exist (the process cwd, as runc creates it).
    Dir { path: RelPath },
    /// A remount of an earlier mount with MS_REMOUNT | flags (e.g. the
    /// cgroup tmpfs made read-only after its submounts).
    Remount { dest: RelPath, flags: c_ulong },
    /// `tmpcopyup`: keep what `dest` holds now, to copy into the tmpfs the
    /// next operation mounts there.
    CopyUpFrom { dest: RelPath },
}

/// Everything the child needs to build the rootfs.
#[derive(Debug)]
pub struct RootfsPlan {
    /// Absolute host path of the rootfs.
    pub rootfs: CString,
    /// Propagation applied to `/` (recursively) before anything else.
    pub root_propagation: c_ulong,
    /// Propagation to apply to the new `/` after pivot_root (for shared).
    pub post_pivot_propagation: Option<c_ulong>,
    pub ops: Vec<Op>,
    /// Host paths to mask, as container paths (after pivot_root).
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub root_readonly: bool,
    /// `/proc/sys/...` path and value for each sysctl.
    pub sysctls: Vec<(CString, Vec<u8>)>,
    /// Bind the console pty onto /dev/console (when process.terminal).
    pub dev_console: bool,
    /// The config lists no mount namespace: the container shares the
    /// runtime's. Its mounts land there (and stay, as under runc), "/"
    /// keeps its propagation, and the process is chrooted, not pivoted.
    pub shared_mount_ns: bool,
    /// Bind sources cloned (open_tree) by the parent for a container in a
    /// new user namespace, which may not be able to reach them by path (a
    /// directory only the host's root may enter); the child attaches them
    /// with move_mount and closes them once the mounts are done.
    pub source_fds: Vec<std::fs::File>,
}
