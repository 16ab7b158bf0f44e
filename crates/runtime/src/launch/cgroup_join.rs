//! How a new process enters its container's cgroups without the global
//! cgroup lock.
//!
//! Moving a process by writing its PID to `cgroup.procs` takes the kernel's
//! global threadgroup rwsem for writing, which waits for an RCU grace
//! period: ~15 ms on this machine kind, most of a container start. Two
//! paths avoid it:
//! - cgroup v2 (the unified hierarchy, also on a hybrid host): clone3 with
//!   CLONE_INTO_CGROUP starts the child inside its cgroup;
//! - cgroup v1: a single-threaded process that writes `0` to a `tasks`
//!   file moves only itself, which the kernel does without that lock.
//!
//! The directories come from [`crate::cgroups::CgroupManager::paths`]; the
//! files are opened here, before clone. Where this cannot work (a new user
//! namespace: the child's credentials no longer pass the write check), the
//! caller falls back to `CgroupManager::add_pid` from the parent.

use std::ffi::c_int;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::sys::{errno, write_all};

/// Descriptors that let the child join its cgroups itself.
#[derive(Debug)]
pub struct CgroupJoin {
    /// v1 `tasks` files, one per hierarchy (co-mounted controllers share).
    pub v1_tasks: Vec<File>,
    /// The cgroup2 directory, for CLONE_INTO_CGROUP.
    pub v2_dir: Option<File>,
}

impl CgroupJoin {
    /// Opens the join descriptors for `paths` (controller → directory);
    /// None if any cannot be opened (then the parent moves the process).
    pub fn open(paths: &[(String, PathBuf)]) -> Option<CgroupJoin> {
        let mut v1_tasks = Vec::new();
        let mut seen: Vec<&PathBuf> = Vec::new();
        let mut v2_dir = None;
        for (ctrl, dir) in paths {
            if seen.contains(&dir) {
                continue;
            }
            seen.push(dir);
            if ctrl == "unified" {
                // Not OpenOptions: std masks O_PATH out of custom flags on
                // musl (its O_ACCMODE includes O_PATH).
                let f = nix::fcntl::open(
                    dir.as_path(),
                    nix::fcntl::OFlag::O_PATH
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok()?;
                v2_dir = Some(std::fs::File::from(f));
            } else {
                let f = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(dir.join("tasks"))
                    .ok()?;
                v1_tasks.push(f);
            }
        }
        Some(CgroupJoin { v1_tasks, v2_dir })
    }

    /// The cgroup2 directory descriptor for clone3, or -1.
    pub fn v2_fd(&self) -> c_int {
        self.v2_dir.as_ref().map_or(-1, |f| f.as_raw_fd())
    }
}

/// Child side: moves the calling (single-threaded) process into every v1
/// hierarchy's cgroup. Returns the errno of the first failure.
pub fn join_v1(j: &CgroupJoin) -> Result<(), c_int> {
    for f in &j.v1_tasks {
        if !write_all(f.as_raw_fd(), b"0") {
            return Err(errno());
        }
    }
    for f in &j.v1_tasks {
        super::sys::close(f.as_raw_fd());
    }
    Ok(())
}
